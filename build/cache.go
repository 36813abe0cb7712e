package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/common/libimage"
	"go.podman.io/common/pkg/config"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
	"golang.org/x/sys/unix"
)

// Cache modes (--cache).
const (
	CacheLocal    = "local"    // the local store only
	CacheRegistry = "registry" // the local store, then the registry
	CacheOff      = "off"      // always build the base; share nothing
)

// cacheRepo is where a recipe's shared bases live: push.cache, else
// push.repository ("" when neither is set).
func cacheRepo(r *recipes.Recipe) string {
	if r.Push.Cache != "" {
		return r.Push.Cache
	}
	if r.Push.Repository == "" {
		return ""
	}
	// A repository of its own, beside the image's: registries that list
	// every tag (Quay, GHCR, Docker Hub) would show the base-KEY16 tags
	// among the application's own.
	return r.Push.Repository + "-cache"
}

// registryCache says whether the plan looks for bases in the registry:
// always with --cache=registry; by default when the recipe names a
// repository; never offline.
func (p *Plan) registryCache() bool {
	if p.opts.Offline {
		return false
	}
	switch p.opts.Cache {
	case CacheRegistry:
		return true
	case "":
		return cacheRepo(p.recipe) != ""
	}
	return false
}

// baseTag is the registry tag of a base, and stampPrefix the prefix of the
// tags that record when it was built (base-KEY16-built-20261128T165500Z).
func baseTag(key string) string     { return "base-" + key[:16] }
func stampPrefix(key string) string { return baseTag(key) + "-built-" }

const stampLayout = "20060102T150405Z"

// checkLocalBase fills p.Base.Cache from the local store.
func (p *Plan) checkLocalBase(store storage.Store) (*storage.Image, error) {
	if p.opts.Cache == CacheOff {
		p.Base.Cache = &CacheState{Decision: DecisionMiss, Reason: "--cache=off"}
		return nil, nil
	}
	img, err := store.Image(p.Base.Image)
	switch {
	case errors.Is(err, storage.ErrImageUnknown):
		p.Base.Cache = &CacheState{Decision: DecisionMiss, Reason: p.explainMiss(store)}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("looking up the base image: %w", err)
	}
	built := layers.BuiltAt(store, img)
	state := &CacheState{Decision: DecisionHit, Where: WhereLocal, ImageID: img.ID, Built: built, Age: age(built)}
	switch {
	case p.opts.Refresh:
		state.Decision, state.Reason = DecisionMiss, "--refresh: rebuilding the cached base "+short(img.ID)
	case p.maxAge > 0 && time.Since(built) > p.maxAge:
		state.Decision, state.Reason = DecisionMiss, fmt.Sprintf("expired: the cached base %s was built %s ago, base.max_age is %s", short(img.ID), age(built), p.recipe.Base.MaxAge)
	}
	p.Base.Cache = state
	if state.Decision == DecisionMiss {
		return nil, nil
	}
	return img, nil
}

// explainMiss compares the plan's key document with those of the bases in
// the store and describes the nearest.
func (p *Plan) explainMiss(store storage.Store) string {
	const none = "no base with this key in the local store"
	images, err := store.Images()
	if err != nil {
		return none
	}
	doc := p.Base.spec.KeyDocument()
	var best []string
	bestName := ""
	for _, img := range images {
		if !isBaseImage(img) {
			continue
		}
		labels, err := layers.ImageLabels(context.Background(), store, img.ID)
		if err != nil || labels[layers.LabelBaseKeyDoc] == "" {
			continue
		}
		diff := layers.ExplainKeyChange([]byte(labels[layers.LabelBaseKeyDoc]), doc)
		if len(diff) == 0 {
			continue
		}
		if best == nil || len(diff) < len(best) {
			best, bestName = diff, img.Names[0]
		}
	}
	if best == nil {
		return none
	}
	return fmt.Sprintf("%s; nearest cached base %s: %s", none, bestName, strings.Join(best, "; "))
}

func isBaseImage(img storage.Image) bool {
	for _, n := range img.Names {
		if strings.HasPrefix(n, "localhost/") && strings.Contains(n, "-base:") {
			return true
		}
	}
	return false
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// checkRegistryBase looks for the base in the cache repository: the tag
// base-KEY16 (a HEAD request) and its newest build stamp. Registry
// trouble is not fatal: the base is then built.
func (p *Plan) checkRegistryBase(ctx context.Context, log *logrus.Logger) {
	repo := cacheRepo(p.recipe)
	if repo == "" {
		p.Base.Cache.Reason += "; no registry cache: the recipe names no push.repository or push.cache"
		return
	}
	sys, err := p.opts.Registry.SystemContext()
	if err != nil {
		return
	}
	ref := repo + ":" + baseTag(p.Base.Key)
	r, err := alltransports.ParseImageName("docker://" + ref)
	if err != nil {
		return
	}
	d, err := docker.GetDigest(ctx, sys, r)
	if err != nil {
		if isManifestUnknown(err) {
			p.Base.Cache.Reason += "; not in the registry cache " + repo
		} else {
			log.Warnf("base: checking the registry cache %s: %v", repo, registryError(sys, hostOf("docker://"+ref), err))
			p.Base.Cache.Reason += "; the registry cache " + repo + " could not be checked"
		}
		return
	}
	built := p.registryBuilt(ctx, sys, repo)
	state := &CacheState{Decision: DecisionHit, Where: WhereRegistry, Ref: ref + "@" + d.String(), Built: built, digest: d.String()}
	if !built.IsZero() {
		state.Age = age(built)
	}
	if p.maxAge > 0 && (built.IsZero() || time.Since(built) > p.maxAge) {
		when := "at an unknown time"
		if !built.IsZero() {
			when = state.Age + " ago"
		}
		p.Base.Cache.Reason += fmt.Sprintf("; the registry's base was built %s, base.max_age is %s", when, p.recipe.Base.MaxAge)
		return
	}
	p.Base.Cache = state
}

// registryBuilt returns the newest build stamp of the plan's base in repo.
func (p *Plan) registryBuilt(ctx context.Context, sys *types.SystemContext, repo string) time.Time {
	r, err := alltransports.ParseImageName("docker://" + repo)
	if err != nil {
		return time.Time{}
	}
	tags, err := docker.GetRepositoryTags(ctx, sys, r)
	if err != nil {
		return time.Time{}
	}
	var newest time.Time
	for _, t := range tags {
		if key16, when, ok := parseStamp(t); ok && key16 == p.Base.Key[:16] && when.After(newest) {
			newest = when
		}
	}
	return newest
}

// parseStamp reads a build stamp tag, base-KEY16-built-TIME.
func parseStamp(tag string) (key16 string, built time.Time, ok bool) {
	rest, ok := strings.CutPrefix(tag, "base-")
	if !ok || len(rest) < 16 {
		return "", time.Time{}, false
	}
	stamp, ok := strings.CutPrefix(rest[16:], "-built-")
	if !ok {
		return "", time.Time{}, false
	}
	built, err := time.Parse(stampLayout, stamp)
	return rest[:16], built, err == nil
}

// pullBase pulls the base found in the registry into the store, checks its
// key and names it as a locally built one. It returns its ID.
func (p *Plan) pullBase(ctx context.Context, store storage.Store, pu *pusher) (string, error) {
	rt := pu.runtime
	opts := &libimage.PullOptions{CopyOptions: pu.opts}
	images, err := rt.Pull(ctx, "docker://"+cacheRepo(p.recipe)+"@"+p.Base.Cache.digest, config.PullPolicyAlways, opts)
	if err != nil {
		if perr := stores.PolicyError(err, pu.opts.SignaturePolicyPath, p.Base.Cache.Ref); perr != err {
			return "", perr
		}
		return "", fmt.Errorf("pulling the cached base %s: %w", p.Base.Cache.Ref, registryError(pu.sys, hostOf("docker://"+p.Base.Cache.Ref), err))
	}
	if len(images) == 0 {
		return "", fmt.Errorf("pulling the cached base %s: no image", p.Base.Cache.Ref)
	}
	id := images[0].ID()
	labels, err := layers.ImageLabels(ctx, store, id)
	if err != nil {
		return "", err
	}
	if got := labels[layers.LabelBaseKey]; got != p.Base.Key {
		return "", fmt.Errorf("the cached base %s has key %q, want %s: not reusing it", p.Base.Cache.Ref, got, p.Base.Key)
	}
	if err := nameImage(store, id, []string{p.Base.Image}); err != nil {
		return "", err
	}
	if !p.Base.Cache.Built.IsZero() {
		_ = layers.MarkBuilt(store, id, p.Base.Cache.Built)
	}
	return id, nil
}

// registryLayout reads the layout of the newest base in the registry
// cache (the newest build stamp tag of any key), so that a runner whose
// store has no earlier base keeps the grouping every other runner uses.
// Nil when there is none or it cannot be read (the split then starts from
// the packages' sizes). Called only when the store has no earlier base.
func (p *Plan) registryLayout(ctx context.Context, pu *pusher, log *logrus.Logger) *layers.BaseLayout {
	repo := cacheRepo(p.recipe)
	r, err := alltransports.ParseImageName("docker://" + repo)
	if err != nil {
		return nil
	}
	tags, err := docker.GetRepositoryTags(ctx, pu.sys, r)
	if err != nil {
		return nil
	}
	newest, when := "", time.Time{}
	for _, t := range tags {
		if _, at, ok := parseStamp(t); ok && at.After(when) {
			newest, when = t, at
		}
	}
	if newest == "" {
		return nil
	}
	img, err := pu.openRemote(ctx, "docker://"+repo+":"+newest)
	if err != nil {
		log.Warnf("base: reading the layout of the previous base %s:%s: %v", repo, newest, err)
		return nil
	}
	var l layers.BaseLayout
	text := img.config.Config.Labels[layers.LabelBaseLayers]
	if text == "" || json.Unmarshal([]byte(text), &l) != nil {
		return nil
	}
	log.Infof("base: keeping the layout of the previous base %s:%s", repo, newest)
	return &l
}

// pushBase shares a new base through the registry cache: base-KEY16 and a
// build stamp tag. Failures are reported, not fatal: the build is done.
func (p *Plan) pushBase(ctx context.Context, pu *pusher, id string, log *logrus.Logger) {
	repo := cacheRepo(p.recipe)
	for _, tag := range []string{baseTag(p.Base.Key), stampPrefix(p.Base.Key) + time.Now().UTC().Format(stampLayout)} {
		if _, err := pu.push(ctx, id, "docker://"+repo+":"+tag); err != nil {
			log.Warnf("base: sharing the base through the registry cache failed (other runners will build it too): %v", err)
			return
		}
	}
	log.Infof("base: shared as %s:%s", repo, baseTag(p.Base.Key))
}

// lockBase serialises the builds of one base key on one store: the second
// process waits, then finds the base built by the first.
func lockBase(ctx context.Context, graphRoot, key string, log *logrus.Logger) (func(), error) {
	dir := filepath.Join(graphRoot, "strata", "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "base-"+key[:16]+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	waiting := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking base %s: %w", key[:16], err)
		}
		if !waiting {
			log.Infof("base: another strata is building base %s: waiting for it", key[:16])
			waiting = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// BaseEntry is one base image of the local cache.
type BaseEntry struct {
	Key      string    `json:"key"`
	Image    string    `json:"image"`
	ID       string    `json:"id"`
	Size     int64     `json:"size"`
	Built    time.Time `json:"built"`
	LastUsed time.Time `json:"last_used"`
}

// ListBases lists the base images of the local store, most recently used
// first.
func ListBases(ctx context.Context, store storage.Store) ([]BaseEntry, error) {
	images, err := store.Images()
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	var out []BaseEntry
	for _, img := range images {
		if !isBaseImage(img) {
			continue
		}
		labels, err := layers.ImageLabels(ctx, store, img.ID)
		if err != nil || labels[layers.LabelBaseKey] == "" {
			continue
		}
		size, _ := store.ImageSize(img.ID)
		name := ""
		for _, n := range img.Names {
			if strings.Contains(n, "-base:") {
				name = n
			}
		}
		out = append(out, BaseEntry{
			Key: labels[layers.LabelBaseKey], Image: name, ID: img.ID, Size: size,
			Built: layers.BuiltAt(store, &img), LastUsed: layers.LastUsed(store, &img),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUsed.Equal(out[j].LastUsed) {
			return out[i].LastUsed.After(out[j].LastUsed)
		}
		return out[i].Image < out[j].Image
	})
	return out, nil
}

// PruneBases removes base images: all but the keep most recently used
// (keep < 0: no such limit), and those not used for olderThan (0: no such
// limit). Layers still used by other images stay. It returns the removed.
func PruneBases(ctx context.Context, store storage.Store, keep int, olderThan time.Duration) ([]BaseEntry, error) {
	list, err := ListBases(ctx, store)
	if err != nil {
		return nil, err
	}
	var removed []BaseEntry
	for i, b := range list {
		tooMany := keep >= 0 && i >= keep
		tooOld := olderThan > 0 && time.Since(b.LastUsed) > olderThan
		if !tooMany && !tooOld {
			continue
		}
		if _, err := store.DeleteImage(b.ID, true); err != nil {
			return removed, fmt.Errorf("removing base %s: %w", b.Image, err)
		}
		removed = append(removed, b)
	}
	return removed, nil
}

// finalImage returns the ID of the image with final key key in the store,
// or "": the answer CheckCache found when it looked for the same key, else
// a new look.
func (p *Plan) finalImage(store storage.Store, key string) (string, error) {
	if c := p.Final.Cache; c != nil && p.Final.Key == key && c.Decision != DecisionUnknown {
		return c.ImageID, nil
	}
	return findFinal(store, p.recipe.Name, key)
}
