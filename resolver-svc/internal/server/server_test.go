package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
)

const secret = "0123456789abcdef0123456789abcdef-test"

type fakeDecider struct {
	got     decide.Request
	dec     decide.Decision
	touched []string
}

func (f *fakeDecider) Touch(sandbox string) { f.touched = append(f.touched, sandbox) }

func (f *fakeDecider) Decide(_ context.Context, r decide.Request) decide.Decision {
	f.got = r
	return f.dec
}

type fakeTraefik struct{ served uint64 }

func (f *fakeTraefik) Render() runners.Rendered {
	return runners.Rendered{Body: []byte(`{"http":{}}`), Version: 7}
}
func (f *fakeTraefik) MarkServed(v uint64) { f.served = v }

type nopMetrics struct{}

func (nopMetrics) Decision(string, decide.Outcome)       {}
func (nopMetrics) Request(string, time.Duration)         {}
func (nopMetrics) Handler() http.Handler                 { return http.NotFoundHandler() }
func (nopMetrics) APICall(string, string, time.Duration) {}

func newServer(t *testing.T, d *fakeDecider, tr TraefikConfig) *Server {
	t.Helper()
	s, err := New(Config{Secret: secret, Version: "9.9.9"}, Deps{Decider: d, Traefik: tr, Metrics: nopMetrics{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSecretIsRequired(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Forward: &decide.Forward{Runner: "r1", RunnerAuth: "Bearer k"}}}
	h := newServer(t, d, &fakeTraefik{}).InternalHandler()
	for _, path := range []string{plugin.DecidePath + "/preview/sb/3000", plugin.TraefikConfigPath} {
		for name, key := range map[string]string{"none": "", "wrong": secret + "x", "prefix": secret[:20]} {
			hdr := map[string]string{}
			if key != "" {
				hdr[plugin.HeaderKey] = key
			}
			rec := do(h, "GET", path, hdr)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s with %s secret: %d, want 401", path, name, rec.Code)
			}
			if rec.Header().Get(plugin.HeaderDecision) != "" || strings.Contains(rec.Body.String(), "Bearer k") {
				t.Errorf("%s with %s secret leaked a decision: %v %s", path, name, rec.Header(), rec.Body)
			}
		}
	}
}

func TestForwardDecisionHeaders(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Outcome: decide.OutcomeBearer, Forward: &decide.Forward{
		Runner: "r1", RunnerAuth: "Bearer key1", Prefix: "/sandboxes/sb/toolbox/proxy/3000",
		StripAuthorization: true, TTL: 15 * time.Second,
	}}}
	h := newServer(t, d, nil).InternalHandler()
	rec := do(h, "GET", plugin.DecidePath+"/preview/sb/3000", map[string]string{
		plugin.HeaderKey: secret, plugin.HeaderBearer: "tok", plugin.HeaderSkipActivity: "true",
	})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := map[string]string{
		plugin.HeaderDecision: plugin.DecisionForward, plugin.HeaderRunner: "r1",
		plugin.HeaderRunnerKey: "Bearer key1", plugin.HeaderPrefix: "/sandboxes/sb/toolbox/proxy/3000",
		plugin.HeaderStripAuth: "1", plugin.HeaderTTL: "15",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Nothing else for the plugin to parse on Traefik's hot path.
	for _, k := range []string{"Date", "X-Request-Id", "Cache-Control"} {
		if v, ok := rec.Header()[k]; ok && v != nil {
			t.Errorf("forward answer has %s: %q", k, v)
		}
	}
	if g := d.got; g.Sandbox != "sb" || g.Port != "3000" || g.Bearer != "tok" || !g.SkipActivity || g.Route != plugin.RoutePreview {
		t.Errorf("decider got %+v", g)
	}
}

func TestRespondDecisionIsDaytonaJSON(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Outcome: decide.OutcomeRegistering, Status: 503, Message: "service unavailable: wait", RetryAfter: 1}}
	h := newServer(t, d, nil).InternalHandler()
	rec := do(h, "GET", plugin.DecidePath+"/preview/sb/3000", map[string]string{
		plugin.HeaderKey: secret, plugin.HeaderRequest: "POST 3000-sb.example.com /a/b%20c?c=d",
	})
	if rec.Code != 503 || rec.Header().Get(plugin.HeaderDecision) != plugin.DecisionRespond || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var body plugin.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.StatusCode != 503 || body.Code != "SERVICE_UNAVAILABLE" || body.Message != "service unavailable: wait" ||
		body.Path != "/a/b c" || body.Method != "POST" || body.Timestamp == "" { // decoded, as Daytona's URL.Path
		t.Errorf("body %+v", body)
	}
}

func TestBadStatusBecomes500(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Status: 302, Message: "x"}}
	rec := do(newServer(t, d, nil).InternalHandler(), "GET", plugin.DecidePath+"/gateway", map[string]string{plugin.HeaderKey: secret})
	if rec.Code != 500 {
		t.Errorf("status %d, want 500", rec.Code)
	}
}

func TestTraefikConfig(t *testing.T) {
	tr := &fakeTraefik{}
	rec := do(newServer(t, &fakeDecider{}, tr).InternalHandler(), "GET", plugin.TraefikConfigPath, map[string]string{plugin.HeaderKey: secret})
	if rec.Code != 200 || rec.Body.String() != `{"http":{}}` || tr.served != 7 {
		t.Errorf("%d %q served=%d", rec.Code, rec.Body, tr.served)
	}
	// Direct mode: an empty configuration.
	rec = do(newServer(t, &fakeDecider{}, nil).InternalHandler(), "GET", plugin.TraefikConfigPath, map[string]string{plugin.HeaderKey: secret})
	var v map[string]any
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		t.Errorf("direct: %d %q", rec.Code, rec.Body)
	}
}

func TestUnroutable(t *testing.T) {
	h := newServer(t, &fakeDecider{}, nil).InternalHandler()
	rec := do(h, "PUT", plugin.UnroutablePath, map[string]string{"X-Replaced-Path": "/sandboxes/sb/toolbox/proxy/3000/a/b"})
	if rec.Code != http.StatusBadGateway || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var body plugin.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Path != "/a/b" || body.Method != "PUT" {
		t.Errorf("body %s (%v)", rec.Body, err)
	}
}

func TestClientPath(t *testing.T) {
	for in, want := range map[string]string{
		"/sandboxes/sb/toolbox/proxy/3000/a/b": "/a/b",
		"/sandboxes/sb/toolbox/proxy/3000":     "/",
		"/sandboxes/sb/toolbox/files":          "/files",
		"/sandboxes/sb/toolbox":                "/",
		"/elsewhere":                           "/",
		"":                                     "/",
	} {
		if got := clientPath(in); got != want {
			t.Errorf("clientPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthOnBothListeners(t *testing.T) {
	s := newServer(t, &fakeDecider{}, nil)
	for _, h := range []http.Handler{s.InternalHandler(), s.PublicHandler()} {
		rec := do(h, "GET", "/health", nil)
		if rec.Code != 200 || rec.Body.String() != `{"status":"ok","version":"9.9.9"}` {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	}
	// The public listener has no decision endpoint.
	if rec := do(s.PublicHandler(), "GET", plugin.DecidePath+"/gateway", map[string]string{plugin.HeaderKey: secret}); rec.Code != 404 {
		t.Errorf("public %s: %d, want 404", plugin.DecidePath, rec.Code)
	}
}

// The plugin reports an open WebSocket's sandbox: with the secret, for a
// valid id, on the internal listener only.
func TestActivityReports(t *testing.T) {
	d := &fakeDecider{}
	s := newServer(t, d, nil)
	h := s.InternalHandler()
	if rec := do(h, "POST", plugin.ActivityPath+"/sb1", map[string]string{plugin.HeaderKey: secret}); rec.Code != http.StatusNoContent {
		t.Errorf("report: %d", rec.Code)
	}
	if rec := do(h, "POST", plugin.ActivityPath+"/sb1", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("without the secret: %d", rec.Code)
	}
	if rec := do(h, "POST", plugin.ActivityPath+"/-bad", map[string]string{plugin.HeaderKey: secret}); rec.Code != http.StatusBadRequest {
		t.Errorf("bad id: %d", rec.Code)
	}
	if rec := do(h, "GET", plugin.ActivityPath+"/sb1", map[string]string{plugin.HeaderKey: secret}); rec.Code == http.StatusNoContent {
		t.Errorf("GET: %d", rec.Code)
	}
	if rec := do(s.PublicHandler(), "POST", plugin.ActivityPath+"/sb1", map[string]string{plugin.HeaderKey: secret}); rec.Code != http.StatusNotFound {
		t.Errorf("public listener: %d", rec.Code)
	}
	if strings.Join(d.touched, ",") != "sb1" {
		t.Errorf("touched %v, want [sb1]", d.touched)
	}
}

func TestForwardAuth(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Outcome: decide.OutcomeQueryToken, Forward: &decide.Forward{Runner: "r1", RunnerAuth: "Bearer key1"}}}
	s, err := New(Config{Secret: secret, ForwardAuth: true}, Deps{Decider: d, Metrics: nopMetrics{}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.InternalHandler()
	rec := do(h, "GET", ForwardAuthPath, map[string]string{
		"X-Forwarded-Host": "3000-sb1.preview.example", "X-Forwarded-Uri": "/a?b=1&DAYTONA_SANDBOX_AUTH_KEY=tok",
		"X-Forwarded-Method": "GET", "Authorization": "Bearer ut", "X-Daytona-Preview-Token": "pt",
		"Cookie": "daytona-sandbox-auth-sb1=cv; other=1",
	})
	if rec.Code != 200 || strings.Contains(rec.Body.String()+strings.Join(rec.Header().Values(plugin.HeaderRunnerKey), ""), "key1") {
		t.Fatalf("allowed: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if g := d.got; g.Sandbox != "sb1" || g.Port != "3000" || g.QueryToken != "tok" || g.Bearer != "ut" || g.PreviewToken != "pt" || g.Cookie != "cv" {
		t.Errorf("decider got %+v", g)
	}
	// A malformed pair of the app's own does not hide the query key.
	if rec := do(h, "GET", ForwardAuthPath, map[string]string{"X-Forwarded-Host": "3000-sb1.preview.example",
		"X-Forwarded-Uri": "/p?a=%zz&DAYTONA_SANDBOX_AUTH_KEY=tok2"}); rec.Code != 200 || d.got.QueryToken != "tok2" {
		t.Errorf("query key beside a malformed pair: %d, decider got %q", rec.Code, d.got.QueryToken)
	}
	d.dec = decide.Decision{Outcome: decide.OutcomeMissingAuth, Status: 401, Message: "unauthorized: send a token"}
	rec = do(h, "GET", ForwardAuthPath, map[string]string{"X-Forwarded-Host": "3000-sb1.preview.example", "X-Forwarded-Uri": "/p"})
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"path":"/p"`) {
		t.Errorf("refused: %d %s", rec.Code, rec.Body)
	}
	rec = do(h, "GET", ForwardAuthPath, map[string]string{"X-Forwarded-Host": "nope.preview.example"})
	if rec.Code != 400 {
		t.Errorf("bad host: %d", rec.Code)
	}
	// Off by default.
	if rec := do(newServer(t, d, nil).InternalHandler(), "GET", ForwardAuthPath, nil); rec.Code != 404 {
		t.Errorf("ForwardAuth off: %d, want 404", rec.Code)
	}
}

// A malformed target gets no decision (the plugin fails closed on it).
func TestBadDecideTargets(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Forward: &decide.Forward{Runner: "r1", RunnerAuth: "Bearer k"}}}
	h := newServer(t, d, nil).InternalHandler()
	for _, p := range []string{"/preview/sb", "/preview/sb/0", "/preview/Sb/3000", "/toolbox/", "/gateway/x", "/other/sb/1", "/preview/sb/3000/x"} {
		rec := do(h, "GET", plugin.DecidePath+p, map[string]string{plugin.HeaderKey: secret})
		if rec.Header().Get(plugin.HeaderDecision) != "" || rec.Code == 200 {
			t.Errorf("%s: %d %v", p, rec.Code, rec.Header())
		}
	}
}

// The HTTP layer around a decision: secret check, headers, logging.
func BenchmarkHandleDecideForward(b *testing.B) {
	d := &fakeDecider{dec: decide.Decision{Outcome: decide.OutcomePreviewToken, Forward: &decide.Forward{
		Runner: "r1", RunnerAuth: "Bearer k", Prefix: "/sandboxes/sb/toolbox/proxy/3000", TTL: 15 * time.Second,
	}}}
	s, err := New(Config{Secret: secret}, Deps{Decider: d, Metrics: nopMetrics{}})
	if err != nil {
		b.Fatal(err)
	}
	h := s.InternalHandler()
	req := httptest.NewRequest("GET", plugin.DecidePath+"/preview/sb/3000", nil)
	req.Header.Set(plugin.HeaderKey, secret)
	req.Header.Set(plugin.HeaderRequest, "GET 3000-sb.example.com /fast")
	req.Header.Set(plugin.HeaderPreviewToken, "tok")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
