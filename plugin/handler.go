package plugin

import (
	"io"
	"net/http"
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

// ServeHTTP is the per-request path. It is written for Yaegi, where every
// statement and every call costs: a cache hit on a preview host is one
// function with no calls into interpreted functions or methods, a few
// compiled calls, and no parsing of the host (the host was validated
// before its decision was cached, and the key is the Host header as sent).
func (h *handler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	hdr := req.Header
	u := req.URL
	path := u.Path
	if strings.Contains(path, "/.") || strings.IndexByte(path, '\\') >= 0 {
		if hasDotSegment(path) {
			writeError(rw, req, http.StatusBadRequest, "bad request: path has a '.' or '..' segment")
			return
		}
	}

	// The credentials, and the cache key: the Host header as sent plus
	// every credential presented.
	key := req.Host
	bearer, previewToken, queryToken, cookie := "", "", "", ""
	queryChanged := false
	if v := hdr[hAuthorization]; len(v) != 0 && strings.HasPrefix(v[0], "Bearer ") {
		bearer = v[0][len("Bearer "):]
		key += "\x00b" + bearer
	}
	if v := hdr[HeaderDaytonaPreviewToken]; len(v) != 0 {
		previewToken = v[0]
		delete(hdr, HeaderDaytonaPreviewToken)
		key += "\x00p" + previewToken
	}
	if raw := u.RawQuery; raw != "" && (strings.Contains(raw, QueryAuthKey) || strings.IndexByte(raw, '%') >= 0) {
		if tok, rest, found := takeQueryKey(raw); found {
			queryToken, queryChanged = tok, true
			u.RawQuery = rest
			key += "\x00q" + queryToken
		}
	}
	cookies := hdr[hCookie] // as sent: the toolbox route looks again
	if len(cookies) != 0 && (len(cookies) > 1 || strings.Contains(cookies[0], "daytona-") || strings.Contains(cookies[0], cookiePKCE)) {
		cookie = takeCookies(hdr, hostSandbox(strings.ToLower(req.Host)))
		key += "\x00c" + cookie
	}

	if c := h.cache; c != nil {
		if v, ok := c.m.Load(key); ok {
			// Expired decisions are removed by the cache's sweeper.
			d := v.(*decision)
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
			raw := u.RawPath
			u.Path = d.prefix + path
			p := path
			if raw != "" {
				u.RawPath = d.prefix + raw
				p = raw
			}
			// Traefik's proxy reads RequestURI. When it still holds the
			// path as sent (origin form, query untouched), prefixing it
			// is the rewrite; otherwise it is rebuilt.
			ruri := req.RequestURI
			if !queryChanged && strings.HasPrefix(ruri, p) && (len(ruri) == len(p) || ruri[len(p)] == '?') {
				req.RequestURI = d.prefix + ruri
			} else {
				req.RequestURI = u.RequestURI()
			}
			h.next.ServeHTTP(rw, req)
			return
		}
	}
	h.serveMiss(rw, req, key, bearer, previewToken, queryToken, cookie, cookies)
}

// serveMiss is everything but a cache hit: the gateway host, and preview
// hosts whose decision is not cached.
func (h *handler) serveMiss(rw http.ResponseWriter, req *http.Request, key, bearer, previewToken, queryToken, cookie string, cookies []string) {
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
	q := &query{route: RoutePreview, bearer: bearer, previewToken: previewToken, queryToken: queryToken, cookie: cookie}
	if h.gateway[host] {
		h.serveGateway(rw, req, q, cookies)
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
	d := h.ask(rw, req, q, key)
	if d != nil {
		h.forward(rw, req, d, req.URL.Path, req.URL.RawPath)
	}
}

// serveGateway serves the gateway host: GET /health, the SDK's toolbox route
// /toolbox/{sandboxId}/{path}, and whatever the resolver answers for the rest.
func (h *handler) serveGateway(rw http.ResponseWriter, req *http.Request, q *query, cookies []string) {
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
		h.ask(rw, req, q, "")
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
			h.forward(rw, req, d, tail, rawTail)
			return
		}
	}
	if d := h.ask(rw, req, q, key); d != nil {
		h.forward(rw, req, d, tail, rawTail)
	}
}

// forward rewrites the request toward the runner and hands it to Traefik.
// Traefik's proxy reads RequestURI, so it is rewritten with the path.
func (h *handler) forward(rw http.ResponseWriter, req *http.Request, d *decision, path, rawPath string) {
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
// the client itself.
func (h *handler) ask(rw http.ResponseWriter, req *http.Request, q *query, key string) *decision {
	if v := req.Header[HeaderSkipLastActivity]; len(v) != 0 && v[0] == "true" {
		q.skipActivity = true
	}
	resp, err := h.resolver.decide(req, q)
	if err != nil {
		if req.Context().Err() != nil {
			return nil // the client has gone; nothing to answer
		}
		// Fail closed: nothing is forwarded without a decision.
		if os.IsTimeout(err) {
			writeError(rw, req, http.StatusServiceUnavailable, "service unavailable: the preview gateway's resolver did not answer in time")
		} else {
			writeError(rw, req, http.StatusServiceUnavailable, "service unavailable: the preview gateway's resolver is unreachable")
		}
		return nil
	}
	defer resp.Body.Close()

	switch resp.Header.Get(HeaderDecision) {
	case DecisionRespond:
		respond(rw, resp)
		return nil
	case DecisionForward:
		if resp.StatusCode == http.StatusOK && q.route != RouteGateway {
			if d := decisionFrom(resp.Header, h.runnerHeader != ""); d != nil {
				if key != "" {
					h.store(key, d, resp.Header.Get(HeaderTTL))
				}
				return d
			}
		}
	}
	writeError(rw, req, http.StatusBadGateway, "bad gateway: the preview gateway's resolver gave no valid decision")
	return nil
}

// decisionFrom reads a forward decision; nil if a required field is missing.
func decisionFrom(h http.Header, needRunner bool) *decision {
	auth := h.Get(HeaderRunnerKey)
	prefix := h.Get(HeaderPrefix)
	runner := h.Get(HeaderRunner)
	if auth == "" || !strings.HasPrefix(prefix, "/sandboxes/") || (needRunner && runner == "") {
		return nil
	}
	return &decision{
		runner:     []string{runner},
		runnerAuth: []string{auth},
		prefix:     strings.TrimRight(prefix, "/"),
		stripAuth:  h.Get(HeaderStripAuth) == "1",
	}
}

func (h *handler) store(key string, d *decision, ttl string) {
	secs, err := strconv.Atoi(ttl)
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
