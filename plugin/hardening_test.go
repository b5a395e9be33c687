package plugin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request targets that are not a path are refused with 400 on a miss and
// on a hit alike, and never forwarded: an opaque one ("GET
// http:x:/sandboxes/other/... HTTP/1.1") has an empty Path, which a
// forward would rewrite while a proxy that sends URL.RequestURI() sends
// the Opaque part, runner key attached; "GET * HTTP/1.1" reaches a handler
// with the Path "*" (Go's server answers only OPTIONS * itself), which is
// no path to put under the sandbox's prefix. A path-less target ("GET
// http://host HTTP/1.1") still goes to "/".
func TestTargetsThatAreNoPathAreRefused(t *testing.T) {
	for _, c := range []struct{ name, path, opaque, requestURI string }{
		{"opaque", "", "x:/sandboxes/other/toolbox/files", "http:x:/sandboxes/other/toolbox/files"},
		{"asterisk", "*", "", "*"},
	} {
		f := &fakeResolver{}
		h, s, _ := newTestHandler(t, f, nil)
		refused := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest("GET", "http://3000-demo.localhost/", nil)
			req.URL.Path, req.URL.Opaque, req.RequestURI = c.path, c.opaque, c.requestURI
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		if rec := refused(); rec.Code != http.StatusBadRequest || s.called || f.count() != 0 {
			t.Fatalf("%s, miss: status %d, forwarded %v, resolver calls %d", c.name, rec.Code, s.called, f.count())
		}
		if rec := serve(h, "GET", "http://3000-demo.localhost/", nil); rec.Code != http.StatusTeapot {
			t.Fatalf("%s: plain request: status %d", c.name, rec.Code)
		}
		s.called = false
		if rec := refused(); rec.Code != http.StatusBadRequest || s.called {
			t.Fatalf("%s, hit: status %d, forwarded %v", c.name, rec.Code, s.called)
		}
	}
	h, s, _ := newTestHandler(t, &fakeResolver{}, nil)
	req := httptest.NewRequest("GET", "http://3000-demo.localhost/", nil)
	req.URL.Path = ""
	req.RequestURI = "http://3000-demo.localhost"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !s.called || s.path != "/sandboxes/demo/toolbox/proxy/3000/" {
		t.Fatalf("a path-less target: forwarded %v to %q", s.called, s.path)
	}
}

// The Host header's port must be a port (what follows ':' was dropped
// unread, and remembered as sent); a fully qualified name's trailing dot
// is the same host.
func TestHostPortsAndTrailingDots(t *testing.T) {
	for _, c := range []struct {
		host string
		want int
	}{
		{"3000-demo.localhost:8000", http.StatusTeapot},
		{"3000-demo.localhost.", http.StatusTeapot},
		{"3000-demo.localhost.:8000", http.StatusTeapot},
		{"3000-demo.localhost:", http.StatusBadRequest},
		{"3000-demo.localhost:x", http.StatusBadRequest},
		{"3000-demo.localhost:99999", http.StatusBadRequest},
		{"3000-demo.localhost:8000" + strings.Repeat("0", 1000), http.StatusBadRequest},
		{"3000-demo.localhost..", http.StatusBadRequest},
	} {
		f := &fakeResolver{}
		h, _, _ := newTestHandler(t, f, nil)
		rec := serve(h, "GET", "http://x/p", map[string]string{"Host": c.host})
		if rec.Code != c.want {
			t.Errorf("%.40q: status %d, want %d", c.host, rec.Code, c.want)
			continue
		}
		if c.want == http.StatusTeapot && (f.last().Get(tSandbox) != "demo" || f.last().Get(tPort) != "3000") {
			t.Errorf("%q: asked for %s:%s", c.host, f.last().Get(tSandbox), f.last().Get(tPort))
		}
	}
}

// With nested preview domains the longest one is the domain, whatever
// their order.
func TestLongestPreviewDomainWins(t *testing.T) {
	for _, domains := range [][]string{{"example.test", "preview.example.test"}, {"preview.example.test", "example.test"}} {
		f := &fakeResolver{}
		h, _, _ := newTestHandler(t, f, func(c *Config) { c.PreviewDomains = domains })
		if rec := serve(h, "GET", "http://3000-abc.preview.example.test/", nil); rec.Code != http.StatusTeapot || f.last().Get(tSandbox) != "abc" {
			t.Errorf("%v: status %d", domains, rec.Code)
		}
		if rec := serve(h, "GET", "http://3000-abc.example.test/", nil); rec.Code != http.StatusTeapot {
			t.Errorf("%v: the shorter domain: status %d", domains, rec.Code)
		}
	}
}

// A query key with a control character is refused before the resolver is
// asked: a decoded %00 would make the cache key ambiguous (its parts are
// joined by NUL: ?KEY=X%00cV with no cookie was the key of ?KEY=X with
// the cookie V), a %0A cannot be sent on as a header.
func TestQueryKeysWithControlCharactersAreRefused(t *testing.T) {
	f := &fakeResolver{}
	h, s, _ := newTestHandler(t, f, nil)
	// Another client's decision: query key X and the sandbox cookie V.
	if rec := serve(h, "GET", "http://3000-demo.localhost/p?"+QueryAuthKey+"=X", map[string]string{"Cookie": "daytona-sandbox-auth-demo=V"}); rec.Code != http.StatusTeapot {
		t.Fatalf("status %d", rec.Code)
	}
	calls := f.count()
	for _, q := range []string{"X%00cV", "X%00kdaytona-sandbox-auth-demo=V", "a%0Ab", "a%7Fb"} {
		s.called = false
		rec := serve(h, "GET", "http://3000-demo.localhost/p?"+QueryAuthKey+"="+q, nil)
		if rec.Code != http.StatusBadRequest || s.called {
			t.Errorf("%s: status %d, forwarded %v", q, rec.Code, s.called)
		}
	}
	if f.count() != calls {
		t.Errorf("the resolver was asked %d times", f.count()-calls)
	}
}

// Keys longer than MaxCacheKey are not cached (the cache bounds its
// entries, not their size): made-up credentials on a public sandbox ask
// the resolver each time, and a long Cookie header finds its cookie's
// decision without an alias.
func TestLongKeysAreNotCached(t *testing.T) {
	f := &fakeResolver{}
	hh, _, _ := newTestHandler(t, f, nil)
	h := hh.(*handler)
	long := strings.Repeat("z", MaxCacheKey)
	for i := 0; i < 2; i++ {
		if rec := serve(h, "GET", "http://3000-demo.localhost/", map[string]string{"Authorization": "Bearer " + long}); rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if f.count() != 2 {
		t.Errorf("long bearer: %d resolver calls, want 2 (not cached)", f.count())
	}
	cookie := "daytona-sandbox-auth-demo=V; pad=" + long
	for i := 0; i < 2; i++ {
		if rec := serve(h, "GET", "http://3000-demo.localhost/", map[string]string{"Cookie": cookie}); rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if f.count() != 3 {
		t.Errorf("long Cookie header: %d resolver calls, want 3 (its cookie's decision cached once)", f.count())
	}
	h.cache.m.Range(func(k, v interface{}) bool {
		if len(k.(string)) > MaxCacheKey {
			t.Errorf("a key of %d bytes is cached", len(k.(string)))
		}
		return true
	})
}

// A resolver TTL too large to count in nanoseconds is capped, not wrapped
// into the past.
func TestHugeTTLsAreCapped(t *testing.T) {
	hh, _, _ := newTestHandler(t, &fakeResolver{}, nil)
	h := hh.(*handler)
	now := time.Now().UnixNano()
	for _, ttl := range []string{"9300000000", "9223372036854775807", "31"} {
		d := &decision{}
		store(h, "3000-demo.localhost\x00"+ttl, d, ttl)
		if d.expires < now || d.expires > time.Now().UnixNano()+h.maxTTL {
			t.Errorf("ttl %s: expires in %v, want at most cacheMaxTTL", ttl, time.Duration(d.expires-now))
		}
	}
	// A TTL under a cacheMaxTTL with a fraction of a second is kept as is.
	h.maxTTL = int64(1500 * time.Millisecond)
	d := &decision{}
	store(h, "3000-demo.localhost\x00one", d, "1")
	if left := time.Duration(d.expires - time.Now().UnixNano()); left > time.Second {
		t.Errorf("ttl 1 under a cap of 1.5s: expires in %v", left)
	}
}

// Decisions are cached per configuration: a change of routing (or of
// hosts) does not reuse decisions made for the old one.
func TestCachesArePerConfiguration(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	build := func(mod func(*Config)) *decisionCache {
		cfg := CreateConfig()
		cfg.PreviewDomains = []string{"localhost"}
		cfg.ResolverURL = "http://127.0.0.1:9"
		cfg.ResolverSecret = testSecret
		if mod != nil {
			mod(cfg)
		}
		h, err := New(context.Background(), next, cfg, t.Name())
		if err != nil {
			t.Fatal(err)
		}
		return h.(*handler).cache
	}
	base := build(nil)
	if build(nil) != base {
		t.Error("the same configuration got another cache")
	}
	for name, mod := range map[string]func(*Config){
		"routing":     func(c *Config) { c.Routing = RoutingDirect },
		"domains":     func(c *Config) { c.PreviewDomains = []string{"localhost", "preview.test"} },
		"gateway":     func(c *Config) { c.GatewayHosts = []string{"gw.localhost"} },
		"resolverURL": func(c *Config) { c.ResolverURL = "http://127.0.0.1:10" },
	} {
		if build(mod) == base {
			t.Errorf("%s changed, the cache stayed", name)
		}
	}
}

// activityHarness is a plugin whose resolver counts the activity reports
// per sandbox (count), in front of a sandbox that holds a request open
// until release when it is an upgrade or asks to block (X-Test-Block).
func activityHarness(t *testing.T) (http.Handler, func(string) int, chan struct{}, *[]string) {
	f := &fakeResolver{}
	var mu sync.Mutex
	reports := map[string]int{}
	// No ServeMux patterns: the yaegi binary runs with Go 1.21's mux.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, ActivityPath+"/")
		if !ok {
			f.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get(HeaderKey) != testSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		reports[id]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	count := func(sandbox string) int {
		mu.Lock()
		defer mu.Unlock()
		return reports[sandbox]
	}
	release := make(chan struct{})
	conn := &[]string{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*conn = r.Header.Values("Connection")
		if r.Header.Get("Upgrade") != "" || r.Header.Get("X-Test-Block") != "" {
			<-release // open until the test closes it
		}
		w.WriteHeader(http.StatusTeapot)
	})
	cfg := CreateConfig()
	cfg.PreviewDomains = []string{"localhost"}
	cfg.ResolverURL = srv.URL
	cfg.ResolverSecret = testSecret
	cfg.ActivityRepeat = "20ms"
	h, err := New(context.Background(), next, cfg, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return h, count, release, conn
}

// While a forwarded WebSocket stays open (Traefik's proxy returns when it
// closes), the sandbox's activity is reported every activityRepeat, as
// Daytona's proxy does; not for a plain request, not when the client
// asked to skip activity updates, and no more once it closed.
func TestOpenWebSocketsReportActivity(t *testing.T) {
	h, counts, release, connSeen := activityHarness(t)
	count := func() int { return counts("demo") }
	ws := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}
	// A plain request (a miss, then a hit) reports nothing itself.
	for i := 0; i < 2; i++ {
		serve(h, "GET", "http://3000-demo.localhost/", nil)
	}
	for _, hdr := range []map[string]string{ws, ws} { // a miss... and a hit
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(h, "GET", "http://3000-demo.localhost/ws", hdr)
		}()
		before := count()
		for i := 0; i < 200 && count() < before+3; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if count() < before+3 {
			t.Fatalf("an open WebSocket reported activity %d times in 2 s", count()-before)
		}
		release <- struct{}{}
		<-done
		if conn := *connSeen; strings.Join(conn, ",") != "Upgrade,"+RunnerConnectionToken("runner-demo") {
			t.Errorf("Connection %q", conn)
		}
	}
	closed := count()
	time.Sleep(100 * time.Millisecond)
	if count() != closed {
		t.Errorf("%d reports after the WebSocket closed", count()-closed)
	}
	// Skipped on request.
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(h, "GET", "http://3000-demo.localhost/ws", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", HeaderSkipLastActivity: "true"})
	}()
	time.Sleep(100 * time.Millisecond)
	release <- struct{}{}
	<-done
	if count() != closed {
		t.Errorf("%d reports for a WebSocket that asked to skip them", count()-closed)
	}
}

// A toolbox stream (follow=true, or an event stream) reports its
// sandbox's activity while it stays open, as Daytona's proxy does for any
// open request; a plain toolbox request does not.
func TestToolboxStreamsReportActivity(t *testing.T) {
	h, counts, release, _ := activityHarness(t)
	user := map[string]string{"Authorization": "Bearer k", "X-Test-Block": "1"}
	for _, target := range []string{"http://localhost/toolbox/tb/process/session/s/command/c/logs?follow=true",
		"http://localhost/toolbox/tb/events"} {
		target := target // Yaegi v0.16.1 shares loop variables
		hdr := map[string]string{"Authorization": "Bearer k", "X-Test-Block": "1"}
		if strings.HasSuffix(target, "/events") {
			hdr["Accept"] = "text/event-stream"
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(h, "GET", target, hdr)
		}()
		before := counts("tb")
		for i := 0; i < 200 && counts("tb") < before+3; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if counts("tb") < before+3 {
			t.Fatalf("%s: %d reports in 2 s", target, counts("tb")-before)
		}
		release <- struct{}{}
		<-done
	}
	closed := counts("tb")
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(h, "GET", "http://localhost/toolbox/tb/files", user)
	}()
	time.Sleep(100 * time.Millisecond)
	release <- struct{}{}
	<-done
	if counts("tb") != closed {
		t.Errorf("a plain toolbox request reported activity %d times", counts("tb")-closed)
	}
}
