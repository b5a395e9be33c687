package plugin

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Canonical header keys, used as map keys directly (no canonicalisation per
// request).
const (
	hAuthorization = "Authorization"
	hCookie        = "Cookie"
)

type handler struct {
	next         http.Handler
	name         string
	suffixes     []string        // "." + preview domain
	gateway      map[string]bool // gateway host names
	resolver     *resolverClient
	cache        *decisionCache // nil: caching off
	maxTTL       int64          // nanoseconds
	runnerHeader string         // canonical; "" in direct routing
	setRunner    bool           // runnerHeader != ""
	// runnerHeaderOrDefault is deleted from every request: the runner
	// header, or in direct routing the default name (so that no client
	// copy reaches a sandbox).
	runnerHeaderOrDefault string
}

// ServeHTTP is the per-request path, written for Yaegi: every statement
// costs, a call into an interpreted method costs more, and every call
// allocates a frame sized by ALL the variables of the function called,
// executed or not. So ServeHTTP holds only the cache-hit path, with few
// variables: no parsing of the host (it was validated before its decision
// was cached; the key is the Host header as sent), the credentials read by
// a plain function only when the request has any, everything else in
// serveMiss.
func (h *handler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	hdr := req.Header
	u := req.URL
	var cr *credentials
	key := req.Host
	if hdr[hAuthorization] != nil || u.RawQuery != "" {
		cr = readCredentials(req, hdr, u)
		key += cr.key
	}
	if c := hdr[hCookie]; c != nil {
		cr = readCookie(cr, req, hdr, c)
		key += cr.cookieKey
	}
	// The preview token, the SDK's credential, is read here: a call costs.
	if v := hdr[HeaderDaytonaPreviewToken]; v != nil {
		delete(hdr, HeaderDaytonaPreviewToken)
		key += "\x00p" + v[0]
		if cr == nil {
			cr = &credentials{}
		}
		cr.previewToken = v[0]
	}
	path := u.Path
	if strings.ContainsAny(path, ".\\") && hasDotSegment(path) {
		writeError(rw, req, http.StatusBadRequest, "bad request: path has a '.' or '..' segment")
		return
	}
	if h.cache != nil && path != "" { // an empty path (absolute form) is forward()'s
		if v, ok := h.cache.m.Load(key); ok {
			// Expired decisions are removed by the cache's sweeper. What
			// follows is forward(), inlined: a call costs under Yaegi.
			d := v.(*decision)
			hdr[HeaderDaytonaAuthorization] = d.runnerAuth
			if h.setRunner {
				hdr[h.runnerHeader] = d.runner
			} else {
				delete(hdr, DefaultRunnerHeader)
			}
			if d.stripAuth {
				delete(hdr, hAuthorization)
			}
			delete(hdr, HeaderSkipLastActivity)
			u.Path = d.prefix + path
			if u.RawPath != "" {
				u.RawPath = d.prefix + u.RawPath
			}
			// Traefik's proxy forwards RequestURI.
			req.RequestURI = u.RequestURI()
			h.next.ServeHTTP(rw, req)
			return
		}
	}
	serveMiss(h, rw, req, key, cr)
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
}

// readCredentials takes the bearer token and the query key. The query work
// is in a function of its own, called only for a query: under Yaegi a call
// allocates a frame for every variable of the function called.
func readCredentials(req *http.Request, hdr http.Header, u *url.URL) *credentials {
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
	raw := u.RawQuery
	if !strings.Contains(raw, QueryAuthKey) && strings.IndexByte(raw, '%') < 0 {
		return
	}
	if tok, rest, found := takeQueryKey(raw); found {
		cr.queryToken = tok
		u.RawQuery = rest
		cr.key += "\x00q" + tok
	}
}

// readCookie removes every cookie of ours from the request and keeps the
// value of the host's sandbox cookie. cr may be nil. Browsers send the same
// Cookie header again and again, so its parse is remembered (it depends on
// the host and the header only); parseCookie does the first one.
func readCookie(cr *credentials, req *http.Request, hdr http.Header, c []string) *credentials {
	if cr == nil {
		cr = &credentials{}
	}
	cr.cookies = c
	if len(c) == 1 {
		if v, ok := cookieParses.Load(req.Host + "\x00" + c[0]); ok {
			p := v.(*cookieParse)
			hdr[hCookie] = p.kept // nil when none is left: no Cookie line is sent
			cr.cookie, cr.cookieKey = p.value, p.key
			return cr
		}
	}
	parseCookie(cr, req, hdr)
	return cr
}

// parseCookie is readCookie's first look at a Cookie header.
func parseCookie(cr *credentials, req *http.Request, hdr http.Header) {
	c := cr.cookies
	if len(c) == 1 && !strings.Contains(c[0], "daytona-") && !strings.Contains(c[0], cookiePKCE) {
		rememberCookieParse(req.Host+"\x00"+c[0], &cookieParse{kept: c[:1:1]})
		return
	}
	cr.cookie = takeCookies(hdr, hostSandbox(strings.ToLower(req.Host)))
	cr.cookieKey = "\x00c" + cr.cookie
	if len(c) == 1 {
		kept := hdr[hCookie]
		rememberCookieParse(req.Host+"\x00"+c[0], &cookieParse{value: cr.cookie, key: cr.cookieKey, kept: kept[:len(kept):len(kept)]})
	}
}

// serveMiss is everything but a cache hit: the gateway host, and preview
// hosts whose decision is not cached.
func serveMiss(h *handler, rw http.ResponseWriter, req *http.Request, key string, cr *credentials) {
	if cr == nil {
		cr = &credentials{}
	}
	// The runner header and its credential are the plugin's alone: every
	// client copy goes (a forward overwrites them, other answers never
	// reach a runner, but direct routing sets no runner header).
	delete(req.Header, HeaderDaytonaAuthorization)
	delete(req.Header, h.runnerHeaderOrDefault)

	host := req.Host
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.ToLower(host)
	q := &query{route: RoutePreview, bearer: cr.bearer, previewToken: cr.previewToken, queryToken: cr.queryToken, cookie: cr.cookie}
	if h.gateway[host] {
		serveGateway(h, rw, req, q, cr.cookies)
		return
	}

	label := ""
	for _, s := range h.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			label = host[:len(host)-len(s)]
			break
		}
	}
	port, id, ok := ParseLabel(label)
	if !ok {
		writeError(rw, req, http.StatusBadRequest,
			"bad request: invalid preview host: expected {port}-{sandboxId}.{previewDomain} with a port from 1 to 65535")
		return
	}
	q.sandbox, q.port = id, port
	if h.cache == nil {
		key = ""
	}
	d := ask(h, rw, req, q, key)
	if d != nil {
		forward(h, rw, req, d, req.URL.Path, req.URL.RawPath)
	}
}

// serveGateway serves the gateway host: GET /health, the SDK's toolbox route
// /toolbox/{sandboxId}/{path}, and whatever the resolver answers for the rest.
func serveGateway(h *handler, rw http.ResponseWriter, req *http.Request, q *query, cookies []string) {
	q.route = RouteGateway
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
		ask(h, rw, req, q, "")
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
	// sandbox: ServeHTTP looked for the host's and removed ours, so look
	// again in the Cookie header as sent.
	if len(cookies) != 0 {
		req.Header[hCookie] = cookies
		q.cookie = takeCookies(req.Header, id)
	}
	q.route, q.sandbox = RouteToolbox, id

	key := ""
	if h.cache != nil {
		key = "/toolbox/" + id + "\x00" + q.bearer + "\x00" + q.previewToken + "\x00" + q.queryToken + "\x00" + q.cookie
		if d := h.cache.get(key); d != nil {
			forward(h, rw, req, d, tail, rawTail)
			return
		}
	}
	if d := ask(h, rw, req, q, key); d != nil {
		forward(h, rw, req, d, tail, rawTail)
	}
}

// forward rewrites the request toward the runner and hands it to Traefik.
// Traefik's proxy reads RequestURI, so it is rewritten with the path.
func forward(h *handler, rw http.ResponseWriter, req *http.Request, d *decision, path, rawPath string) {
	hdr := req.Header
	hdr[HeaderDaytonaAuthorization] = d.runnerAuth
	if h.setRunner {
		hdr[h.runnerHeader] = d.runner
	}
	if d.stripAuth {
		delete(hdr, hAuthorization)
	}
	delete(hdr, HeaderSkipLastActivity)
	if path == "" {
		path = "/"
	}
	u := req.URL
	u.Path = d.prefix + path
	if rawPath != "" {
		u.RawPath = d.prefix + rawPath
	} else {
		u.RawPath = ""
	}
	req.RequestURI = u.RequestURI()
	h.next.ServeHTTP(rw, req)
}

// ask gets a decision from the resolver. It returns the forward decision
// (cached under key when key is not empty), or nil after it has answered
// the client itself. The forward case is kept short; the others are in
// functions of their own (a Yaegi call allocates its whole frame).
func ask(h *handler, rw http.ResponseWriter, req *http.Request, q *query, key string) *decision {
	if v := req.Header[HeaderSkipLastActivity]; len(v) != 0 && v[0] == "true" {
		q.skipActivity = true
	}
	resp, err := decide(h.resolver, req, q)
	if err != nil {
		resolverFailed(rw, req, err)
		return nil
	}
	rh := resp.Header
	if v := rh[HeaderDecision]; len(v) == 1 && v[0] == DecisionForward && resp.StatusCode == http.StatusOK && q.route != RouteGateway {
		resp.Body.Close() // a forward decision has no body
		// A forward decision needs the runner key and a prefix under
		// /sandboxes/, and the runner id when routing by runner.
		auth, prefix, runner := rh[HeaderRunnerKey], rh[HeaderPrefix], rh[HeaderRunner]
		if len(auth) == 1 && auth[0] != "" && len(prefix) == 1 && strings.HasPrefix(prefix[0], "/sandboxes/") && !strings.HasSuffix(prefix[0], "/") &&
			(!h.setRunner || len(runner) == 1 && runner[0] != "") {
			d := &decision{runnerAuth: auth[:1:1], prefix: prefix[0], runner: runner}
			if v := rh[HeaderStripAuth]; len(v) == 1 && v[0] == "1" {
				d.stripAuth = true
			}
			if key != "" {
				store(h, key, d, rh[HeaderTTL])
			}
			return d
		}
		resolverAnswered(rw, req, nil)
		return nil
	}
	resolverAnswered(rw, req, resp)
	return nil
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

// resolverAnswered passes a "respond" decision on to the client; anything
// else (resp nil: an incomplete forward) is a 502.
func resolverAnswered(rw http.ResponseWriter, req *http.Request, resp *http.Response) {
	if resp != nil {
		defer resp.Body.Close()
		if v := resp.Header[HeaderDecision]; len(v) == 1 && v[0] == DecisionRespond {
			respond(rw, resp)
			return
		}
	}
	writeError(rw, req, http.StatusBadGateway, "bad gateway: the preview gateway's resolver gave no valid decision")
}

// store caches d under key for the TTL the resolver gave, capped by
// cacheMaxTTL; without a TTL nothing is cached.
func store(h *handler, key string, d *decision, ttlValues []string) {
	if len(ttlValues) == 0 {
		return
	}
	secs, err := strconv.Atoi(ttlValues[0])
	if err != nil || secs <= 0 {
		return
	}
	t := int64(secs) * int64(time.Second)
	if t > h.maxTTL {
		t = h.maxTTL
	}
	now := time.Now().UnixNano()
	d.expires = now + t
	h.cache.put(key, d, now)
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
