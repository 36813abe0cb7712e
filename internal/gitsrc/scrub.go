package gitsrc

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// minSecretLen is the length below which user names and passwords taken
// from a remote URL are not scrubbed from messages: replacing every "x" or
// "me" would garble them, and such strings are no secrets. Options.Token is
// always scrubbed.
const minSecretLen = 4

// scrubbedError is an error whose message had secrets removed. It unwraps
// to the original error, so errors.Is and errors.As keep working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with the token and the credentials of remote removed
// from its message. The library's own messages only use Redact(remote);
// this catches what go-git or net/http may quote.
func (c *Client) scrub(err error, remote string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := msg
	for _, s := range c.secrets(remote) {
		for _, form := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
			scrubbed = strings.ReplaceAll(scrubbed, form, redacted)
		}
	}
	if scrubbed == msg {
		return err
	}
	return &scrubbedError{msg: scrubbed, err: err}
}

// secrets returns the strings that must not appear in messages about
// remote: the token, and the userinfo of a URL remote (only its password
// for ssh://, whose user name is no secret).
func (c *Client) secrets(remote string) []string {
	var s []string
	if c.opts.Token != "" {
		// Also as sent in an Authorization header, should a server echo it.
		s = append(s, c.opts.Token, basicAuthValue("x-access-token", c.opts.Token))
	}
	scheme, userinfo, ok := splitUserinfo(remote)
	if !ok {
		return s
	}
	user, pass, hasPass := strings.Cut(userinfo, ":")
	cands := []string{basicAuthValue(unescape(user), unescape(pass))}
	if hasPass {
		cands = append(cands, pass, unescape(pass))
	}
	if scheme != "ssh" {
		cands = append(cands, user, unescape(user))
	}
	for _, v := range cands {
		if len(v) >= minSecretLen {
			s = append(s, v)
		}
	}
	return s
}

// unescape returns s percent-decoded, or s if it is not valid.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// basicAuthValue returns the credentials part of an HTTP basic
// Authorization header.
func basicAuthValue(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// splitUserinfo returns the lower-case scheme and the userinfo of a URL
// remote scheme://userinfo@host/..., and false if it has none.
func splitUserinfo(remote string) (scheme, userinfo string, ok bool) {
	i := strings.Index(remote, "://")
	if i <= 0 || strings.ContainsAny(remote[:i], "/\\@") {
		return "", "", false
	}
	rest := remote[i+3:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", false
	}
	return strings.ToLower(remote[:i]), rest[:at], true
}
