package pyreq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Normalisation examples from PEP 440, "Normalization" section.
func TestParseVersionNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.0", "1.0"},
		{"1.1RC1", "1.1rc1"},
		{"v1.0", "1.0"},
		{"V1.0", "1.0"},
		{" 1.0\t", "1.0"},
		{"01.002", "1.2"},
		{"1.00", "1.0"},
		{"0!1.0", "1.0"},
		{"1!1.0", "1!1.0"},
		{"001!1.0", "1!1.0"},
		{"1.2-a1", "1.2a1"},
		{"1.2_a1", "1.2a1"},
		{"1.2.a1", "1.2a1"},
		{"1.2a", "1.2a0"},
		{"1.2alpha1", "1.2a1"},
		{"1.2beta2", "1.2b2"},
		{"1.2c3", "1.2rc3"},
		{"1.2pre4", "1.2rc4"},
		{"1.2preview5", "1.2rc5"},
		{"1.2-post2", "1.2.post2"},
		{"1.2post2", "1.2.post2"},
		{"1.2.post.2", "1.2.post2"},
		{"1.2-r4", "1.2.post4"},
		{"1.2rev4", "1.2.post4"},
		{"1.2.post", "1.2.post0"},
		{"1.0-1", "1.0.post1"},
		{"1.2-dev2", "1.2.dev2"},
		{"1.2dev2", "1.2.dev2"},
		{"1.2.dev", "1.2.dev0"},
		{"1.0+ubuntu-1", "1.0+ubuntu.1"},
		{"1.0+Ubuntu_01", "1.0+ubuntu.1"},
		{"1.0a1.post2.dev3+Local.7", "1.0a1.post2.dev3+local.7"},
		{"99999999999999999999999.1", "99999999999999999999999.1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := parseVersion(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != tt.want {
				t.Errorf("parseVersion(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			// Normal forms are fixed points.
			v2, err := parseVersion(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if compareVersions(v, v2) != 0 {
				t.Errorf("%q and its normal form %q compare unequal", tt.in, tt.want)
			}
		})
	}
}

func TestParseVersionInvalid(t *testing.T) {
	for _, in := range []string{"", "1.", ".1", "a", "1..0", "1.0+", "1.0+local_", "1.0-a-b", "1.0.0-", "1.0 rc1", "1!", "!1", "1.*", "1.0foo", "1.0.dev1.post1"} {
		t.Run(in, func(t *testing.T) {
			if v, err := parseVersion(in); err == nil {
				t.Errorf("parseVersion(%q) = %q, want error", in, v)
			} else if diff := cmp.Diff(`invalid version "`+in+`"`, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Ascending order, from PEP 440's "Summary of permitted suffixes and
// relative ordering" and pypa/packaging's tests.
var orderedVersions = []string{
	"1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
	"1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345",
	"1.0b2-346", "1.0c1.dev456", "1.0c1", "1.0rc2", "1.0c3", "1.0",
	"1.0.post456.dev34", "1.0.post456", "1.1.dev1",
	"1.2+123abc", "1.2+123abc456", "1.2+abc", "1.2+abc123", "1.2+abc123def",
	"1.2+1234.abc", "1.2+123456", "1.2.r32+123456", "1.2.rev33+123456",
	"1.10", "99999999999999999999", "1!0.1",
}

func TestCompareVersions(t *testing.T) {
	for i := range orderedVersions {
		for j := range orderedVersions {
			a, b := orderedVersions[i], orderedVersions[j]
			want := cmpInt(i, j)
			t.Run(a+" vs "+b, func(t *testing.T) {
				va, err := parseVersion(a)
				if err != nil {
					t.Fatal(err)
				}
				vb, err := parseVersion(b)
				if err != nil {
					t.Fatal(err)
				}
				if got := compareVersions(va, vb); got != want {
					t.Errorf("compareVersions(%q, %q) = %d, want %d", a, b, got, want)
				}
			})
		}
	}
	// Trailing zeros do not matter.
	a, _ := parseVersion("1.0.0")
	b, _ := parseVersion("1")
	if compareVersions(a, b) != 0 {
		t.Error("1.0.0 != 1")
	}
}

// Cases from PEP 440's "Version specifiers" section and packaging's
// test_specifiers.py.
func TestSpecContains(t *testing.T) {
	tests := []struct {
		spec, version string
		want          bool
	}{
		{"==2", "2.0", true},
		{"==2", "2.0+deadbeef", true},
		{"==2.0+abc", "2.0+abc", true},
		{"==2.0+abc", "2.0+abcd", false},
		{"==2.0+abc", "2.0", false},
		{"==2.*", "2.1", true},
		{"==2.*", "2.0rc1", true},
		{"==2.*", "3.0", false},
		{"==1.1.*", "1.1", true},
		{"==1.1.*", "1.10", false},
		{"==1!2.*", "2.0", false},
		{"!=2.0", "2.0.0", false},
		{"!=2.0", "2.1", true},
		{"!=1.1.*", "1.1.post1", false},
		{"~=2.2", "2.3", true},
		{"~=2.2", "2.2.0", true},
		{"~=2.2", "3.0", false},
		{"~=2.2", "2.1", false},
		{"~=1.4.5", "1.4.6", true},
		{"~=1.4.5", "1.5", false},
		{"~=2.2.post3", "2.2.post4", true},
		{"~=2.2.post3", "2.2", false},
		{"<=2.0", "2.0+local", true},
		{"<=2.0", "2.0.post1", false},
		{">=2.0", "2.0rc1", false},
		{">=2.0", "1!1.0", true},
		{">1.0", "1.1", true},
		{">1.0", "1.0.post1", false},
		{">1.0", "1.0+local", false},
		{">1.0.post0", "1.0.post1", true},
		{">1.7", "1.7.1", true},
		{"<1.0", "0.9", true},
		{"<1.0", "1.0rc1", false},
		{"<1.0", "1.0.dev1", false},
		{"<1.0rc2", "1.0rc1", true},
		{"<3.1", "3.1.dev0", false},
		{"<3.1", "3.0.9", true},
		{"===1.0", "1.0", true},
		{"===1.0", "1.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.spec+" "+tt.version, func(t *testing.T) {
			op := tt.spec[:len(tt.spec)-len(trimOp(tt.spec))]
			ver := trimOp(tt.spec)
			if err := checkSpecifier(op, ver); err != nil {
				t.Fatal(err)
			}
			v, err := parseVersion(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			got, err := specContains(op, ver, v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s contains %s = %v, want %v", tt.spec, tt.version, got, tt.want)
			}
		})
	}
}

func trimOp(s string) string {
	for _, op := range specOps {
		if len(s) >= len(op) && s[:len(op)] == op {
			return s[len(op):]
		}
	}
	return s
}

func TestIncNum(t *testing.T) {
	for in, want := range map[string]string{"0": "1", "9": "10", "199": "200", "0099": "100", "": "1"} {
		if got := incNum(in); got != want {
			t.Errorf("incNum(%q) = %q, want %q", in, got, want)
		}
	}
}
