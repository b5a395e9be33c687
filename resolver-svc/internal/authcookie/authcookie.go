// Package authcookie reads and writes Daytona's preview auth cookies,
// daytona-sandbox-auth-<sandboxIdOrSignedToken>, in the exact format of
// Daytona's proxy: gorilla/securecookie v1.1.2 with hash key PROXY_API_KEY,
// no block key (signed, not encrypted), the default gob serializer, the
// cookie name bound into the MAC, and a maximum age of 3600 s. The cookie's
// value is the sandbox id. Daytona's proxy (gin) writes the value
// query-escaped (the signature's base64 padding "=" becomes "%3D") and
// unescapes it when reading; Verify does the same, so cookies issued by
// Daytona's own proxy are accepted by ours and the other way round.
package authcookie

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/gorilla/securecookie"
	"github.com/previewgate/previewgate/plugin"
)

// MaxAge is the cookie's Max-Age and the oldest signature accepted, in
// seconds (Daytona's SANDBOX_AUTH_COOKIE_MAX_AGE_SECONDS).
const MaxAge = 3600

// Errors returned by Verify.
var (
	// ErrInvalid: the value is malformed, or its signature does not match
	// the key and the cookie name (forged, or made for another sandbox).
	ErrInvalid = errors.New("authcookie: invalid sandbox auth cookie")
	// ErrExpired: the signature is genuine but older than MaxAge.
	ErrExpired = errors.New("authcookie: expired sandbox auth cookie")
)

// Codec signs and verifies auth cookies. It is safe for concurrent use.
type Codec struct {
	strict  *securecookie.SecureCookie // MaxAge 3600
	lenient *securecookie.SecureCookie // no age limit: tells "expired" from "forged"
}

// New returns a Codec keyed with the proxy API key.
func New(hashKey []byte) (*Codec, error) {
	if len(hashKey) == 0 {
		return nil, errors.New("authcookie: the hash key (PROXY_API_KEY) is empty")
	}
	key := append([]byte(nil), hashKey...)
	return &Codec{
		strict:  securecookie.New(key, nil).MaxAge(MaxAge),
		lenient: securecookie.New(key, nil).MaxAge(0),
	}, nil
}

// Name is the cookie name for a sandbox id or signed preview token.
func Name(idOrToken string) string { return plugin.CookieAuthPrefix + idOrToken }

// Encode makes the value of cookie Name(idOrToken) that grants sandboxID.
// A Set-Cookie carries it query-escaped (url.QueryEscape), as gin's
// SetCookie does in Daytona's proxy.
func (c *Codec) Encode(idOrToken, sandboxID string) (string, error) {
	v, err := c.strict.Encode(Name(idOrToken), sandboxID)
	if err != nil {
		return "", fmt.Errorf("authcookie: encoding: %w", err)
	}
	return v, nil
}

// Verify checks the value of cookie Name(idOrToken) as the browser sent it
// (query-escaped or not) and returns the sandbox id it grants. It makes no
// network call.
func (c *Codec) Verify(idOrToken, value string) (string, error) {
	var id string
	value, err := url.QueryUnescape(value) // base64url has no '+' to lose
	if err != nil || value == "" {
		return "", ErrInvalid
	}
	if err := c.strict.Decode(Name(idOrToken), value, &id); err != nil {
		var again string
		if c.lenient.Decode(Name(idOrToken), value, &again) == nil {
			return "", ErrExpired
		}
		return "", ErrInvalid
	}
	if !plugin.ValidSandboxID(id) {
		return "", ErrInvalid
	}
	return id, nil
}
