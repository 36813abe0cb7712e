package pyreq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseRequirement(f *testing.F) {
	for _, s := range []string{
		"requests", "requests[security,socks]>=2.3,<3; python_version >= '3.8'",
		"x (>=1.0, !=1.5.*, <2)", "x===arbitrary", "x~=1.4.2",
		"pip @ https://example.com/pip.zip ; os_name == 'posix'",
		`x; (python_version < "3.8" or extra == "test") and platform_machine not in "arm64"`,
		"x>=1!2.0rc1.post2.dev3", "x==1.0+local.1", "", "[", "x[", "x;", "x @",
	} {
		f.Add(s)
	}
	env := Env{PythonVersion: "3.9", PythonFullVersion: "3.9.0", Extra: "test"}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRequirement(s)
		if err != nil {
			return
		}
		// Whatever parses formats to an equivalent requirement.
		back, err := ParseRequirement(r.String())
		if err != nil {
			t.Fatalf("ParseRequirement(%q) ok, but its String() %q does not parse: %v", s, r.String(), err)
		}
		if diff := cmp.Diff(r, back); diff != "" {
			t.Fatalf("round trip of %q via %q differs (-first +second):\n%s", s, r.String(), diff)
		}
		_, _ = r.Applies(env)
		_, _ = r.RPMDeps()
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "v1!2.3.4rc5.post6.dev7+loc.8", "1.0-1", "1.2a", "0", "1.0.post", "  1  ", "1..2", "99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVersion(s)
		if err != nil {
			return
		}
		n := v.String()
		v2, err := parseVersion(n)
		if err != nil {
			t.Fatalf("normal form %q of %q does not parse: %v", n, s, err)
		}
		if v2.String() != n {
			t.Fatalf("normal form not stable: %q -> %q -> %q", s, n, v2.String())
		}
		if compareVersions(v, v2) != 0 || compareVersions(v, v) != 0 {
			t.Fatalf("%q and its normal form %q compare unequal", s, n)
		}
		_ = rpmVersion(v)
		for _, op := range specOps {
			if checkSpecifier(op, n) == nil {
				if _, err := specContains(op, n, v); err != nil {
					t.Fatalf("specContains(%s%s, %s): %v", op, n, n, err)
				}
			}
		}
	})
}
