package pyreq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/recipes/targets"
)

func envFor(t *testing.T, name string) Env {
	t.Helper()
	tgt, err := targets.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return EnvFor(tgt)
}

func TestEnvFor(t *testing.T) {
	want := Env{
		PythonVersion:                "3.9",
		PythonFullVersion:            "3.9.0",
		SysPlatform:                  "linux",
		PlatformSystem:               "Linux",
		OSName:                       "posix",
		ImplementationName:           "cpython",
		PlatformPythonImplementation: "CPython",
		PlatformMachine:              "x86_64",
	}
	if diff := cmp.Diff(want, envFor(t, "rhel-9")); diff != "" {
		t.Errorf("EnvFor(rhel-9) mismatch (-want +got):\n%s", diff)
	}
}

// Marker results on fedora-43 (python 3.14), rhel-9 (3.9) and rhel-8 (3.6).
func TestApplies(t *testing.T) {
	tests := []struct {
		marker                 string
		fedora43, rhel9, rhel8 bool
	}{
		{`python_version >= "3.10"`, true, false, false},
		{`python_version < "3.10"`, false, true, true},
		// As strings "3.14" < "3.9"; PEP 440 comparison is required.
		{`python_version > "3.9"`, true, false, false},
		{`python_version == "3.9"`, false, true, false},
		{`python_version != "3.9"`, true, false, true},
		{`python_version == "3.*"`, true, true, true},
		{`python_version ~= "3.7"`, true, true, false},
		{`python_version <= "3.6"`, false, false, true},
		{`python_full_version >= "3.6.2"`, true, true, false},
		{`python_full_version < "3.9.1"`, false, true, true},
		{`"3.8" < python_version`, true, true, false},
		{`python_version in "3.6 3.7 3.8"`, false, false, true},
		{`python_version not in "3.9, 3.10"`, true, false, true},
		{`sys_platform == "linux"`, true, true, true},
		{`sys_platform == 'win32'`, false, false, false},
		{`sys_platform != "darwin"`, true, true, true},
		{`platform_system == "Linux" and os_name == "posix"`, true, true, true},
		{`platform_system != "Windows" and python_version < "3.8"`, false, false, true},
		{`os_name == "nt" or python_version >= "3.9"`, true, true, false},
		{`(os_name == "nt" or python_version < "3.7") and platform_machine == "x86_64"`, false, false, true},
		{`os_name == "nt" or python_version < "3.7" and platform_machine == "aarch64"`, false, false, false},
		{`platform_machine in "x86_64 aarch64"`, true, true, true},
		{`platform_python_implementation == "PyPy"`, false, false, false},
		{`implementation_name == "cpython" and implementation_version >= "3.8"`, true, true, false},
		{`platform_release >= "5"`, false, false, false},
		{`extra == "test"`, false, false, false},
		{`extra == "test" or python_version < "3.7"`, false, false, true},
	}
	envs := map[string]Env{"fedora-43": envFor(t, "fedora-43"), "rhel-9": envFor(t, "rhel-9"), "rhel-8": envFor(t, "rhel-8")}
	for _, tt := range tests {
		want := map[string]bool{"fedora-43": tt.fedora43, "rhel-9": tt.rhel9, "rhel-8": tt.rhel8}
		for _, target := range []string{"fedora-43", "rhel-9", "rhel-8"} {
			t.Run(target+"/"+tt.marker, func(t *testing.T) {
				r, err := ParseRequirement("pkg; " + tt.marker)
				if err != nil {
					t.Fatal(err)
				}
				got, err := r.Applies(envs[target])
				if err != nil {
					t.Fatal(err)
				}
				if got != want[target] {
					t.Errorf("Applies(%s) = %v, want %v", tt.marker, got, want[target])
				}
			})
		}
	}
}

func TestAppliesExtra(t *testing.T) {
	tests := []struct {
		name, marker, extra string
		want                bool
	}{
		{"no marker", "", "", true},
		{"no extra selected", `extra == "test"`, "", false},
		{"extra selected", `extra == "test"`, "test", true},
		{"other extra", `extra == "docs"`, "test", false},
		{"normalised", `extra == "Test_Extra"`, "test-extra", true},
		{"reversed", `"test" == extra`, "test", true},
		{"combined", `python_version >= "3.8" and extra == "test"`, "test", true},
	}
	env := envFor(t, "fedora-43")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.Extra = tt.extra
			r := Requirement{Name: "pkg", Marker: tt.marker}
			got, err := r.Applies(env)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Applies(%q, extra=%q) = %v, want %v", tt.marker, tt.extra, got, tt.want)
			}
		})
	}
}

func TestAppliesErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Requirement
		want string
	}{
		{"not versions", Requirement{Name: "pkg", Marker: `os_name ~= "posix"`, File: "setup.cfg", Line: 4},
			`setup.cfg:4: marker of "pkg": cannot compare "posix" ~= "posix": not versions`},
		{"syntax", Requirement{Name: "pkg", Marker: `os_name ==`},
			`marker of "pkg": expected a marker variable or string at end of marker`},
		{"too deep", Requirement{Name: "pkg", Marker: repeat("(", 100) + `os_name == "posix"` + repeat(")", 100)},
			`marker of "pkg": marker nested too deeply`},
	}
	env := envFor(t, "rhel-9")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.req.Applies(env)
			if err == nil {
				t.Fatal("Applies() succeeded, want error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
