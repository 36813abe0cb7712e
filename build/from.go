package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/shortnames"
	"go.podman.io/image/v5/types"
)

// errFromOffline says that base.from's digest is not known offline.
var errFromOffline = errors.New("the digest of base.from is not known offline")

// resolveFrom returns the digest base.from names today, which goes into
// the base key, and for a registry image the fully qualified reference it
// resolved to: the manifest digest of a registry image, the sha256 of an
// oci layout's index or of an archive file. Scratch and containers-storage
// images give "". A registry image is found as podman pull finds it, from
// registries.conf: a short name through its aliases and unqualified-search
// registries (short-name-mode as configured: enforcing refuses an
// ambiguous name without a terminal), and each registry through its
// mirrors. The last digest of each registry image is recorded under
// cacheDir for offline use.
func resolveFrom(ctx context.Context, sys *types.SystemContext, from, cacheDir string, offline bool) (digest, resolved string, err error) {
	switch {
	case from == "" || from == recipes.Scratch, strings.HasPrefix(from, "containers-storage:"):
		return "", "", nil
	case strings.HasPrefix(from, "oci:"):
		dir, _, _ := strings.Cut(strings.TrimPrefix(from, "oci:"), ":")
		d, err := fileDigest(filepath.Join(dir, "index.json"), "")
		return d, "", err
	case strings.HasPrefix(from, "oci-archive:"), strings.HasPrefix(from, "docker-archive:"):
		_, rest, _ := strings.Cut(from, ":")
		file, _, _ := strings.Cut(rest, ":")
		d, err := fileDigest(file, cacheDir)
		return d, "", err
	}
	name := strings.TrimPrefix(from, "docker://")
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", "", fmt.Errorf("base.from %q: %w", from, err)
	}
	named = reference.TagNameOnly(named)
	record := filepath.Join(cacheDir, "from", recordKey(named.String()))
	if d, ok := named.(reference.Digested); ok && offline {
		return d.Digest().String(), named.String(), nil // pinned: nothing to ask
	}
	if offline {
		data, err := os.ReadFile(record)
		if err != nil {
			return "", "", fmt.Errorf("%w: %s was never resolved here; run once without --offline", errFromOffline, named)
		}
		d, ref, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		return d, ref, nil
	}
	res, err := shortnames.Resolve(sys, name)
	if err != nil {
		return "", "", fmt.Errorf("base.from %q: %w", from, err)
	}
	var errs []error
	for _, c := range res.PullCandidates {
		if dg, ok := c.Value.(reference.Digested); ok {
			return dg.Digest().String(), c.Value.String(), nil
		}
		d, err := manifestDigest(ctx, sys, c.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Value, registryError(sys, reference.Domain(c.Value), err)))
			continue
		}
		if err := os.MkdirAll(filepath.Dir(record), 0o755); err == nil {
			_ = os.WriteFile(record, []byte(d+" "+c.Value.String()+"\n"), 0o644)
		}
		return d, c.Value.String(), nil
	}
	if len(errs) == 1 {
		return "", "", fmt.Errorf("resolving base.from %s: %w", name, errs[0])
	}
	return "", "", fmt.Errorf("resolving base.from %s (%s): %w", name, res.Description(), errors.Join(errs...))
}

// manifestDigest returns the digest of the manifest (or index) a registry
// reference names, read through the registry's mirrors as registries.conf
// lists them, as a pull reads it.
func manifestDigest(ctx context.Context, sys *types.SystemContext, named reference.Named) (string, error) {
	ref, err := docker.NewReference(named)
	if err != nil {
		return "", err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return "", err
	}
	defer src.Close()
	raw, _, err := src.GetManifest(ctx, nil)
	if err != nil {
		return "", err
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func recordKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// fileDigest returns the sha256 of a file. With a cache directory, the
// digest of a large archive is remembered with its size and modification
// time, so that it is read again only when it changed.
func fileDigest(path, cacheDir string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading base.from: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading base.from: %w", err)
	}
	stamp := fmt.Sprintf("%d %d ", st.Size(), st.ModTime().UnixNano())
	var record string
	if cacheDir != "" {
		if abs, err := filepath.Abs(path); err == nil {
			record = filepath.Join(cacheDir, "from", "file-"+recordKey(abs))
			if data, err := os.ReadFile(record); err == nil {
				if d, ok := strings.CutPrefix(strings.TrimSpace(string(data)), stamp); ok && strings.HasPrefix(d, "sha256:") {
					return d, nil
				}
			}
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading base.from: %w", err)
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if record != "" && os.MkdirAll(filepath.Dir(record), 0o755) == nil {
		_ = os.WriteFile(record, []byte(stamp+d+"\n"), 0o644)
	}
	return d, nil
}

// localRepoContent returns the content digest of every local (file://)
// repository of the base (layers.RepoContent), by repository ID. Each is
// recorded in cacheDir, so that a repository that is gone (a runner that
// only reuses the base) keeps its key. A repository that cannot be read
// and was never read here is left out: it is keyed by its path, and dnf
// says what is wrong with it if the base has to be built.
func localRepoContent(repos []recipes.Repo, cacheDir string) map[string]string {
	out := map[string]string{}
	for _, r := range repos {
		dir, ok := strings.CutPrefix(r.BaseURL, "file://")
		if !ok {
			continue
		}
		record := filepath.Join(cacheDir, "repos", recordKey(dir))
		if d, err := layers.RepoContent(dir); err == nil {
			if err := os.MkdirAll(filepath.Dir(record), 0o755); err == nil {
				_ = os.WriteFile(record, []byte(d+"\n"), 0o644)
			}
			out[r.ID] = d
		} else if data, err := os.ReadFile(record); err == nil {
			out[r.ID] = strings.TrimSpace(string(data))
		}
	}
	return out
}
