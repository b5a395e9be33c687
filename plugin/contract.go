package plugin

import (
	"net/http"
	"strings"
)

// This file is the wire contract between the plugin (running inside Traefik)
// and the resolver's decision endpoint. It is written once, here, and both
// sides use these constants: the resolver imports this package.
//
// # Decision request
//
// On a cache miss the plugin sends
//
//	GET {resolverURL}/v1/decide/preview/{sandbox}/{port}   a preview host {port}-{sandbox}.{domain}
//	GET {resolverURL}/v1/decide/toolbox/{sandbox}          the SDK route /toolbox/{sandbox}/… on a gateway host
//	GET {resolverURL}/v1/decide/gateway                    anything else on a gateway host
//
// where {sandbox} is the sandbox id or signed token, already checked by
// ValidSandboxID and ParsePort (so it needs no escaping), and the headers
//
//	X-Previewgate-Key:           the shared secret (the resolver answers 401 without it)
//	X-Previewgate-Request:       "{method} {host} {request URI}": the client's method, Host
//	                             header and escaped path and query (the query key removed)
//	X-Previewgate-Bearer:        the token of "Authorization: Bearer <token>", if any
//	X-Previewgate-Client-Ip:     with a bearer token: the client's IP as Traefik saw it
//	X-Previewgate-Preview-Token: the X-Daytona-Preview-Token header, if any
//	X-Previewgate-Query-Token:   the DAYTONA_SANDBOX_AUTH_KEY query parameter, if any
//	X-Previewgate-Cookie:        the value of cookie daytona-sandbox-auth-<sandbox>, if any
//	X-Previewgate-Skip-Activity: "true" when the client sent
//	                             X-Daytona-Skip-Last-Activity-Update: true
//
// The target is in the path and the client's request in one header because
// every header the interpreted plugin sets costs Traefik measurable CPU
// (see bench/). // Credentials travel in their own headers so that the resolver never has to
// parse the client's Cookie or Authorization header, and never sees the
// client's other cookies.
//
// # Decision response
//
// Forward: status 200 and
//
//	X-Previewgate-Decision:            "forward"
//	X-Previewgate-Runner:              the runner id (routing mode "runners")
//	X-Previewgate-Runner-Auth:         the whole value for X-Daytona-Authorization ("Bearer <runner key>")
//	X-Previewgate-Prefix:              the upstream path prefix: "/sandboxes/{id}/toolbox/proxy/{port}"
//	                                   (preview) or "/sandboxes/{id}/toolbox" (toolbox)
//	X-Previewgate-Strip-Authorization: "1" when the client's Authorization header was the
//	                                   credential that was accepted (it is then removed, as Daytona does)
//	X-Previewgate-Ttl:                 whole seconds the plugin may reuse this decision for the
//	                                   same host and credentials; "0" or absent: do not cache
//
// Respond: any status with "X-Previewgate-Decision: respond"; the plugin sends
// that status, the response headers (less the X-Previewgate-* ones and
// hop-by-hop headers) and the body to the client as they are.
//
// Anything else (no decision header, another value, a transport error, a
// timeout) is a resolver failure: the plugin answers 502 or 503 with
// Daytona's JSON error body and forwards nothing.
// # Datagram decisions
//
// With resolverSocket set, the plugin first asks over a unix datagram socket
// (an abstract name such as "@previewgate-decide" works across containers
// that share a network namespace, like Traefik's pod or the compose
// stack's network_mode). A request is one datagram of nine lines:
//
//	secret, decision path (DecidePath + "/preview/{sandbox}/{port}" ...),
//	"{method} {host} {request URI}", bearer token, client IP (with a bearer),
//	preview token, query token, cookie value, "true" to skip the activity update
//
// (empty lines for what is absent; header values cannot hold a newline).
// The answer is one datagram: "forward" and five lines (runner id, runner
// authorization, prefix, "1" to strip Authorization, TTL seconds), with the
// meanings of the forward headers above, or the single line "http": ask
// again over HTTP, which carries the whole answer (401, redirects, errors).
// A wrong secret or a malformed request is answered "http" too: the HTTP
// endpoint says what is wrong. The plugin's sockets are connected to the
// resolver's, so the kernel refuses datagrams to them from any other
// socket, and one that timed out is closed, never reused.
const (
	// MaxDatagram bounds a decision request or answer.
	MaxDatagram = 64 << 10
	// MaxRequestLine bounds the client's request line ("METHOD host
	// request-URI") in a decision request: the resolver only echoes it
	// (error bodies, logs), so a longer one is cut, never refused.
	MaxRequestLine = 4 << 10
	// DatagramAskHTTP is the answer that sends the plugin to HTTP.
	DatagramAskHTTP = "http"
)

// ValidSocketName reports whether s can name the decision socket (the
// plugin's resolverSocket, the resolver's PREVIEWGATE_DECIDE_SOCKET): a
// path starting with '/' or an abstract name starting with '@', with
// something after it, within a unix socket address (107 bytes).
func ValidSocketName(s string) bool {
	return len(s) >= 2 && len(s) <= 107 && (s[0] == '@' || s[0] == '/')
}

const (
	// DecidePath is the prefix of the resolver's decision endpoint (on its
	// internal listener): DecidePath + "/" + route [+ "/" + sandbox [+ "/" + port]].
	DecidePath = "/v1/decide"
	// TraefikConfigPath serves the per-runner child routers and services to
	// Traefik's HTTP provider (internal listener, same shared secret).
	TraefikConfigPath = "/v1/traefik/config"
	// UnroutablePath is where Traefik's fallback child router sends a request
	// that the plugin forwarded to a runner Traefik does not route (yet):
	// the resolver answers 502 there. Never a credential check, never a
	// forward.
	UnroutablePath = "/v1/unroutable"
	// ActivityPath + "/" + sandbox id: POST, with the shared secret, while a
	// forwarded WebSocket stays open (every activityRepeat): the resolver
	// records the sandbox's activity as for a forward decision (debounced,
	// so several gateways and requests make one API call per interval).
	// Answer: 204.
	ActivityPath = "/v1/activity"

	HeaderKey          = "X-Previewgate-Key"
	HeaderRequest      = "X-Previewgate-Request"
	HeaderClientIP     = "X-Previewgate-Client-Ip"
	HeaderBearer       = "X-Previewgate-Bearer"
	HeaderPreviewToken = "X-Previewgate-Preview-Token"
	HeaderQueryToken   = "X-Previewgate-Query-Token"
	HeaderCookie       = "X-Previewgate-Cookie"
	HeaderSkipActivity = "X-Previewgate-Skip-Activity"

	HeaderDecision  = "X-Previewgate-Decision"
	HeaderRunner    = "X-Previewgate-Runner"
	HeaderRunnerKey = "X-Previewgate-Runner-Auth"
	HeaderPrefix    = "X-Previewgate-Prefix"
	HeaderStripAuth = "X-Previewgate-Strip-Authorization"
	HeaderTTL       = "X-Previewgate-Ttl"
	// HeaderSnapshotRef is in a build-log route's forward decision: the
	// runner's logs are asked for with ?snapshotRef= this value.
	HeaderSnapshotRef = "X-Previewgate-Snapshot-Ref"

	DecisionForward = "forward"
	DecisionRespond = "respond"

	RoutePreview = "preview"
	RouteToolbox = "toolbox"
	RouteGateway = "gateway"
	// The build-log routes of the gateway host: GET
	// /sandboxes/{id}/build-logs and GET /snapshots/{id}/build-logs. Their
	// forward decision (never cached, HTTP only) has the prefix
	// BuildLogsPath, the whole upstream path, and HeaderSnapshotRef.
	RouteSandboxBuildLogs  = "sandbox-build-logs"
	RouteSnapshotBuildLogs = "snapshot-build-logs"
	// BuildLogsPath is the runner API's build-log stream.
	BuildLogsPath = "/snapshots/logs"

	// RunnerToken starts (in any case) the Connection header token that
	// names a forwarded request's runner in routing mode "runners": the
	// child router of runner {id} matches Header(`Connection`,
	// RunnerConnectionToken(id)). A Connection token is hop-by-hop: after
	// routing, Traefik's proxy drops it with the Connection header, so it
	// never reaches the runner, and the request gains no header of its own
	// (every key added to the request's header map costs Traefik, and a
	// ninth grows a small map into a table). Traefik's entry point has
	// already applied the client's Connection header (only Upgrade stays);
	// the plugin sets the rest.
	RunnerToken = "previewgate-runner-"
)

// RunnerConnectionToken is the Connection token that names runner id:
// RunnerToken + id in the canonical form of a header name
// ("Previewgate-Runner-0b7d-Runner" for "0b7d-runner"). Traefik's proxy
// deletes the header that each Connection token names, through
// CanonicalHeaderKey: a token that is canonical already costs it no copy
// (one allocation and about 1 % of a cache hit's instructions, measured).
// Ids that differ only in case share a token: the resolver's registry
// refuses the second of them.
func RunnerConnectionToken(id string) string {
	return http.CanonicalHeaderKey(RunnerToken + id) // newDecision has this line inline
}

// Daytona's wire names (apps/proxy v0.190.0).
const (
	HeaderDaytonaAuthorization = "X-Daytona-Authorization"
	HeaderDaytonaPreviewToken  = "X-Daytona-Preview-Token"
	HeaderForwardedHost        = "X-Forwarded-Host"
	HeaderSkipLastActivity     = "X-Daytona-Skip-Last-Activity-Update"
	QueryAuthKey               = "DAYTONA_SANDBOX_AUTH_KEY"
	CookieAuthPrefix           = "daytona-sandbox-auth-"

	// Ports that always need authentication, even on public sandboxes.
	PortTerminal           = 22222
	PortToolbox            = 2280
	PortRecordingDashboard = 33333
)

// DecideTarget splits the path of a decision request into route, sandbox
// and port, checking each as the plugin does.
func DecideTarget(path string) (string, string, string, bool) {
	rest := strings.TrimPrefix(path, DecidePath+"/")
	if rest == path {
		return "", "", "", false
	}
	route, rest, _ := strings.Cut(rest, "/")
	switch route {
	case RouteGateway:
		return route, "", "", rest == ""
	case RouteToolbox:
		return route, rest, "", ValidSandboxID(rest)
	case RouteSandboxBuildLogs, RouteSnapshotBuildLogs:
		return route, rest, "", ValidBuildLogsID(rest)
	case RoutePreview:
		sandbox, port, _ := strings.Cut(rest, "/")
		_, ok := ParsePort(port)
		return route, sandbox, port, ok && ValidSandboxID(sandbox)
	}
	return "", "", "", false
}

// SplitRequest splits an X-Previewgate-Request value into method, host and
// request URI; missing parts are empty.
func SplitRequest(v string) (string, string, string) {
	method, rest, _ := strings.Cut(v, " ")
	host, uri, _ := strings.Cut(rest, " ")
	return method, host, uri
}

// ValidBuildLogsID reports whether s may be the id in a build-log route:
// Daytona's [\w-]+ (sandbox ids and names, snapshot ids), at most 128.
func ValidBuildLogsID(s string) bool {
	return s != "" && len(s) <= 128 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

// BuildLogsRoute matches a gateway path to a build-log route: the route
// and the id, or ok false.
func BuildLogsRoute(path string) (string, string, bool) {
	// One assignment each: Yaegi v0.16.1 loses the other values of a
	// parallel assignment that holds a call.
	route := RouteSandboxBuildLogs
	rest := strings.TrimPrefix(path, "/sandboxes/")
	if rest == path {
		route = RouteSnapshotBuildLogs
		rest = strings.TrimPrefix(path, "/snapshots/")
		if rest == path {
			return "", "", false
		}
	}
	id := strings.TrimSuffix(rest, "/build-logs")
	if id == rest || !ValidBuildLogsID(id) {
		return "", "", false
	}
	return route, id, true
}
