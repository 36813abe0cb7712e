package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/recipes"
	"github.com/urfave/cli/v2"
	"go.podman.io/storage/pkg/unshare"
)

func oneArg(c *cli.Context, name string) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", fmt.Errorf("%w: missing %s argument (see strata %s --help)", build.ErrUsage, name, c.Command.Name)
	}
	return "", fmt.Errorf("%w: want one %s argument, got %d", build.ErrUsage, name, c.NArg())
}

// recipeArg loads the recipe named by the command's one argument.
func recipeArg(c *cli.Context) (*recipes.Recipe, error) {
	file, err := oneArg(c, "RECIPE")
	if err != nil {
		return nil, err
	}
	return recipes.LoadFile(file)
}

// openStore enters the user namespace when needed and opens the store;
// the caller must Close it.
func openStore(c *cli.Context) (*stores.Store, error) {
	if err := enterUserNamespace(); err != nil {
		return nil, err
	}
	return stores.Open(storeOptions(c), logger(c))
}

func storeOptions(c *cli.Context) stores.Options {
	return stores.Options{Root: c.String("root"), RunRoot: c.String("runroot"), Driver: c.String("storage-driver"),
		Policy: c.String("signature-policy")}
}

// enterUserNamespace re-executes strata in a user namespace when it runs
// unprivileged, after checking what that needs; root continues as is.
func enterUserNamespace() error {
	if !unshare.IsRootless() || os.Geteuid() == 0 {
		return nil // root, or already inside the user namespace
	}
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if err := stores.CheckRootless(name); err != nil {
		return err
	}
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		dir := filepath.Join(os.TempDir(), "strata-run-"+strconv.Itoa(os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating a runtime directory (set XDG_RUNTIME_DIR): %w", err)
		}
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
			return fmt.Errorf("%q is not a directory of yours: set XDG_RUNTIME_DIR to one", dir)
		}
		os.Setenv("XDG_RUNTIME_DIR", dir)
	}
	unshare.MaybeReexecUsingUserNamespace(false)
	return nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (nil when unset).
func sourceDateEpoch() (*time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: invalid SOURCE_DATE_EPOCH %q: want seconds since 1970", build.ErrUsage, v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// sourceFlags are the flags of commands that resolve a recipe's sources.
func sourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Usage: "the recipe profile to build (default: the recipe's first)", EnvVars: []string{"STRATA_PROFILE"}},
		&cli.StringFlag{Name: "branch", Usage: "take every source from `BRANCH`, whatever the profile says", EnvVars: []string{"STRATA_BRANCH"}},
		&cli.BoolFlag{Name: "offline", Usage: "no network access: local sources are read, remote ones come from the clone cache", EnvVars: []string{"STRATA_OFFLINE"}},
		&cli.StringFlag{Name: "git-cache-dir", Usage: "the clone cache (default $XDG_CACHE_HOME/strata/git)", EnvVars: []string{"STRATA_GIT_CACHE_DIR"}},
		&cli.StringFlag{Name: "git-ssh-key", Usage: "private key `FILE` for ssh sources (default: ssh-agent)", EnvVars: []string{"STRATA_GIT_SSH_KEY"}},
		&cli.StringFlag{Name: "cache", Usage: "where bases are looked for and shared: local, registry or off (default: local, plus the registry when the recipe names push.repository or push.cache)", EnvVars: []string{"STRATA_CACHE"}},
		&cli.BoolFlag{Name: "refresh", Usage: "rebuild the base whatever is cached (to pick up updates now)", EnvVars: []string{"STRATA_REFRESH"}},
	}
}

// imageFlags set what the final image carries beyond the recipe, as
// buildah's --label and --annotation do; both count in the final key.
func imageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "label", Value: &keyValues{flag: "--label"}, Usage: "add the image label `KEY=VALUE` (repeatable; over the recipe's image.labels)"},
		&cli.GenericFlag{Name: "annotation", Value: &keyValues{flag: "--annotation"}, Usage: "add the manifest annotation `KEY=VALUE` (repeatable)"},
	}
}

// keyValues is a repeatable KEY=VALUE flag; a value may hold commas.
type keyValues struct {
	flag string
	m    map[string]string
}

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("invalid %s %q: want KEY=VALUE", kv.flag, s)
	}
	if kv.m == nil {
		kv.m = map[string]string{}
	}
	kv.m[k] = v
	return nil
}

func (kv *keyValues) String() string {
	if kv == nil || len(kv.m) == 0 {
		return ""
	}
	var out []string
	for k, v := range kv.m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// keyValuesOf returns the map of a keyValues flag (nil when not given or
// not defined on the command).
func keyValuesOf(c *cli.Context, name string) map[string]string {
	if kv, ok := c.Generic(name).(*keyValues); ok {
		return kv.m
	}
	return nil
}

// planOptions reads the source flags. The https token comes from
// STRATA_GIT_TOKEN or GITHUB_TOKEN only, never from a flag, so that it
// stays out of process listings and shell history.
func planOptions(c *cli.Context) (build.PlanOptions, error) {
	epoch, err := sourceDateEpoch()
	if err != nil {
		return build.PlanOptions{}, err
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return build.PlanOptions{}, fmt.Errorf("finding the cache directory (set XDG_CACHE_HOME): %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	cache := c.String("git-cache-dir")
	if cache == "" {
		cache = filepath.Join(base, "strata", "git")
	}
	reg, err := registryOptions(c)
	if err != nil {
		return build.PlanOptions{}, err
	}
	token := os.Getenv("STRATA_GIT_TOKEN")
	if token == "" {
		token = os.Getenv("GITHUB_TOKEN")
	}
	return build.PlanOptions{
		Profile:     c.String("profile"),
		Branch:      c.String("branch"),
		Offline:     c.Bool("offline"),
		Epoch:       epoch,
		Registry:    reg,
		Cache:       c.String("cache"),
		Refresh:     c.Bool("refresh"),
		CacheDir:    filepath.Join(base, "strata"),
		Labels:      keyValuesOf(c, "label"),
		Annotations: keyValuesOf(c, "annotation"),
		Git: build.GitOptions{
			CacheDir:   cache,
			Token:      token,
			SSHKeyFile: c.String("git-ssh-key"),
			Log:        logger(c),
		},
	}, nil
}

// registryFlags are the flags of commands that talk to registries, named
// as podman's, buildah's and skopeo's.
func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "authfile", Usage: "credentials `FILE` (default: auth.json of podman, then ~/.docker/config.json)", EnvVars: []string{"REGISTRY_AUTH_FILE"}},
		&cli.StringFlag{Name: "creds", Usage: "`USER[:PASSWORD]` for the registry, instead of the authfile", EnvVars: []string{"STRATA_CREDS"}},
		&cli.StringFlag{Name: "cert-dir", Usage: "`DIR` with the registry's CA certificate (*.crt) and client certificates", EnvVars: []string{"STRATA_CERT_DIR"}},
		&cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and verify certificates (false also allows plain HTTP)", EnvVars: []string{"STRATA_TLS_VERIFY"}},
		&cli.UintFlag{Name: "retry", Value: 3, Usage: "how many times a failed transfer is tried again", EnvVars: []string{"STRATA_RETRY"}},
		&cli.DurationFlag{Name: "retry-delay", DefaultText: "1s, doubling", Usage: "pause between tries", EnvVars: []string{"STRATA_RETRY_DELAY"}},
		&cli.StringFlag{Name: "compression-format", Value: "gzip", Usage: "layer compression: gzip or zstd", EnvVars: []string{"STRATA_COMPRESSION_FORMAT"}},
		&cli.StringFlag{Name: "registries.d", Usage: "`DIR` of registries.d files (use-sigstore-attachments, lookaside), instead of the default directories"},
	}
}

// signFlags are the signing flags of commands that push, named as
// podman push's and skopeo copy's.
func signFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sign-by-sigstore-private-key", Usage: "sign the pushed image with the sigstore private key in `FILE` (strata key generate makes one)"},
		&cli.StringFlag{Name: "sign-passphrase-file", Usage: "read the private key's passphrase from the first line of `FILE`"},
	}
}

func registryOptions(c *cli.Context) (build.RegistryOptions, error) {
	o := build.RegistryOptions{
		AuthFile:      c.String("authfile"),
		Creds:         c.String("creds"),
		CertDir:       c.String("cert-dir"),
		TLSVerify:     c.Bool("tls-verify"),
		Retry:         c.Uint("retry"),
		RetryDelay:    c.Duration("retry-delay"),
		Compression:   c.String("compression-format"),
		RegistriesDir: c.String("registries.d"),
	}
	if key := c.String("sign-by-sigstore-private-key"); key != "" {
		if _, err := os.Stat(key); err != nil {
			return o, fmt.Errorf("%w: --sign-by-sigstore-private-key: %v", build.ErrUsage, err)
		}
		o.Sign.PrivateKeyFile = key
		if file := c.String("sign-passphrase-file"); file != "" {
			pass, err := build.ReadPassphraseFile("--sign-passphrase-file", file)
			if err != nil {
				return o, err
			}
			o.Sign.Passphrase = pass
		}
	} else if c.String("sign-passphrase-file") != "" {
		return o, fmt.Errorf("%w: --sign-passphrase-file needs --sign-by-sigstore-private-key", build.ErrUsage)
	}
	if d := o.RegistriesDir; d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return o, fmt.Errorf("%w: --registries.d %q: not a directory", build.ErrUsage, d)
		}
	}
	if _, err := o.SystemContext(); err != nil {
		return o, err
	}
	switch o.Compression {
	case "gzip", "zstd":
	default:
		return o, fmt.Errorf("%w: invalid --compression-format %q: want gzip or zstd", build.ErrUsage, o.Compression)
	}
	if o.AuthFile != "" {
		if _, err := os.Stat(o.AuthFile); err != nil && !os.IsNotExist(err) {
			return o, fmt.Errorf("%w: --authfile: %v", build.ErrUsage, err)
		}
	}
	return o, nil
}
