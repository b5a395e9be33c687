// Package bench measures the gateway through the real Traefik: wrk against
// every way of reaching the same runner path, side by side and interleaved,
// plus the cold path, scale, WebSocket and SSE checks, and the budgets that
// `make bench-check` enforces.
package bench

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/previewgate/previewgate/daytona-sim/demoapp"
)

// FastPath is the app path that the upstream answers with "ok\n" at once,
// so that Traefik, not the backend, is the bottleneck of the throughput
// rounds.
const FastPath = "/fast"

// Upstream stands in for a Daytona runner in the benchmark: it checks
// X-Daytona-Authorization as a runner does and serves
// /sandboxes/{id}/toolbox/proxy/{port}/{path}: FastPath directly, the rest
// with the simulator's demo app (WebSocket echo, SSE). The simulator's API
// advertises it as the runners' URL.
type Upstream struct {
	auth     map[string]bool // accepted X-Daytona-Authorization values
	requests atomic.Int64
	ln       net.Listener
	srv      *http.Server
}

// StartUpstream listens on a free loopback port.
func StartUpstream(runnerKeys ...string) (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{auth: map[string]bool{}, ln: ln}
	for _, k := range runnerKeys {
		u.auth["Bearer "+k] = true
	}
	u.srv = &http.Server{Handler: u}
	go u.srv.Serve(ln)
	return u, nil
}

// URL is the upstream's base URL.
func (u *Upstream) URL() string { return "http://" + u.ln.Addr().String() }

// Requests counts the requests received.
func (u *Upstream) Requests() int64 { return u.requests.Load() }

// Close stops the upstream.
func (u *Upstream) Close() error { return u.srv.Close() }

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	if !u.auth[r.Header.Get("X-Daytona-Authorization")] {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/sandboxes/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, rest, _ := strings.Cut(rest, "/")
	rest, ok = strings.CutPrefix(rest, "toolbox/proxy/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	port, rest, _ := strings.Cut(rest, "/")
	if "/"+rest == FastPath {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+rest, ""
	demoapp.New(demoapp.Identity{SandboxID: id, Port: port, RunnerID: "bench", RunnerName: "bench"}).ServeHTTP(w, r2)
}
