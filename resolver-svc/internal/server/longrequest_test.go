package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// The plugin against the resolver's own HTTP server (its header limit is
// 256 KiB, Traefik's 1 MiB): a long request target still gets its
// decision (the plugin sends the request line cut), and credentials too
// long for the resolver's headers are the client's 431, not a 502 that
// blames the resolver.
func TestLongRequestsThroughTheResolversServer(t *testing.T) {
	d := &fakeDecider{dec: decide.Decision{Forward: &decide.Forward{Runner: "r1", RunnerAuth: "Bearer k", Prefix: "/sandboxes/sb/toolbox/proxy/3000"}}}
	s := newServer(t, d, &fakeTraefik{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(s.InternalHandler(), s.log)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cfg := plugin.CreateConfig()
	cfg.PreviewDomains = []string{"preview.test"}
	cfg.ResolverURL = "http://" + ln.Addr().String()
	cfg.ResolverSecret = secret
	cfg.CacheSize = 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h, err := plugin.New(context.Background(), next, cfg, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, target, bearer string
		want                 int
	}{
		{"short query", "/p?q=1", "", http.StatusTeapot},
		{"300 KiB query", "/p?q=" + strings.Repeat("a", 300<<10), "", http.StatusTeapot},
		{"300 KiB bearer", "/p", strings.Repeat("a", 300<<10), http.StatusRequestHeaderFieldsTooLarge},
	} {
		req := httptest.NewRequest("GET", "http://3000-sb.preview.test"+c.target, nil)
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s: %d %.120s, want %d", c.name, rec.Code, rec.Body.String(), c.want)
		}
	}
}
