package rpmspec

import "strings"

// compareEVR compares two [EPOCH:]VERSION[-RELEASE] strings as rpm's
// rpmverCmp does for v"..." literals: epochs (missing is 0), then
// versions, then releases when both have one.
func compareEVR(a, b string) int {
	ea, va, ra := splitEVR(a)
	eb, vb, rb := splitEVR(b)
	if c := rpmvercmp(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	if ra != "" && rb != "" {
		return rpmvercmp(ra, rb)
	}
	return 0
}

func splitEVR(s string) (epoch, version, release string) {
	epoch = "0"
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if e := s[:i]; e != "" && strings.Trim(e, "0123456789") == "" {
			epoch, s = e, s[i+1:]
		}
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return epoch, s[:i], s[i+1:]
	}
	return epoch, s, ""
}

// rpmvercmp is rpm's version comparison (lib/rpmvercmp.c): runs of digits
// compare numerically, runs of letters as strings, digits beat letters,
// "~" sorts before anything (even the end), "^" after the end but before
// anything else; other characters only separate. It returns -1, 0 or 1.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	sep := func(c byte) bool { return !isAlnum(c) && c != '~' && c != '^' }
	for {
		for a != "" && sep(a[0]) {
			a = a[1:]
		}
		for b != "" && sep(b[0]) {
			b = b[1:]
		}
		if a != "" && a[0] == '~' || b != "" && b[0] == '~' {
			if a == "" || a[0] != '~' {
				return 1
			}
			if b == "" || b[0] != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a != "" && a[0] == '^' || b != "" && b[0] == '^' {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case a[0] != '^':
				return 1
			case b[0] != '^':
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}
		class := isAlpha
		num := isDigit(a[0])
		if num {
			class = isDigit
		}
		sa, sb := prefix(a, class), prefix(b, class)
		a, b = a[len(sa):], b[len(sb):]
		if sb == "" {
			// Different kinds of segment: a number is newer.
			if num {
				return 1
			}
			return -1
		}
		if num {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func prefix(s string, class func(byte) bool) string {
	i := 0
	for i < len(s) && class(s[i]) {
		i++
	}
	return s[:i]
}
