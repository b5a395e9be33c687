package plugin

import (
	"net/http"
	"sort"
	"strings"
)

// CORS as Daytona's proxy does it (gin-contrib/cors, every origin allowed,
// with credentials), on every host and path and before anything else: a
// browser app on another origin (the TypeScript SDK's toolbox calls, a
// fetch with X-Daytona-Preview-Token) gets its preflight answered by the
// gateway, with no credentials asked for, and the Origin echoed on every
// other response. A request with X-Daytona-Disable-CORS: true gets none of
// it (the sandbox answers CORS itself); that header never reaches the
// sandbox.

// HeaderDisableCORS turns the gateway's CORS handling off for a request
// (Daytona's X-Daytona-Disable-CORS, canonical).
const HeaderDisableCORS = "X-Daytona-Disable-Cors"

const hOrigin = "Origin"

// Response header values, shared by every request: each slice has its
// length as capacity, so that a proxy that appends the sandbox's own
// values copies it first.
var (
	corsTrue          = []string{"true"}
	corsMethods       = []string{"GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"}
	corsMaxAge        = []string{"43200"}
	corsVary          = []string{"Origin"}
	corsVaryPreflight = []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
)

// cors handles a request with an Origin header: it answers a preflight
// (any OPTIONS from another origin: 204, never forwarded, no credentials
// checked) and reports true, or adds the CORS response headers that every
// other answer carries (the sandbox's own are added to them by Traefik's
// proxy, as Daytona's are) and reports false.
func cors(rw http.ResponseWriter, req *http.Request) bool {
	hdr := req.Header
	v := hdr[hOrigin]
	if len(v) == 0 || v[0] == "" {
		return false // no Origin, for gin-contrib/cors
	}
	origin := v[0]
	if v := hdr[HeaderDisableCORS]; len(v) != 0 && v[0] == "true" {
		return false
	}
	if origin == "http://"+req.Host || origin == "https://"+req.Host {
		return false // same origin
	}
	out := rw.Header()
	out["Access-Control-Allow-Origin"] = []string{origin}
	out["Access-Control-Allow-Credentials"] = corsTrue
	if req.Method != http.MethodOptions {
		out["Vary"] = corsVary
		return false
	}
	out["Access-Control-Allow-Methods"] = corsMethods
	out["Access-Control-Allow-Headers"] = []string{corsAllowHeaders(hdr)}
	out["Access-Control-Max-Age"] = corsMaxAge
	out["Vary"] = corsVaryPreflight
	rw.WriteHeader(http.StatusNoContent)
	return true
}

// corsAllowHeaders is a preflight's Access-Control-Allow-Headers: the
// names of the request's own headers and the ones it asks for
// (Access-Control-Request-Headers), once each, as Daytona lists them
// (sorted here; Daytona's order is a map's).
func corsAllowHeaders(hdr http.Header) string {
	seen := make(map[string]bool, len(hdr)+4)
	names := make([]string, 0, len(hdr)+4)
	add := func(name string) {
		name = strings.TrimSpace(name)
		if k := strings.ToLower(name); name != "" && !seen[k] {
			seen[k] = true
			names = append(names, http.CanonicalHeaderKey(name))
		}
	}
	for name := range hdr {
		add(name)
	}
	for _, v := range hdr["Access-Control-Request-Headers"] {
		for _, name := range strings.Split(v, ",") {
			add(name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
