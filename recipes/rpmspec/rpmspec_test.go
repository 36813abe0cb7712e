package rpmspec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const preamble = "Name: demo\nVersion: 1.0\nRelease: 3%{?dist}\nSummary: s\nLicense: MIT\n"

func parseStr(t *testing.T, target, src string, mod func(*Options)) (*Result, error) {
	t.Helper()
	opts := Options{Target: mustTarget(t, target)}
	if mod != nil {
		mod(&opts)
	}
	return Parse("demo.spec", []byte(src), opts)
}

func names(d []Dep) []string {
	out := []string{}
	for _, x := range d {
		out = append(out, x.Name)
	}
	return out
}

func TestRequires(t *testing.T) {
	tests := []struct {
		name   string
		target string
		src    string
		mod    func(*Options)
		want   []string
	}{
		{name: "commas and operators", src: "Requires: foo >= 1.2, bar baz\n", want: []string{"foo >= 1.2", "bar", "baz"}},
		{name: "operator spellings", src: "Requires: a =< 1 b => 2 c == 3 d < 4 e > 5\n", want: []string{"a <= 1", "b >= 2", "c = 3", "d < 4", "e > 5"}},
		{name: "glued operator is a name", src: "Requires: tight>=1 other\n", want: []string{"tight>=1", "other"}},
		{name: "rich dep kept whole", src: "Requires: (foo   or\tbar), baz\n", want: []string{"(foo or bar)", "baz"}},
		{name: "nested rich dep", src: "Requires: ( a if ( b and c ) else d )\n", want: []string{"(a if (b and c) else d)"}},
		{name: "duplicates kept out", src: "Requires: a\nRequires: a b\n", want: []string{"a", "b"}},
		{name: "case-insensitive tag", src: "REQUIRES: up\nrequires : spaced\n", want: []string{"up", "spaced"}},
		{name: "meta is a normal requires", src: "Requires(meta): m\n", want: []string{"m"}},
		{name: "name macro", src: "Requires: %{name}-data = %{version}-%{release}\nRequires: %name-x\n", target: "fedora-43", want: []string{"demo-data = 1.0-3.fc43", "demo-x"}},
		{name: "dist on rhel", src: "Requires: %{name}-data = %{version}-%{release}\n", target: "rhel-9", want: []string{"demo-data = 1.0-3.el9"}},
		{name: "epoch", src: "Epoch: 2\nRequires: x = %{epoch}:%{version}\n", want: []string{"x = 2:1.0"}},
		{name: "isa", src: "Requires: %{name}-libs%{?_isa} = %{version}\n", want: []string{"demo-libs(x86-64) = 1.0"}},
		{name: "paths", src: "Requires: %{_bindir}/a %{_sbindir}/b %{_libdir}/c %{_unitdir}/d %{_sysconfdir}/e %{_datadir}/f\n",
			want: []string{"/usr/bin/a", "/usr/bin/b", "/usr/lib64/c", "/usr/lib/systemd/system/d", "/etc/e", "/usr/share/f"}},
		{name: "sbindir on rhel", target: "rhel-9", src: "Requires: %{_sbindir}/b\n", want: []string{"/usr/sbin/b"}},
		{name: "python paths", src: "Requires: %{python3} %{python3_sitelib}/m python(abi) = %{python3_version}\n",
			want: []string{"/usr/bin/python3", "/usr/lib/python3.14/site-packages/m", "python(abi) = 3.14"}},
		{name: "py3_dist", src: "Requires: %{py3_dist Foo.Bar_baz requests[security] zope.interface}\n",
			want: []string{"python3dist(foo-bar-baz)", "python3dist(requests[security])", "python3dist(zope-interface)"}},
		{name: "py_dist_name", src: "Requires: python3-%{py_dist_name Django__Rest.framework}\n", want: []string{"python3-django-rest-framework"}},
		{name: "python3_pkgversion", src: "Requires: python%{python3_pkgversion}-six\n", want: []string{"python3-six"}},
		{name: "define is lazy global is eager", src: "%define val one\n%define lazy %{val}\n%global eager %{val}\n%define val two\nRequires: %{lazy} %{eager}\n", want: []string{"two", "one"}},
		{name: "undefine pops", src: "%define val one\n%define val two\n%undefine val\nRequires: %{val}\n", want: []string{"one"}},
		{name: "conditional macros", src: "%define yes 1\nRequires: a%{?yes} b%{?no} c%{?yes:-y} d%{!?no:-n} e%{!?yes:-x} f%{!?yes}\n",
			want: []string{"a1", "b", "c-y", "d-n", "e", "f"}},
		{name: "percent literal", src: "%global pct 100%%\nRequires: x-%{pct}\n", want: []string{"x-100%"}},
		{name: "nested references", src: "%global inner core\n%global outer %{inner}-%{?inner:yes}\nRequires: %{outer}\n", want: []string{"core-yes"}},
		{name: "expand", src: "%define nnn inner\nRequires: %{expand:%%{nnn}}-x\n", want: []string{"inner-x"}},
		{name: "parametric macro", src: "%define pair() %1-%2%{?3:-%3}\nRequires: %{pair a b}\nRequires: %pair c d e\n", want: []string{"a-b", "c-d-e"}},
		{name: "parametric options", src: "%define opt(n:x) %{-n*}%{?-x:-x}\nRequires: %{opt -n named -x}\n", want: []string{"named-x"}},
		{name: "continued global", src: "%global deps \\\nRequires: one\\\nRequires: two\n%deps\n", want: []string{"one", "two"}},
		{name: "expr and expression", src: "Requires: a-%{expr:6*7} b-%[ 1 ? \"yes\" : \"no\" ]\n", want: []string{"a-42", "b-yes"}},
		{name: "defines option", src: "Requires: %{vendored}\n", mod: func(o *Options) { o.Defines = map[string]string{"vendored": "v-pkg"} }, want: []string{"v-pkg"}},
		{name: "comment macros still run", src: "# %global ccc from-comment\nRequires: %{ccc}\n# Requires: ignored\n", want: []string{"from-comment"}},
		{name: "description is not preamble", src: "Requires: a\n%description\nRequires: nope\n%package doc\nSummary: d\nRequires: b\n%description doc\n%prep\nRequires: nope2\n", want: []string{"a", "b"}},
		{name: "global in prep seen later", src: "%description\n%prep\n%global late yes\n%package x\nSummary: x\nRequires: %{late}\n%description x\n", want: []string{"yes"}},
		{name: "macro expanding to if block", src: "%define blk %%if 0\\\nRequires: hidden\\\n%%endif\n%{blk}\nRequires: shown\n", want: []string{"shown"}},
		{name: "scriptlet not in requires", src: "Requires(post): s\nRequires: r\n", want: []string{"r"}},
		{name: "extras subpackage", src: "%pyproject_extras_subpkg -n python3-demo a,b\n", want: []string{"python3-demo = 1.0-3.fc43"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = "fedora-43"
			}
			r, err := parseStr(t, target, preamble+tc.src+"%description\n", tc.mod)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, names(r.Requires)); d != "" {
				t.Errorf("Requires (-want +got):\n%s", d)
			}
		})
	}
}

func TestConditionals(t *testing.T) {
	tests := []struct {
		name   string
		target string
		src    string
		mod    func(*Options)
		want   []string
	}{
		{name: "fedora version", src: "%if 0%{?fedora} >= 43\nRequires: new\n%else\nRequires: old\n%endif\n", want: []string{"new"}},
		{name: "fedora on rhel", target: "rhel-9", src: "%if 0%{?fedora} >= 43\nRequires: new\n%else\nRequires: old\n%endif\n", want: []string{"old"}},
		{name: "elif chain", target: "rhel-9", src: "%if 0%{?fedora}\nRequires: f\n%elif 0%{?rhel} == 9\nRequires: r9\n%elif 1\nRequires: never\n%else\nRequires: e\n%endif\n", want: []string{"r9"}},
		{name: "nested false", src: "%if 0\n%if 1\nRequires: a\n%else\nRequires: b\n%endif\n%else\nRequires: c\n%endif\n", want: []string{"c"}},
		{name: "el9 flag", target: "rhel-9", src: "%if 0%{?el9}\nRequires: nine\n%endif\n%if 0%{?el8}\nRequires: eight\n%endif\n", want: []string{"nine"}},
		{name: "strings", src: "%if \"%{dist}\" == \".fc43\"\nRequires: yes\n%endif\n%if \"a\" < \"b\" && !(\"x\" != \"x\")\nRequires: cmp\n%endif\n", want: []string{"yes", "cmp"}},
		{name: "logic and arithmetic", src: "%if (1 + 2) * 3 == 9 || 0\nRequires: math\n%endif\n%if 4 / 2 - 2\nRequires: zero\n%endif\n", want: []string{"math"}},
		{name: "ifarch", src: "%ifarch x86_64 aarch64\nRequires: a\n%endif\n%ifarch %{ix86}\nRequires: b\n%endif\n%ifnarch s390x\nRequires: c\n%endif\n", want: []string{"a", "c"}},
		{name: "ifos", src: "%ifos linux\nRequires: l\n%endif\n%ifnos linux\nRequires: n\n%endif\n", want: []string{"l"}},
		{name: "noarch reparse", src: "BuildArch: noarch\n%ifarch noarch\nRequires: na\n%endif\n%ifarch x86_64\nRequires: x\n%endif\n", want: []string{"na"}},
		{name: "false branch not expanded", src: "%if 0\nRequires: %{lua:print(1)}\n%global x %(date)\n%endif\nRequires: ok\n", want: []string{"ok"}},
		{name: "bcond_with default off", src: "%bcond_with gui\n%if %{with gui}\nRequires: gui\n%endif\n%if %{without gui}\nRequires: nogui\n%endif\n", want: []string{"nogui"}},
		{name: "bcond_with enabled", mod: func(o *Options) { o.With = []string{"gui"} }, src: "%bcond_with gui\n%if %{with gui}\nRequires: gui\n%endif\n", want: []string{"gui"}},
		{name: "bcond_without default on", src: "%bcond_without tests\nRequires: %{?with_tests:pytest}\n", want: []string{"pytest"}},
		{name: "bcond_without disabled", mod: func(o *Options) { o.Without = []string{"tests"} }, src: "%bcond_without tests\n%if %{with tests}\nRequires: pytest\n%endif\nRequires: x\n", want: []string{"x"}},
		{name: "version literal fedora", src: "%if v\"%{python3_version}\" >= v\"3.10\"\nRequires: new\n%else\nRequires: old\n%endif\n", want: []string{"new"}},
		{name: "version literal rhel-8", target: "rhel-8", src: "%if v\"%{python3_version}\" >= v\"3.10\"\nRequires: new\n%else\nRequires: old\n%endif\n", want: []string{"old"}},
		{name: "version literal order", src: "%if v\"1.0~rc1\" < v\"1.0\" && v\"1.0^git1\" > v\"1.0\" && v\"2:0.1\" > v\"1:9\" && v\"1.0-2\" > v\"1.0-1\" && v\"1.10\" > v\"1.9\" && v\"1.0\" == v\"1.0-5\"\nRequires: ordered\n%endif\n", want: []string{"ordered"}},
		{name: "bcond expression", target: "rhel-9", src: "%bcond docs %{undefined rhel}\n%bcond fast 1\n%if %{with docs}\nRequires: sphinx\n%endif\n%if %{with fast}\nRequires: fast\n%endif\n", want: []string{"fast"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = "fedora-43"
			}
			r, err := parseStr(t, target, preamble+tc.src+"%description\n", tc.mod)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, names(r.Requires)); d != "" {
				t.Errorf("Requires (-want +got):\n%s", d)
			}
		})
	}
}

func TestResultFields(t *testing.T) {
	src := `%global srcname demo
Name:           python-%{srcname}
Version:        1.0
Release:        1%{?dist}
Summary:        s
License:        MIT
BuildRequires:  python3-devel, %{py3_dist setuptools}
Provides:       demo-compat = %{version}
Requires(pre,post): shadow-utils
Requires(postun): systemd

%description
d

%package -n python3-%{srcname}
Summary: s
%py_provides python3-%{srcname}
Requires: python3-six

%description -n python3-%{srcname}
d

%package doc
Summary: docs

%description doc
docs

%generate_buildrequires
%pyproject_buildrequires -t

%files -n python3-%{srcname}
`
	r, err := Parse("p.spec", []byte(src), Options{Target: mustTarget(t, "fedora-43")})
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{
		Packages:      []string{"python-demo", "python3-demo", "python-demo-doc"},
		Provides:      []Dep{{"demo-compat = 1.0", 8}, {"python-demo = 1.0-1.fc43", 17}, {"python3.14-demo = 1.0-1.fc43", 17}},
		Requires:      []Dep{{"python3-six", 18}},
		BuildRequires: []Dep{{"python3-devel", 7}, {"python3dist(setuptools)", 7}},
		Scriptlet:     []Dep{{"shadow-utils", 9}, {"systemd", 10}},
		Dynamic:       true,
	}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name        string
		src         string
		want        string
		unsupported bool
	}{
		{name: "lua", src: preamble + "Requires: %{lua: print('x')}\n", want: "demo.spec:6: cannot evaluate %{lua:...}: lua macros are not supported; use --spec-eval=rpmspec", unsupported: true},
		{name: "lua in global", src: "%global ver %{lua:print(1)}\n", want: "demo.spec:1: cannot evaluate %{lua:...}: lua macros are not supported; use --spec-eval=rpmspec", unsupported: true},
		{name: "shell", src: preamble + "%global year %(date +%%Y)\n", want: `demo.spec:6: cannot evaluate "%(date +%%Y)": shell expansion is not supported; use --spec-eval=rpmspec`, unsupported: true},
		{name: "include", src: preamble + "%include common.inc\n", want: `demo.spec:6: cannot evaluate "%include common.inc": %include is not supported; use --spec-eval=rpmspec`, unsupported: true},
		{name: "load", src: "%{load:/usr/lib/rpm/macros.d/macros.foo}\n", want: `demo.spec:1: cannot evaluate "%{load:/usr/lib/rpm/macros.d/macros.foo}": loading files is not supported; use --spec-eval=rpmspec`, unsupported: true},
		{name: "unclosed if", src: preamble + "%if 1\nRequires: a\n", want: "demo.spec:6: unclosed %if"},
		{name: "stray endif", src: preamble + "%endif\n", want: "demo.spec:6: %endif with no %if"},
		{name: "stray else", src: "%else\n", want: "demo.spec:1: %else with no %if"},
		{name: "double else", src: "%if 1\n%else\n%else\n%endif\n", want: "demo.spec:3: %else after %else"},
		{name: "bare words", src: preamble + "%if foo == bar\n%endif\n", want: `demo.spec:6: bad %if condition "foo == bar": bare words are no longer supported, please use "..."`},
		{name: "types", src: "%if \"a\" == 1\n%endif\n", want: `demo.spec:1: bad %if condition "\"a\" == 1": types must match`},
		{name: "empty if", src: "%if %{?nothing}\n%endif\n", want: "demo.spec:1: bad %if condition: empty expression"},
		{name: "undefined macro in dep", src: preamble + "Requires: %{undefined_thing}x\n", want: `demo.spec:6: dependency tokens must begin with alpha-numeric, '_' or '/': "%{undefined_thing}x"`},
		{name: "recursion", src: "%define loop %{loop}\nRequires: %{loop}\n", want: "demo.spec:2: too many levels of recursion in macro expansion"},
		{name: "unknown tag", src: preamble + "Frobnicate: yes\n", want: `demo.spec:6: unknown tag: "Frobnicate: yes"`},
		{name: "multi-line value", src: preamble + "%global list a,\\\n  b\nRequires: %{list}\n", want: `demo.spec:8: unknown tag: "b"`},
		{name: "empty tag", src: preamble + "Requires:\n", want: `demo.spec:6: empty tag: "Requires:"`},
		{name: "version required", src: preamble + "Requires: a >=\n", want: `demo.spec:6: version required: "a >="`},
		{name: "bad qualifier", src: preamble + "Requires(bogus): a\n", want: `demo.spec:6: bad requires qualifier "bogus" in "Requires(bogus)"`},
		{name: "unbalanced rich", src: preamble + "Requires: (a or b\n", want: `demo.spec:6: unterminated rich dependency: "(a or b"`},
		{name: "error macro", src: "%{error:stop here}\n", want: `demo.spec:1: %{error:...}: "stop here"`},
		{name: "versioned file", src: preamble + "Requires: /usr/bin/a >= 1\n", want: `demo.spec:6: versioned file name not permitted: "/usr/bin/a >= 1"`},
		{name: "illegal macro name", src: "%define x 1\n", want: `demo.spec:1: macro "%x" has illegal name`},
		{name: "elseif is not rpm syntax", src: preamble + "%if 1\n%elseif 0\n%endif\n", want: `demo.spec:7: unknown tag: "%elseif 0"`},
		{name: "exponential expansion", src: "%define mac0 xxxxxxxxxxxxxxxx\n" + expo(30) + "Requires: %{mac30}\n", want: "demo.spec:32: too many macro calls"},
		{name: "version and string", src: preamble + "%if v\"1.0\" == \"1.0\"\n%endif\n", want: `demo.spec:6: bad %if condition "v\"1.0\" == \"1.0\"": types must match`},
		{name: "no name", src: "Version: 1\nRequires: a\n", want: "demo.spec: Name field must be present (none is read for target fedora-43: is it missing or inside a false %if?)"},
		{name: "name in false if", src: "%if 0\nName: hidden\n%endif\nVersion: 1\n", want: "demo.spec: Name field must be present (none is read for target fedora-43: is it missing or inside a false %if?)"},
		{name: "name with spaces", src: "Name: two words\n", want: `demo.spec:1: Name "two words": tag takes single token only`},
		{name: "rpkg template", src: "Name: {{{ git_dir_name }}}\n", want: "demo.spec:1: Name: {{{ git_dir_name }}}: this is an rpkg template: render it first (rpkg spec --outdir DIR) and name the rendered spec in deps"},
		{name: "unterminated brace", src: "Requires: %{foo\n", want: `demo.spec:1: unterminated %{: "%{foo"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStr(t, "fedora-43", tc.src, nil)
			if err == nil {
				t.Fatalf("want error %q, got none", tc.want)
			}
			if d := cmp.Diff(tc.want, err.Error()); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not *Error", err)
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tc.unsupported)
			}
		})
	}
}

// expo defines mac1..macN, each twice the previous one.
func expo(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%%define mac%d %%{mac%d}%%{mac%d}\n", i, i-1, i-1)
	}
	return b.String()
}

func TestRPMSpecMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := ParseWithRPMSpec(t.Context(), "x.spec", Options{})
	if err == nil || !strings.Contains(err.Error(), "x.spec: cannot run rpmspec") {
		t.Fatalf("got %v, want a cannot run rpmspec error", err)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		preamble + "Requires: foo >= 1.2, bar (a or b)\n%description\n",
		"%define a %{b}\n%define b %{a}\nRequires: %a\n",
		"%define x() %{x %1}\n%x 1\n",
		"%global a %{expand:%%global b 1}\n%if %{?b}\n%endif\n",
		"%bcond tests 1\n%if %{with tests}\nRequires: t\n%endif\n",
		"%[ 1 ? \"%{?x}\" : (2 + \"a\") ]\n",
		"%if ((((1\n%endif\n",
		"Requires: %{py3_dist A.b c_d}\n%pyproject_extras_subpkg -n x a\n",
		"%define d() %{-n*} %# %* %**\n%d -n 1 2 3\n",
		"%{",
		"%global x \\\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	opts := Options{Target: mustTarget(f, "fedora-43")}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := Parse("f.spec", []byte(src), opts)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			return
		}
		if r == nil {
			t.Fatal("nil result without error")
		}
	})
}
