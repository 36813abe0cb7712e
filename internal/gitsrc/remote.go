package gitsrc

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// redacted replaces credentials in messages.
const redacted = "***"

// remoteKind tells how a remote is reached.
type remoteKind int

const (
	// kindLocal is a repository on this machine (a path or a file:// URL),
	// read directly with go-git.
	kindLocal remoteKind = iota
	// kindNetwork is a repository reached over http(s), ssh or git.
	kindNetwork
)

// remoteInfo is a parsed remote.
type remoteInfo struct {
	raw      string              // as given by the caller; may hold credentials
	kind     remoteKind          // local or network
	path     string              // kindLocal: absolute path of the repository
	url      string              // normalized, credential-free form: cache key and .git/config url
	endpoint *transport.Endpoint // kindNetwork: parsed endpoint
}

// Redact returns remote with any credentials removed, for use in messages.
//
// For URLs of the form scheme://userinfo@host/..., the userinfo is replaced
// by "***" (the user name of an http(s) URL is often a token itself); for
// ssh:// URLs the user name is kept and only a password is replaced. SCP-like
// remotes (git@host:path) and local paths are returned unchanged. Redact does
// not need remote to be a valid URL.
func Redact(remote string) string {
	scheme, userinfo, ok := splitUserinfo(remote)
	if !ok {
		return remote
	}
	i := strings.Index(remote, "://") + 3
	replacement := redacted
	if scheme == "ssh" {
		user, _, hasPass := strings.Cut(userinfo, ":")
		if !hasPass {
			return remote
		}
		replacement = user + ":" + redacted
	}
	return remote[:i] + replacement + remote[i+len(userinfo):]
}

// parseRemote classifies and normalizes remote.
func parseRemote(remote string) (*remoteInfo, error) {
	if strings.TrimSpace(remote) == "" {
		return nil, errors.New("empty remote")
	}
	ri := &remoteInfo{raw: remote}
	if i := strings.Index(remote, "://"); i > 0 && !strings.ContainsAny(remote[:i], "/\\") {
		scheme := strings.ToLower(remote[:i])
		u, err := url.Parse(remote)
		if err != nil {
			// url.Parse quotes its input; do not let credentials through.
			return nil, fmt.Errorf("invalid remote URL %q", Redact(remote))
		}
		switch scheme {
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return nil, fmt.Errorf("file remote %q: host %q is not supported", Redact(remote), u.Host)
			}
			if u.Path == "" {
				return nil, fmt.Errorf("file remote %q has no path", Redact(remote))
			}
			ri.kind = kindLocal
			ri.path = filepath.Clean(u.Path)
			ri.url = "file://" + filepath.ToSlash(ri.path)
			return ri, nil
		case "http", "https", "ssh", "git":
		default:
			return nil, fmt.Errorf("remote %q: unsupported scheme %q", Redact(remote), scheme)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("remote %q has no host", Redact(remote))
		}
		ep, err := transport.NewEndpoint(remote)
		if err != nil {
			return nil, fmt.Errorf("invalid remote URL %q", Redact(remote))
		}
		n := *u
		n.Scheme = scheme
		n.Host = strings.ToLower(u.Host)
		n.User = nil
		if scheme == "ssh" && u.User != nil {
			n.User = url.User(u.User.Username())
		}
		n.Fragment, n.RawFragment = "", ""
		ri.kind = kindNetwork
		ri.url = strings.TrimRight(n.String(), "/")
		ri.endpoint = ep
		return ri, nil
	}
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("invalid remote %q", Redact(remote))
	}
	if ep.Protocol == "ssh" {
		// SCP-like git@host:path.
		ri.kind = kindNetwork
		ri.url = strings.TrimRight(remote, "/")
		ri.endpoint = ep
		return ri, nil
	}
	abs, err := filepath.Abs(remote)
	if err != nil {
		return nil, fmt.Errorf("local remote %q: %w", remote, err)
	}
	ri.kind = kindLocal
	ri.path = abs
	ri.url = abs
	return ri, nil
}

// key is the cache directory name of the remote: the first 16 hex digits of
// the sha256 of its normalized, credential-free form.
func (ri *remoteInfo) key() string {
	sum := sha256.Sum256([]byte(ri.url))
	return hex.EncodeToString(sum[:])[:16]
}

// authFor returns the credentials for a network remote, or nil to let go-git
// decide (anonymous, or credentials from the URL itself).
func (c *Client) authFor(ri *remoteInfo) (transport.AuthMethod, error) {
	if ri.endpoint == nil {
		return nil, nil
	}
	ep := ri.endpoint
	switch ep.Protocol {
	case "https":
		if ep.User == "" && ep.Password == "" && c.opts.Token != "" {
			return &githttp.BasicAuth{Username: "x-access-token", Password: c.opts.Token}, nil
		}
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		if c.opts.SSHKeyFile != "" {
			auth, err := gitssh.NewPublicKeysFromFile(user, c.opts.SSHKeyFile, "")
			if err != nil {
				return nil, fmt.Errorf("loading ssh key %q: %w", c.opts.SSHKeyFile, err)
			}
			return auth, nil
		}
		if os.Getenv("SSH_AUTH_SOCK") != "" {
			auth, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("connecting to ssh-agent: %w", err)
			}
			return auth, nil
		}
	}
	return nil, nil
}
