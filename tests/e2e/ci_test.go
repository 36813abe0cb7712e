package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ciStep is a script of a docs/ci file with the environment it sets.
type ciStep struct {
	script string
	env    []string
}

// readCI reads docs/ci/NAME (one YAML document); STRATA_CI_DIR is where
// hack/e2e.sh copied docs/ci for a rootless run.
func readCI(t *testing.T, name string) map[string]any {
	t.Helper()
	dir := os.Getenv("STRATA_CI_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "docs", "ci")
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// runCI runs a CI step's script with bash in dir, strata on the PATH (the
// binary under test), the store and the registry of the test, and returns
// its output.
func runCI(t *testing.T, dir string, s store, step ciStep) string {
	t.Helper()
	bin := t.TempDir()
	if err := os.Symlink(strataBin, filepath.Join(bin, "strata")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", step.script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), cacheEnv(t)...),
		"PATH="+bin+":"+os.Getenv("PATH"), "STRATA_ROOT="+s.root, "STRATA_RUNROOT="+s.runroot, "STRATA_TLS_VERIFY=false")
	cmd.Env = append(cmd.Env, step.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the CI script failed: %v\n--- script\n%s\n--- output\n%s", err, step.script, out)
	}
	return string(out)
}

// ciRecipe writes recipe.yaml into a directory of its own: webapp's
// recipe pushing to reg.
func ciRecipe(t *testing.T, reg *registry) string {
	t.Helper()
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	body, err := os.ReadFile(pushRecipe(t, p.repo.Dir, reg))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "recipe.yaml"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCITekton runs the Tekton Task's script, its parameters and results
// substituted as Tekton does, with the environment it sets (chroot
// isolation, vfs): the image is pushed, and IMAGE_URL and IMAGE_DIGEST
// name it, as Tekton Chains reads them.
func TestCITekton(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	dir := ciRecipe(t, reg)
	doc := readCI(t, "tekton-task.yaml")
	step := doc["spec"].(map[string]any)["steps"].([]any)[0].(map[string]any)
	results := t.TempDir()
	auth := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(auth, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	subst := strings.NewReplacer(
		"$(params.profile)", "stg", "$(params.recipe)", "recipe.yaml",
		"$(results.IMAGE_DIGEST.path)", filepath.Join(results, "IMAGE_DIGEST"),
		"$(results.IMAGE_URL.path)", filepath.Join(results, "IMAGE_URL"),
		"$(workspaces.dockerconfig.path)/.dockerconfigjson", auth,
	)
	var env []string
	for _, e := range step["env"].([]any) {
		m := e.(map[string]any)
		if v, ok := m["value"].(string); ok {
			env = append(env, m["name"].(string)+"="+subst.Replace(v))
		}
	}
	runCI(t, dir, newStore(t), ciStep{script: subst.Replace(step["script"].(string)), env: env})
	url, _ := os.ReadFile(filepath.Join(results, "IMAGE_URL"))
	digest, _ := os.ReadFile(filepath.Join(results, "IMAGE_DIGEST"))
	if string(url) != reg.Host+"/e2e/webapp" {
		t.Errorf("IMAGE_URL %q, want %s/e2e/webapp", url, reg.Host)
	}
	if want := reg.Digest(t, "e2e/webapp:stg"); string(digest) != want {
		t.Errorf("IMAGE_DIGEST %q, want %s", digest, want)
	}
}

// TestCIGitLab runs the GitLab jobs' strata lines (the before_script's
// install and login lines need GitLab: the binary and the registry are the
// test's): each job pushes its profile, the stg job its pipeline tag too.
func TestCIGitLab(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	dir := ciRecipe(t, reg)
	doc := readCI(t, "gitlab-ci.yaml")
	var before []string
	for _, l := range doc["before_script"].([]any) {
		if s := l.(string); strings.HasPrefix(s, "strata doctor") {
			before = append(before, s)
		}
	}
	s := newStore(t)
	for job, tag := range map[string]string{"image-stg": "pipeline-4711", "image-prod": "prod"} {
		var script []string
		for _, l := range doc[job].(map[string]any)["script"].([]any) {
			script = append(script, l.(string))
		}
		out := runCI(t, dir, s, ciStep{script: strings.Join(append(before, script...), "\n"), env: []string{"CI_PIPELINE_ID=4711"}})
		digest, err := os.ReadFile(filepath.Join(dir, "digest"))
		if err != nil || !digestRE.Match(digest) {
			t.Fatalf("%s: digest file %q (%v)\n%s", job, digest, err, out)
		}
		if got := reg.Digest(t, "e2e/webapp:"+tag); got != string(digest) {
			t.Errorf("%s: e2e/webapp:%s is %s, the job's digest %s", job, tag, got, digest)
		}
	}
}

// TestCIGitHub runs the GitHub workflow's build step, its expressions
// substituted: it pushes the profile of the branch and prints the digest.
func TestCIGitHub(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	dir := ciRecipe(t, reg)
	if err := os.MkdirAll(filepath.Join(dir, "recipes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "recipe.yaml"), filepath.Join(dir, "recipes", "packit-service.yaml")); err != nil {
		t.Fatal(err)
	}
	doc := readCI(t, "github-actions.yaml")
	var script string
	for _, st := range doc["jobs"].(map[string]any)["image"].(map[string]any)["steps"].([]any) {
		if m := st.(map[string]any); m["name"] == "build and push" {
			script = m["run"].(string)
		}
	}
	if script == "" {
		t.Fatal("no build and push step")
	}
	script = regexp.MustCompile(`\$\{\{\s*github\.ref_name\s*\}\}`).ReplaceAllString(script, "main")
	out := runCI(t, dir, newStore(t), ciStep{script: script})
	want := reg.Digest(t, "e2e/webapp:stg")
	if !strings.Contains(out, "pushed "+want) {
		t.Errorf("the step printed %q, want pushed %s", out, want)
	}
}
