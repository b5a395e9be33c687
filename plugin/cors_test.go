package plugin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const foreignOrigin = "https://app.example.com"

// A preflight from another origin is answered by the gateway itself, on
// any host and path, private sandboxes and the toolbox route included: 204
// with Daytona's headers, no credentials asked for, nothing forwarded, no
// decision asked for.
func TestCORSPreflightIsAnsweredHere(t *testing.T) {
	for _, target := range []string{
		"http://3000-demo.localhost/api/x",
		"http://localhost/toolbox/demo/files",
		"http://3000-Bad_.localhost/", // before the host is even parsed, as in Daytona
	} {
		f := &fakeResolver{}
		h, s, _ := newTestHandler(t, f, nil)
		rec := serve(h, "OPTIONS", target, map[string]string{"Origin": foreignOrigin,
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "x-daytona-preview-token, content-type"})
		if rec.Code != http.StatusNoContent || s.called || f.count() != 0 {
			t.Fatalf("%s: status %d, forwarded %v, resolver calls %d", target, rec.Code, s.called, f.count())
		}
		got := rec.Header()
		for name, want := range map[string]string{
			"Access-Control-Allow-Origin":      foreignOrigin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS",
			"Access-Control-Max-Age":           "43200",
		} {
			if got.Get(name) != want {
				t.Errorf("%s: %s = %q, want %q", target, name, got.Get(name), want)
			}
		}
		allow := "," + got.Get("Access-Control-Allow-Headers") + ","
		for _, name := range []string{"X-Daytona-Preview-Token", "Content-Type", "Origin", "Access-Control-Request-Method"} {
			if !strings.Contains(allow, ","+name+",") {
				t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", target, allow, name)
			}
		}
		if v := strings.Join(got["Vary"], ", "); v != "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" {
			t.Errorf("%s: Vary %q", target, v)
		}
	}
}

// Other requests from another origin get the Origin echoed with
// credentials allowed, whatever answers them: the sandbox (on a miss and
// on a hit) or the gateway (a 401, a 400).
func TestCORSHeadersOnEveryAnswer(t *testing.T) {
	f := &fakeResolver{answer: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(tSandbox) == "private" {
			w.Header().Set(HeaderDecision, DecisionRespond)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		forwardAnswer(w, r, "30")
	}}
	h, s, _ := newTestHandler(t, f, nil)
	for _, c := range []struct {
		name, target string
		status       int
	}{
		{"miss", "http://3000-demo.localhost/", http.StatusTeapot},
		{"hit", "http://3000-demo.localhost/", http.StatusTeapot},
		{"refused by the resolver", "http://3000-private.localhost/", http.StatusUnauthorized},
		{"bad host", "http://3000-Bad_.localhost/", http.StatusBadRequest},
		{"health", "http://localhost/health", http.StatusOK},
	} {
		method := "POST"
		if strings.HasSuffix(c.target, "/health") {
			method = "GET"
		}
		rec := serve(h, method, c.target, map[string]string{"Origin": foreignOrigin})
		if rec.Code != c.status {
			t.Fatalf("%s: status %d, want %d", c.name, rec.Code, c.status)
		}
		if rec.Header().Get("Access-Control-Allow-Origin") != foreignOrigin ||
			rec.Header().Get("Access-Control-Allow-Credentials") != "true" || rec.Header().Get("Vary") != "Origin" {
			t.Errorf("%s: CORS headers %v", c.name, rec.Header())
		}
	}
	if got := s.header.Get("Origin"); got != foreignOrigin {
		t.Errorf("the sandbox got Origin %q: it must see the request as sent", got)
	}
}

// A request from the host's own origin, or with X-Daytona-Disable-CORS:
// true, is left to the sandbox: no CORS headers from the gateway, its
// OPTIONS forwarded like any request; the disabling header never reaches
// the sandbox.
func TestCORSLeftToTheSandbox(t *testing.T) {
	for _, c := range []struct {
		name   string
		header map[string]string
	}{
		{"same origin", map[string]string{"Origin": "http://3000-demo.localhost"}},
		{"disabled", map[string]string{"Origin": foreignOrigin, "X-Daytona-Disable-CORS": "true"}},
		{"empty Origin", map[string]string{"Origin": ""}}, // no Origin, for gin-contrib/cors
	} {
		for _, method := range []string{"OPTIONS", "GET", "GET"} { // the second GET is a hit
			f := &fakeResolver{}
			h, s, _ := newTestHandler(t, f, nil)
			rec := serve(h, method, "http://3000-demo.localhost/x", c.header)
			if rec.Code != http.StatusTeapot || !s.called {
				t.Fatalf("%s %s: status %d, forwarded %v", c.name, method, rec.Code, s.called)
			}
			if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s %s: the gateway added Access-Control-Allow-Origin %q", c.name, method, v)
			}
			if _, ok := s.header[HeaderDisableCORS]; ok {
				t.Errorf("%s %s: the sandbox received %s", c.name, method, HeaderDisableCORS)
			}
		}
	}
	// Without an Origin the header goes too.
	h, s, _ := newTestHandler(t, &fakeResolver{}, nil)
	for i := 0; i < 2; i++ {
		serve(h, "GET", "http://3000-demo.localhost/x", map[string]string{"X-Daytona-Disable-CORS": "true"})
		if _, ok := s.header[HeaderDisableCORS]; ok || !s.called {
			t.Errorf("request %d: the sandbox received %s", i, HeaderDisableCORS)
		}
	}
}

// A header with no value (a middleware before ours may leave one: Go's
// server never does) is no header: nothing panics, the request is
// forwarded, on a miss and on a hit.
func TestHeadersWithNoValueAreAbsent(t *testing.T) {
	for _, name := range []string{"Origin", "Authorization", "Cookie", HeaderDaytonaPreviewToken, "Connection"} {
		h, s, _ := newTestHandler(t, &fakeResolver{}, nil)
		for i := 0; i < 2; i++ {
			req := httptest.NewRequest("GET", "http://3000-demo.localhost/x", nil)
			req.RequestURI = req.URL.RequestURI()
			req.Header[name] = []string{}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusTeapot || !s.called {
				t.Fatalf("%s, request %d: status %d, forwarded %v", name, i, rec.Code, s.called)
			}
			if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s, request %d: Access-Control-Allow-Origin %q", name, i, v)
			}
		}
	}
}
