package pyreq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Expected conversions come from Fedora's own test data:
//
//   - [B] pyproject-rpm-macros, pyproject_buildrequires_testcases.yaml, case
//     "Build system dependencies in pyproject.toml with extras" (run with
//     generate_extras: true), https://src.fedoraproject.org/rpms/pyproject-rpm-macros
//   - [G] python-rpm-generators, tests/data/scripts_pythondistdeps/test-data.yaml,
//     pyreq2rpm.tests egg-info (the same convert() functions, fed from
//     .../requires.txt), https://src.fedoraproject.org/rpms/python-rpm-generators
//     Names there are python3.9dist(...); here python3dist(...).
func TestRPMDeps(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want []string
	}{
		// [B]
		{"B/plain", "foo", []string{"python3dist(foo)"}},
		// pyproject_buildrequires.py: "WARNING: Simplifying ... to ...".
		{"direct url", "App_Dirs[x] @ https://example.com/appdirs.zip", []string{"python3dist(app-dirs)", "python3dist(app-dirs[x])"}},
		{"B/gt with extra", "bar[bAz] > 5", []string{"python3dist(bar) > 5.0", "python3dist(bar[baz]) > 5.0"}},
		{"B/ne", "ne!=1", []string{"(python3dist(ne) < 1 or python3dist(ne) > 1)"}},
		{"B/ge strips zeros", "ge>=1.2.0", []string{"python3dist(ge) >= 1.2"}},
		{"B/le", "le <= 1.2.3", []string{"python3dist(le) <= 1.2.3"}},
		{"B/lt", "lt < 1.2.3.4      ", []string{"python3dist(lt) < 1.2.3.4~~"}},
		{"B/gt", "    gt > 1.2.3.4.5", []string{"python3dist(gt) > 1.2.3.4.5.0"}},
		{"B/compatible", "compatible ~= 0.4.0", []string{"(python3dist(compatible) >= 0.4 with python3dist(compatible) < 0.5)"}},
		{"B/equal", "equal == 0.5.0", []string{"python3dist(equal) = 0.5"}},
		{"B/arbitrary equal", "arbitrary_equal === 0.6.0", []string{"python3dist(arbitrary-equal) = 0.6"}},
		{"B/asterisk equal", "asterisk_equal == 0.6.*", []string{"(python3dist(asterisk-equal) >= 0.6 with python3dist(asterisk-equal) < 0.7)"}},
		{"B/multi extras", "multi[Extras1,Extras2] == 6.0", []string{"python3dist(multi) = 6", "python3dist(multi[extras1]) = 6", "python3dist(multi[extras2]) = 6"}},
		{"B/combo", "combo >2, <5, != 3.0.0", []string{"((python3dist(combo) < 3 or python3dist(combo) > 3) with python3dist(combo) < 5~~ with python3dist(combo) > 2.0)"}},
		{"B/extra underscore kept", "extra_dep[EXTRA_DEP]", []string{"python3dist(extra-dep)", "python3dist(extra-dep[extra_dep])"}},
		{"B/setup.py ne", "bar!=2", []string{"(python3dist(bar) < 2 or python3dist(bar) > 2)"}},
		{"B/setup.py compatible", "baz~=1.1.1", []string{"(python3dist(baz) >= 1.1.1 with python3dist(baz) < 1.2)"}},
		{"B/setup.py gt", "inst > 1", []string{"python3dist(inst) > 1.0"}},
		{"B/setup.py lt", "inst2 < 3", []string{"python3dist(inst2) < 3~~"}},
		{"B/ge 1.10 keeps 10", "six>=1.10.0", []string{"python3dist(six) >= 1.10"}},
		{"B/ge 4.0.0", "more-itertools>=4.0.0", []string{"python3dist(more-itertools) >= 4"}},
		{"B/extras sorted", "dep4[FOO,BAR]", []string{"python3dist(dep4)", "python3dist(dep4[bar])", "python3dist(dep4[foo])"}},
		// [G]
		{"G/foobar0", "foobar0~=2.4.8", []string{"(python3dist(foobar0) >= 2.4.8 with python3dist(foobar0) < 2.5)"}},
		{"G/foobar1", "foobar1~=2.4.8.0", []string{"(python3dist(foobar1) >= 2.4.8 with python3dist(foobar1) < 2.4.9)"}},
		{"G/foobar2", "foobar2~=2.4.8.1", []string{"(python3dist(foobar2) >= 2.4.8.1 with python3dist(foobar2) < 2.4.9)"}},
		{"G/foobar4", "foobar4~=2.0", []string{"(python3dist(foobar4) >= 2 with python3dist(foobar4) < 3)"}},
		{"G/foobar7", "foobar7~=2.4.8b5", []string{"(python3dist(foobar7) >= 2.4.8~b5 with python3dist(foobar7) < 2.5)"}},
		{"G/foobar8", "foobar8~=2.0.0b5", []string{"(python3dist(foobar8) >= 2~b5 with python3dist(foobar8) < 2.1)"}},
		{"G/foobar9", "foobar9~=2.4.8.post1", []string{"(python3dist(foobar9) >= 2.4.8^post1 with python3dist(foobar9) < 2.5)"}},
		{"G/foobar10", "foobar10~=2.0.post1", []string{"(python3dist(foobar10) >= 2^post1 with python3dist(foobar10) < 3)"}},
		{"G/foobar13", "foobar13==2.4.8.1", []string{"python3dist(foobar13) = 2.4.8.1"}},
		{"G/foobar14", "foobar14==2.4.8.*", []string{"(python3dist(foobar14) >= 2.4.8 with python3dist(foobar14) < 2.4.9)"}},
		{"G/foobar16", "foobar16==2", []string{"python3dist(foobar16) = 2"}},
		{"G/foobar17", "foobar17==2.*", []string{"(python3dist(foobar17) >= 2 with python3dist(foobar17) < 3)"}},
		{"G/foobar18", "foobar18==2.4.8b5", []string{"python3dist(foobar18) = 2.4.8~b5"}},
		{"G/foobar19", "foobar19==2.0.0b5", []string{"python3dist(foobar19) = 2~b5"}},
		{"G/foobar20", "foobar20==2.4.8.post1", []string{"python3dist(foobar20) = 2.4.8^post1"}},
		{"G/foobar27", "foobar27===2", []string{"python3dist(foobar27) = 2"}},
		{"G/foobar32", "foobar32===2.0.post1", []string{"python3dist(foobar32) = 2^post1"}},
		{"G/foobar36", "foobar36!=2.4.8.*", []string{"(python3dist(foobar36) < 2.4.8~~ or python3dist(foobar36) >= 2.4.9)"}},
		{"G/foobar39", "foobar39!=2.*", []string{"(python3dist(foobar39) < 2~~ or python3dist(foobar39) >= 3)"}},
		{"G/foobar40", "foobar40!=2.4.8b5", []string{"(python3dist(foobar40) < 2.4.8~b5 or python3dist(foobar40) > 2.4.8~b5)"}},
		{"G/foobar43", "foobar43!=2.0.post1", []string{"(python3dist(foobar43) < 2^post1 or python3dist(foobar43) > 2^post1)"}},
		{"G/foobar45", "foobar45<=2.4.8.0", []string{"python3dist(foobar45) <= 2.4.8"}},
		{"G/foobar52", "foobar52<=2.0.0b5", []string{"python3dist(foobar52) <= 2~b5"}},
		{"G/foobar56", "foobar56<2.4.8.0", []string{"python3dist(foobar56) < 2.4.8~~"}},
		{"G/foobar59", "foobar59<2.0", []string{"python3dist(foobar59) < 2~~"}},
		{"G/foobar62", "foobar62<2.4.8b5", []string{"python3dist(foobar62) < 2.4.8~b5"}},
		{"G/foobar65", "foobar65<2.0.post1", []string{"python3dist(foobar65) < 2^post1"}},
		{"G/foobar71", "foobar71>=2", []string{"python3dist(foobar71) >= 2"}},
		{"G/foobar76", "foobar76>=2.0.post1", []string{"python3dist(foobar76) >= 2^post1"}},
		{"G/foobar78", "foobar78>2.4.8.0", []string{"python3dist(foobar78) > 2.4.8.0"}},
		{"G/foobar79", "foobar79>2.4.8.1", []string{"python3dist(foobar79) > 2.4.8.1.0"}},
		{"G/foobar81", "foobar81>2.0", []string{"python3dist(foobar81) > 2.0"}},
		{"G/foobar85", "foobar85>2.0.0b5", []string{"python3dist(foobar85) > 2~b5"}},
		{"G/foobar86", "foobar86>2.4.8.post1", []string{"python3dist(foobar86) > 2.4.8^post1"}},
		{"G/pyparsing1", "pyparsing1>=2.0.1,!=2.0.4,!=2.1.2,!=2.1.6", []string{"((python3dist(pyparsing1) < 2.0.4 or python3dist(pyparsing1) > 2.0.4) with (python3dist(pyparsing1) < 2.1.2 or python3dist(pyparsing1) > 2.1.2) with (python3dist(pyparsing1) < 2.1.6 or python3dist(pyparsing1) > 2.1.6) with python3dist(pyparsing1) >= 2.0.1)"}},
		{"G/babel", "babel>=1.3,!=2.0", []string{"((python3dist(babel) < 2 or python3dist(babel) > 2) with python3dist(babel) >= 1.3)"}},
		{"G/hugo1", "hugo1==1.0.0.dev7", []string{"python3dist(hugo1) = 1~~dev7"}},
		{"G/hugo2", "hugo2<=8a4", []string{"python3dist(hugo2) <= 8~a4"}},
		{"G/hugo3", "hugo3!=11.1.1b14", []string{"(python3dist(hugo3) < 11.1.1~b14 or python3dist(hugo3) > 11.1.1~b14)"}},
		{"G/hugo4", "hugo4>11rc0", []string{"python3dist(hugo4) > 11~rc0"}},
		{"G/hugo5", "hugo5===11.1.0.post3", []string{"python3dist(hugo5) = 11.1^post3"}},
		{"G/multiple underscores", "test___multiple__underscores==1", []string{"python3dist(test-multiple-underscores) = 1"}},
		{"G/extra", "dnspython[DNSSEC]", []string{"python3dist(dnspython)", "python3dist(dnspython[dnssec])"}},
		// RpmVersion rules applied to other spellings (pyproject_convert.py).
		{"rc spelled c", "x==1.0c1", []string{"python3dist(x) = 1~rc1"}},
		{"pre wins over dev", "x>=1.0rc1.dev2", []string{"python3dist(x) >= 1~rc1"}},
		{"dev wins over post", "x>=1.0.post1.dev2", []string{"python3dist(x) >= 1~~dev2"}},
		{"implicit post number", "x>=1.0-1", []string{"python3dist(x) >= 1^post1"}},
		{"lt dev not suffixed", "x<2.0.dev0", []string{"python3dist(x) < 2~~dev0"}},
		{"leading v", "x>=v1.2", []string{"python3dist(x) >= 1.2"}},
		{"arbitrary non-pep440 verbatim", "x===foobar", []string{"python3dist(x) = foobar"}},
		{"compatible carries", "x~=1.9.3", []string{"(python3dist(x) >= 1.9.3 with python3dist(x) < 1.10)"}},
		{"ne wildcard carries", "x!=1.9.*", []string{"(python3dist(x) < 1.9~~ or python3dist(x) >= 1.10)"}},
		{"parenthesised", "x (>=1, <2)", []string{"(python3dist(x) < 2~~ with python3dist(x) >= 1)"}},
		{"duplicate extras once", "x[a,A]", []string{"python3dist(x)", "python3dist(x[a])"}},
		{"marker ignored", `x>=1; python_version < "3"`, []string{"python3dist(x) >= 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequirement(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.RPMDeps()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RPMDeps(%q) mismatch (-want +got):\n%s", tt.req, diff)
			}
		})
	}
}

func TestRPMDepsErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Requirement
		want string
	}{
		{
			// pyproject_buildrequires.py's VERSION_RE rejects "!" and "+";
			// python-rpm-generators would print "0" for 0+unknown.
			"local version",
			Requirement{Name: "nb2plots", Specifiers: []Specifier{{"==", "0+unknown"}}},
			`version "0+unknown" of "nb2plots" cannot be converted to rpm: only letters, digits, "." and "-" are supported`,
		},
		{
			"epoch",
			Requirement{Name: "x", Specifiers: []Specifier{{">=", "1!2.0"}}},
			`version "1!2.0" of "x" cannot be converted to rpm: only letters, digits, "." and "-" are supported`,
		},
		{
			// Fedora: "Single value version with unsupported compatible operator"
			"compatible single number",
			Requirement{Name: "pkg", Specifiers: []Specifier{{"~=", "42"}}},
			`cannot convert "~=42" of "pkg" to rpm: ~= needs at least two release numbers`,
		},
		{
			"compatible wildcard",
			Requirement{Name: "pkg", Specifiers: []Specifier{{"~=", "0.1.*"}}},
			`cannot convert "~=0.1.*" of "pkg" to rpm: ~= cannot be used with a wildcard`,
		},
		{
			"arbitrary wildcard",
			Requirement{Name: "pkg", Specifiers: []Specifier{{"===", "1.*"}}},
			`cannot convert "===1.*" of "pkg" to rpm: === cannot be used with a wildcard`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.RPMDeps()
			if err == nil {
				t.Fatalf("RPMDeps() = %q, want error", got)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
