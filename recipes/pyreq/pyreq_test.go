package pyreq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Requirement
	}{
		{"name only", "requests", Requirement{Name: "requests"}},
		{"name as written", "Foo.Bar_baz", Requirement{Name: "Foo.Bar_baz"}},
		{"single char", "a", Requirement{Name: "a"}},
		{"spec", "requests>=2.3", Requirement{Name: "requests", Specifiers: []Specifier{{">=", "2.3"}}}},
		{"spaces", "  requests >= 2.3 , < 3  ", Requirement{Name: "requests", Specifiers: []Specifier{{">=", "2.3"}, {"<", "3"}}}},
		{"all ops", "x~=1.1,==1.2,!=1.3,<=1.4,>=1.5,<1.6,>1.7,===odd",
			Requirement{Name: "x", Specifiers: []Specifier{{"~=", "1.1"}, {"==", "1.2"}, {"!=", "1.3"}, {"<=", "1.4"}, {">=", "1.5"}, {"<", "1.6"}, {">", "1.7"}, {"===", "odd"}}}},
		{"wildcards", "x==1.*,!=1.2.*", Requirement{Name: "x", Specifiers: []Specifier{{"==", "1.*"}, {"!=", "1.2.*"}}}},
		{"local with ==", "x==1.0+ubuntu.1", Requirement{Name: "x", Specifiers: []Specifier{{"==", "1.0+ubuntu.1"}}}},
		{"parens", "x (>=1.0, <2)", Requirement{Name: "x", Specifiers: []Specifier{{">=", "1.0"}, {"<", "2"}}}},
		{"parens no space", "x(>=1.0)", Requirement{Name: "x", Specifiers: []Specifier{{">=", "1.0"}}}},
		{"extras", "requests[security, socks] >=2", Requirement{Name: "requests", Extras: []string{"security", "socks"}, Specifiers: []Specifier{{">=", "2"}}}},
		{"empty extras", "x[]", Requirement{Name: "x"}},
		{"marker", `x; python_version < "3.8"`, Requirement{Name: "x", Marker: `python_version < "3.8"`}},
		{"marker after spec", `x>=1 ; sys_platform == 'win32' and (extra == "a" or extra == 'b')`,
			Requirement{Name: "x", Specifiers: []Specifier{{">=", "1"}}, Marker: `sys_platform == 'win32' and (extra == "a" or extra == 'b')`}},
		{"url", "pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee9982d4bbb3c72346a6de940a148ea686",
			Requirement{Name: "pip", URL: "https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee9982d4bbb3c72346a6de940a148ea686"}},
		{"url extras marker", `name[quux, strange] @ http://example.com/a.zip ; python_version<'2.7'`,
			Requirement{Name: "name", Extras: []string{"quux", "strange"}, URL: "http://example.com/a.zip", Marker: `python_version<'2.7'`}},
		{"url semicolon without space is url", `name@http://x/y;z`, Requirement{Name: "name", URL: "http://x/y;z"}},
		{"tab", "x\t>=\t1", Requirement{Name: "x", Specifiers: []Specifier{{">=", "1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequirement(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRequirement(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseRequirementErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `invalid requirement "": missing project name`},
		{"blank", "   ", `invalid requirement "   ": missing project name`},
		{"no name", ">=1.0", `invalid requirement ">=1.0": expected a project name, found ">=1.0"`},
		{"name ends with dash", "foo-", `invalid requirement "foo-": a project name "foo-" must start and end with a letter or digit`},
		{"name starts with dot", ".foo", `invalid requirement ".foo": a project name ".foo" must start and end with a letter or digit`},
		{"unclosed extras", "foo[bar", `invalid requirement "foo[bar": missing "]" after extras`},
		{"bad extras sep", "foo[bar baz]", `invalid requirement "foo[bar baz]": expected "," or "]" in extras, found "baz]"`},
		{"trailing comma in extras", "foo[bar,]", `invalid requirement "foo[bar,]": expected an extra name, found "]"`},
		{"missing version", "foo>=", `invalid requirement "foo>=": expected a version after ">="`},
		{"bad version", "foo>=abc", `invalid requirement "foo>=abc": invalid version "abc"`},
		{"single equals", "foo=1.0", `invalid requirement "foo=1.0": invalid operator in "=1.0"`},
		{"wildcard with ge", "foo>=1.*", `invalid requirement "foo>=1.*": wildcard version "1.*" is only allowed with == and !=`},
		{"wildcard after pre", "foo==1.0rc1.*", `invalid requirement "foo==1.0rc1.*": wildcard version "1.0rc1.*" may only contain an epoch and release numbers`},
		{"local with ge", "foo>=1.0+local", `invalid requirement "foo>=1.0+local": local version "1.0+local" is only allowed with == and !=`},
		{"compatible one number", "foo~=1", `invalid requirement "foo~=1": ~= needs a version with at least two release numbers, got "1"`},
		{"missing comma", "foo>=1 <2", `invalid requirement "foo>=1 <2": missing "," before "<2"`},
		{"trailing comma", "foo>=1,", `invalid requirement "foo>=1,": expected a version specifier after ","`},
		{"unclosed paren", "foo (>=1", `invalid requirement "foo (>=1": missing ")" after version specifiers`},
		{"junk", "foo bar", `invalid requirement "foo bar": unexpected "bar"`},
		{"empty url", "foo @ ", `invalid requirement "foo @ ": expected a url after "@"`},
		{"junk after url", "foo @ http://x junk", `invalid requirement "foo @ http://x junk": unexpected "junk" after url`},
		{"empty marker", "foo;", `invalid requirement "foo;": expected a marker after ";"`},
		{"unknown marker var", `foo; python_versio == "3"`, `invalid requirement "foo; python_versio == \"3\"": unknown marker variable "python_versio"`},
		{"marker missing op", `foo; python_version "3"`, `invalid requirement "foo; python_version \"3\"": expected a comparison operator, found "\"3\""`},
		{"marker unterminated", `foo; os_name == "posix`, `invalid requirement "foo; os_name == \"posix": unterminated string in marker`},
		{"marker unclosed paren", `foo; (os_name == "posix"`, `invalid requirement "foo; (os_name == \"posix\"": missing ")" in marker`},
		{"marker trailing", `foo; os_name == "posix" or`, `invalid requirement "foo; os_name == \"posix\" or": expected a marker variable or string at end of marker`},
		{"marker junk", `foo; os_name == "posix" xor 1`, `invalid requirement "foo; os_name == \"posix\" xor 1": unexpected "xor 1" in marker`},
		{"pip url form", "git+https://github.com/a/b.git#egg=b", `invalid requirement "git+https://github.com/a/b.git#egg=b": unexpected "+https://github.com/a/b.git#egg=b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequirement(tt.in)
			if err == nil {
				t.Fatalf("ParseRequirement(%q) = %+v, want error", tt.in, got)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequirementString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"a[x, y] >= 1 , <2 ; os_name=='posix'", "a[x,y]>=1,<2; os_name=='posix'"},
		{"a @ http://x ; os_name=='posix'", "a @ http://x ; os_name=='posix'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRequirement(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, r.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
			// The formatted form parses back to the same requirement.
			back, err := ParseRequirement(r.String())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, back); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// PEP 503 "Normalized Names" examples plus edge cases.
func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"friendly-bard", "friendly-bard"},
		{"Friendly-Bard", "friendly-bard"},
		{"FRIENDLY-BARD", "friendly-bard"},
		{"friendly.bard", "friendly-bard"},
		{"friendly_bard", "friendly-bard"},
		{"friendly--bard", "friendly-bard"},
		{"FrIeNdLy-._.-bArD", "friendly-bard"},
		{"zope.interface", "zope-interface"},
		{"test___multiple__underscores", "test-multiple-underscores"},
		{"a", "a"},
		{"", ""},
		{"trailing_", "trailing-"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"file and line", &Error{File: "setup.cfg", Line: 3, Msg: "boom"}, "setup.cfg:3: boom"},
		{"file only", &Error{File: "setup.cfg", Msg: "boom"}, "setup.cfg: boom"},
		{"line only", &Error{Line: 3, Msg: "boom"}, "line 3: boom"},
		{"neither", &Error{Msg: "boom"}, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
