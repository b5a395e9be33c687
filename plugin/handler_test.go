package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "test-secret-0123456789abcdef"

// fakeResolver speaks the resolver's side of the contract from a table.
type fakeResolver struct {
	mu    sync.Mutex
	calls []http.Header
	// answer decides from the request headers; nil means a default forward.
	answer func(w http.ResponseWriter, r *http.Request)
}

// The decision target, from the request path, is recorded in these
// test-only pseudo headers beside the real ones.
const (
	tRoute   = "Test-Route"
	tSandbox = "Test-Sandbox"
	tPort    = "Test-Port"
)

func (f *fakeResolver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route, sandbox, port, ok := DecideTarget(r.URL.EscapedPath())
	r.Header.Set(tRoute, route)
	r.Header.Set(tSandbox, sandbox)
	r.Header.Set(tPort, port)
	f.mu.Lock()
	f.calls = append(f.calls, r.Header.Clone())
	f.mu.Unlock()
	if !ok || r.Header.Get(HeaderKey) != testSecret {
		http.Error(w, "no", http.StatusUnauthorized)
		return
	}
	if f.answer != nil {
		f.answer(w, r)
		return
	}
	forwardAnswer(w, r, "10")
}

func (f *fakeResolver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeResolver) last() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

func forwardAnswer(w http.ResponseWriter, r *http.Request, ttl string) {
	h := w.Header()
	id := r.Header.Get(tSandbox)
	h.Set(HeaderDecision, DecisionForward)
	h.Set(HeaderRunner, "runner-"+id)
	h.Set(HeaderRunnerKey, "Bearer key-"+id)
	if r.Header.Get(tRoute) == RouteToolbox {
		h.Set(HeaderPrefix, "/sandboxes/"+id+"/toolbox")
	} else {
		h.Set(HeaderPrefix, "/sandboxes/"+id+"/toolbox/proxy/"+r.Header.Get(tPort))
	}
	if r.Header.Get(HeaderBearer) != "" {
		h.Set(HeaderStripAuth, "1")
	}
	h.Set(HeaderTTL, ttl)
}

// seen is what the next handler (Traefik's proxy) received last; tests
// that serve concurrently read it only after they all returned.
type seen struct {
	mu        sync.Mutex
	called    bool
	path, raw string
	// target is the request target Traefik's proxy sends the runner.
	target string
	header http.Header
}

// forwardedTarget is the request target Traefik's proxy makes of r
// (rewriteRequestBuilder in Traefik's pkg/proxy/httputil, and its fast
// proxy alike): RequestURI parsed when set, else the URL.
func forwardedTarget(r *http.Request) string {
	u := r.URL
	if r.RequestURI != "" {
		if p, err := url.ParseRequestURI(r.RequestURI); err == nil {
			u = p
		}
	}
	out := url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return out.RequestURI()
}

func newTestHandler(t *testing.T, f *fakeResolver, mutate func(*Config)) (http.Handler, *seen, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s := &seen{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.called = true
		// One assignment each: Yaegi v0.16.1 loses the other values of a
		// parallel assignment that holds a call.
		s.path = r.URL.Path
		s.raw = r.URL.RawPath
		s.target = forwardedTarget(r)
		s.header = r.Header.Clone()
		s.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})
	cfg := CreateConfig()
	cfg.PreviewDomains = []string{"preview.test", "Localhost"}
	cfg.ResolverURL = srv.URL
	cfg.ResolverSecret = testSecret
	if mutate != nil {
		mutate(cfg)
	}
	h, err := New(context.Background(), next, cfg, t.Name())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, s, srv
}

// serve serves a request the way Traefik hands it to a plugin: the request
// target in origin form (Traefik's sanitizePath sets RequestURI from the
// URL).
func serve(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RequestURI = req.URL.RequestURI()
	for k, v := range header {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestForwardRewritesTowardTheRunner(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	rec := serve(h, "POST", "http://3000-demo.preview.test:8000/a%2Fb/c?x=1&y=%2F", map[string]string{
		HeaderDaytonaAuthorization: "Bearer spoofed",
		HeaderSkipLastActivity:     "true",
	})
	if rec.Code != http.StatusTeapot || !s.called {
		t.Fatalf("status %d, next called %v", rec.Code, s.called)
	}
	if s.path != "/sandboxes/demo/toolbox/proxy/3000/a/b/c" || s.raw != "/sandboxes/demo/toolbox/proxy/3000/a%2Fb/c" {
		t.Errorf("path %q raw %q", s.path, s.raw)
	}
	if s.target != "/sandboxes/demo/toolbox/proxy/3000/a%2Fb/c?x=1&y=%2F" {
		t.Errorf("forwarded target %q", s.target)
	}
	if got := s.header[HeaderDaytonaAuthorization]; len(got) != 1 || got[0] != "Bearer key-demo" {
		t.Errorf("X-Daytona-Authorization %q", got)
	}
	if got := s.header[hConnection]; len(got) != 1 || got[0] != RunnerConnectionToken("runner-demo") {
		t.Errorf("Connection %q, want the runner's token alone", got)
	}
	// The plugin adds two keys, no more: the runner key and the Connection
	// header that names the runner (dropped by Traefik's proxy).
	var keys []string
	for k := range s.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, " "); got != hConnection+" "+HeaderDaytonaAuthorization {
		t.Errorf("forwarded header keys %q", got)
	}
	c := f.last()
	want := map[string]string{
		tRoute: RoutePreview, tSandbox: "demo", tPort: "3000",
		HeaderRequest:      "POST 3000-demo.preview.test:8000 /a%2Fb/c?x=1&y=%2F",
		HeaderSkipActivity: "true", HeaderClientIP: "", "User-Agent": "",
	}
	for k, v := range want {
		if c.Get(k) != v {
			t.Errorf("resolver got %s=%q, want %q", k, c.Get(k), v)
		}
	}
}

// The runner is named by a token of its own line in the Connection header,
// on a miss and on a hit, so that Traefik's child router matches it and
// Traefik's proxy drops it after routing; a WebSocket's "Upgrade" stays,
// and a client's token that names a runner (left by Traefik's entry point
// only when configured to keep it) goes.
func TestRunnerTokenIsHopByHop(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	for _, tc := range []struct{ conn, want string }{
		{"", "@"},
		{"Upgrade", "Upgrade|@"},
		{"X-Kept, Upgrade", "X-Kept|Upgrade|@"},
		{"Previewgate-Runner-other,Upgrade", "Upgrade|@"},
		{RunnerToken + "other", "@"},
	} {
		for _, pass := range []string{"miss", "hit"} {
			hdr := map[string]string{}
			if tc.conn != "" {
				hdr["Connection"], hdr["Upgrade"] = tc.conn, "websocket"
			}
			id := fmt.Sprintf("hop%d", len(tc.conn))
			serve(h, "GET", "http://3000-"+id+".localhost/ws", hdr)
			want := strings.Replace(tc.want, "@", RunnerConnectionToken("runner-"+id), 1)
			if got := strings.Join(s.header["Connection"], "|"); got != want {
				t.Errorf("Connection %q on a %s: forwarded Connection %q, want %q", tc.conn, pass, got, want)
			}
		}
	}
	if n := f.count(); n != 5 {
		t.Errorf("%d resolver calls, want 5 (one miss per host)", n)
	}
}

// The token is RunnerToken + id in the canonical case of a header name, so
// that Traefik's proxy, which canonicalises each Connection token to delete
// the header it names, has nothing to copy; ids keep their characters.
func TestRunnerConnectionTokenIsCanonical(t *testing.T) {
	for _, id := range []string{"8c2f6a1e-0b7d-4a53-9d55-6b1f3f0f2a11", "Static-1", "r1", "a-B-c", "runner-demo"} {
		tok := RunnerConnectionToken(id)
		if tok != http.CanonicalHeaderKey(tok) || !strings.EqualFold(tok, RunnerToken+id) || !strings.HasPrefix(tok, "Previewgate-Runner-") {
			t.Errorf("RunnerConnectionToken(%q) = %q", id, tok)
		}
	}
}

func TestCredentialsGoToTheResolverAndNeverToTheSandbox(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	serve(h, "GET", "http://8080-demo.localhost/p?z=1&DAYTONA_SANDBOX_AUTH_KEY=qtok&a=2", map[string]string{
		HeaderDaytonaPreviewToken: "htok",
		"Cookie":                  "app=1; daytona-sandbox-auth-demo=cval; daytona-sandbox-auth-other=x; pkce_verifier=v; daytona-preview-page-accepted=true; z=2",
	})
	c := f.last()
	if c.Get(HeaderPreviewToken) != "htok" || c.Get(HeaderQueryToken) != "qtok" || c.Get(HeaderCookie) != "cval" {
		t.Errorf("resolver got token %q query %q cookie %q", c.Get(HeaderPreviewToken), c.Get(HeaderQueryToken), c.Get(HeaderCookie))
	}
	if c.Get(HeaderBearer) != "" {
		t.Errorf("bearer %q", c.Get(HeaderBearer))
	}
	if s.header.Get(HeaderDaytonaPreviewToken) != "" {
		t.Error("preview token header reached the sandbox")
	}
	if s.target != "/sandboxes/demo/toolbox/proxy/8080/p?z=1&a=2" {
		t.Errorf("forwarded target %q", s.target)
	}
	if got := s.header["Cookie"]; len(got) != 1 || got[0] != "app=1; z=2" {
		t.Errorf("Cookie reaching the sandbox: %q", got)
	}
}

func TestBearerIsStrippedOnlyWhenItWasTheCredential(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	serve(h, "GET", "http://3000-demo.localhost/", map[string]string{"Authorization": "Bearer user-key"})
	if f.last().Get(HeaderBearer) != "user-key" || f.last().Get(HeaderClientIP) != "192.0.2.1" {
		t.Errorf("bearer %q, client IP %q", f.last().Get(HeaderBearer), f.last().Get(HeaderClientIP))
	}
	if s.header.Get("Authorization") != "" {
		t.Error("an accepted bearer token reached the sandbox")
	}
	serve(h, "GET", "http://3000-demo.localhost/", map[string]string{"Authorization": "Basic YXBwOmFwcA=="})
	if s.header.Get("Authorization") != "Basic YXBwOmFwcA==" {
		t.Error("the app's own Authorization header was removed")
	}
}

func TestBadHostsAre400AndNeverAsked(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	for _, host := range []string{
		"3000-demo.other.test", "demo.preview.test", "0-demo.preview.test", "70000-demo.preview.test",
		"3000-Demo_x.preview.test", "a.3000-demo.preview.test", "preview.test.evil", "[::1]:80", "3000-.preview.test",
	} {
		rec := serve(h, "GET", "http://x/", map[string]string{"Host": host})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", host, rec.Code)
		}
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.StatusCode != 400 || body.Code != "BAD_REQUEST" ||
			body.Path != "/" || body.Method != "GET" || body.Timestamp == "" || !strings.Contains(body.Message, "{port}-{sandboxId}") {
			t.Errorf("%s: body %s (%v)", host, rec.Body.String(), err)
		}
	}
	if f.count() != 0 || s.called {
		t.Errorf("resolver calls %d, next called %v", f.count(), s.called)
	}
}

func TestDotSegmentsAre400(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	for _, p := range []string{"/..%2f..%2fx", "/%2e%2e/x", "/a%5c..%5cx", "/a/%2e/b", "/..%5C"} {
		rec := serve(h, "GET", "http://3000-demo.localhost"+p, nil)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", p, rec.Code)
		}
	}
	// A path that does not start with '/' (a URL set by a middleware, not
	// parsed from a request line) gets the same check.
	for _, p := range []string{"..", ".", "./x", "x/..", "..\\x"} {
		req := httptest.NewRequest("GET", "http://3000-demo.localhost/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("path %q: status %d", p, rec.Code)
		}
	}
	if f.count() != 0 || s.called {
		t.Errorf("resolver calls %d, next called %v", f.count(), s.called)
	}
}

func TestRespondIsPassedThrough(t *testing.T) {
	f := &fakeResolver{answer: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderDecision, DecisionRespond)
		w.Header().Set(HeaderRunnerKey, "Bearer must-not-leak")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Www-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"statusCode":401}`))
	}}
	h, s, _ := newTestHandler(t, f, nil)
	rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
	if rec.Code != 401 || rec.Body.String() != `{"statusCode":401}` || rec.Header().Get("Www-Authenticate") != "Bearer" {
		t.Errorf("got %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if rec.Header().Get(HeaderRunnerKey) != "" || s.called {
		t.Error("a respond decision leaked contract headers or was forwarded")
	}
}

func TestResolverFailuresFailClosed(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		status int
	}{
		{"500 without decision", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, 502},
		{"200 without decision", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }, 502},
		// The resolver's server refused the decision request's headers:
		// the client's credentials are too long, not the resolver broken.
		{"431 without decision", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(431) }, 431},
		{"unknown decision", func(w http.ResponseWriter, r *http.Request) { w.Header().Set(HeaderDecision, "maybe") }, 502},
		{"forward without runner key", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderDecision, DecisionForward)
			w.Header().Set(HeaderRunner, "r1")
			w.Header().Set(HeaderPrefix, "/sandboxes/demo/toolbox/proxy/3000")
		}, 502},
		{"forward with a foreign prefix", func(w http.ResponseWriter, r *http.Request) {
			forwardAnswer(w, r, "0")
			w.Header().Set(HeaderPrefix, "/admin")
		}, 502},
		{"forward without runner id", func(w http.ResponseWriter, r *http.Request) {
			forwardAnswer(w, r, "0")
			w.Header().Set(HeaderRunner, "")
		}, 502},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(400 * time.Millisecond)
			forwardAnswer(w, r, "0")
		}, 503},
	}
	// Prefixes that are not under /sandboxes/, or end with a slash.
	for _, prefix := range []string{"/sandboxes", "/sandboxes0/demo", "/sandboxes.demo", "/sandboxes/",
		"/sandboxes/demo/toolbox/proxy/3000/", "/Sandboxes/demo"} {
		prefix := prefix // Yaegi shares a loop variable between iterations
		tests = append(tests, struct {
			name   string
			answer func(w http.ResponseWriter, r *http.Request)
			status int
		}{"forward with prefix " + prefix, func(w http.ResponseWriter, r *http.Request) {
			forwardAnswer(w, r, "0")
			w.Header().Set(HeaderPrefix, prefix)
		}, 502})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, s, _ := newTestHandler(t, &fakeResolver{answer: tt.answer}, func(c *Config) { c.ResolverTimeout = "100ms" })
			rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
			if rec.Code != tt.status || s.called {
				t.Errorf("status %d (want %d), forwarded %v", rec.Code, tt.status, s.called)
			}
			if !strings.Contains(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("content type %q", rec.Header().Get("Content-Type"))
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		h, s, srv := newTestHandler(t, &fakeResolver{}, nil)
		srv.Close()
		rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
		if rec.Code != http.StatusServiceUnavailable || s.called {
			t.Errorf("status %d, forwarded %v", rec.Code, s.called)
		}
	})
}

func TestDecisionsAreCachedPerHostAndCredential(t *testing.T) {
	f := &fakeResolver{}
	h, _, _ := newTestHandler(t, f, nil)
	get := func(host, token string) {
		hdr := map[string]string{"Host": host}
		if token != "" {
			hdr[HeaderDaytonaPreviewToken] = token
		}
		if rec := serve(h, "GET", "http://x/", hdr); rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
	}
	get("3000-a.localhost", "t1")
	get("3000-a.localhost", "t1")
	if f.count() != 1 {
		t.Fatalf("resolver calls %d, want 1", f.count())
	}
	// The key is the Host header as sent (no parsing on a hit): another
	// spelling of the same host is asked once, then hits too.
	get("3000-a.localhost:9999", "t1")
	get("3000-A.localhost", "t1")
	get("3000-a.localhost:9999", "t1")
	get("3000-A.localhost", "t1")
	if f.count() != 3 {
		t.Fatalf("resolver calls %d, want 3", f.count())
	}
	if got := f.last().Get(tSandbox); got != "a" {
		t.Errorf("the upper-case host was asked about sandbox %q, want a", got)
	}
	get("3000-a.localhost", "t2") // another credential
	get("3000-b.localhost", "t1") // another sandbox, same credential
	get("3001-a.localhost", "t1") // another port
	if f.count() != 6 {
		t.Fatalf("resolver calls %d, want 6", f.count())
	}

}

func TestCacheSurvivesRebuildsAndHonoursTTL(t *testing.T) {
	f := &fakeResolver{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	build := func() http.Handler {
		cfg := CreateConfig()
		cfg.PreviewDomains = []string{"localhost"}
		cfg.ResolverURL = srv.URL
		cfg.ResolverSecret = testSecret
		h, err := New(context.Background(), next, cfg, "rebuild")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	serve(build(), "GET", "http://3000-a.localhost/", nil)
	serve(build(), "GET", "http://3000-a.localhost/", nil)
	if f.count() != 1 {
		t.Errorf("resolver calls after a rebuild %d, want 1", f.count())
	}

	f.answer = func(w http.ResponseWriter, r *http.Request) { forwardAnswer(w, r, "0") }
	h := build()
	serve(h, "GET", "http://3000-b.localhost/", nil)
	serve(h, "GET", "http://3000-b.localhost/", nil)
	if f.count() != 3 {
		t.Errorf("TTL 0 was cached: resolver calls %d, want 3", f.count())
	}
}

func TestCacheOffAsksEveryTime(t *testing.T) {
	f := &fakeResolver{}
	h, _, _ := newTestHandler(t, f, func(c *Config) { c.CacheSize = 0 })
	for i := 0; i < 3; i++ {
		serve(h, "GET", "http://3000-a.localhost/", nil)
	}
	if f.count() != 3 {
		t.Errorf("resolver calls %d, want 3", f.count())
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := &decisionCache{limit: 100}
	now := time.Now().UnixNano()
	for i := 0; i < 1000; i++ {
		c.put(string(rune('a'+i%26))+strings.Repeat("x", i), &decision{expires: now + int64(time.Hour)}, now)
	}
	if n := c.len(); n > 100 {
		t.Errorf("cache holds %d entries, limit 100", n)
	}
	c.put("expired", &decision{expires: now - 1}, now)
	c.put("live", &decision{expires: now + int64(time.Hour)}, now)
	c.removeExpired(now)
	if c.get("expired") != nil || c.get("live") == nil {
		t.Error("removeExpired kept an expired decision or dropped a live one")
	}
}

// Expired decisions go within two sweeps; the next request asks again.
func TestCachedDecisionsExpire(t *testing.T) {
	f := &fakeResolver{}
	f.answer = func(w http.ResponseWriter, r *http.Request) { forwardAnswer(w, r, "1") }
	h, _, _ := newTestHandler(t, f, nil)
	serve(h, "GET", "http://3000-a.localhost/", nil)
	serve(h, "GET", "http://3000-a.localhost/", nil)
	if f.count() != 1 {
		t.Fatalf("resolver calls %d, want 1 (the second request is a hit)", f.count())
	}
	time.Sleep(time.Second + 2*SweepInterval + 100*time.Millisecond)
	serve(h, "GET", "http://3000-a.localhost/", nil)
	if f.count() != 2 {
		t.Errorf("resolver calls %d after the TTL, want 2", f.count())
	}
}

func TestGatewayHost(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)

	rec := serve(h, "GET", "http://preview.test/health", nil)
	if rec.Code != 200 || rec.Body.String() != `{"status":"ok","version":"`+Version+`"}` {
		t.Errorf("health: %d %s", rec.Code, rec.Body.String())
	}

	rec = serve(h, "PUT", "http://preview.test/toolbox/demo/files/a%20b?path=/x", map[string]string{
		"Authorization": "Bearer k", "Cookie": "daytona-sandbox-auth-demo=cv",
	})
	if rec.Code != http.StatusTeapot {
		t.Fatalf("toolbox: status %d %s", rec.Code, rec.Body.String())
	}
	c := f.last()
	if c.Get(tRoute) != RouteToolbox || c.Get(tSandbox) != "demo" || c.Get(HeaderCookie) != "cv" || c.Get(tPort) != "" {
		t.Errorf("toolbox decision request %v", c)
	}
	if s.target != "/sandboxes/demo/toolbox/files/a%20b?path=/x" {
		t.Errorf("toolbox forwarded target %q", s.target)
	}

	rec = serve(h, "GET", "http://preview.test/toolbox/demo", nil)
	if rec.Code != http.StatusNotFound {
		t.Errorf("/toolbox/{id} without a path: %d", rec.Code)
	}
	rec = serve(h, "GET", "http://preview.test/toolbox/Bad_Id/x", nil)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("bad toolbox id: %d", rec.Code)
	}

	f.answer = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(tRoute) != RouteGateway {
			t.Errorf("route %q", r.Header.Get(tRoute))
		}
		w.Header().Set(HeaderDecision, DecisionRespond)
		w.WriteHeader(http.StatusNotFound)
	}
	s.called = false
	if rec := serve(h, "GET", "http://preview.test/other", nil); rec.Code != http.StatusNotFound || s.called {
		t.Errorf("other gateway path: %d, forwarded %v", rec.Code, s.called)
	}
	// A forward decision for a gateway path is a contract violation.
	f.answer = func(w http.ResponseWriter, r *http.Request) { forwardAnswer(w, r, "10") }
	if rec := serve(h, "GET", "http://preview.test/other", nil); rec.Code != http.StatusBadGateway || s.called {
		t.Errorf("forward on gateway path: %d, forwarded %v", rec.Code, s.called)
	}
}

func TestDirectRoutingNamesNoRunner(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, func(c *Config) { c.Routing = RoutingDirect })
	for i := 0; i < 2; i++ { // a miss, then a hit
		serve(h, "GET", "http://3000-a.localhost/", nil)
		if !s.called || len(s.header[hConnection]) != 0 {
			t.Fatalf("request %d: called %v, Connection %q", i, s.called, s.header[hConnection])
		}
		if s.header.Get(HeaderDaytonaAuthorization) != "Bearer key-a" {
			t.Errorf("request %d: runner auth %q", i, s.header.Get(HeaderDaytonaAuthorization))
		}
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	cfg := &Config{
		PreviewDomains:  []string{"ok.test", "bad domain"},
		ResolverURL:     "ftp://x",
		ResolverTimeout: "soon",
		Routing:         "sideways",
		CacheSize:       -1,
		CacheMaxTTL:     "x",
		ResolverSocket:  "relative.sock",
	}
	_, err := New(context.Background(), http.NotFoundHandler(), cfg, "bad")
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"previewDomains", "resolverURL", "resolverSecret", "resolverTimeout", "routing", "cacheSize", "cacheMaxTTL", "resolverSocket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestNewReadsTheSecretFromFileOrEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Setenv("PREVIEWGATE_TEST_SECRET", testSecret)
	defer os.Unsetenv("PREVIEWGATE_TEST_SECRET")
	for _, c := range []*Config{
		{ResolverSecretFile: file},
		{ResolverSecretEnv: "PREVIEWGATE_TEST_SECRET"},
	} {
		cfg := CreateConfig()
		cfg.PreviewDomains = []string{"localhost"}
		cfg.ResolverURL = "http://127.0.0.1:1"
		cfg.ResolverSecretFile, cfg.ResolverSecretEnv = c.ResolverSecretFile, c.ResolverSecretEnv
		if _, err := New(context.Background(), http.NotFoundHandler(), cfg, "s"); err != nil {
			t.Errorf("New: %v", err)
		}
	}
	cfg := CreateConfig()
	cfg.PreviewDomains = []string{"localhost"}
	cfg.ResolverURL = "http://127.0.0.1:1"
	cfg.ResolverSecret, cfg.ResolverSecretEnv = testSecret, "PREVIEWGATE_TEST_SECRET"
	if _, err := New(context.Background(), http.NotFoundHandler(), cfg, "s"); err == nil {
		t.Error("two secret sources were accepted")
	}
}

func TestHealthShowsTheCacheOnlyToSecretHolders(t *testing.T) {
	f := &fakeResolver{}
	h, _, _ := newTestHandler(t, f, func(c *Config) { c.CacheSize = 50 })
	serve(h, "GET", "http://3000-demo.preview.test/", nil) // one cached decision
	for _, key := range []string{"", "wrong-secret-wrong-secret", testSecret + "x"} {
		rec := serve(h, "GET", "http://preview.test/health", map[string]string{HeaderKey: key})
		if strings.Contains(rec.Body.String(), "cache") {
			t.Errorf("key %q: health shows the cache: %s", key, rec.Body.String())
		}
	}
	rec := serve(h, "GET", "http://preview.test/health", map[string]string{HeaderKey: testSecret})
	want := `{"status":"ok","version":"` + Version + `","cache":{"entries":1,"limit":50}}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("health with the secret: %d %s, want %s", rec.Code, rec.Body.String(), want)
	}
}

// A repeated Cookie header is a cache hit with the same credential and the
// same stripped header, and the cached slice is never shared with a later
// append.
func TestRepeatedCookieHeader(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	hdr := map[string]string{"Cookie": "app=1; daytona-sandbox-auth-c1=v1; daytona-sandbox-auth-other=x; pkce_verifier=p; theme=dark"}
	for i := 0; i < 3; i++ {
		if rec := serve(h, "GET", "http://3000-c1.localhost/", hdr); rec.Code != http.StatusTeapot {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		if got := s.header.Values("Cookie"); len(got) != 1 || got[0] != "app=1; theme=dark" {
			t.Errorf("request %d: the sandbox got cookies %q", i, got)
		}
		s.header["Cookie"] = append(s.header["Cookie"], "appended=1")
	}
	if f.count() != 1 || f.last().Get(HeaderCookie) != "v1" {
		t.Errorf("resolver calls %d, cookie %q; want 1 call with v1", f.count(), f.last().Get(HeaderCookie))
	}
	// Only our cookies: the header goes.
	serve(h, "GET", "http://3000-c1.localhost/", map[string]string{"Cookie": "daytona-sandbox-auth-c1=v1"})
	serve(h, "GET", "http://3000-c1.localhost/", map[string]string{"Cookie": "daytona-sandbox-auth-c1=v1"})
	if got := s.header["Cookie"]; len(got) != 0 {
		t.Errorf("the sandbox got cookies %q", got)
	}
}

// A full cache makes room by dropping the decisions that expire soonest,
// down to fifteen sixteenths of its bound, and keeps the rest.
func TestFullCacheDropsTheSoonestToExpire(t *testing.T) {
	c := &decisionCache{limit: 160}
	now := time.Now().UnixNano()
	key := func(i int) string { return "k" + strconv.Itoa(i) }
	// The later the store, the sooner it expires (a second apart: one
	// bucket each).
	for i := 0; i <= 160; i++ {
		c.put(key(i), &decision{expires: now + int64(time.Hour) - int64(i)*int64(time.Second)}, now)
	}
	if n := c.len(); n != 150 {
		t.Errorf("after overflowing a bound of 160 the cache holds %d, want 150", n)
	}
	for i := 0; i <= 160; i++ {
		if kept := c.get(key(i)) != nil; kept != (i < 150) {
			t.Errorf("decision %d kept %v, want %v", i, kept, i < 150)
		}
	}
	if r := indexed(c); r != c.len() {
		t.Errorf("expiry index holds %d records for %d decisions", r, c.len())
	}
}

// removeExpired takes the expired decisions, also from the bucket that
// holds live ones, and no live one; a replaced decision's old record does
// not remove the new one.
func TestRemoveExpired(t *testing.T) {
	c := &decisionCache{limit: 100}
	// Mid-bucket, so that now-1 and now+1 share a bucket.
	now := time.Now().UnixNano()/int64(SweepInterval)*int64(SweepInterval) + int64(SweepInterval)/2
	c.put("past", &decision{expires: now - int64(time.Minute)}, now)
	c.put("expired", &decision{expires: now - 1}, now)
	c.put("live", &decision{expires: now + 1}, now)
	c.put("replaced", &decision{expires: now - 1}, now)
	c.put("replaced", &decision{expires: now + int64(time.Minute)}, now)
	if left := c.removeExpired(now); left != 2 {
		t.Errorf("removeExpired left %d, want 2", left)
	}
	for key, want := range map[string]bool{"past": false, "expired": false, "live": true, "replaced": true} {
		if got := c.get(key) != nil; got != want {
			t.Errorf("%s kept %v, want %v", key, got, want)
		}
	}
	if left := c.removeExpired(now + 2); left != 1 || c.get("live") != nil {
		t.Errorf("a sweep after its expiry left %d, live kept %v", left, c.get("live") != nil)
	}
	if r := indexed(c); r != 1 {
		t.Errorf("expiry index holds %d records, want 1", r)
	}
}

// indexed counts the records in c's expiry index.
func indexed(c *decisionCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, recs := range c.index {
		n += len(recs)
	}
	return n
}

// A miss and a hit rewrite every form of request target alike, and what
// Traefik's proxy forwards is the URL the plugin checked and rewrote, even
// when a middleware before it left RequestURI stale.
func TestHitsRewriteEveryRequestTarget(t *testing.T) {
	const pre = "/sandboxes/demo/toolbox/proxy/3000"
	for _, c := range []struct {
		name, target, requestURI string // requestURI "": origin form
		path, raw, wantURI       string
	}{
		{"plain", "/a/b?x=1", "", pre + "/a/b", "", pre + "/a/b?x=1"},
		{"asset", "/assets/app.4f3a.js?v=1.2", "", pre + "/assets/app.4f3a.js", "", pre + "/assets/app.4f3a.js?v=1.2"},
		{"dot directory", "/node_modules/.vite/deps/x.js", "", pre + "/node_modules/.vite/deps/x.js", "", pre + "/node_modules/.vite/deps/x.js"},
		{"escaped", "/a%2Fb/c?y=%2F", "", pre + "/a/b/c", pre + "/a%2Fb/c", pre + "/a%2Fb/c?y=%2F"},
		{"encoded space", "/a%20b", "", pre + "/a b", "", pre + "/a%20b"},
		{"query key", "/p?z=1&DAYTONA_SANDBOX_AUTH_KEY=qtok&a=2", "", pre + "/p", "", pre + "/p?z=1&a=2"},
		{"absolute form", "/a?x=1", "http://3000-demo.localhost/a?x=1", pre + "/a", "", pre + "/a?x=1"},
		{"no RequestURI", "/a?x=1", "-", pre + "/a", "", pre + "/a?x=1"},
		{"stale RequestURI", "/a?x=1", "/../other?x=9", pre + "/a", "", pre + "/a?x=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeResolver{}
			h, s, _ := newTestHandler(t, f, nil)
			for _, what := range []string{"miss", "hit"} {
				req := httptest.NewRequest("GET", "http://3000-demo.localhost"+c.target, nil)
				switch c.requestURI {
				case "":
					req.RequestURI = req.URL.RequestURI()
				case "-":
					req.RequestURI = ""
				default:
					req.RequestURI = c.requestURI
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusTeapot {
					t.Fatalf("%s: status %d", what, rec.Code)
				}
				if s.path != c.path || s.raw != c.raw || s.target != c.wantURI {
					t.Errorf("%s: path %q raw %q forwarded target %q, want %q %q %q", what, s.path, s.raw, s.target, c.path, c.raw, c.wantURI)
				}
				if f.count() != 1 {
					t.Errorf("%s: %d resolver calls, want 1", what, f.count())
				}
			}
		})
	}
}

func TestEmptyPathBecomesSlash(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	for i := 0; i < 2; i++ { // a miss, then a hit
		req := httptest.NewRequest("GET", "http://3000-demo.localhost", nil)
		req.URL.Path, req.RequestURI = "", "http://3000-demo.localhost"
		h.ServeHTTP(httptest.NewRecorder(), req)
		if s.path != "/sandboxes/demo/toolbox/proxy/3000/" || s.target != "/sandboxes/demo/toolbox/proxy/3000/" {
			t.Errorf("request %d: path %q, forwarded target %q", i, s.path, s.target)
		}
	}
}

// The cache key holds the Cookie header as sent; a new header with a known
// credential reuses its decision without asking, and each request keeps
// its own other cookies.
func TestCookieHeadersAsSent(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	steps := []struct {
		host      string
		cookie    []string
		calls     int
		sent      string   // the credential the resolver got on a call
		toSandbox []string // the Cookie lines the sandbox got
	}{
		{"3000-c1.localhost", []string{"app=1; daytona-sandbox-auth-c1=v1"}, 1, "v1", []string{"app=1"}},
		{"3000-c1.localhost", []string{"app=1; daytona-sandbox-auth-c1=v1"}, 1, "v1", []string{"app=1"}},
		{"3000-c1.localhost", []string{"app=2; daytona-sandbox-auth-c1=v1"}, 1, "v1", []string{"app=2"}},
		{"3000-c1.localhost", []string{"app=2; daytona-sandbox-auth-c1=v1"}, 1, "v1", []string{"app=2"}},
		// HTTP/2 clients may split the header into lines.
		{"3000-c1.localhost", []string{"app=3", "daytona-sandbox-auth-c1=v1", "pkce_verifier=p"}, 1, "v1", []string{"app=3"}},
		{"3000-c1.localhost", []string{"app=3", "daytona-sandbox-auth-c1=v1", "pkce_verifier=p"}, 1, "v1", []string{"app=3"}},
		{"3000-c1.localhost", []string{"app=3", "daytona-sandbox-auth-c1=v2"}, 2, "v2", []string{"app=3"}},
		// The same header for another host is that host's credential.
		{"3000-c2.localhost", []string{"app=1; daytona-sandbox-auth-c1=v1"}, 3, "", []string{"app=1"}},
		{"3000-c2.localhost", []string{"daytona-sandbox-auth-c2=w; daytona-sandbox-auth-c1=v1"}, 4, "w", nil},
		{"3000-c2.localhost", []string{"daytona-sandbox-auth-c2=w; daytona-sandbox-auth-c1=v1"}, 4, "w", nil},
	}
	for i, st := range steps {
		req := httptest.NewRequest("GET", "http://"+st.host+"/", nil)
		req.Header["Cookie"] = st.cookie
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot {
			t.Fatalf("step %d: status %d", i, rec.Code)
		}
		if f.count() != st.calls {
			t.Fatalf("step %d: resolver calls %d, want %d", i, f.count(), st.calls)
		}
		if got := f.last().Get(HeaderCookie); got != st.sent {
			t.Errorf("step %d: the resolver's last call had cookie %q, want %q", i, got, st.sent)
		}
		if got := s.header["Cookie"]; strings.Join(got, "|") != strings.Join(st.toSandbox, "|") {
			t.Errorf("step %d: the sandbox got cookies %q, want %q", i, got, st.toSandbox)
		}
	}
}

// A handler remembers at most MaxTargets host parses.
func TestHostParsesAreBounded(t *testing.T) {
	hh, _, _ := newTestHandler(t, &fakeResolver{}, nil)
	h := hh.(*handler)
	for i := 0; i < MaxTargets+10; i++ {
		if parseHost(h, "3000-s"+strconv.Itoa(i)+".localhost") == nil {
			t.Fatalf("host %d did not parse", i)
		}
	}
	n := 0
	h.targets.Range(func(k, v interface{}) bool {
		n++
		return true
	})
	if n != MaxTargets {
		t.Errorf("%d host parses remembered, want the bound %d (the first ones kept)", n, MaxTargets)
	}
	if _, ok := h.targets.Load("3000-s0.localhost"); !ok {
		t.Error("the first host's parse was forgotten")
	}
	if parseHost(h, "3000-Bad_.localhost") != nil || parseHost(h, "preview.test:443") != h.gatewayTarget {
		t.Error("parseHost accepted a bad host or missed a gateway host")
	}
}

// fakeDgram is the resolver's datagram socket: it records each request's
// lines and answers with answer(lines), or not at all for "".
type fakeDgram struct {
	mu     sync.Mutex
	got    [][]string
	answer func(lines []string) string
	name   string
	conn   *net.UnixConn
}

func newFakeDgram(t *testing.T, answer func([]string) string) *fakeDgram {
	return newFakeDgramAt(t, "@previewgate-test-"+strconv.Itoa(os.Getpid())+"-"+t.Name(), answer)
}

func newFakeDgramAt(t *testing.T, name string, answer func([]string) string) *fakeDgram {
	t.Helper()
	f := &fakeDgram{answer: answer, name: name}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f.conn = c
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, MaxDatagram)
		for {
			n, from, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			lines := strings.Split(string(buf[:n]), "\n")
			f.mu.Lock()
			f.got = append(f.got, lines)
			f.mu.Unlock()
			if a := f.answer(lines); a != "" {
				c.WriteToUnix([]byte(a), from)
			}
		}
	}()
	return f
}

func (f *fakeDgram) requests() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.got...)
}

func dgramForward(lines []string) string {
	if lines[0] != testSecret {
		return DatagramAskHTTP
	}
	return "forward\nr-dg\nBearer dg-key\n/sandboxes/demo/toolbox/proxy/3000\n\n10"
}

func TestDatagramDecisions(t *testing.T) {
	t.Run("forward", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, dgramForward)
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
		hdr := map[string]string{"Authorization": "Bearer utok", HeaderDaytonaPreviewToken: "ptok",
			"Cookie": "a=1; daytona-sandbox-auth-demo=cval", HeaderSkipLastActivity: "true"}
		for i := 0; i < 2; i++ {
			if rec := serve(h, "GET", "http://3000-demo.localhost/p?x=1&DAYTONA_SANDBOX_AUTH_KEY=qtok", hdr); rec.Code != http.StatusTeapot {
				t.Fatalf("status %d", rec.Code)
			}
		}
		got := dg.requests()
		if len(got) != 1 || f.count() != 0 {
			t.Fatalf("datagrams %d, HTTP calls %d; want 1 and 0 (then a cache hit)", len(got), f.count())
		}
		want := []string{testSecret, DecidePath + "/preview/demo/3000", "GET 3000-demo.localhost /p?x=1", "utok", "192.0.2.1", "ptok", "qtok", "cval", "true"}
		if strings.Join(got[0], "|") != strings.Join(want, "|") {
			t.Errorf("datagram lines\n%q\nwant\n%q", got[0], want)
		}
		if s.path != "/sandboxes/demo/toolbox/proxy/3000/p" || s.header.Get(HeaderDaytonaAuthorization) != "Bearer dg-key" ||
			s.header.Get(hConnection) != RunnerConnectionToken("r-dg") || s.header.Get("Authorization") != "Bearer utok" {
			t.Errorf("forwarded %s with %v", s.path, s.header)
		}
	})
	t.Run("lines without credentials", func(t *testing.T) {
		for _, c := range []struct {
			skip string // the X-Daytona-Skip-Last-Activity-Update header; "" for none
			last string
		}{{"", ""}, {"true", "true"}, {"false", ""}} {
			t.Run("skip "+c.skip, func(t *testing.T) { testDgramLines(t, c.skip, c.last) })
		}
	})
	t.Run("other answers come over HTTP", func(t *testing.T) {
		f := &fakeResolver{answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(HeaderDecision, DecisionRespond)
			w.WriteHeader(http.StatusUnauthorized)
		}}
		dg := newFakeDgram(t, func([]string) string { return DatagramAskHTTP })
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
		rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
		if rec.Code != http.StatusUnauthorized || s.called || len(dg.requests()) != 1 || f.count() != 1 {
			t.Errorf("status %d, forwarded %v, datagrams %d, HTTP calls %d", rec.Code, s.called, len(dg.requests()), f.count())
		}
	})
	t.Run("a request too long for a datagram goes over HTTP", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, dgramForward)
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
		big := map[string]string{"Cookie": "daytona-sandbox-auth-demo=" + strings.Repeat("c", MaxDatagram)}
		if rec := serve(h, "GET", "http://3000-demo.localhost/", big); rec.Code != http.StatusTeapot || !s.called {
			t.Fatalf("status %d", rec.Code)
		}
		if len(dg.requests()) != 0 || f.count() != 1 || len(f.last().Get(HeaderCookie)) != MaxDatagram {
			t.Errorf("datagrams %d, HTTP calls %d", len(dg.requests()), f.count())
		}
	})
	t.Run("the request line is cut, on either transport", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, func([]string) string { return DatagramAskHTTP })
		h, _, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
		target := "/p?q=" + strings.Repeat("a", 300<<10)
		if rec := serve(h, "GET", "http://3000-demo.localhost"+target, nil); rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
		want := ("GET 3000-demo.localhost " + target)[:MaxRequestLine]
		if got := dg.requests(); len(got) != 1 || got[0][2] != want {
			t.Errorf("the datagram's request line is not the first %d bytes", MaxRequestLine)
		}
		if got := f.last().Get(HeaderRequest); got != want {
			t.Errorf("the HTTP request line has %d bytes, want the first %d", len(got), MaxRequestLine)
		}
	})
	t.Run("an incomplete forward is a 502", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, func([]string) string { return "forward\nr\nBearer k\n/elsewhere\n\n10" })
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
		if rec := serve(h, "GET", "http://3000-demo.localhost/", nil); rec.Code != http.StatusBadGateway || s.called {
			t.Errorf("status %d, forwarded %v", rec.Code, s.called)
		}
	})
	t.Run("no answer in time", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, func([]string) string { return "" })
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name; c.ResolverTimeout = "200ms" })
		rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
		if rec.Code != http.StatusServiceUnavailable || s.called || f.count() != 0 || !strings.Contains(rec.Body.String(), "in time") {
			t.Errorf("status %d %s, forwarded %v, HTTP calls %d", rec.Code, rec.Body.String(), s.called, f.count())
		}
	})
	t.Run("a restarted resolver", func(t *testing.T) {
		f := &fakeResolver{}
		dg := newFakeDgram(t, dgramForward)
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name; c.CacheSize = 0 })
		// Several sockets go to the pool, all connected to the first resolver.
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(h, "GET", "http://3000-demo.localhost/", nil)
			}()
		}
		wg.Wait()
		dg.conn.Close()
		dg2 := newFakeDgramAt(t, dg.name, dgramForward)
		for i := 0; i < 8; i++ {
			if rec := serve(h, "GET", "http://3000-demo.localhost/", nil); rec.Code != http.StatusTeapot || !s.called {
				t.Fatalf("request %d after the restart: %d %s", i, rec.Code, rec.Body.String())
			}
		}
		if n := len(dg2.requests()); n != 8 {
			t.Errorf("the new resolver got %d datagrams, want 8", n)
		}
	})
	t.Run("no socket", func(t *testing.T) {
		f := &fakeResolver{}
		h, s, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = "@previewgate-test-nobody-" + strconv.Itoa(os.Getpid()) })
		rec := serve(h, "GET", "http://3000-demo.localhost/", nil)
		if rec.Code != http.StatusServiceUnavailable || s.called || f.count() != 0 {
			t.Errorf("status %d, forwarded %v, HTTP calls %d", rec.Code, s.called, f.count())
		}
	})
}

// Stores racing past the bound make room one at a time: the cache keeps
// between fifteen sixteenths of its bound and the bound, and its expiry
// index no record of a dropped decision.
func TestConcurrentStoresPastTheBound(t *testing.T) {
	c := &decisionCache{limit: 4000}
	now := time.Now().UnixNano()
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				c.put(strconv.Itoa(g)+"-"+strconv.Itoa(i), &decision{expires: now + int64(time.Hour)}, now)
			}
		}(g)
	}
	wg.Wait()
	if n := c.len(); n < 3750 || n > 4000 {
		t.Errorf("after 16000 stores past a bound of 4000 the cache holds %d, want between 3750 and 4000", n)
	}
	if r := indexed(c); r != c.len() {
		t.Errorf("expiry index holds %d records for %d decisions", r, c.len())
	}
}

// testDgramLines checks a decision datagram's lines for a request without
// credentials, with the skip-activity header skip ("" for none).
func testDgramLines(t *testing.T, skip, last string) {
	f := &fakeResolver{}
	dg := newFakeDgram(t, dgramForward)
	h, _, _ := newTestHandler(t, f, func(c *Config) { c.ResolverSocket = dg.name })
	hdr := map[string]string{}
	if skip != "" {
		hdr[HeaderSkipLastActivity] = skip
	}
	if rec := serve(h, "GET", "http://3000-demo.localhost/p", hdr); rec.Code != http.StatusTeapot {
		t.Fatalf("status %d", rec.Code)
	}
	want := []string{testSecret, DecidePath + "/preview/demo/3000", "GET 3000-demo.localhost /p", "", "", "", "", "", last}
	if got := dg.requests(); len(got) != 1 || strings.Join(got[0], "|") != strings.Join(want, "|") {
		t.Errorf("datagrams %q, want one of %q", got, want)
	}
}

// A middleware before ours may leave a header with no value: it is no
// credential (and no panic), on a miss and on a hit alike.
func TestEmptyHeaderValuesAreNoCredentials(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	for i := 0; i < 2; i++ {
		req := httptest.NewRequest("GET", "http://3000-demo.localhost/p", nil)
		req.RequestURI = req.URL.RequestURI()
		for _, k := range []string{HeaderDaytonaPreviewToken, "Cookie", "Authorization"} {
			req.Header[k] = []string{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot || s.target != "/sandboxes/demo/toolbox/proxy/3000/p" {
			t.Fatalf("request %d: status %d, target %q", i, rec.Code, s.target)
		}
	}
	if f.count() != 1 {
		t.Errorf("resolver asked %d times, want 1 (the second request is a hit)", f.count())
	}
	c := f.last()
	if c.Get(HeaderPreviewToken) != "" || c.Get(HeaderCookie) != "" || c.Get(HeaderBearer) != "" {
		t.Errorf("resolver got credentials: %v", c)
	}
}
