package api

import (
	"net/http"
	"net/url"
	"strings"
)

// route is one API endpoint. Its pattern is relative to the /api prefix and
// its name ("GET /preview/{id}/public") is the key of the call counters.
type route struct {
	method  string
	pattern string
	segs    []string
	handle  func(s *Server, w http.ResponseWriter, r *http.Request, p params)
}

func (rt route) name() string { return rt.method + " " + rt.pattern }

// params holds the decoded path parameters, by name.
type params map[string]string

// subject is the first path parameter: the sandbox id for most endpoints,
// the signed token for GET /preview/{token}/{port}/sandbox-id and the runner
// id for GET /runners/{id}/full.
func (rt route) subject(p params) string {
	for _, s := range rt.segs {
		if name, ok := paramName(s); ok {
			return p[name]
		}
	}
	return ""
}

func paramName(seg string) (string, bool) {
	if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}

func newRoute(method, pattern string, h func(*Server, http.ResponseWriter, *http.Request, params)) route {
	return route{method: method, pattern: pattern, segs: strings.Split(pattern[1:], "/"), handle: h}
}

// match reports whether the escaped path (relative to /api) matches, like
// Express with default options: case-insensitive literals, an optional
// trailing slash, non-empty parameters that are percent-decoded.
func (rt route) match(method, escaped string) (params, bool) {
	if method != rt.method {
		return nil, false
	}
	if len(escaped) > 1 {
		escaped = strings.TrimSuffix(escaped, "/")
	}
	if !strings.HasPrefix(escaped, "/") {
		return nil, false
	}
	parts := strings.Split(escaped[1:], "/")
	if len(parts) != len(rt.segs) {
		return nil, false
	}
	p := params{}
	for i, seg := range rt.segs {
		if name, ok := paramName(seg); ok {
			v, err := url.PathUnescape(parts[i])
			if err != nil || v == "" {
				return nil, false
			}
			p[name] = v
			continue
		}
		if !strings.EqualFold(seg, parts[i]) {
			return nil, false
		}
	}
	return p, true
}

// routes lists the endpoints in the API's registration order (the first
// match wins, as in Express).
var routes = []route{
	newRoute(http.MethodGet, "/config", (*Server).getConfig),
	newRoute(http.MethodGet, "/preview/{id}/public", (*Server).isSandboxPublic),
	newRoute(http.MethodGet, "/preview/{id}/validate/{token}", (*Server).isValidAuthToken),
	newRoute(http.MethodGet, "/preview/{id}/access", (*Server).hasSandboxAccess),
	newRoute(http.MethodGet, "/preview/{token}/{port}/sandbox-id", (*Server).sandboxIDFromSignedToken),
	newRoute(http.MethodGet, "/runners/by-sandbox/{id}", (*Server).runnerBySandbox),
	newRoute(http.MethodGet, "/runners/{id}/full", (*Server).runnerFull),
	newRoute(http.MethodPost, "/sandbox/{id}/public/{isPublic}", (*Server).updatePublicStatus),
	newRoute(http.MethodPost, "/sandbox/{id}/last-activity", (*Server).updateLastActivity),
	newRoute(http.MethodGet, "/sandbox/{id}", (*Server).getSandbox),
	newRoute(http.MethodGet, "/snapshots/{id}", (*Server).getSnapshot),
	newRoute(http.MethodGet, "/sandbox/{id}/ports/{port}/preview-url", (*Server).portPreviewURL),
	newRoute(http.MethodGet, "/sandbox/{id}/ports/{port}/signed-preview-url", (*Server).signedPortPreviewURL),
	newRoute(http.MethodPost, "/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire", (*Server).expireSignedPreviewURL),
}

// Endpoints returns the names of every simulated API endpoint, the keys of
// the call counters.
func Endpoints() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.name()
	}
	return out
}

func isEndpoint(name string) bool {
	for _, rt := range routes {
		if rt.name() == name {
			return true
		}
	}
	return false
}

// UnmatchedEndpoint counts calls that matched no endpoint.
const UnmatchedEndpoint = "UNMATCHED"
