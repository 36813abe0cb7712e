package layers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/internal/gitsrc"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah/define"
	"go.podman.io/storage"
)

// pipelineEnv opens a vfs store of the test's own, as root, with chroot
// isolation (no OCI runtime needed) and a fixed SOURCE_DATE_EPOCH.
func pipelineEnv(t *testing.T) *Env {
	t.Helper()
	needDNF(t)
	if _, err := os.Stat(fixtures.BusyboxPath); err != nil {
		t.Skip("busybox-static not installed: run make deps")
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
	}
	store, err := stores.Open(stores.Options{Root: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run"), Driver: "vfs", Policy: policy}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	epoch := time.Unix(1700000000, 0).UTC()
	return &Env{Store: store, Log: log, Output: io.Discard, PolicyPath: policy, Isolation: define.IsolationChroot, Epoch: &epoch}
}

// storedLayers returns the diff IDs of an image's storage layers, bottom
// first.
func storedLayers(t *testing.T, env *Env, id string) []string {
	t.Helper()
	img, err := env.Store.Image(id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for l := img.TopLayer; l != ""; {
		layer, err := env.Store.Layer(l)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, layer.UncompressedDigest.String())
		l = layer.Parent
	}
	slices.Reverse(ids)
	return ids
}

// TestBuildBaseAndFinal builds a base split by package from a fixture
// repository with the host's dnf, rebuilds it after one package's update
// (the other groups' layers are the same storage layers), and builds a
// final image of a git source over it: a checkout layer that is exactly
// the stream the registry path uploads, and an install layer; the same
// final spec again reuses every layer.
func TestBuildBaseAndFinal(t *testing.T) {
	env := pipelineEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	extra := func(v string) fixtures.Package {
		return fixtures.Package{Name: "demo-extra", Source: "demo-extra", Version: v, Files: map[string]string{"/usr/share/extra/v": v + "\n"}}
	}
	// Three source RPMs: the fixtures' own, demo-extra and demo-tools,
	// each a group of a base of 4 layers.
	tools := fixtures.Package{Name: "demo-tools", Source: "demo-tools", Files: map[string]string{"/usr/share/tools/t": "t\n"}}
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	if err := fixtures.BuildRepo(one, append(fixtures.Demo(), extra("1.0"), tools), 1700000000); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.BuildRepo(two, append(fixtures.Demo(), extra("2.0"), tools), 1700000000); err != nil {
		t.Fatal(err)
	}
	noGPG := false
	spec := BaseSpec{
		Target: "fedora-43", From: "scratch", Mode: recipes.InstallRoot, Layers: 4,
		Repos:    []recipes.Repo{{ID: "fixtures", BaseURL: "file://" + one, GPGCheck: &noGPG}},
		Packages: []string{"busybox", "demo-hello", "demo-extra", "demo-tools"},
	}
	first, err := BuildBase(ctx, env, spec, "web")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := ImageLabels(ctx, env.Store, first)
	if err != nil {
		t.Fatal(err)
	}
	if labels[LabelBaseKey] != spec.Key() {
		t.Errorf("base key label %q, want %q", labels[LabelBaseKey], spec.Key())
	}
	var layout BaseLayout
	if err := json.Unmarshal([]byte(labels[LabelBaseLayers]), &layout); err != nil || layout.Layers != 4 {
		t.Fatalf("layout label %q: %v", labels[LabelBaseLayers], err)
	}
	if !strings.Contains(labels[LabelBaseRPMs], `"demo-extra"`) || !strings.Contains(labels[LabelBaseRPMs], `"1.0"`) {
		t.Errorf("the RPM facts miss demo-extra 1.0: %s", labels[LabelBaseRPMs])
	}
	before := storedLayers(t, env, first)
	if len(before) != 4 {
		t.Fatalf("the base has %d layers, want base.layers = 4", len(before))
	}
	if BuiltAt(env.Store, mustImage(t, env, first)).IsZero() {
		t.Error("no build time kept beside the base")
	}

	// demo-extra 2.0: a new base key; the layers of the groups without it
	// are the same bytes (reused, or restacked where a layer below
	// changed).
	updated := spec
	updated.Repos = []recipes.Repo{{ID: "fixtures", BaseURL: "file://" + two, GPGCheck: &noGPG}}
	second, err := BuildBase(ctx, env, updated, "web")
	if err != nil {
		t.Fatal(err)
	}
	after := storedLayers(t, env, second)
	same := 0
	for i := range min(len(before), len(after)) {
		if before[i] == after[i] {
			same++
		}
	}
	// The group of demo-extra and the last layer (the rpm database)
	// change; the other two groups stay.
	if second == first || same != 2 || len(after) != 4 {
		t.Errorf("after one package's update: %d of %d layers the same (%v -> %v), want some but not all", same, len(after), before, after)
	}

	// A final image: a git source with an install command.
	g, err := fixtures.NewGitRepo(filepath.Join(dir, "src"), 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := g.Commit("main", "app", map[string]string{"app.sh": "#!/bin/sh\necho app\n", "README": "the app\n"})
	if err != nil {
		t.Fatal(err)
	}
	client := gitsrc.New(gitsrc.Options{CacheDir: filepath.Join(dir, "git")})
	co, c, err := client.Checkout(ctx, g.Dir, "main", commit)
	if err != nil {
		t.Fatal(err)
	}
	final := &FinalSpec{
		Name: "web", BaseID: second, BaseKey: updated.Key(), Network: "none", Epoch: c.Time.UTC(), Container: "strata-web",
		Image: recipes.Image{Cmd: []string{"/usr/bin/app"}, Labels: map[string]string{"team": "web"}},
		Sources: []Source{{
			Name: "app", Git: g.Dir, Branch: "main", Commit: c.Hash, Time: c.Time, Path: "/src/app", Dir: co,
			Install: []string{"sh", "-c", "cp app.sh /usr/bin/app && chmod 755 /usr/bin/app"},
		}},
	}
	id, made, err := BuildFinal(ctx, env, final, []string{"localhost/web:test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || made[0].Kind != "checkout" || made[1].Kind != "install" || made[0].How != HowBuilt {
		t.Fatalf("final layers %+v, want a built checkout and install layer", made)
	}
	labels, err = ImageLabels(ctx, env.Store, id)
	if err != nil {
		t.Fatal(err)
	}
	if labels[LabelFinalKey] != final.Key() || labels["team"] != "web" || labels[LabelRevision] != c.Hash {
		t.Errorf("final labels: key %q (want %q), team %q, revision %q", labels[LabelFinalKey], final.Key(), labels["team"], labels[LabelRevision])
	}
	recorded, err := RecordedLayers(labels)
	if err != nil || len(recorded) != 2 || recorded[0].DiffID != made[0].DiffID {
		t.Errorf("recorded layers %+v (%v), want the two made", recorded, err)
	}
	// The registry path's stream of the checkout is the stored layer.
	stream, err := final.CheckoutStream("app")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, stream); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	if got := digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))); got != made[0].DiffID {
		t.Errorf("the checkout stream is %s, the stored layer %s", got, made[0].DiffID)
	}
	sbomDoc, err := SBOMOf(labels)
	if err != nil || !strings.Contains(string(sbomDoc), "demo-extra") {
		t.Errorf("SBOM of the final image: %v\n%.300s", err, sbomDoc)
	}

	// The same spec again: every layer is reused, the image is the same.
	again, remade, err := BuildFinal(ctx, env, final, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range remade {
		if l.How != HowReused {
			t.Errorf("layer %s of %s: %s, want reused", l.Kind, l.Source, l.How)
		}
	}
	if storedLayers(t, env, again)[len(after):][0] != storedLayers(t, env, id)[len(after):][0] {
		t.Error("the rebuilt image's checkout layer has other bytes")
	}
}

func mustImage(t *testing.T, env *Env, id string) *storage.Image {
	t.Helper()
	img, err := env.Store.Image(id)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
