package recipes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadValid(t *testing.T) {
	src := `name: web
target: rhel-9
base:
  from: quay.io/fedora/fedora:43
  install: container
  repos:
    - {id: local, baseurl: "file:///srv/repo", gpgcheck: false}
    - id: fedora
      metalink: "https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch"
      gpgkey: "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora"
  packages: [python3-pip, "python3dist(requests)>=2"]
  exclude: [python3-devel]
image:
  entrypoint: [/usr/bin/web]
  cmd: ["--port", "8080"]
  env: {A: "1"}
  workdir: /srv
  user: "1001"
  labels: {team: packit}
  ports: ["8080", 9090/udp]
`
	r, err := Load("web.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := &Recipe{
		Name:   "web",
		Target: "rhel-9",
		Base: Base{
			From:    "quay.io/fedora/fedora:43",
			Install: "container",
			Repos: []Repo{
				{ID: "local", BaseURL: "file:///srv/repo", GPGCheck: &no},
				{ID: "fedora", Metalink: "https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch", GPGKey: "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-fedora"},
			},
			Packages: []string{"python3-pip", "python3dist(requests)>=2"},
			Exclude:  []string{"python3-devel"},
		},
		Image: Image{
			Entrypoint: []string{"/usr/bin/web"}, Cmd: []string{"--port", "8080"},
			Env: map[string]string{"A": "1"}, Workdir: "/srv", User: "1001",
			Labels: map[string]string{"team": "packit"}, Ports: []string{"8080", "9090/udp"},
		},
		File: "web.yaml",
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(Recipe{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".pos" }, cmp.Ignore())); diff != "" {
		t.Errorf("recipe (-want +got):\n%s", diff)
	}
	if got := r.InstallMode(); got != InstallContainer {
		t.Errorf("InstallMode() = %q", got)
	}
}

func TestLoadDefaultsAndRelativeRepo(t *testing.T) {
	r, err := Load("/srv/recipes/demo.yaml", []byte("name: demo\nbase:\n  repos: [{id: l, baseurl: ../repo, gpgcheck: false}]\n  packages: [busybox]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.BaseFrom() != Scratch || r.InstallMode() != InstallRoot {
		t.Errorf("defaults: from %q install %q", r.BaseFrom(), r.InstallMode())
	}
	if tg, _ := r.TargetProfile(); tg.Name != "fedora-43" {
		t.Errorf("default target %q", tg.Name)
	}
	if got := r.Base.Repos[0].BaseURL; got != "file:///srv/repo" {
		t.Errorf("relative baseurl resolved to %q", got)
	}
}

// TestLoadErrors lists every kind of bad recipe with its exact message.
func TestLoadErrors(t *testing.T) {
	const ok = "base:\n  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]\n  packages: [a]\n"
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "r.yaml: the recipe is empty"},
		{"syntax", "name: [a\n", "r.yaml:1: syntax error: did not find expected ',' or ']'"},
		{"tab indentation", "name: a\nbase:\n\tpackages: [a]\n", "r.yaml:3: syntax error: found character that cannot start any token"},
		{"unknown alias", "name: a\nbase:\n  packages: [a, *nope]\n", "r.yaml:3:17: syntax error: unknown anchor 'nope' referenced"},
		{"binary garbage", "name: a\nbase:\n  packages: [\x00\x01]\n", "r.yaml:3:14: syntax error: control characters are not allowed"},
		{"not utf-8", "name: a\nimage:\n  user: \"r\xffoot\"\n", "r.yaml:3:11: syntax error: invalid leading UTF-8 octet"},
		{"two documents", "name: a\n" + ok + "---\nname: b\n", "r.yaml:5:1: a recipe file holds one YAML document, found another"},
		{"not a mapping", "- a\n", "r.yaml:1:1: want a mapping, got a list"},
		{"unknown top-level key", "name: a\nimagee: {}\n" + ok, "r.yaml:2:1: imagee: unknown field \"imagee\"; known fields: name, target, base, image, sources, profiles, push"},
		{"unknown nested key", "name: a\nbase:\n  packages: [a]\n  pacakges: [b]\n", "r.yaml:4:3: base.pacakges: unknown field \"pacakges\"; known fields: from, install, repos, packages, exclude, max_age, layers"},
		{"unknown repo key", "name: a\nbase:\n  repos: [{id: l, url: file:///r, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:19: base.repos[0].url: unknown field \"url\"; known fields: id, baseurl, metalink, mirrorlist, gpgcheck, gpgkey"},
		{"every problem at once", "name: My_App!\nimagee: {}\nbase:\n  packages: [\"a >= \"]\n  pacakges: [b]\nimage:\n  user: [root]\n  workdir: app\n",
			"r.yaml:2:1: imagee: unknown field \"imagee\"; known fields: name, target, base, image, sources, profiles, push\n" +
				"r.yaml:5:3: base.pacakges: unknown field \"pacakges\"; known fields: from, install, repos, packages, exclude, max_age, layers\n" +
				"r.yaml:7:9: image.user: want a string, got a list\n" +
				"r.yaml:1:7: name: invalid name \"My_App!\": use lower-case letters, digits, '.', '_' and '-' (it names the image)\n" +
				"r.yaml:4:14: base.packages[0]: invalid package \"a >= \": want NAME, NAME OP VERSION (OP one of <, <=, =, >=, >) or a rich dependency in parentheses\n" +
				"r.yaml:8:12: image.workdir: want an absolute path, got \"app\""},
		{"user with two colons", "name: a\nimage:\n  user: \"root:grp:extra\"\n" + ok, "r.yaml:3:9: image.user: invalid user \"root:grp:extra\": want USER or USER:GROUP (names or numbers, no spaces)"},
		{"user with a space", "name: a\nimage:\n  user: \"app user\"\n" + ok, "r.yaml:3:9: image.user: invalid user \"app user\": want USER or USER:GROUP (names or numbers, no spaces)"},
		{"password in a git URL", "name: a\nsources:\n  - {name: web, git: \"https://bot:s3cret@example.com/web.git\"}\nprofiles:\n  stg: {branch: main}\n" + ok, "r.yaml:3:22: sources[0].git: invalid repository \"https://***@example.com/web.git\": a password in the URL would end up in logs and labels; set STRATA_GIT_TOKEN instead"},
		{"duplicate key", "name: a\nname: b\n" + ok, "r.yaml:2:1: name: key \"name\" is already set at line 1"},
		{"packages not a list", "name: a\nbase:\n  packages: busybox\n", "r.yaml:3:13: base.packages: want a list, got \"busybox\""},
		{"name not a string", "name: {a: b}\n" + ok, "r.yaml:1:7: name: want a string, got a mapping"},
		{"gpgcheck not a bool", "name: a\nbase:\n  repos: [{id: l, baseurl: file:///r, gpgcheck: maybe}]\n  packages: [a]\n", "r.yaml:3:49: base.repos[0].gpgcheck: want true or false, got \"maybe\""},
		{"missing name", ok, "r.yaml:1:1: name: required: the image name, lower-case letters, digits and separators (e.g. \"demo\")"},
		{"bad name", "name: My_App!\n" + ok, "r.yaml:1:7: name: invalid name \"My_App!\": use lower-case letters, digits, '.', '_' and '-' (it names the image)"},
		{"unknown target", "name: a\ntarget: debian-12\n" + ok, "r.yaml:2:9: target: unknown target \"debian-12\": want fedora-NN or rhel-N"},
		{"unknown fedora", "name: a\ntarget: fedora-12\n" + ok, "r.yaml:2:9: target: unknown target \"fedora-12\": known targets are fedora-33, fedora-34, fedora-35, fedora-36, fedora-37, fedora-38, fedora-39, fedora-40, fedora-41, fedora-42, fedora-43, fedora-44, rhel-8, rhel-9, rhel-10"},
		{"bad install mode", "name: a\nbase:\n  install: chroot\n  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:12: base.install: unknown install mode \"chroot\": want \"installroot\" or \"container\""},
		{"container from scratch", "name: a\nbase:\n  install: container\n  packages: [a]\n", "r.yaml:3:12: base.install: install mode \"container\" runs dnf inside the base image, so base.from must name an image with dnf, not \"scratch\""},
		{"bad from", "name: a\nbase:\n  from: Fedora:43\n  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:9: base.from: invalid image reference \"Fedora:43\": invalid reference format: repository name must be lowercase (want registry/name:tag, oci:DIR, oci-archive:FILE, docker-archive:FILE or containers-storage:NAME)"},
		{"empty oci path", "name: a\nbase:\n  from: \"oci:\"\n  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:9: base.from: invalid image reference \"oci:\": nothing after \"oci:\""},
		{"no packages", "name: a\nbase:\n  from: scratch\n", "r.yaml:3:3: base.packages: required: at least one package to install (or sources with deps files)"},
		{"no base", "name: a\n", "r.yaml:1:1: base.packages: required: at least one package to install (or sources with deps files)"},
		{"bad package", "name: a\nbase:\n  packages: [\"foo >= \"]\n", "r.yaml:3:14: base.packages[0]: invalid package \"foo >= \": want NAME, NAME OP VERSION (OP one of <, <=, =, >=, >) or a rich dependency in parentheses"},
		{"unbalanced rich dep", "name: a\nbase:\n  packages: [\"(a or b\"]\n", "r.yaml:3:14: base.packages[0]: invalid rich dependency \"(a or b\": unbalanced parentheses"},
		{"duplicate package", "name: a\nbase:\n  packages: [a, b, \"a\"]\n", "r.yaml:3:20: base.packages[2]: package \"a\" is listed twice (also base.packages[0])"},
		{"too many base layers", "name: a\nbase:\n  packages: [a]\n  layers: 101\n", "r.yaml:4:11: base.layers: invalid value 101: want 1 to 100 layers (default 40)"},
		{"negative base layers", "name: a\nbase:\n  packages: [a]\n  layers: -1\n", "r.yaml:4:11: base.layers: invalid value -1: want 1 to 100 layers (default 40)"},
		{"bad exclude", "name: a\nbase:\n  packages: [a]\n  exclude: [\"a b\"]\n", "r.yaml:4:13: base.exclude[0]: invalid exclude \"a b\": want a package name or a provide such as \"python3dist(foo)\""},
		{"repo without id", "name: a\nbase:\n  repos: [{baseurl: file:///r, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:11: base.repos[0].id: required: a repository id such as \"fedora\""},
		{"two sources at one path", "name: a\nbase:\n  packages: [a]\nsources:\n  - {name: one, git: /g1, path: /srv/app}\n  - {name: two, git: /g2, path: /srv/app/}\nprofiles:\n  stg: {branch: main}\n",
			"r.yaml:6:33: sources[1].path: sources \"one\" and \"two\" both write /srv/app: give each a path of its own"},
		{"needs an unknown source", "name: a\nbase:\n  packages: [a]\nsources:\n  - {name: one, git: /g1, install: [make], needs: [two]}\nprofiles:\n  stg: {branch: main}\n",
			"r.yaml:5:52: sources[0].needs[0]: unknown source \"two\": want one of \"one\""},
		{"needs without install", "name: a\nbase:\n  packages: [a]\nsources:\n  - {name: one, git: /g1}\n  - {name: two, git: /g2, needs: [one]}\nprofiles:\n  stg: {branch: main}\n",
			"r.yaml:6:35: sources[1].needs[0]: needs is for the install command, and source \"two\" has none"},
		{"duplicate repo id", "name: a\nbase:\n  repos: [{id: l, baseurl: file:///r, gpgcheck: false}, {id: l, baseurl: file:///s, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:62: base.repos[1].id: repository id \"l\" is already used by base.repos[0]"},
		{"repo without url", "name: a\nbase:\n  repos: [{id: l, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:11: base.repos[0]: give exactly one of baseurl, metalink and mirrorlist (got 0)"},
		{"bad metalink", "name: a\nbase:\n  repos: [{id: l, metalink: ftp://x, gpgcheck: false}]\n  packages: [a]\n", "r.yaml:3:29: base.repos[0].metalink: invalid URL \"ftp://x\": want file://, http:// or https://"},
		{"gpgcheck without key", "name: a\nbase:\n  repos: [{id: l, baseurl: file:///r}]\n  packages: [a]\n", "r.yaml:3:11: base.repos[0].gpgkey: required when gpgcheck is true: the installroot is empty and has no keys (or set gpgcheck: false for a trusted local repository)"},
		{"relative workdir", "name: a\n" + ok + "image: {workdir: srv}\n", "r.yaml:5:18: image.workdir: want an absolute path, got \"srv\""},
		{"bad env name", "name: a\n" + ok + "image: {env: {1A: x}}\n", "r.yaml:5:19: image.env.1A: invalid environment variable name \"1A\""},
		{"bad port", "name: a\n" + ok + "image: {ports: [http]}\n", "r.yaml:5:17: image.ports[0]: invalid port \"http\": want NUMBER or NUMBER/tcp|udp|sctp"},
		{"port out of range", "name: a\n" + ok + "image: {ports: [70000]}\n", "r.yaml:5:17: image.ports[0]: port 70000 is out of range 1-65535"},
		{"several problems", "name: A\nbase:\n  install: x\n", "r.yaml:1:7: name: invalid name \"A\": use lower-case letters, digits, '.', '_' and '-' (it names the image)\n" +
			"r.yaml:3:12: base.install: unknown install mode \"x\": want \"installroot\" or \"container\"\n" +
			"r.yaml:3:3: base.packages: required: at least one package to install (or sources with deps files)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("r.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadSourcesAndProfiles(t *testing.T) {
	src := `name: web
base: {packages: [python3]}
sources:
  - {name: web, git: ../web, deps: [web.spec, setup.cfg], install: [pip3, install, .]}
  - {name: lib, git: "git@github.com:o/lib.git", path: /opt/lib}
  - {name: ogr, git: "file:///srv/ogr"}
profiles:
  prod: {branch: stable}
  stg: {branch: main, tags: [stg, latest]}
`
	r, err := Load("/srv/recipes/web.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{r.Sources[0].Git, r.Sources[1].Git, r.Sources[2].Git}; !cmp.Equal(got, []string{"/srv/web", "git@github.com:o/lib.git", "file:///srv/ogr"}) {
		t.Errorf("remotes resolved to %q", got)
	}
	if got := []string{r.Sources[0].Dest(), r.Sources[1].Dest()}; !cmp.Equal(got, []string{"/src/web", "/opt/lib"}) {
		t.Errorf("paths %q", got)
	}
	if got := r.ProfileNames(); !cmp.Equal(got, []string{"prod", "stg"}) {
		t.Errorf("profile order %q, want the file's", got)
	}
	name, p, err := r.Profile("")
	if err != nil || name != "prod" || p.Branch != "stable" || !cmp.Equal(p.Tags, []string{"prod"}) {
		t.Errorf("default profile %q %+v %v", name, p, err)
	}
	if _, _, err := r.Profile("dev"); err == nil || err.Error() != `unknown profile "dev": want one of prod, stg` {
		t.Errorf("unknown profile: %v", err)
	}
	r.Profiles = nil
	if name, p, err := r.Profile(""); err != nil || name != "" || p.Branch != "main" || !cmp.Equal(p.Tags, []string{"latest"}) {
		t.Errorf("implicit profile %q %+v %v", name, p, err)
	}
}

func TestExpandTag(t *testing.T) {
	v := TagValues{Profile: "prod", Branch: "release/1.2", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "20261128"}
	for tmpl, want := range map[string]string{
		"{branch}-{commit7}": "release-1.2-0123456",
		"{profile}-{date}":   "prod-20261128",
		"build-{commit}":     "build-0123456789abcdef0123456789abcdef01234567",
		"{branch}":           "release-1.2",
		"v1":                 "v1",
	} {
		got, err := ExpandTag(tmpl, v)
		if err != nil || got != want {
			t.Errorf("ExpandTag(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
	if _, err := ExpandTag("{nope}", v); err == nil {
		t.Error("an unknown placeholder was accepted")
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour, "never": 0, "0": 0, "2s": 2 * time.Second} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1w", "-1h", "d", "xd", "0h"} {
		if _, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) accepted it", in)
		}
	}
}

func TestCheckBranch(t *testing.T) {
	for _, b := range []string{"main", "stable", "release/1.2", "feature-x_y.z"} {
		if err := CheckBranch(b); err != nil {
			t.Errorf("CheckBranch(%q): %v", b, err)
		}
	}
	for _, b := range []string{"", "-x", "a..b", "a b", "x.lock", "a/", "/a", "a//b", ".x", "a/.b", "a:b", "a@{1}", "@", "a~1", "a^", "a*", "a?", "a[", "a\\b"} {
		if err := CheckBranch(b); err == nil {
			t.Errorf("CheckBranch(%q) accepted it", b)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasSuffix(err.Error(), "nope.yaml: reading recipe: no such file or directory") || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// TestExamples loads every example recipe shipped in recipes/examples.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestNormalizeDep(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                        "busybox",
		"python3dist(requests)>=2":       "python3dist(requests) >= 2",
		"  foo   ==  1.0 ":               "foo = 1.0",
		"(a   with   b)":                 "(a with b)",
		"python3dist(x) < 2~~":           "python3dist(x) < 2~~",
		"/usr/bin/sh":                    "/usr/bin/sh",
		"perl(Foo::Bar) >= 1:2.3-4.fc43": "perl(Foo::Bar) >= 1:2.3-4.fc43",
	} {
		if got := NormalizeDep(in); got != want {
			t.Errorf("NormalizeDep(%q) = %q, want %q", in, got, want)
		}
		if err := CheckDep(in); err != nil {
			t.Errorf("CheckDep(%q): %v", in, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{"name: a\nbase: {packages: [a]}\n", "name: [\n", "base:\n  repos: [{id: x}]\n", "image: {env: {A: b}}"} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("examples/demo.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Load("f.yaml", data)
		if err == nil && r.Name == "" {
			t.Fatalf("loaded a recipe without a name")
		}
	})
}
