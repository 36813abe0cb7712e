package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pushRecipe is webapp's recipe with a push section for reg.
func pushRecipe(t *testing.T, git string, reg *registry) string {
	t.Helper()
	body, err := os.ReadFile(sourcesRecipe(t, git))
	if err != nil {
		t.Fatal(err)
	}
	return writeRecipe(t, string(body)+fmt.Sprintf("push:\n  repository: %s/e2e/webapp\n  immutable_tag: \"{branch}-{commit7}\"\n", reg.Host))
}

// remoteExists says whether a tag exists in a registry.
func (r *registry) exists(t *testing.T, repoTag string) bool {
	t.Helper()
	args := append([]string{"inspect", "--raw"}, r.skopeoFlags()...)
	err := exec.Command("skopeo", append(args, "docker://"+r.Host+"/"+repoTag)...).Run()
	return err == nil
}

// tags lists the tags of a repository, as skopeo list-tags reads them.
func (r *registry) tags(t *testing.T, repo string) []string {
	t.Helper()
	var list struct{ Tags []string }
	out := tool(t, "skopeo", append(append([]string{"list-tags"}, r.skopeoFlags()...), "docker://"+r.Host+"/"+repo)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("skopeo list-tags %s: %v\n%s", repo, err, out)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

// imageTags lists the tags of a repository that name images: without
// the referrers-tag indexes (sha256-HEX) of their attachments.
func (r *registry) imageTags(t *testing.T, repo string) []string {
	t.Helper()
	return slices.DeleteFunc(r.tags(t, repo), func(tag string) bool { return strings.HasPrefix(tag, "sha256-") })
}

// attachments returns, by artifact type, the blob of each artifact the
// referrers-tag index of repo@digest lists (the SBOM, the provenance).
func (r *registry) attachments(t *testing.T, repo, digest string) map[string]string {
	t.Helper()
	args := append([]string{"inspect", "--raw"}, r.skopeoFlags()...)
	tag := strings.Replace(digest, ":", "-", 1)
	if !r.exists(t, repo+":"+tag) {
		return map[string]string{}
	}
	var idx struct {
		Manifests []struct{ Digest, ArtifactType string }
	}
	if err := json.Unmarshal([]byte(tool(t, "skopeo", append(args, "docker://"+r.Host+"/"+repo+":"+tag)...)), &idx); err != nil {
		t.Fatalf("the referrers index of %s@%s: %v", repo, digest, err)
	}
	out := map[string]string{}
	for _, m := range idx.Manifests {
		var art struct {
			Subject struct{ Digest string }
			Layers  []struct{ Digest string }
		}
		if err := json.Unmarshal([]byte(tool(t, "skopeo", append(args, "docker://"+r.Host+"/"+repo+"@"+m.Digest)...)), &art); err != nil || len(art.Layers) != 1 {
			t.Fatalf("the attachment %s of %s@%s: %v", m.Digest, repo, digest, err)
		}
		if art.Subject.Digest != digest {
			t.Errorf("the attachment %s names subject %s, want %s", m.Digest, art.Subject.Digest, digest)
		}
		if _, dup := out[m.ArtifactType]; dup {
			t.Errorf("two %s attachments of %s@%s", m.ArtifactType, repo, digest)
		}
		out[m.ArtifactType] = art.Layers[0].Digest
	}
	return out
}

// referrers returns, by artifact type, the manifest digest of each
// artifact the referrers-tag index of repo@digest lists.
func (r *registry) referrers(t *testing.T, repo, digest string) map[string]string {
	t.Helper()
	args := append([]string{"inspect", "--raw"}, r.skopeoFlags()...)
	var idx struct {
		Manifests []struct{ Digest, ArtifactType string }
	}
	raw := tool(t, "skopeo", append(args, "docker://"+r.Host+"/"+repo+":"+strings.Replace(digest, ":", "-", 1))...)
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("the referrers index of %s@%s: %v", repo, digest, err)
	}
	out := map[string]string{}
	for _, m := range idx.Manifests {
		out[m.ArtifactType] = m.Digest
	}
	return out
}

// attachmentBlobs are the blobs of the SBOM and the provenance of
// repo@digest, which a push uploads beside the image's.
func (r *registry) attachmentBlobs(t *testing.T, repo, digest string) []string {
	t.Helper()
	a := r.attachments(t, repo, digest)
	sbom, prov := a["application/vnd.cyclonedx+json"], a["application/vnd.in-toto+json"]
	if sbom == "" || prov == "" {
		t.Errorf("attachments of %s@%s: %v, want an SBOM and a provenance", repo, digest, a)
	}
	return []string{sbom, prov}
}

// regManifest is what a test reads of an image manifest.
type regManifest struct {
	Config struct{ Digest string }
	Layers []struct{ Digest string }
}

// manifest reads the manifest of REPO:TAG with skopeo.
func (r *registry) manifest(t *testing.T, repoTag string) regManifest {
	t.Helper()
	args := append([]string{"inspect", "--raw"}, r.skopeoFlags()...)
	raw := tool(t, "skopeo", append(args, "docker://"+r.Host+"/"+repoTag)...)
	var m regManifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("manifest of %s: %v", repoTag, err)
	}
	return m
}

// blobs returns the layer and config digests of a pushed image.
func (r *registry) blobs(t *testing.T, repoTag string) []string {
	t.Helper()
	m := r.manifest(t, repoTag)
	list := []string{m.Config.Digest}
	for _, l := range m.Layers {
		list = append(list, l.Digest)
	}
	return list
}

// TestPush: build --push sends every tag to one digest, the image pulled
// back runs, a code change uploads only the new final layer and the
// config, and the immutable tag is never moved.
func TestPush(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := pushRecipe(t, p.repo.Dir, reg)
	s := newStore(t)
	env := cacheEnv(t)
	digestFile := filepath.Join(t.TempDir(), "digest")
	r := strata(t, s, env, "build", "--push", "--tls-verify=false", "--tag", "build-1", "--digestfile", digestFile, file)
	if r.code != 0 {
		t.Fatalf("build --push: exit %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	digest := string(data)
	tags := []string{"stg", "latest", "build-1", "main-" + p.commits["main"][:7]}
	want := strings.Repeat(reg.Host+"/e2e/webapp@"+digest+"\n", len(tags))
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant one REPOSITORY@DIGEST line per tag:\n%s", r.stdout, want)
	}
	for _, tag := range tags {
		if got := reg.Digest(t, "e2e/webapp:"+tag); got != digest {
			t.Errorf("tag %s is %s, want %s", tag, got, digest)
		}
	}
	// The shared base went to a repository of its own beside the image's
	// (push.cache's default): the image's tag list is the profile's.
	if got, want := reg.imageTags(t, "e2e/webapp"), sorted(tags); !slices.Equal(got, want) {
		t.Errorf("tags of e2e/webapp: %v, want only %v", got, want)
	}
	if cached := reg.tags(t, "e2e/webapp-cache"); len(cached) == 0 || !strings.HasPrefix(cached[0], "base-") {
		t.Errorf("tags of e2e/webapp-cache: %v, want the base-KEY16 tags", cached)
	}

	// Pulled back by buildah into another store, the image runs.
	s2 := newStore(t)
	ctr := strings.TrimSpace(s2.buildah(t, "from", "--quiet", "--tls-verify=false", "docker://"+reg.Host+"/e2e/webapp:stg"))
	if out := s2.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "cat", "/usr/share/webapp-installed"); !strings.Contains(out, "VERSION = 'main-1'") {
		t.Errorf("the pulled image printed %q", out)
	}
	baseBlobs := reg.blobs(t, "e2e/webapp:stg")

	// A code change: only webapp's new layers (its checkout, and its
	// install layer, which copies app.py) and the config go up.
	p.commit(t, "main", "typo", map[string]string{"app.py": "VERSION = 'main-2'\n"})
	reg.ResetLog(t)
	r = strata(t, s, env, "build", "--push", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("second build --push: %s", r.stderr)
	}
	now := reg.blobs(t, "e2e/webapp:stg")
	uploads := reg.BlobUploads(t)
	slices.Sort(uploads)
	// config, checkout layer, install layer, and the new image's SBOM and
	// provenance
	n := fixtureBaseLayers
	wantUp := append([]string{now[0], now[n+1], now[n+2]}, reg.attachmentBlobs(t, "e2e/webapp", reg.Digest(t, "e2e/webapp:stg"))...)
	slices.Sort(wantUp)
	if !slices.Equal(uploads, wantUp) {
		t.Errorf("after a code change the push uploaded %v, want only the config, webapp's two layers and the attachments %v", uploads, wantUp)
	}
	if !slices.Equal(now[1:n+1], baseBlobs[1:n+1]) {
		t.Errorf("the base layers changed: %s -> %s", baseBlobs[1:n+1], now[1:n+1])
	}
	if reg.Digest(t, "e2e/webapp:main-"+p.commits["main"][:7]) == digest {
		t.Errorf("the new commit's immutable tag names the old image")
	}

	// Same commit again: the immutable tag already names this image: fine.
	if r := strata(t, s, env, "build", "--push", "--tls-verify=false", file); r.code != 0 {
		t.Errorf("rebuild and push of the same commit: %s", r.stderr)
	}

	// Another image for the same commit (the install command changed):
	// the immutable tag is not moved, and nothing is pushed.
	stg := reg.Digest(t, "e2e/webapp:stg")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	other := writeRecipe(t, strings.Replace(string(body), "ls -a >", "ls -la >", 1))
	r = strata(t, s, env, "build", "--push", "--tls-verify=false", other)
	if r.code != 1 || !strings.Contains(r.stderr, "already names another image") {
		t.Errorf("immutable tag conflict: exit %d\n%s", r.code, r.stderr)
	}
	if got := reg.Digest(t, "e2e/webapp:stg"); got != stg {
		t.Errorf("a refused push moved stg from %s to %s", stg, got)
	}
}

// TestPushAuthTLS: a registry with TLS and htpasswd: each missing piece
// fails with its own message and leaves no tag; login then push works,
// and the password appears nowhere.
func TestPushAuthTLS(t *testing.T) {
	reg := startRegistry(t, registryOptions{Auth: true, TLS: true})
	s := newStore(t)
	rec := writeRecipe(t, recipe("pushauth", "demo-hello"))
	id := mustBuild(t, s, nil, rec)
	dest := reg.Host + "/e2e/auth:v1"
	authfile := filepath.Join(t.TempDir(), "auth.json")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"tls without cert-dir", []string{"--creds", reg.User + ":" + reg.Password}, "TLS verification of " + reg.Host + " failed: pass --cert-dir"},
		{"no credentials", []string{"--cert-dir", reg.CertDir, "--authfile", authfile}, "authentication required for " + reg.Host + ": run strata login " + reg.Host + " or pass --creds"},
		{"wrong password", []string{"--cert-dir", reg.CertDir, "--creds", reg.User + ":wrong-password"}, reg.Host + " refused the credentials of user \"" + reg.User + "\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := strata(t, s, nil, append(append([]string{"push"}, tc.args...), id, dest)...)
			t.Logf("stderr: %s", r.stderr)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr+r.stdout, reg.Password) {
				t.Errorf("the password appears in the output")
			}
			if reg.exists(t, "e2e/auth:v1") {
				t.Errorf("a failed push left the tag")
			}
		})
	}

	login := exec.Command(strataBin, "login", "--authfile", authfile, "--cert-dir", reg.CertDir, "-u", reg.User, "--password-stdin", reg.Host)
	login.Stdin = strings.NewReader(reg.Password + "\n")
	if out, err := login.CombinedOutput(); err != nil || strings.Contains(string(out), reg.Password) {
		t.Fatalf("strata login: %v\n%s", err, out)
	}
	r := strata(t, s, nil, "push", "--authfile", authfile, "--cert-dir", reg.CertDir, id, dest)
	if r.code != 0 {
		t.Fatalf("push after login: %s", r.stderr)
	}
	if got, want := strings.TrimSpace(r.stdout), reg.Host+"/e2e/auth@"+reg.Digest(t, "e2e/auth:v1"); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if out, err := exec.Command(strataBin, "logout", "--authfile", authfile, reg.Host).CombinedOutput(); err != nil {
		t.Fatalf("strata logout: %v\n%s", err, out)
	}
	if r := strata(t, s, nil, "push", "--authfile", authfile, "--cert-dir", reg.CertDir, id, reg.Host+"/e2e/auth:v2"); r.code != 1 || !strings.Contains(r.stderr, "authentication required") {
		t.Errorf("push after logout: exit %d\n%s", r.code, r.stderr)
	}
}

// proxy forwards TCP connections to a registry at a limited rate and can
// be cut like a registry dying mid-transfer.
type proxy struct {
	ln      net.Listener
	target  string
	rate    int   // bytes per second from client to registry; 0: unlimited
	cutAt   int64 // cut every connection after this many bytes; 0: never
	mu      sync.Mutex
	sent    int64
	conns   []net.Conn
	cut     chan struct{}
	cutOnce sync.Once
}

func startProxy(t *testing.T, addr, target string, rate int, cutAt int64) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, rate: rate, cutAt: cutAt, cut: make(chan struct{})}
	go p.serve()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
		go p.forward(up, c)
	}
}

// forward copies client bytes to the registry, slowly, until the cut.
func (p *proxy) forward(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			p.mu.Lock()
			p.sent += int64(n)
			over := p.cutAt > 0 && p.sent >= p.cutAt
			p.mu.Unlock()
			if over {
				p.cutOnce.Do(func() { close(p.cut); go p.stop() })
				return
			}
			if p.rate > 0 {
				time.Sleep(time.Duration(n) * time.Second / time.Duration(p.rate))
			}
		}
		if err != nil {
			return
		}
	}
}

// sentBytes is how many bytes clients have sent through the proxy.
func (p *proxy) sentBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// bigImage builds webapp over a base with fixture-big, a layer large
// enough for a push to be caught in the middle, and returns its ID.
func bigImage(t *testing.T, s store) string {
	t.Helper()
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	body, err := os.ReadFile(sourcesRecipe(t, p.repo.Dir))
	if err != nil {
		t.Fatal(err)
	}
	rec := writeRecipe(t, strings.Replace(string(body), "packages: [busybox]", "packages: [busybox, fixture-big]", 1))
	return mustBuild(t, s, cacheEnv(t), "--iidfile", filepath.Join(t.TempDir(), "iid"), rec)
}

// TestPushInterrupted: the registry goes away in the middle of a push: a
// clear failure, no tag, and the next push sends only what is missing.
func TestPushInterrupted(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	s := newStore(t)
	// A big base layer and a small final layer, pushed side by side: the
	// small one is complete when the connection is cut.
	id := bigImage(t, s)

	px := startProxy(t, "127.0.0.1:0", reg.Host, 4<<20, 3<<20)
	addr := px.ln.Addr().String()
	r := strata(t, s, nil, "push", "--tls-verify=false", "--retry", "0", id, addr+"/e2e/big:v1")
	t.Logf("stderr: %s", r.stderr)
	if r.code != 1 || !(strings.Contains(r.stderr, "broke during the transfer") || strings.Contains(r.stderr, "not reachable")) {
		t.Errorf("push through a dying proxy: exit %d\n%s", r.code, r.stderr)
	}
	select {
	case <-px.cut:
	default:
		t.Fatalf("the proxy was never cut: the push did not get far enough")
	}
	if reg.exists(t, "e2e/big:v1") {
		t.Fatalf("the interrupted push left a tag")
	}
	first := reg.BlobUploads(t)
	if len(first) == 0 {
		t.Errorf("no blob was complete before the cut: the test proves nothing")
	}
	reg.ResetLog(t)

	startProxy(t, addr, reg.Host, 0, 0)
	r = strata(t, s, nil, "push", "--tls-verify=false", id, addr+"/e2e/big:v1")
	if r.code != 0 {
		t.Fatalf("second push: %s", r.stderr)
	}
	second := reg.BlobUploads(t)
	t.Logf("uploaded before the cut: %v; after: %v", first, second)
	for _, d := range second {
		if slices.Contains(first, d) {
			t.Errorf("blob %s was uploaded again", d)
		}
	}
	all := append(first, second...)
	for _, d := range reg.blobs(t, "e2e/big:v1") {
		if !slices.Contains(all, d) {
			t.Errorf("blob %s of the image was never uploaded", d)
		}
	}
}

// TestPushZstdAndUnknownHost: --compression-format zstd writes zstd layers;
// an unknown registry host is named as such.
func TestPushZstdAndUnknownHost(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	s := newStore(t)
	id := mustBuild(t, s, nil, writeRecipe(t, recipe("zstd", "demo-hello")))
	r := strata(t, s, nil, "push", "--tls-verify=false", "--compression-format", "zstd", id, reg.Host+"/e2e/zstd:v1")
	if r.code != 0 {
		t.Fatalf("push --compression-format zstd: %s", r.stderr)
	}
	args := append([]string{"inspect", "--raw"}, reg.skopeoFlags()...)
	raw := tool(t, "skopeo", append(args, "docker://"+reg.Host+"/e2e/zstd:v1")...)
	if !strings.Contains(raw, "application/vnd.oci.image.layer.v1.tar+zstd") || strings.Contains(raw, "tar+gzip") {
		t.Errorf("manifest of a zstd push:\n%s", raw)
	}
	r = strata(t, s, nil, "push", "--retry", "0", id, "registry.strata-test.invalid/e2e/x:v1")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown registry host registry.strata-test.invalid") {
		t.Errorf("unknown host: exit %d\n%s", r.code, r.stderr)
	}
	if r := strata(t, s, nil, "push", "--compression-format", "lz4", id, reg.Host+"/e2e/x:v1"); r.code != 2 {
		t.Errorf("bad --compression-format: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPushRetry: a registry answering 503 to the first uploads is tried
// again (--retry), and the push succeeds; without retries it fails.
func TestPushRetry(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	target, err := url.Parse("http://" + reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	failures := 0
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := failures > 0 && r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
		if fail {
			failures--
		}
		mu.Unlock()
		if fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	s := newStore(t)
	id := mustBuild(t, s, nil, writeRecipe(t, recipe("retry", "demo-hello")))
	mu.Lock()
	failures = 1
	mu.Unlock()
	if r := strata(t, s, nil, "push", "--tls-verify=false", "--retry", "0", id, host+"/e2e/retry:v1"); r.code != 1 {
		t.Errorf("503 without retries: exit %d\n%s", r.code, r.stderr)
	}
	mu.Lock()
	failures = 2
	mu.Unlock()
	r := strata(t, s, nil, "push", "--tls-verify=false", "--retry", "3", "--retry-delay", "100ms", id, host+"/e2e/retry:v1")
	if r.code != 0 {
		t.Fatalf("503 twice with --retry 3: exit %d\n%s", r.code, r.stderr)
	}
	if !reg.exists(t, "e2e/retry:v1") {
		t.Errorf("the retried push left no tag")
	}
}

// TestPushTransports: an archive written by build -o or push carries the
// image's name (podman load shows it), as podman save's does; push also
// writes dir: and containers-storage: destinations.
func TestPushTransports(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("named", "demo-hello"))
	id := mustBuild(t, s, nil, rec)
	dir := t.TempDir()
	loaded := func(archive string) string {
		t.Helper()
		p := newStore(t)
		podman := []string{"--root", p.root, "--runroot", p.runroot, "--storage-driver", "overlay"}
		if out, err := exec.Command("podman", append(podman, "load", "-i", archive)...).CombinedOutput(); err != nil {
			t.Fatalf("podman load -i %s: %v\n%s", archive, err, out)
		}
		out, err := exec.Command("podman", append(podman, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	want := "localhost/named:latest " + id[:12]

	built := filepath.Join(dir, "built.tar")
	if r := strata(t, s, nil, "build", "-o", "docker-archive:"+built, rec); r.code != 0 {
		t.Fatalf("build -o docker-archive: exit %d\n%s", r.code, r.stderr)
	}
	if got := loaded(built); got != want {
		t.Errorf("podman load of build -o docker-archive: shows %q, want %q", got, want)
	}
	pushed := filepath.Join(dir, "pushed.tar")
	if r := strata(t, s, nil, "push", "localhost/named:latest", "docker-archive:"+pushed); r.code != 0 {
		t.Fatalf("push docker-archive: exit %d\n%s", r.code, r.stderr)
	}
	if got := loaded(pushed); got != want {
		t.Errorf("podman load of push docker-archive: shows %q, want %q", got, want)
	}
	oci := filepath.Join(dir, "pushed.oci.tar")
	if r := strata(t, s, nil, "push", "named", "oci-archive:"+oci); r.code != 0 {
		t.Fatalf("push oci-archive: exit %d\n%s", r.code, r.stderr)
	}
	if got := loaded(oci); got != want {
		t.Errorf("podman load of push oci-archive: shows %q, want %q", got, want)
	}

	d := filepath.Join(dir, "dir")
	if r := strata(t, s, nil, "push", id, "dir:"+d); r.code != 0 {
		t.Fatalf("push dir: exit %d\n%s", r.code, r.stderr)
	}
	if out := tool(t, "skopeo", "inspect", "--config", "dir:"+d); !strings.Contains(out, `"io.strata.base.key"`) {
		t.Errorf("skopeo inspect --config dir:%s:\n%s", d, out)
	}
	if r := strata(t, s, nil, "push", id, "containers-storage:example.com/team/named:copy"); r.code != 0 {
		t.Fatalf("push containers-storage: exit %d\n%s", r.code, r.stderr)
	}
	if out := s.buildah(t, "images", "--format", "{{.Name}}:{{.Tag}} {{.ID}}"); !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
		return strings.Join(strings.Fields(l), " ") == "example.com/team/named:copy "+id[:12]
	}) {
		t.Errorf("buildah images after push containers-storage: lacks example.com/team/named:copy:\n%s", out)
	}
}

// TestProgressBars: on a terminal, containers/image draws its progress
// bars; piped, it prints one plain line per blob.
func TestProgressBars(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1)")
	}
	s := newStore(t)
	id := mustBuild(t, s, nil, writeRecipe(t, recipe("bars", "demo-hello")))
	dir := t.TempDir()
	var quoted []string
	for _, a := range append([]string{strataBin}, s.flags()...) {
		quoted = append(quoted, "'"+a+"'")
	}
	typescript := filepath.Join(dir, "typescript")
	cmd := exec.Command("script", "-qec", fmt.Sprintf("stty cols 120 rows 40; %s push %s oci-archive:%s", strings.Join(quoted, " "), id, filepath.Join(dir, "tty.tar")), typescript)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("push on a terminal: %v\n%s", err, out)
	}
	tty, err := os.ReadFile(typescript)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tty), "\x1b[") || !regexp.MustCompile(`Copying blob [0-9a-f]{12} done`).Match(tty) {
		t.Errorf("no progress bars on a terminal:\n%q", tty)
	}
	r := strata(t, s, nil, "push", id, "oci-archive:"+filepath.Join(dir, "piped.tar"))
	if r.code != 0 || strings.Contains(r.stderr, "\x1b[") || !regexp.MustCompile(`(?m)^Copying blob sha256:[0-9a-f]{64}$`).MatchString(r.stderr) {
		t.Errorf("piped: exit %d, want plain lines:\n%q", r.code, r.stderr)
	}
}
