package plugin

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Canonical header keys, used as map keys directly (no canonicalisation per
// request).
const (
	hAuthorization = "Authorization"
	hCookie        = "Cookie"
	hConnection    = "Connection"
)

type handler struct {
	// serveNext is the next handler's ServeHTTP, taken once in New: under
	// Yaegi, calling it costs a slot and an allocation less than calling
	// the method on the handler.
	serveNext func(http.ResponseWriter, *http.Request)
	name      string
	suffixes  []string        // "." + preview domain
	gateway   map[string]bool // gateway host names
	resolver  *resolverClient
	cache     *decisionCache // nil: caching off
	// hits is the cache's map, or an empty one when caching is off: a
	// lookup needs no check first.
	hits    *sync.Map
	maxTTL  int64 // nanoseconds
	runners bool  // routing "runners": decisions name a runner
	// activityRepeat: how often an open WebSocket reports activity.
	activityRepeat time.Duration
	// targets remembers parseHost's answer per Host header (at most
	// MaxTargets); gatewayTarget is the one for gateway hosts. A pointer:
	// under Yaegi a selector of a struct-typed field allocates a zero value
	// of that struct in the frame of every call of the function using it.
	targets       *sync.Map
	ntargets      int64
	gatewayTarget *target
}

// ServeHTTP is the per-request path, written for Yaegi: every statement
// costs; a compiled call (sync.Map, strings) costs more, an interpreted one
// more again; and every call allocates a frame with a slot for every
// variable and every intermediate value of the function called, executed
// or not, each slot an allocation. So ServeHTTP holds only the cache-hit
// path: no parsing of the host (it was validated before its decision was
// cached; the key is the Host header as sent), the credentials read by a
// plain function only when the request has any, everything else in
// serveMiss.
func (h *handler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	hdr := req.Header
	// CORS comes first, on every host and path, as in Daytona's proxy; a
	// preflight is answered here. (Nested ifs, not &&: under Yaegi an &&
	// or || holds its value in a slot of its own.)
	if hdr[hOrigin] != nil {
		if cors(rw, req) {
			return
		}
	}
	u := req.URL
	var cr *credentials
	key := req.Host
	// A query is read only when it may hold the query key (named as such
	// or percent-encoded): most queries are an app's own.
	if hdr[hAuthorization] != nil || u.RawQuery != "" && mayHoldQueryKey(u.RawQuery) {
		cr = readCredentials(hdr, u)
		key += cr.key
	}
	// A browser sends the same Cookie header again and again: as sent, it
	// is part of the key, and the decision cached under it holds the header
	// without our cookies. serveMiss reads the cookies when it misses.
	if c := hdr[hCookie]; len(c) == 1 {
		key += "\x00k" + c[0] // rawCookieKey, with no call
	} else if c != nil {
		key += rawCookieKey(c)
	}
	// The preview token, the SDK's credential: serveMiss reads it, and
	// every path removes it.
	if tok := hdr[HeaderDaytonaPreviewToken]; len(tok) != 0 {
		key += "\x00p" + tok[0]
	}
	path := u.Path
	if strings.ContainsAny(path, ".\\") {
		if refusedDotSegment(rw, req, path) {
			return
		}
	}
	// Not "if v, ok := Load(key); ok": Yaegi allocates anew every variable
	// that a := of a call defines, each time; with "_" only v is, and the
	// comma-ok assertion (false on a miss's nil) allocates nothing.
	v, _ := h.hits.Load(key)
	if d, ok := v.(*decision); ok {
		// Expired decisions are removed by the cache's sweeper.
		// An escaped path (RawPath), and a request with a Connection
		// header (after Traefik's entry point, only an upgrade, a
		// WebSocket, still has one) go to forwardHit; so does a path that
		// does not start with '/' (empty, or "*" in "GET * HTTP/1.1"): in
		// byte order exactly those are < "/" or >= "0". One if each, not
		// ||: an || holds its value in a slot, and a call with no result
		// has none.
		if u.RawPath != "" {
			forwardHit(h, rw, req, d)
			return
		}
		if hdr[hConnection] != nil {
			forwardHit(h, rw, req, d)
			return
		}
		if path < "/" {
			forwardHit(h, rw, req, d)
			return
		}
		if path >= "0" {
			forwardHit(h, rw, req, d)
			return
		}
		// What follows is forward(), inlined: a call costs under Yaegi.
		// Deletes first, then sets: a header map that never holds more
		// than it forwards stays small (see RunnerToken). A delete is a
		// statement with no slot: cheaper than checking first.
		if d.stripAuth {
			delete(hdr, hAuthorization)
		}
		delete(hdr, HeaderSkipLastActivity)
		delete(hdr, HeaderDisableCORS)
		delete(hdr, HeaderDaytonaPreviewToken)
		if d.setCookie {
			hdr[hCookie] = d.cookies // nil when none is left: no Cookie line is sent
		}
		hdr[HeaderDaytonaAuthorization] = d.runnerAuth
		hdr[hConnection] = d.connection // see forward
		u.Path = d.prefix + path
		req.RequestURI = "" // see forward
		h.serveNext(rw, req)
		return
	}
	serveMiss(h, rw, req, key, cr)
}

// forwardHit forwards a request whose decision was cached, the way
// ServeHTTP does for a plain request target.
func forwardHit(h *handler, rw http.ResponseWriter, req *http.Request, d *decision) {
	if refusedTarget(rw, req, nil) {
		return
	}
	if d.setCookie {
		req.Header[hCookie] = d.cookies
	}
	delete(req.Header, HeaderDaytonaPreviewToken)
	forward(h, rw, req, d, req.URL.Path, req.URL.RawPath)
}

// credentials are what a request presented, read (and removed where they
// must not reach the sandbox) by ServeHTTP, readCredentials and readCookie.
type credentials struct {
	bearer, previewToken, queryToken, cookie string
	// cookies is the Cookie header as sent: the toolbox route looks again.
	cookies []string
	// key and cookieKey are appended to the Host header to make the cache
	// key.
	key, cookieKey string
	// badQueryKey: the query key holds a control character (refused).
	badQueryKey bool
}

// controlChars are the bytes no credential may hold.
const controlChars = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// readCredentials takes the bearer token and the query key. The query work
// is in a function of its own, called only for a query: under Yaegi a call
// allocates a frame for every variable of the function called.
func readCredentials(hdr http.Header, u *url.URL) *credentials {
	cr := &credentials{}
	if v := hdr[hAuthorization]; len(v) != 0 && strings.HasPrefix(v[0], "Bearer ") {
		cr.bearer = v[0][len("Bearer "):]
		cr.key = "\x00b" + cr.bearer
	}
	if u.RawQuery != "" {
		readQueryKey(cr, u)
	}
	return cr
}

// readQueryKey removes the query key from the query textually (the rest
// keeps its order) and keeps its value.
func readQueryKey(cr *credentials, u *url.URL) {
	if !mayHoldQueryKey(u.RawQuery) {
		return
	}
	if tok, rest, found := takeQueryKey(u.RawQuery); found {
		u.RawQuery = rest
		if strings.ContainsAny(tok, controlChars) {
			// A decoded %00 would make the key ambiguous (its parts are
			// joined by NUL), a %0A an impossible header: serveMiss
			// refuses it, and no decision is cached under this key.
			cr.badQueryKey = true
			cr.key += "\x00!"
			return
		}
		cr.queryToken = tok
		cr.key += "\x00q" + tok
	}
}

// readCookie removes every cookie of ours from the request and keeps the
// value of the host's sandbox cookie. cr may be nil.
func readCookie(cr *credentials, req *http.Request, hdr http.Header, c []string) *credentials {
	if cr == nil {
		cr = &credentials{}
	}
	cr.cookies = c
	cr.cookie = takeCookies(hdr, hostSandbox(strings.ToLower(req.Host)))
	if cr.cookie != "" {
		cr.cookieKey = "\x00c" + cr.cookie
	}
	return cr
}

// refusedDotSegment answers 400 when path has a "." or ".." segment. In a
// path that starts with '/', a dot segment needs "/." or a backslash: file
// names with a dot (most of an app's assets) are told apart before
// hasDotSegment is called.
func refusedDotSegment(rw http.ResponseWriter, req *http.Request, path string) bool {
	if path != "" && path[0] == '/' && !strings.Contains(path, "/.") && strings.IndexByte(path, '\\') < 0 || !hasDotSegment(path) {
		return false
	}
	writeError(rw, req, http.StatusBadRequest, "bad request: path has a '.' or '..' segment")
	return true
}

// refuseTarget answers 400 to what serveMiss and forwardHit refuse: an
// opaque request target ("GET http:x:/sandboxes/other/... HTTP/1.1"; Go
// parses it with an empty Path, which a forward would rewrite, while a
// proxy that sends URL.RequestURI() would send the Opaque part as it is,
// with the runner key; Traefik refuses such targets itself since v3.7.13;
// ServeHTTP sends every request with an empty Path to one of the two) or
// a path that does not start with '/' (notAPath), or else a query key with
// a control character.
func refuseTarget(rw http.ResponseWriter, req *http.Request) {
	if req.URL.Opaque != "" || notAPath(req.URL.Path) {
		writeError(rw, req, http.StatusBadRequest, "bad request: the request target must be a path")
		return
	}
	writeError(rw, req, http.StatusBadRequest, "bad request: "+QueryAuthKey+" holds a control character")
}

// notAPath reports whether a request's path is neither empty (the target
// "http://host" in absolute form, forwarded as "/") nor starts with '/':
// "*" in "GET * HTTP/1.1" (Go's server answers only OPTIONS * itself).
func notAPath(p string) bool {
	return p != "" && p[0] != '/'
}

// rawCookieKey is the part of the cache key that ServeHTTP makes of the
// Cookie header lines as sent (HTTP/2 clients may split the header).
func rawCookieKey(c []string) string {
	if len(c) == 0 {
		return ""
	}
	return "\x00k" + strings.Join(c, "\x00k")
}

// target is where a request's decision is asked for.
type target struct {
	url     string // the resolver's base URL + the decision path (DecidePath + "/preview/{id}/{port}", ...)
	dgram   string // a datagram request's first lines: the secret and the decision path
	gateway bool   // the gateway route: its answers are never forwarded
}

// newTarget makes the target of a decision path.
func newTarget(c *resolverClient, path string, gateway bool) *target {
	return &target{url: c.base + path, dgram: c.secret[0] + "\n" + path + "\n", gateway: gateway}
}

// serveMiss is everything but a cache hit: the gateway host, and preview
// hosts whose decision is not cached. The host's target is remembered per
// Host header (h.targets), so that only the first request of a host pays
// for its parse. A request without a preview token or cookies, the common
// miss, stays here; the others go on in serveMissWith (under Yaegi every
// call allocates the whole frame of the function called).
func serveMiss(h *handler, rw http.ResponseWriter, req *http.Request, key string, cr *credentials) {
	// Checked inline: with the cache off every request is a miss. A path
	// that starts with '/' (in byte order, >= "/" and < "0") has no
	// Opaque part; refusedTarget looks closer at the others, and at
	// requests with credentials.
	u := req.URL
	if p := u.Path; p < "/" || p >= "0" || cr != nil {
		if refusedTarget(rw, req, cr) {
			return
		}
	}
	hdr := req.Header
	// The runner's credential is the plugin's alone: every client copy goes
	// (a forward overwrites it; other answers never reach a runner).
	delete(hdr, HeaderDaytonaAuthorization)
	var t *target
	if v, ok := h.targets.Load(req.Host); ok {
		t = v.(*target)
	} else if t = parseHost(h, req.Host); t == nil {
		writeError(rw, req, http.StatusBadRequest,
			"bad request: invalid preview host: expected {port}-{sandboxId}.{previewDomain} with a port from 1 to 65535")
		return
	}
	// One if each, not ||: an || holds its value in a slot.
	if t.gateway {
		serveMissWith(h, rw, req, key, cr, t)
		return
	}
	if hdr[HeaderDaytonaPreviewToken] != nil {
		serveMissWith(h, rw, req, key, cr, t)
		return
	}
	if hdr[hCookie] != nil {
		serveMissWith(h, rw, req, key, cr, t)
		return
	}
	if h.cache == nil {
		key = ""
	}
	// ask(), inlined: the gateway host is not served here.
	var d *decision
	if h.resolver.dgram != nil {
		d = askDgram(h, rw, req, t, cr, key)
	} else {
		d = askHTTP(h, rw, req, t, cr, key)
	}
	if d != nil {
		forward(h, rw, req, d, u.Path, u.RawPath)
	}
}

// refusedTarget answers 400 (refuseTarget) to a request serveMiss or
// forwardHit must not serve: an opaque target, a path that does not start
// with '/', a query key with a control character (cr may be nil).
func refusedTarget(rw http.ResponseWriter, req *http.Request, cr *credentials) bool {
	if req.URL.Opaque != "" || notAPath(req.URL.Path) || cr != nil && cr.badQueryKey {
		refuseTarget(rw, req)
		return true
	}
	return false
}

// serveMissWith is serveMiss for the gateway host and for requests with a
// preview token or cookies.
func serveMissWith(h *handler, rw http.ResponseWriter, req *http.Request, key string, cr *credentials, t *target) {
	hdr := req.Header
	if v := hdr[HeaderDaytonaPreviewToken]; len(v) != 0 {
		delete(hdr, HeaderDaytonaPreviewToken)
		if cr == nil {
			cr = &credentials{}
		}
		cr.previewToken = v[0]
	}
	// ServeHTTP keyed the Cookie header as sent. Its credential may have a
	// decision already, cached for another Cookie header: then that
	// decision is cached under this one too.
	rawKey := ""
	if c := hdr[hCookie]; len(c) != 0 {
		raw := rawCookieKey(c)
		cr = readCookie(cr, req, hdr, c)
		if h.cache != nil && !t.gateway {
			rawKey = key
			key = strings.Replace(key, raw, cr.cookieKey, 1)
			if d := h.cache.get(key); d != nil {
				storeAlias(h, rawKey, d, hdr[hCookie])
				forward(h, rw, req, d, req.URL.Path, req.URL.RawPath)
				return
			}
		}
	}
	if t.gateway {
		serveGateway(h, rw, req, cr)
		return
	}
	if h.cache == nil {
		key = ""
	}
	if d := ask(h, rw, req, t, cr, key); d != nil {
		if rawKey != "" {
			storeAlias(h, rawKey, d, hdr[hCookie])
		}
		forward(h, rw, req, d, req.URL.Path, req.URL.RawPath)
	}
}

// parseHost parses a Host header (and remembers the result): the gateway
// target for a gateway host, the preview target for a valid preview host,
// nil for anything else.
func parseHost(h *handler, raw string) *target {
	host := raw
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if _, ok := ParsePort(host[i+1:]); !ok {
			return nil
		}
		host = host[:i]
	}
	// A fully qualified name's trailing dot (Traefik's Host rule accepts it).
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	t := h.gatewayTarget
	if !h.gateway[host] {
		label := ""
		for _, s := range h.suffixes { // longest first
			if len(host) > len(s) && strings.HasSuffix(host, s) {
				label = host[:len(host)-len(s)]
				break
			}
		}
		port, id, ok := ParseLabel(label)
		if !ok {
			return nil
		}
		t = newTarget(h.resolver, DecidePath+"/"+RoutePreview+"/"+id+"/"+port, false)
	}
	// At the bound new hosts are parsed on each miss (a few us) rather
	// than the map emptied (a range and a delete per entry: ~30 ms under
	// Yaegi, in one request).
	if atomic.LoadInt64(&h.ntargets) < MaxTargets {
		atomic.AddInt64(&h.ntargets, 1)
		h.targets.Store(raw, t)
	}
	return t
}

// MaxTargets bounds the hosts whose parse a handler remembers; past it a
// host is parsed on each of its misses.
const MaxTargets = 10000

// serveGateway serves the gateway host: GET /health, the SDK's toolbox route
// /toolbox/{sandboxId}/{path}, and whatever the resolver answers for the rest.
func serveGateway(h *handler, rw http.ResponseWriter, req *http.Request, cr *credentials) {
	p := req.URL.Path
	if p == "/health" && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		if h.cache != nil && h.resolver.holdsSecret(req.Header[HeaderKey]) {
			writeCacheHealth(rw, h.cache.len(), atomic.LoadInt64(&h.cache.limit))
			return
		}
		writeHealth(rw)
		return
	}
	if !strings.HasPrefix(p, "/toolbox/") {
		if route, id, ok := BuildLogsRoute(p); ok && req.Method == http.MethodGet {
			serveBuildLogs(h, rw, req, cr, route, id)
			return
		}
		ask(h, rw, req, h.gatewayTarget, cr, "")
		return
	}
	rest := p[len("/toolbox/"):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		writeError(rw, req, http.StatusNotFound, "not found: expected /toolbox/{sandboxId}/{path}")
		return
	}
	id, tail := rest[:i], rest[i:]
	if !ValidSandboxID(id) {
		writeError(rw, req, http.StatusBadRequest, "bad request: invalid sandbox id")
		return
	}
	rawTail := ""
	if rp := req.URL.RawPath; rp != "" {
		pre := "/toolbox/" + id
		if !strings.HasPrefix(rp, pre+"/") {
			writeError(rw, req, http.StatusBadRequest, "bad request: invalid sandbox id")
			return
		}
		rawTail = rp[len(pre):]
	}
	// The cookie for a toolbox request is the one named after the path's
	// sandbox: readCookie looked for the host's and removed ours, so look
	// again in the Cookie header as sent.
	tc := credentials{}
	if cr != nil {
		tc = *cr
	}
	if len(tc.cookies) != 0 {
		req.Header[hCookie] = tc.cookies
		tc.cookie = takeCookies(req.Header, id)
	}

	key := ""
	var d *decision
	if h.cache != nil {
		key = "/toolbox/" + id + "\x00" + tc.bearer + "\x00" + tc.previewToken + "\x00" + tc.queryToken + "\x00" + tc.cookie
		d = h.cache.get(key)
	}
	if d == nil {
		if d = ask(h, rw, req, newTarget(h.resolver, DecidePath+"/"+RouteToolbox+"/"+id, false), &tc, key); d == nil {
			return
		}
	}
	// A toolbox stream (a command's log with follow=true, an event stream)
	// stays open as long as the SDK reads it, with no other request: its
	// sandbox's activity is reported every activityRepeat meanwhile, as
	// Daytona's proxy does for every open request (an upgrade has its own,
	// in forward).
	if h.activityRepeat > 0 && len(req.Header[hConnection]) == 0 && toolboxStream(req) && !skipsActivity(req.Header) {
		defer keepActive(h, id)()
	}
	forward(h, rw, req, d, tail, rawTail)
}

// toolboxStream reports whether a toolbox request asks for a stream:
// follow=true in the query (a session command's log), or an event stream.
func toolboxStream(req *http.Request) bool {
	if v := req.Header["Accept"]; len(v) == 1 && v[0] == "text/event-stream" {
		return true
	}
	return req.URL.RawQuery != "" && req.URL.Query().Get("follow") == "true"
}

// serveBuildLogs serves GET /sandboxes/{id}/build-logs and GET
// /snapshots/{id}/build-logs on the gateway host: the resolver checks the
// user's bearer token with the API and names the runner and the snapshot
// ref; the request goes to the runner's BuildLogsPath with the client's
// query and snapshotRef set to that ref (a client's own snapshotRef is
// replaced: Daytona's proxy adds the ref after it, and the runner reads the
// first). Never cached, always over HTTP.
func serveBuildLogs(h *handler, rw http.ResponseWriter, req *http.Request, cr *credentials, route, id string) {
	q, _ := url.ParseQuery(req.URL.RawQuery) // malformed pairs are dropped, as Daytona's URL.Query() does
	resp, err := decide(h.resolver, req, newTarget(h.resolver, DecidePath+"/"+route+"/"+id, true), cr)
	if err != nil {
		resolverFailed(rw, req, err)
		return
	}
	rh := resp.Header
	auth, prefix, runner, ref := rh[HeaderRunnerKey], rh[HeaderPrefix], rh[HeaderRunner], rh[HeaderSnapshotRef]
	if v := rh[HeaderDecision]; len(v) != 1 || v[0] != DecisionForward || resp.StatusCode != http.StatusOK ||
		len(auth) != 1 || auth[0] == "" || len(prefix) != 1 || prefix[0] != BuildLogsPath ||
		len(ref) != 1 || ref[0] == "" || len(runner) > 1 || h.runners && (len(runner) == 0 || runner[0] == "") {
		resolverAnswered(rw, req, resp)
		return
	}
	resp.Body.Close()
	d := &decision{runnerAuth: auth, prefix: "/snapshots", stripAuth: true}
	if h.runners {
		d.connection = []string{RunnerConnectionToken(runner[0])}
	}
	q.Set("snapshotRef", ref[0])
	req.URL.RawQuery = q.Encode()
	forward(h, rw, req, d, "/logs", "")
}

// forward rewrites the request toward the runner and hands it to Traefik.
func forward(h *handler, rw http.ResponseWriter, req *http.Request, d *decision, path, rawPath string) {
	hdr := req.Header
	// Deletes first (see ServeHTTP); the skip flag after upgrade has read it.
	if d.stripAuth {
		delete(hdr, hAuthorization)
	}
	delete(hdr, HeaderDisableCORS)
	hdr[HeaderDaytonaAuthorization] = d.runnerAuth
	// The runner is named for Traefik's child routers by a token in the
	// Connection header (RunnerToken): hop-by-hop, Traefik's proxy drops it
	// after routing, so it never reaches the runner, with no middleware to
	// delete it. Traefik's entry point has already applied the client's own
	// Connection header; what it left (Upgrade, for a WebSocket) stays. In
	// direct routing d.connection is nil: no value is sent.
	long := false
	if conn := hdr[hConnection]; conn == nil {
		hdr[hConnection] = d.connection
	} else {
		long = upgrade(h, hdr, conn, d)
	}
	delete(hdr, HeaderSkipLastActivity)
	if path == "" {
		path = "/"
	}
	u := req.URL
	u.Path = d.prefix + path
	u.RawPath = ""
	if rawPath != "" {
		u.RawPath = d.prefix + rawPath
	}
	// Traefik's proxy takes the request target from RequestURI when it is
	// set, and from the URL when it is empty: empty, the URL rewritten here
	// is the one target (and the client's, with the query key, is gone).
	req.RequestURI = ""
	if long {
		serveOpen(h, rw, req, d)
		return
	}
	h.serveNext(rw, req)
}

// upgrade adds the runner's token to the Connection header of a request
// that has one (an upgrade), and reports whether the request stays open
// with activity reports (serveOpen). A function of its own: under Yaegi
// forward's frame would hold its slots on every request. The header is
// rewritten a token a line, without any token that names a runner
// (Traefik's entry point keeps a client's Connection tokens when its
// forwardedHeaders.connection lists them): the child routers must see one
// runner, the plugin's.
func upgrade(h *handler, hdr http.Header, conn []string, d *decision) bool {
	var kept []string
	for _, line := range conn {
		for _, tok := range strings.Split(line, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !strings.HasPrefix(strings.ToLower(tok), RunnerToken) {
				kept = append(kept, tok)
			}
		}
	}
	hdr[hConnection] = append(kept, d.connection...)
	return h.activityRepeat > 0 && !skipsActivity(hdr)
}

// skipsActivity reports whether the client asked for no activity update
// (X-Daytona-Skip-Last-Activity-Update: true).
func skipsActivity(hdr http.Header) bool {
	v := hdr[HeaderSkipLastActivity]
	return len(v) != 0 && v[0] == "true"
}

// serveOpen forwards a request that upgrades its connection (a
// WebSocket). Traefik's proxy returns when the connection closes; until
// then the sandbox's activity is reported every activityRepeat, as
// Daytona's proxy does: a terminal in use sends no new request, and
// auto-stop would stop its sandbox.
func serveOpen(h *handler, rw http.ResponseWriter, req *http.Request, d *decision) {
	rest := strings.TrimPrefix(d.prefix, "/sandboxes/")
	if rest == d.prefix { // a build-log route's: no sandbox to report
		h.serveNext(rw, req)
		return
	}
	sandbox, _, _ := strings.Cut(rest, "/")
	defer keepActive(h, sandbox)() // stopped also when the proxy panics (Traefik recovers it)
	h.serveNext(rw, req)
}

// keepActive reports the sandbox's activity every activityRepeat until
// the function it returns is called.
func keepActive(h *handler, sandbox string) func() {
	done := make(chan struct{})
	go repeatActivity(h, sandbox, done)
	return func() { close(done) }
}

func repeatActivity(h *handler, sandbox string, done chan struct{}) {
	t := time.NewTicker(h.activityRepeat)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			reportActivity(h.resolver, sandbox)
		}
	}
}

// ask gets a decision from the resolver. It returns the forward decision
// (cached under key when key is not empty), or nil after it has answered
// the client itself. The forward case is kept short; the others are in
// functions of their own (a Yaegi call allocates its whole frame).
func ask(h *handler, rw http.ResponseWriter, req *http.Request, t *target, cr *credentials, key string) *decision {
	if h.resolver.dgram != nil && !t.gateway {
		return askDgram(h, rw, req, t, cr, key)
	}
	return askHTTP(h, rw, req, t, cr, key)
}

// askDgram asks over the datagram socket; anything but a forward decision
// is asked for again over HTTP.
func askDgram(h *handler, rw http.ResponseWriter, req *http.Request, t *target, cr *credentials, key string) *decision {
	f, err := decideDgram(h.resolver.dgram, req, t, cr)
	if err != nil {
		resolverFailed(rw, req, err)
		return nil
	}
	if len(f) != 6 || f[0] != DecisionForward {
		return askHTTP(h, rw, req, t, cr, key)
	}
	d := newDecision(h, f[2], f[3], f[1], f[4] == "1")
	if d == nil {
		resolverAnswered(rw, req, nil)
		return nil
	}
	if key != "" {
		store(h, key, d, f[5])
	}
	return d
}

// askHTTP asks over HTTP.
func askHTTP(h *handler, rw http.ResponseWriter, req *http.Request, t *target, cr *credentials, key string) *decision {
	resp, err := decide(h.resolver, req, t, cr)
	if err != nil {
		resolverFailed(rw, req, err)
		return nil
	}
	rh := resp.Header
	if v := rh[HeaderDecision]; len(v) == 1 && v[0] == DecisionForward && resp.StatusCode == http.StatusOK && !t.gateway {
		resp.Body.Close() // a forward decision has no body
		auth, prefix, runner, ttl := rh[HeaderRunnerKey], rh[HeaderPrefix], rh[HeaderRunner], rh[HeaderTTL]
		var d *decision
		if len(auth) == 1 && len(prefix) == 1 && len(runner) <= 1 {
			r := ""
			if len(runner) == 1 {
				r = runner[0]
			}
			v := rh[HeaderStripAuth]
			d = newDecision(h, auth[0], prefix[0], r, len(v) == 1 && v[0] == "1")
		}
		if d == nil {
			resolverAnswered(rw, req, nil)
			return nil
		}
		if key != "" && len(ttl) == 1 {
			store(h, key, d, ttl[0])
		}
		return d
	}
	resolverAnswered(rw, req, resp)
	return nil
}

// newDecision checks a forward decision: it needs the runner key and a
// prefix under /sandboxes/, and the runner id when routing by runner. It
// returns nil for an incomplete one. (Written for Yaegi: with the cache
// off it runs for every request. In byte order, the strings that start
// with "/sandboxes/" are those from "/sandboxes/" up to "/sandboxes0",
// '0' being the byte after '/': two comparisons, no call.)
func newDecision(h *handler, auth, prefix, runner string, stripAuth bool) *decision {
	if auth == "" {
		return nil
	}
	if prefix < "/sandboxes/" {
		return nil
	}
	if prefix >= "/sandboxes0" {
		return nil
	}
	if strings.HasSuffix(prefix, "/") {
		return nil
	}
	d := &decision{runnerAuth: []string{auth}, prefix: prefix, stripAuth: stripAuth}
	if h.runners {
		if runner == "" {
			return nil
		}
		// RunnerConnectionToken, inlined: with the cache off this runs
		// for every request, and an interpreted call allocates a frame.
		d.connection = []string{http.CanonicalHeaderKey(RunnerToken + runner)}
	}
	return d
}

// resolverFailed answers when no decision came: nothing is forwarded.
func resolverFailed(rw http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() != nil {
		return // the client has gone; nothing to answer
	}
	if os.IsTimeout(err) {
		writeError(rw, req, http.StatusServiceUnavailable, "service unavailable: the preview gateway's resolver did not answer in time")
		return
	}
	writeError(rw, req, http.StatusServiceUnavailable, "service unavailable: the preview gateway's resolver is unreachable")
}

// resolverAnswered passes a "respond" decision on to the client; a 431
// from the resolver's server (the credentials did not fit its header
// limit) is the client's 431; anything else (resp nil: an incomplete
// forward) is a 502.
func resolverAnswered(rw http.ResponseWriter, req *http.Request, resp *http.Response) {
	if resp != nil {
		defer resp.Body.Close()
		if v := resp.Header[HeaderDecision]; len(v) == 1 && v[0] == DecisionRespond {
			respond(rw, resp)
			return
		}
		if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
			writeError(rw, req, http.StatusRequestHeaderFieldsTooLarge,
				"request header fields too large: the request's credentials are too long")
			return
		}
	}
	writeError(rw, req, http.StatusBadGateway, "bad gateway: the preview gateway's resolver gave no valid decision")
}

// store caches d under key for ttl, the whole seconds the resolver gave,
// capped by cacheMaxTTL; without a TTL nothing is cached.
func store(h *handler, key string, d *decision, ttl string) {
	secs, err := strconv.Atoi(ttl)
	if err != nil || secs <= 0 || len(key) > MaxCacheKey {
		return
	}
	t := h.maxTTL
	if int64(secs) <= t/int64(time.Second) {
		t = int64(secs) * int64(time.Second) // at most maxTTL: no overflow
	}
	now := time.Now().UnixNano()
	d.expires = now + t
	h.cache.put(key, d, now)
}

// MaxCacheKey bounds a cache key: the Host header and the credentials (or
// the Cookie header) as sent. The cache bounds its entries, not their
// size: without this, a client could fill it with decisions for a public
// sandbox keyed by megabytes of made-up credentials. A request with a
// longer key still works; it is not cached (a browser's long Cookie header
// still finds its cookie's decision).
const MaxCacheKey = 4096

// storeAlias caches a copy of the cached decision d under key, a Cookie
// header as sent, with the header that is left once our cookies are
// removed; it expires with d.
func storeAlias(h *handler, key string, d *decision, cookies []string) {
	if d.expires == 0 || len(key) > MaxCacheKey {
		return // d was not cached, or the Cookie header is too long to key
	}
	a := *d
	a.setCookie = true
	a.cookies = cookies[:len(cookies):len(cookies)]
	h.cache.put(key, &a, time.Now().UnixNano())
}

// respond copies the resolver's answer to the client.
func respond(rw http.ResponseWriter, resp *http.Response) {
	dst := rw.Header()
	for k, vv := range resp.Header {
		if strings.HasPrefix(k, "X-Previewgate-") || hopByHop[k] {
			continue
		}
		dst[k] = vv
	}
	rw.WriteHeader(resp.StatusCode)
	io.Copy(rw, io.LimitReader(resp.Body, 1<<20))
}

var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Content-Length": true,
}

// hostSandbox is the sandbox part of a preview host's first label, without
// validation (it only names the cookie to look for).
func hostSandbox(host string) string {
	if i := strings.IndexByte(host, '.'); i >= 0 {
		host = host[:i]
	}
	if i := strings.IndexByte(host, '-'); i >= 0 {
		return host[i+1:]
	}
	return ""
}
