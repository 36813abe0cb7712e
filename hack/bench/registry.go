package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

// registryBin is Debian's build of distribution 2.8 (package docker-registry).
const registryBin = "/usr/bin/docker-registry"

// registry is one docker-registry on 127.0.0.1 with its own configuration
// and storage in a temporary directory, behind a counting TCP proxy: the
// tools only ever talk to the proxy (Host), which counts the bytes they
// send and receive.
type registry struct {
	Host     string // the proxy, "127.0.0.1:PORT": what the tools use
	backend  string // the registry itself
	dir      string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{}
	proxy    net.Listener
	sent     atomic.Int64 // client -> registry bytes through the proxy
	recv     atomic.Int64 // registry -> client bytes through the proxy
	reqs     atomic.Int64 // HTTP requests through the proxy
	conns    sync.WaitGroup
	stopOnce sync.Once
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startRegistry starts the registry and its proxy and waits until the
// registry answers through the proxy.
func startRegistry(dir string) (*registry, error) {
	r := &registry{dir: dir, logPath: filepath.Join(dir, "registry.log")}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, err
	}
	var err error
	if r.backend, err = freePort(); err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
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
`, storage, r.backend, hex.EncodeToString(secret))
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(r.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(registryBin, "serve", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", registryBin, err)
	}
	r.cmd = cmd
	r.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	if r.proxy, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		r.Stop()
		return nil, err
	}
	r.Host = r.proxy.Addr().String()
	go r.serveProxy()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-r.done:
			log, _ := os.ReadFile(r.logPath)
			return nil, fmt.Errorf("the registry exited at start:\n%s", log)
		default:
		}
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.Stop()
			log, _ := os.ReadFile(r.logPath)
			return nil, fmt.Errorf("the registry is not ready after 15s (%v)\n%s", err, log)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// serveProxy forwards every connection to the registry, counting what
// the client sends and what it receives.
func (r *registry) serveProxy() {
	for {
		c, err := r.proxy.Accept()
		if err != nil {
			return
		}
		r.conns.Add(1)
		go func() {
			defer r.conns.Done()
			defer c.Close()
			b, err := net.Dial("tcp", r.backend)
			if err != nil {
				return
			}
			defer b.Close()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(&requestCounter{w: countingWriter{b, &r.sent}, n: &r.reqs}, c)
				if tc, ok := b.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}()
			_, _ = io.Copy(countingWriter{c, &r.recv}, b)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			wg.Wait()
		}()
	}
}

// countingWriter counts as it goes, so that open keep-alive connections
// are counted too.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// requestCounter counts the HTTP/1.1 requests in what a client sends, by
// their request lines (a request line split between two writes is found
// across them).
type requestCounter struct {
	w    io.Writer
	n    *atomic.Int64
	tail []byte
}

var requestLineEnd = []byte(" HTTP/1.1\r\n")

func (c *requestCounter) Write(p []byte) (int, error) {
	buf := append(c.tail, p...)
	c.n.Add(int64(bytes.Count(buf, requestLineEnd)))
	keep := min(len(buf), len(requestLineEnd)-1)
	c.tail = append(c.tail[:0], buf[len(buf)-keep:]...)
	return c.w.Write(p)
}

// ResetCount starts counting from zero, both ways.
func (r *registry) ResetCount() { r.sent.Store(0); r.recv.Store(0); r.reqs.Store(0) }

// Requests is how many HTTP requests clients made since ResetCount.
func (r *registry) Requests() int64 { return r.reqs.Load() }

// Received is what clients received from the registry since ResetCount.
func (r *registry) Received() int64 { return r.recv.Load() }

// Sent is what clients sent to the registry since ResetCount.
func (r *registry) Sent() int64 { return r.sent.Load() }

// Stop stops the proxy and the registry (SIGTERM, then SIGKILL).
func (r *registry) Stop() {
	r.stopOnce.Do(func() {
		if r.proxy != nil {
			r.proxy.Close()
		}
		if r.cmd == nil || r.cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	})
}

// manifest is the part of an image manifest the report needs.
type manifest struct {
	digest string // of the bytes read
	size   int64
	Config struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"layers"`
}

// newSince sums the layers of m that prev does not have: their
// compressed size and how many.
func (m *manifest) newSince(prev *manifest) (size int64, count int) {
	old := map[string]bool{}
	for _, l := range prev.Layers {
		old[l.Digest] = true
	}
	for _, l := range m.Layers {
		if !old[l.Digest] {
			size += l.Size
			count++
		}
	}
	return size, count
}

// Manifest reads the manifest of repo:tag from the registry itself (not
// through the proxy, so that it is not counted).
func (r *registry) Manifest(ctx context.Context, repo, tag string) (*manifest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.backend+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("manifest %s:%s: %s: %s", repo, tag, resp.Status, body)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("manifest %s:%s: %w", repo, tag, err)
	}
	m.digest, m.size = digest.FromBytes(body).String(), int64(len(body))
	if strings.HasPrefix(tag, "sha256-") {
		return &m, nil // a referrers index or an artifact
	}
	if len(m.Layers) == 0 {
		return nil, errors.New("manifest " + repo + ":" + tag + " has no layers")
	}
	return &m, nil
}

// Attached returns the compressed bytes of what is attached to the image
// repo@d (strata's SBOM and provenance: each artifact's manifest, empty
// config and blob, and the referrers-tag index listing them), read from
// the registry itself.
func (r *registry) Attached(ctx context.Context, repo, d string) (int64, error) {
	tag := strings.Replace(d, ":", "-", 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.backend+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(body, &idx); err != nil {
		return 0, fmt.Errorf("the referrers index of %s@%s: %w", repo, d, err)
	}
	total := int64(len(body))
	for _, m := range idx.Manifests {
		art, err := r.Manifest(ctx, repo, m.Digest)
		if err != nil {
			return 0, err
		}
		total += m.Size + art.Config.Size
		for _, l := range art.Layers {
			total += l.Size
		}
	}
	return total, nil
}
