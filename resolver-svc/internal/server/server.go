// Package server is the resolver's HTTP layer: the internal listener (the
// plugin's decision endpoint, Traefik's configuration endpoint, health and
// metrics), the public listener (health; the sign-in issue adds /callback)
// and an optional metrics-only listener. It checks the shared secret, maps
// decisions onto the wire contract of plugin/contract.go, writes Daytona's
// JSON error bodies, logs one line per request and shuts down gracefully.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
)

// Config configures the listeners.
type Config struct {
	// InternalAddr serves /v1/decide, /v1/traefik/config, /metrics and
	// /health (PREVIEWGATE_INTERNAL_ADDR).
	InternalAddr string
	// PublicAddr serves /health (PREVIEWGATE_PUBLIC_ADDR).
	PublicAddr string
	// MetricsAddr, if not empty, serves /metrics alone (METRICS_PORT).
	MetricsAddr string
	// Secret is the shared secret the plugin and Traefik's HTTP provider
	// send in X-Previewgate-Key (PREVIEWGATE_SECRET).
	Secret string
	// Version is reported by /health.
	Version string
	// ShutdownTimeout bounds the graceful shutdown (SHUTDOWN_TIMEOUT_SEC).
	ShutdownTimeout time.Duration
	// ForwardAuth serves ForwardAuthPath on the internal listener
	// (PREVIEWGATE_FORWARD_AUTH).
	ForwardAuth bool
	// DecideSocket, if not empty, also answers decisions on this unix
	// datagram socket: a path or an abstract name "@..."
	// (PREVIEWGATE_DECIDE_SOCKET; the plugin's resolverSocket).
	DecideSocket string
}

// ForwardAuthPath answers Traefik's ForwardAuth middleware: allowed or not,
// without any runner key (so it needs no secret). It exists for setups
// without the plugin and for the benchmark's comparison.
const ForwardAuthPath = "/v1/forward-auth"

// Decider makes decisions (decide.Decider).
type Decider interface {
	Decide(ctx context.Context, req decide.Request) decide.Decision
	// Touch records activity on a sandbox (an open WebSocket's).
	Touch(sandbox string)
}

// TraefikConfig renders the dynamic configuration (runners.Registry).
type TraefikConfig interface {
	Render() runners.Rendered
	MarkServed(version uint64)
}

// Metrics records what the server sees (metrics.Metrics).
type Metrics interface {
	Decision(route string, outcome decide.Outcome)
	Request(handler string, d time.Duration)
	Handler() http.Handler
}

// Deps are the server's collaborators. Traefik is nil in routing mode
// "direct": the configuration endpoint then serves no runners.
type Deps struct {
	Decider Decider
	Traefik TraefikConfig
	Metrics Metrics
	Logger  *slog.Logger
}

// Server serves the resolver's listeners.
type Server struct {
	cfg        Config
	deps       Deps
	log        *slog.Logger
	secretHash [32]byte
	health     []byte
	ridPrefix  string
	ridCounter atomic.Uint64
}

// New checks cfg and returns a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Decider == nil || deps.Metrics == nil {
		return nil, errors.New("server: Decider and Metrics are required")
	}
	if cfg.Secret == "" {
		return nil, errors.New("server: Secret is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	health, _ := json.Marshal(struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}{"ok", cfg.Version})
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return &Server{
		cfg:        cfg,
		deps:       deps,
		log:        deps.Logger,
		secretHash: sha256.Sum256([]byte(cfg.Secret)),
		health:     health,
		ridPrefix:  fmt.Sprintf("%x", rnd),
	}, nil
}

// InternalHandler serves the internal listener.
func (s *Server) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+plugin.DecidePath+"/", s.wrap("decide", http.HandlerFunc(s.handleDecide)))
	mux.Handle("POST "+plugin.ActivityPath+"/{sandbox}", s.wrap("activity", http.HandlerFunc(s.handleActivity)))
	mux.Handle("GET "+plugin.TraefikConfigPath, s.wrap("traefik_config", http.HandlerFunc(s.handleTraefikConfig)))
	mux.Handle(plugin.UnroutablePath, s.wrap("unroutable", http.HandlerFunc(s.handleUnroutable)))
	if s.cfg.ForwardAuth {
		mux.Handle("GET "+ForwardAuthPath, s.wrap("forward_auth", http.HandlerFunc(s.handleForwardAuth)))
	}
	mux.Handle("GET /metrics", s.wrap("metrics", s.deps.Metrics.Handler()))
	mux.Handle("GET /health", s.wrap("health", http.HandlerFunc(s.handleHealth)))
	mux.Handle("/", s.wrap("not_found", http.HandlerFunc(s.handleNotFound)))
	return mux
}

// PublicHandler serves the public listener.
func (s *Server) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /health", s.wrap("health", http.HandlerFunc(s.handleHealth)))
	mux.Handle("/", s.wrap("not_found", http.HandlerFunc(s.handleNotFound)))
	return mux
}

// MetricsHandler serves the metrics-only listener.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.wrap("metrics", s.deps.Metrics.Handler()))
	mux.Handle("/", s.wrap("not_found", http.HandlerFunc(s.handleNotFound)))
	return mux
}

// Run listens on every configured address and serves until ctx is done,
// then shuts down gracefully (bounded by ShutdownTimeout). ready, if not
// nil, is called with the bound addresses once every listener is open.
func (s *Server) Run(ctx context.Context, ready func(internal, public, metrics net.Addr)) error {
	type listener struct {
		name string
		ln   net.Listener
		srv  *http.Server
	}
	var ls []listener
	closeAll := func() {
		for _, l := range ls {
			l.ln.Close()
		}
	}
	add := func(name, addr string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("server: %s listener on %s: %w", name, addr, err)
		}
		ls = append(ls, listener{name, ln, newHTTPServer(h, s.log)})
		return nil
	}
	if err := add("internal", s.cfg.InternalAddr, s.InternalHandler()); err != nil {
		return err
	}
	if err := add("public", s.cfg.PublicAddr, s.PublicHandler()); err != nil {
		closeAll()
		return err
	}
	if s.cfg.MetricsAddr != "" {
		if err := add("metrics", s.cfg.MetricsAddr, s.MetricsHandler()); err != nil {
			closeAll()
			return err
		}
	}
	if s.cfg.DecideSocket != "" {
		dc, err := listenDatagrams(s.cfg.DecideSocket)
		if err != nil {
			closeAll()
			return err
		}
		defer dc.Close()
		s.log.Info("listening", "listener", "decide_datagram", "addr", s.cfg.DecideSocket)
		go s.serveDatagrams(context.WithoutCancel(ctx), dc)
	}
	if ready != nil {
		var m net.Addr
		if len(ls) > 2 {
			m = ls[2].ln.Addr()
		}
		ready(ls[0].ln.Addr(), ls[1].ln.Addr(), m)
	}

	errs := make(chan error, len(ls))
	for _, l := range ls {
		s.log.Info("listening", "listener", l.name, "addr", l.ln.Addr().String())
		go func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("server: %s listener: %w", l.name, err)
				return
			}
			errs <- nil
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, l := range ls {
		if err := l.srv.Shutdown(sctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("server: shutting down the %s listener: %w", l.name, err)
		}
	}
	return runErr
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Decision requests carry JWTs and cookies in headers.
		MaxHeaderBytes: 256 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// authorized reports whether the request carries the shared secret.
func (s *Server) authorized(r *http.Request) bool {
	v := r.Header[plugin.HeaderKey]
	return len(v) == 1 && s.isSecret(v[0])
}

// isSecret reports whether v is the shared secret. Both sides are hashed
// first so that the comparison takes the same time whatever the lengths.
func (s *Server) isSecret(v string) bool {
	got := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(got[:], s.secretHash[:]) == 1
}

// refused answers 401 to a request without the shared secret. It has no
// decision header: the plugin treats it as a resolver failure (a
// deployment error), never as an answer for the client.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, info *requestInfo) bool {
	if s.authorized(r) {
		return false
	}
	info.outcome = "refused"
	writeError(w, r, http.StatusUnauthorized, "unauthorized: missing or wrong "+plugin.HeaderKey, r.URL.Path, r.Method)
	return true
}

// handleDecide is GET /v1/decide: the plugin's decision request.
func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	if s.refused(w, r, info) {
		return
	}
	h := r.Header
	route, sandbox, port, ok := plugin.DecideTarget(r.URL.EscapedPath())
	if !ok {
		info.outcome = "bad_target"
		// No decision header: the plugin treats this as a resolver failure.
		writeError(w, r, http.StatusNotFound, "not found: no such decision target", r.URL.Path, r.Method)
		return
	}
	req := decide.Request{
		Route:        route,
		Sandbox:      sandbox,
		Port:         port,
		ClientIP:     h.Get(plugin.HeaderClientIP),
		Bearer:       h.Get(plugin.HeaderBearer),
		PreviewToken: h.Get(plugin.HeaderPreviewToken),
		QueryToken:   h.Get(plugin.HeaderQueryToken),
		Cookie:       h.Get(plugin.HeaderCookie),
		SkipActivity: h.Get(plugin.HeaderSkipActivity) == "true",
	}
	dec := s.deps.Decider.Decide(r.Context(), req)

	info.route, info.outcome, info.sandbox, info.err = route, string(dec.Outcome), dec.Sandbox, dec.Err
	s.deps.Metrics.Decision(route, dec.Outcome)

	out := w.Header()
	if f := dec.Forward; f != nil {
		// The plugin parses this answer on Traefik's hot path: nothing but
		// the decision (no Date, no request id, no Cache-Control).
		out["Date"] = nil
		delete(out, "X-Request-Id")
		info.runner = f.Runner
		out.Set(plugin.HeaderDecision, plugin.DecisionForward)
		out.Set(plugin.HeaderRunner, f.Runner)
		out.Set(plugin.HeaderRunnerKey, f.RunnerAuth)
		out.Set(plugin.HeaderPrefix, f.Prefix)
		if f.StripAuthorization {
			out.Set(plugin.HeaderStripAuth, "1")
		}
		out.Set(plugin.HeaderTTL, strconv.Itoa(int(f.TTL/time.Second)))
		if f.SnapshotRef != "" {
			out.Set(plugin.HeaderSnapshotRef, f.SnapshotRef)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	out.Set(plugin.HeaderDecision, plugin.DecisionRespond)
	if dec.RetryAfter > 0 {
		out.Set("Retry-After", strconv.Itoa(dec.RetryAfter))
	}
	method, _, uri := plugin.SplitRequest(h.Get(plugin.HeaderRequest))
	path, _, _ := strings.Cut(uri, "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p // Daytona's error bodies show the decoded URL.Path
	}
	writeDecisionError(w, r, dec, path, method)
}

// writeDecisionError writes a "respond" decision as Daytona's JSON error
// for the client's path and method; a status outside 4xx and 5xx is a 500.
func writeDecisionError(w http.ResponseWriter, r *http.Request, dec decide.Decision, path, method string) {
	status := dec.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	writeError(w, r, status, dec.Message, clip(path), clip(method))
}

// handleActivity is POST plugin.ActivityPath/{sandbox}: the plugin reports
// that a WebSocket to the sandbox is still open. 204, nothing else.
func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	if s.refused(w, r, info) {
		return
	}
	id := r.PathValue("sandbox")
	if !plugin.ValidSandboxID(id) {
		info.outcome = "bad_target"
		writeError(w, r, http.StatusBadRequest, "bad request: invalid sandbox id", r.URL.Path, r.Method)
		return
	}
	s.deps.Decider.Touch(id)
	info.route, info.outcome, info.sandbox = "activity", "touched", id
	w.WriteHeader(http.StatusNoContent)
}

// handleForwardAuth is GET /v1/forward-auth: Traefik's ForwardAuth sends
// the client's headers plus X-Forwarded-Host, -Uri and -Method. The answer
// is 200 without a body when the decision is to forward, else the
// decision's error. Preview hosts only; the first label of the host is
// "{port}-{sandboxId}".
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	h := r.Header
	label, _, _ := strings.Cut(h.Get("X-Forwarded-Host"), ".")
	uri := h.Get("X-Forwarded-Uri")
	path, rawQuery, _ := strings.Cut(uri, "?")
	method := h.Get("X-Forwarded-Method")
	port, id, ok := plugin.ParseLabel(strings.ToLower(label))
	if !ok {
		info.outcome = string(decide.OutcomeBadRequest)
		writeError(w, r, http.StatusBadRequest, "bad request: invalid preview host", clip(path), clip(method))
		return
	}
	req := decide.Request{Route: plugin.RoutePreview, Sandbox: id, Port: port, ClientIP: h.Get("X-Forwarded-For"),
		PreviewToken: h.Get(plugin.HeaderDaytonaPreviewToken),
		SkipActivity: h.Get(plugin.HeaderSkipLastActivity) == "true"}
	if b, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok {
		req.Bearer = b
	}
	// ParseQuery keeps the pairs it could decode: a malformed pair of the
	// app's own does not hide the query key (as in Daytona's proxy).
	q, _ := url.ParseQuery(rawQuery)
	req.QueryToken = q.Get(plugin.QueryAuthKey)
	if c, err := r.Cookie(plugin.CookieAuthPrefix + id); err == nil {
		req.Cookie = c.Value
	}
	dec := s.deps.Decider.Decide(r.Context(), req)
	info.route, info.outcome, info.sandbox, info.err = plugin.RoutePreview, string(dec.Outcome), dec.Sandbox, dec.Err
	s.deps.Metrics.Decision(plugin.RoutePreview, dec.Outcome)
	if dec.Forward != nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeDecisionError(w, r, dec, path, method)
}

// handleTraefikConfig is GET /v1/traefik/config, polled by Traefik's HTTP
// provider (with the same secret header).
func (s *Server) handleTraefikConfig(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	if s.refused(w, r, info) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.deps.Traefik == nil {
		info.outcome = "direct"
		_, _ = w.Write([]byte("{\n  \"http\": {}\n}\n"))
		return
	}
	rendered := s.deps.Traefik.Render()
	w.Header().Set("Content-Length", strconv.Itoa(len(rendered.Body)))
	if _, err := w.Write(rendered.Body); err != nil {
		info.outcome, info.err = "write_failed", err
		return
	}
	s.deps.Traefik.MarkServed(rendered.Version)
	info.outcome = "served"
}

// handleUnroutable answers what Traefik's fallback child router sends: a
// request the plugin forwarded to a runner that no runner router matches,
// because Traefik has not polled the runner's configuration yet. Any
// method; the body is never read. Traefik's replacePath keeps the runner
// path in X-Replaced-Path; the client sees its own path.
func (s *Server) handleUnroutable(w http.ResponseWriter, r *http.Request) {
	infoFrom(r).outcome = "unroutable"
	w.Header().Set("Retry-After", "1")
	writeError(w, r, http.StatusBadGateway, msgUnroutable, clip(clientPath(r.Header.Get("X-Replaced-Path"))), r.Method)
}

const msgUnroutable = "bad gateway: the sandbox's runner is not routable through this gateway yet, retry in a second"

// clientPath removes the runner prefix /sandboxes/{id}/toolbox[/proxy/{port}]
// that the plugin added.
func clientPath(p string) string {
	rest, ok := strings.CutPrefix(p, "/sandboxes/")
	if !ok {
		return "/"
	}
	_, rest, _ = strings.Cut(rest, "/") // the id
	rest, ok = strings.CutPrefix(rest, "toolbox")
	if !ok {
		return "/"
	}
	if after, ok := strings.CutPrefix(rest, "/proxy/"); ok {
		_, rest, _ = strings.Cut(after, "/") // the port
		rest = "/" + rest
	}
	if rest == "" {
		return "/"
	}
	return rest
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.health)
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "not found: not found", clip(r.URL.Path), r.Method)
}

// clip bounds a plugin-supplied string echoed in an error body.
func clip(s string) string {
	const max = 2048
	if len(s) > max {
		return s[:max]
	}
	return s
}

// writeError writes Daytona's JSON error body (the plugin's definition, so
// both sides answer alike).
func writeError(w http.ResponseWriter, _ *http.Request, status int, message, path, method string) {
	body, _ := json.Marshal(plugin.NewErrorBody(status, message, path, method))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
