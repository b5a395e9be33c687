package api

import (
	"net/http"
	"regexp"
	"strings"
)

// role is the API's auth context role.
type role int

const (
	roleNone   role = iota // not authenticated
	roleProxy              // Authorization: Bearer <PROXY_API_KEY>
	roleUser               // a user's API key
	roleRunner             // a runner's API key
)

type principal struct {
	role role
	user string // roleUser only
}

var bearerScheme = regexp.MustCompile(`(?i)^Bearer$`)

// bearerToken extracts the token like passport-http-bearer: the
// Authorization header must be exactly two space-separated parts with a
// case-insensitive "Bearer" scheme; the access_token query parameter is also
// accepted, but not both.
func bearerToken(r *http.Request) (string, bool) {
	var token string
	if h := r.Header.Get("Authorization"); h != "" {
		parts := strings.Split(h, " ")
		if len(parts) != 2 {
			return "", false
		}
		if bearerScheme.MatchString(parts[0]) {
			token = parts[1]
		}
	}
	if q := r.URL.Query().Get("access_token"); q != "" {
		if token != "" {
			return "", false
		}
		token = q
	}
	return token, token != ""
}

// authenticate maps the bearer token to an auth context like the API's
// ApiKeyStrategy. JWTs are not supported: register an IdP access token as a
// user API key (POST /_sim/users) to make it valid.
func (s *Server) authenticate(r *http.Request) principal {
	token, ok := bearerToken(r)
	if !ok {
		return principal{}
	}
	if token == s.cfg.ProxyAPIKey {
		return principal{role: roleProxy}
	}
	if u, ok := s.cfg.World.UserByKey(token); ok {
		return principal{role: roleUser, user: u.Name}
	}
	if s.cfg.World.IsRunnerKey(token) {
		return principal{role: roleRunner}
	}
	return principal{}
}

// requireProxy lets through the proxy role only: 401 without valid
// credentials, 403 for a valid key of another role (ProxyAuthContextGuard).
func (s *Server) requireProxy(w http.ResponseWriter, r *http.Request) bool {
	switch s.authenticate(r).role {
	case roleProxy:
		return true
	case roleNone:
		writeError(w, r, http.StatusUnauthorized, MsgInvalidCredentials)
	default:
		writeError(w, r, http.StatusForbidden, MsgInvalidAuthContext)
	}
	return false
}

// requireUser lets through users only (OrganizationAuthContextGuard).
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := s.authenticate(r)
	switch p.role {
	case roleUser:
		return p.user, true
	case roleNone:
		writeError(w, r, http.StatusUnauthorized, MsgInvalidCredentials)
	default:
		writeError(w, r, http.StatusForbidden, MsgInvalidAuthContext)
	}
	return "", false
}
