package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// registryBin is Debian's build of distribution 2.8 (package docker-registry).
const registryBin = "/usr/bin/docker-registry"

// registryOptions chooses how a test registry is served.
type registryOptions struct {
	Auth bool // htpasswd auth with user "strata" and a generated password
	TLS  bool // HTTPS with a certificate for 127.0.0.1 from a CA the test made
}

// registry is a real container registry (distribution 2.8) run by one test
// on 127.0.0.1, with its own configuration and storage in a temporary
// directory. Everything it logs goes to one file that BlobUploads and
// Requests parse.
type registry struct {
	Host           string // "127.0.0.1:PORT"
	User, Password string // when Auth
	CertDir        string // when TLS: holds ca.crt, the layout of --cert-dir
	Dir            string // storage root

	opts    registryOptions
	config  string // the configuration file
	logPath string // stdout and stderr of every run, appended
	client  *http.Client
	url     string // "http(s)://HOST"

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	logFrom int64         // ResetLog's offset into the log
	syncs   int           // sequence number of the log sync requests
}

// startRegistry starts a registry and waits until it answers GET /v2/.
// The test's cleanup stops it.
func startRegistry(t *testing.T, opts registryOptions) *registry {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("the registry is not installed: %v", err)
	}
	tmp := t.TempDir()
	r := &registry{
		opts:    opts,
		Dir:     filepath.Join(tmp, "storage"),
		config:  filepath.Join(tmp, "config.yml"),
		logPath: filepath.Join(tmp, "registry.log"),
	}
	if err := os.Mkdir(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// A free port: the kernel picks one, we close it and the registry
	// takes it (Restart reuses it).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = l.Addr().String()
	l.Close()

	var tlsConf, authConf string
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	r.url = "http://" + r.Host
	if opts.TLS {
		r.CertDir = filepath.Join(tmp, "certs")
		pool, cert, key := makeCerts(t, r.CertDir, filepath.Join(tmp, "server"))
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
		r.url = "https://" + r.Host
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	if opts.Auth {
		r.User, r.Password = "strata", randomHex(t, 16)
		// distribution only reads bcrypt hashes.
		out, err := exec.Command("htpasswd", "-Bbn", r.User, r.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		htpasswd := filepath.Join(tmp, "htpasswd")
		if err := os.WriteFile(htpasswd, out, 0o600); err != nil {
			t.Fatal(err)
		}
		authConf = fmt.Sprintf("auth:\n  htpasswd:\n    realm: strata-test\n    path: %s\n", htpasswd)
	}
	r.client = &http.Client{Transport: transport, Timeout: 5 * time.Second}

	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
  headers:
    X-Content-Type-Options: [nosniff]
%s%s`, r.Dir, r.Host, randomHex(t, 16), tlsConf, authConf)
	// Upload purging is off: it runs at once on a restart (distribution
	// picks a random delay) and would change the storage under a test.
	if err := os.WriteFile(r.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(t) })
	r.start(t)
	return r
}

// start runs the registry and waits until it is ready.
func (r *registry) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(registryBin, "serve", r.config)
	// The same file for both: distribution 2.8 writes its application
	// log to stderr and its access log to stdout.
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that Stop and Kill reach anything it
	// started; and killed with the test binary if that dies (a test
	// timeout runs no cleanup).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Keep the host's registry settings (REGISTRY_* variables) out.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the registry: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		select {
		case <-done:
			t.Fatalf("the registry exited at start (%s)\nlog:\n%s", cmd.ProcessState, r.Log(t))
		default:
		}
		resp, err := r.client.Get(r.url + "/v2/?" + harnessMarker + "ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			r.Stop(t)
			t.Fatalf("the registry on %s is not ready after 10s (last: %s)\nlog:\n%s", r.Host, last, r.Log(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the registry's process group and waits up to wait
// for it to exit. It reports whether the registry is (now) stopped.
func (r *registry) signal(sig syscall.Signal, wait time.Duration) bool {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
		// The group may hold more than the registry: leave nothing.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		r.mu.Lock()
		if r.cmd == cmd {
			r.cmd, r.done = nil, nil
		}
		r.mu.Unlock()
		return true
	case <-time.After(wait):
		return false
	}
}

// Stop stops the registry (SIGTERM, then SIGKILL after 10s). Stopping a
// stopped registry does nothing.
func (r *registry) Stop(t *testing.T) {
	t.Helper()
	if !r.signal(syscall.SIGTERM, 10*time.Second) && !r.signal(syscall.SIGKILL, 10*time.Second) {
		t.Errorf("the registry on %s does not stop", r.Host)
	}
}

// Kill kills the registry with SIGKILL at once, as a crash would.
func (r *registry) Kill(t *testing.T) {
	t.Helper()
	if !r.signal(syscall.SIGKILL, 10*time.Second) {
		t.Fatalf("the registry on %s survives SIGKILL", r.Host)
	}
}

// Restart stops the registry if it runs and starts it again, on the same
// port with the same storage, and waits until it is ready.
func (r *registry) Restart(t *testing.T) {
	t.Helper()
	r.Stop(t)
	r.start(t)
}

// Log returns everything the registry logged so far, over all its runs.
func (r *registry) Log(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// ResetLog makes BlobUploads and Requests see only what the registry logs
// from now on.
func (r *registry) ResetLog(t *testing.T) {
	t.Helper()
	r.syncLog(t)
	st, err := os.Stat(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.logFrom = st.Size()
	r.mu.Unlock()
}

// accessLine matches one line of the access log, which distribution 2.8
// writes to stdout for every request (gorilla/handlers' combined log
// format), whatever its status, 401s included:
//
//	127.0.0.1 - - [02/Jan/2006:15:04:05 -0700] "PUT /v2/x/blobs/uploads/UUID?_state=...&digest=sha256%3A... HTTP/1.1" 201 0 "" "skopeo/1.9.3"
//
// These are what BlobUploads and Requests parse. The application log
// (logrus text lines on stderr, `msg="response completed"`) is not parsed:
// it only has a line for the requests that succeeded, errors and 401s go
// to other messages.
var accessLine = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) `)

// harnessMarker starts the query of the harness's own requests (the
// readiness checks, syncLog's), which Requests leaves out.
const harnessMarker = "strata-harness="

// syncLog makes sure that the access log holds every request answered so
// far. The registry writes a request's line after its handler returns,
// which can be after the client has the answer; a request of our own
// made afterwards and seen in the log means the earlier lines are there
// too. A stopped registry's log is complete already.
func (r *registry) syncLog(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	done := r.done
	r.syncs++
	marker := fmt.Sprintf("%ssync-%d", harnessMarker, r.syncs)
	r.mu.Unlock()
	exited := func() bool {
		if done == nil {
			return true
		}
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	if exited() {
		return
	}
	resp, err := r.client.Get(r.url + "/v2/?" + marker)
	if err != nil {
		if exited() { // it died by itself: its log is complete
			return
		}
		t.Fatalf("the registry on %s does not answer: %v\nlog:\n%s", r.Host, err, r.Log(t))
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.Log(t), marker+" ") {
		if time.Now().After(deadline) {
			t.Fatalf("the registry on %s does not log request %s\nlog:\n%s", r.Host, marker, r.Log(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requestLine is one access log line.
type requestLine struct {
	method, uri, status string
}

// requests parses the access log lines since ResetLog, leaving out
// syncLog's requests.
func (r *registry) requests(t *testing.T) []requestLine {
	t.Helper()
	r.syncLog(t)
	r.mu.Lock()
	from := r.logFrom
	r.mu.Unlock()
	data, err := os.ReadFile(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if from > int64(len(data)) {
		from = 0
	}
	var lines []requestLine
	sc := bufio.NewScanner(bytes.NewReader(data[from:]))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		m := accessLine.FindStringSubmatch(sc.Text())
		if m == nil || strings.Contains(m[2], harnessMarker) {
			continue
		}
		lines = append(lines, requestLine{m[1], m[2], m[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the registry log: %v", err)
	}
	return lines
}

// stateParam is the opaque upload state (some 200 characters) that
// distribution puts in the upload URLs it hands out.
var stateParam = regexp.MustCompile(`([?&])_state=[^&]*(&|$)`)

// Requests returns "METHOD URI STATUS" for every request logged since
// ResetLog (or the start), in log order, but the harness's own. URI is
// the request URI as sent, query included and still escaped, without the
// _state parameter, e.g.
//
//	HEAD /v2/b/blobs/sha256:... 404
//	POST /v2/b/blobs/uploads/?from=a&mount=sha256%3A... 201
//	PUT /v2/b/blobs/uploads/UUID?digest=sha256%3A... 201
//	PUT /v2/b/manifests/v1 201
func (r *registry) Requests(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range r.requests(t) {
		uri := strings.TrimRight(stateParam.ReplaceAllString(l.uri, "$1"), "?&")
		out = append(out, l.method+" "+uri+" "+l.status)
	}
	return out
}

// BlobUploads returns the digests of the blobs whose upload completed
// since ResetLog (or the start), in log order: the PUTs to
// /v2/NAME/blobs/uploads/UUID?...digest=sha256:... answered 201. Mounts
// from another repository (POST ...?mount=) are not uploads.
func (r *registry) BlobUploads(t *testing.T) []string {
	t.Helper()
	var digests []string
	for _, l := range r.requests(t) {
		if l.method != http.MethodPut || l.status != "201" || !strings.Contains(l.uri, "/blobs/uploads/") {
			continue
		}
		u, err := url.ParseRequestURI(l.uri)
		if err != nil {
			t.Fatalf("registry log: request URI %q: %v", l.uri, err)
		}
		if d := u.Query().Get("digest"); d != "" {
			digests = append(digests, d)
		}
	}
	return digests
}

// skopeoFlags returns the flags skopeo's inspect needs for the registry
// (copy takes them with --dest-: see destFlags).
func (r *registry) skopeoFlags() []string {
	var flags []string
	if r.opts.TLS {
		flags = append(flags, "--cert-dir="+r.CertDir)
	} else {
		flags = append(flags, "--tls-verify=false")
	}
	if r.opts.Auth {
		flags = append(flags, "--creds="+r.User+":"+r.Password)
	}
	return flags
}

// destFlags are skopeoFlags for the destination of skopeo copy.
func (r *registry) destFlags() []string { return prefixFlags("dest", r.skopeoFlags()) }

func prefixFlags(prefix string, flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = "--" + prefix + "-" + strings.TrimPrefix(f, "--")
	}
	return out
}

// Ref returns the docker:// reference of REPO:TAG in the registry.
func (r *registry) Ref(repoTag string) string {
	return "docker://" + r.Host + "/" + repoTag
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Digest returns the digest ("sha256:...") of the manifest of REPO:TAG,
// as skopeo inspect reads it, or fails the test.
func (r *registry) Digest(t *testing.T, repoTag string) string {
	t.Helper()
	args := append([]string{"inspect", "--format", "{{.Digest}}"}, r.skopeoFlags()...)
	out := strings.TrimSpace(tool(t, "skopeo", append(args, r.Ref(repoTag))...))
	if !digestRE.MatchString(out) {
		t.Fatalf("skopeo inspect %s: digest %q", r.Ref(repoTag), out)
	}
	return out
}

// makeCerts makes a CA, writes it as certDir/ca.crt, and a server
// certificate for 127.0.0.1 and localhost signed by it, written as
// serverDir/server.crt and server.key (apart: skopeo would take a *.key
// in the cert dir for a client key). It returns a pool with the CA and
// the paths of the server's certificate and key.
func makeCerts(t *testing.T, certDir, serverDir string) (*x509.CertPool, string, string) {
	t.Helper()
	for _, d := range []string{certDir, serverDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata-test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(serverDir, "server.crt"), filepath.Join(serverDir, "server.key")
	writePEM(t, filepath.Join(certDir, "ca.crt"), "CERTIFICATE", caDER, 0o644)
	writePEM(t, cert, "CERTIFICATE", srvDER, 0o644)
	writePEM(t, key, "PRIVATE KEY", srvKeyDER, 0o600)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tinyOCI writes a one-layer image as an oci: layout (image
// "latest") and returns its directory and the digests of its blobs other
// than the manifest: the layer's, then the config's.
func tinyOCI(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	writeBlob := func(mediaType string, data []byte) descriptor {
		sum := sha256.Sum256(data)
		d := descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: len(data)}
		if err := os.WriteFile(blobPath(dir, d.Digest), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	mustJSON := func(v any) []byte {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	// The layer: one file, a fixed time. The random content makes the
	// image new to any registry.
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	content := []byte("tiny " + randomHex(t, 8) + "\n")
	mtime := time.Unix(1700000000, 0)
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	diffID := sha256.Sum256(tarBuf.Bytes())
	var gzBuf bytes.Buffer
	gz := gzip.NewWriter(&gzBuf)
	if _, err := gz.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	layer := writeBlob("application/vnd.oci.image.layer.v1.tar+gzip", gzBuf.Bytes())

	config := writeBlob("application/vnd.oci.image.config.v1+json", mustJSON(map[string]any{
		"created":      mtime.UTC().Format(time.RFC3339),
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"/hello.txt"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	}))
	manifest := writeBlob("application/vnd.oci.image.manifest.v1+json", mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        config,
		"layers":        []descriptor{layer},
	}))
	manifest.Annotations = map[string]string{"org.opencontainers.image.ref.name": "latest"}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifest},
	}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, []string{layer.Digest, config.Digest}
}

// TestRegistryHarness checks the test registry itself, in its three
// modes: pushes show in BlobUploads, a second push of the same image
// uploads nothing, auth is enforced, and the storage outlives a crash.
func TestRegistryHarness(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts registryOptions
	}{
		{"plain", registryOptions{}},
		{"auth", registryOptions{Auth: true}},
		{"tls", registryOptions{TLS: true}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			reg := startRegistry(t, mode.opts)
			t.Logf("registry ready on %s in %v", reg.Host, time.Since(start).Round(time.Millisecond))
			dir, blobs := tinyOCI(t)
			src := "oci:" + dir + ":latest"
			img := readOCI(t, dir)
			copyTo := func(repoTag string) {
				t.Helper()
				tool(t, "skopeo", append(append([]string{"copy", "--quiet"}, reg.destFlags()...), src, reg.Ref(repoTag))...)
			}

			copyTo("tiny:v1")
			if got := reg.Digest(t, "tiny:v1"); got != img.manifestDigest {
				t.Errorf("Digest = %s, want the layout's manifest %s", got, img.manifestDigest)
			}
			if got, want := sorted(reg.BlobUploads(t)), sorted(blobs); !slices.Equal(got, want) {
				t.Errorf("BlobUploads = %v, want %v\nrequests:\n%s", got, want, strings.Join(reg.Requests(t), "\n"))
			}
			reqs := reg.Requests(t)
			if !slices.Contains(reqs, "PUT /v2/tiny/manifests/v1 201") {
				t.Errorf("no manifest PUT answered 201 in Requests:\n%s", strings.Join(reqs, "\n"))
			}
			for _, r := range reqs {
				if strings.Contains(r, harnessMarker) || strings.Contains(r, "_state=") {
					t.Errorf("Requests has %q", r)
				}
			}

			reg.ResetLog(t)
			copyTo("tiny:v2")
			if got := reg.BlobUploads(t); len(got) != 0 {
				t.Errorf("second copy: BlobUploads = %v, want none\nrequests:\n%s", got, strings.Join(reg.Requests(t), "\n"))
			}
			if got := reg.Digest(t, "tiny:v2"); got != img.manifestDigest {
				t.Errorf("Digest of v2 = %s, want %s", got, img.manifestDigest)
			}
			reqs = reg.Requests(t)
			for _, b := range blobs {
				if want := "HEAD /v2/tiny/blobs/" + b + " 200"; !slices.Contains(reqs, want) {
					t.Errorf("second copy: no %q in Requests:\n%s", want, strings.Join(reqs, "\n"))
				}
			}

			// Into another repository, skopeo mounts the layer it knows
			// (from its blob info cache) instead of uploading it.
			reg.ResetLog(t)
			copyTo("other:v1")
			mount := "POST /v2/other/blobs/uploads/?from=tiny&mount=" + url.QueryEscape(blobs[0]) + " 201"
			if reqs := reg.Requests(t); !slices.Contains(reqs, mount) {
				t.Errorf("no %q in Requests:\n%s", mount, strings.Join(reqs, "\n"))
			}
			if got := reg.BlobUploads(t); slices.Contains(got, blobs[0]) {
				t.Errorf("copy to another repository: the mounted layer is in BlobUploads %v", got)
			}

			if mode.opts.Auth {
				reg.ResetLog(t)
				var flags []string
				for _, f := range reg.destFlags() {
					if !strings.HasPrefix(f, "--dest-creds") {
						flags = append(flags, f)
					}
				}
				args := append(flags, src, reg.Ref("tiny:nocreds"))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// An auth file of our own: no credentials from the user's.
				cmd := exec.CommandContext(ctx, "skopeo", append([]string{"copy", "--quiet", "--dest-authfile", filepath.Join(t.TempDir(), "auth.json")}, args...)...)
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Errorf("skopeo copy without credentials: %v, want a failure\n%s", err, out)
				} else if !strings.Contains(strings.ToLower(string(out)), "unauthorized") && !strings.Contains(strings.ToLower(string(out)), "authentication required") {
					t.Errorf("skopeo copy without credentials fails, but not for auth:\n%s", out)
				}
				if got := reg.BlobUploads(t); len(got) != 0 {
					t.Errorf("copy without credentials: BlobUploads = %v, want none", got)
				}
				if reqs := reg.Requests(t); !slices.ContainsFunc(reqs, func(s string) bool { return strings.HasSuffix(s, " 401") }) {
					t.Errorf("no 401 in Requests:\n%s", strings.Join(reqs, "\n"))
				}
			}

			reg.Kill(t)
			killed := time.Now()
			reg.Restart(t)
			t.Logf("restarted after SIGKILL in %v", time.Since(killed).Round(time.Millisecond))
			if got := reg.Digest(t, "tiny:v1"); got != img.manifestDigest {
				t.Errorf("after Kill and Restart: Digest = %s, want %s", got, img.manifestDigest)
			}
			reg.Stop(t)
			reg.Stop(t) // idempotent
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestBaseFromRegistriesConf: base.from is resolved as podman pull
// resolves it, from registries.conf: a short name through an alias, a
// registry through its mirror. The plan names the reference the base is
// built from, at the digest podman pulls.
func TestBaseFromRegistriesConf(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	layout, _ := tinyOCI(t)
	tool(t, "skopeo", append(append([]string{"copy", "--quiet"}, reg.destFlags()...), "oci:"+layout, reg.Ref("e2e/tiny:1"))...)
	want := reg.Digest(t, "e2e/tiny:1")
	conf := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`unqualified-search-registries = []
short-name-mode = "enforcing"

[aliases]
"tinybase" = "%[1]s/e2e/tiny"

[[registry]]
location = "%[1]s"
insecure = true

[[registry]]
location = "mirror.invalid"
[[registry.mirror]]
location = "%[1]s"
insecure = true
`, reg.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(cacheEnv(t), "CONTAINERS_REGISTRIES_CONF="+conf)
	s := newStore(t)
	for _, tt := range []struct{ from, pull string }{
		{"tinybase:1", reg.Host + "/e2e/tiny@" + want},
		{"mirror.invalid/e2e/tiny:1", "mirror.invalid/e2e/tiny@" + want},
	} {
		rec := writeRecipe(t, fmt.Sprintf("name: fromconf\nbase:\n  from: %s\n  install: container\n  repos:\n    - {id: local, baseurl: \"file://%s\", gpgcheck: false}\n  packages: [demo-hello]\n", tt.from, repoDir))
		r := strata(t, s, env, "plan", "--format", "json", "--no-cache-check", rec)
		if r.code != 0 {
			t.Errorf("%s: plan: exit %d\n%s", tt.from, r.code, r.stderr)
			continue
		}
		var plan struct{ Base struct{ Pull string } }
		if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || plan.Base.Pull != tt.pull {
			t.Errorf("%s: the base is pulled as %q (%v), want %q", tt.from, plan.Base.Pull, err, tt.pull)
		}
		// The build pulls that reference (the image has no dnf: the
		// build then fails, after the pull, and says why).
		reg.ResetLog(t)
		b := strata(t, s, env, "build", rec)
		pulled := slices.ContainsFunc(reg.Requests(t), func(l string) bool { return strings.HasPrefix(l, "GET /v2/e2e/tiny/blobs/") })
		if b.code != 1 || !pulled || !strings.Contains(b.stderr, "base.from has no dnf") {
			t.Errorf("%s: build: exit %d, pulled from the registry: %v\n%s", tt.from, b.code, pulled, b.stderr)
		}
		// podman, with the same configuration, pulls the same image.
		p := newStore(t)
		cmd := exec.Command("podman", "--root", p.root, "--runroot", p.runroot, "--storage-driver", "overlay", "pull", "--quiet", tt.from)
		cmd.Env = append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("podman pull %s: %v\n%s", tt.from, err, out)
		}
	}
	// An ambiguous short name is refused, as podman refuses it without
	// a terminal in enforcing mode.
	rec := writeRecipe(t, fmt.Sprintf("name: fromconf\nbase:\n  from: nosuchalias:1\n  install: container\n  repos:\n    - {id: local, baseurl: \"file://%s\", gpgcheck: false}\n  packages: [demo-hello]\n", repoDir))
	if r := strata(t, s, env, "plan", "--no-cache-check", rec); r.code == 0 || !strings.Contains(r.stderr, `base.from "nosuchalias:1"`) {
		t.Errorf("an unresolvable short name: exit %d\n%s", r.code, r.stderr)
	}
}
