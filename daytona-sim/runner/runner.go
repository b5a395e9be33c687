// Package runner simulates a Daytona runner's HTTP API (apps/runner,
// v0.190.0) as the preview proxy uses it: the public health check, the token
// check, and ANY /sandboxes/{id}/toolbox/{path} forwarded to the sandbox's
// daemon with the path's original percent-encoding.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/commonerr"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

// Messages of the runner's auth middleware and proxy controller.
const (
	MsgAuthRequired   = "unauthorized: authorization header required"
	MsgAuthFormat     = "unauthorized: invalid authorization header format"
	MsgInvalidToken   = "unauthorized: invalid token"
	MsgNoContainer    = "not found: sandbox container not found: Error response from daemon: No such container: "
	MsgNotStarted     = "bad request: failed to resolve container IP after 3 attempts: no IP address found. Is the Sandbox started?"
	HeaderDaytonaAuth = "X-Daytona-Authorization"
)

// DefaultStoppedDelay is how long the real runner takes to give up on a
// stopped sandbox: 3 container inspections with 100 ms and 200 ms backoff.
const DefaultStoppedDelay = 300 * time.Millisecond

// Config configures a runner.
type Config struct {
	ID     string // UUID-shaped
	Name   string
	APIKey string
	World  *world.World
	Docker *Docker
	// StoppedDelay is the time to answer 400 for a stopped sandbox.
	StoppedDelay time.Duration
	Version      string
	Logger       *slog.Logger
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid runner config")

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.ID == "" || c.Name == "" {
		errs = append(errs, fmt.Errorf("%w: id and name are required", ErrConfig))
	}
	if c.APIKey == "" || strings.Contains(c.APIKey, " ") {
		errs = append(errs, fmt.Errorf("%w: runner %q: the api key must be non-empty without spaces", ErrConfig, c.Name))
	}
	if c.World == nil || c.Docker == nil {
		errs = append(errs, fmt.Errorf("%w: runner %q: world and docker are required", ErrConfig, c.Name))
	}
	if c.StoppedDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: runner %q: negative stopped delay", ErrConfig, c.Name))
	}
	return errors.Join(errs...)
}

// Runner is one runner's HTTP handler.
type Runner struct {
	cfg       Config
	log       *slog.Logger
	transport *http.Transport
}

// New validates cfg and returns the runner.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "v0.0.0-dev"
	}
	return &Runner{
		cfg: cfg,
		log: cfg.Logger.With("component", "runner", "runner", cfg.Name),
		// common-go's proxy transport (without its one-shot retry on stale connections).
		transport: &http.Transport{
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     30 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		},
	}, nil
}

// Close drops the runner's idle upstream connections.
func (rn *Runner) Close() { rn.transport.CloseIdleConnections() }

// ServeHTTP routes on the raw path with its own dispatch: nothing is
// cleaned or redirected.
func (rn *Runner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rn.cfg.World.CountRequest(rn.cfg.ID)
	raw := r.URL.EscapedPath()
	if raw == "/" && r.Method == http.MethodGet {
		body, _ := json.Marshal(map[string]string{"status": "ok", "version": rn.cfg.Version})
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
		return
	}
	if msg, ok := rn.authorize(r); !ok {
		commonerr.Write(w, r, http.StatusUnauthorized, msg)
		return
	}
	if raw == BuildLogsPath && r.Method == http.MethodGet {
		rn.buildLogs(w, r)
		return
	}
	id, path, ok := splitToolboxPath(raw)
	if !ok {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 page not found"))
		return
	}
	rn.proxy(w, r, id, path)
}

// authorize is the runner's AuthMiddleware: X-Daytona-Authorization, else
// Authorization; exactly "Bearer <token>". X-Daytona-Authorization is always
// deleted; Authorization is kept for the sandbox.
func (rn *Runner) authorize(r *http.Request) (string, bool) {
	h := r.Header.Get(HeaderDaytonaAuth)
	if h == "" {
		h = r.Header.Get("Authorization")
	}
	r.Header.Del(HeaderDaytonaAuth)
	if h == "" {
		return MsgAuthRequired, false
	}
	parts := strings.Split(h, " ")
	if len(parts) != 2 || parts[0] != "Bearer" {
		return MsgAuthFormat, false
	}
	if parts[1] != rn.cfg.APIKey {
		return MsgInvalidToken, false
	}
	return "", true
}

// splitToolboxPath matches /sandboxes/{id}/toolbox{path} on the raw path and
// returns the decoded id and the raw rest ("" or "/…").
func splitToolboxPath(raw string) (id, path string, ok bool) {
	rest, ok := strings.CutPrefix(raw, "/sandboxes/")
	if !ok {
		return "", "", false
	}
	rawID, rest, ok := strings.Cut(rest, "/")
	if !ok || rawID == "" {
		return "", "", false
	}
	path, ok = strings.CutPrefix(rest, "toolbox")
	if !ok || (path != "" && path[0] != '/') {
		return "", "", false
	}
	id, err := url.PathUnescape(rawID)
	if err != nil {
		return "", "", false
	}
	return id, path, true
}

func (rn *Runner) proxy(w http.ResponseWriter, r *http.Request, sandboxID, path string) {
	sb, ok := rn.cfg.World.Sandbox(sandboxID)
	if !ok || sb.RunnerID != rn.cfg.ID || sb.State == world.StateArchived {
		commonerr.Write(w, r, http.StatusNotFound, MsgNoContainer+sandboxID)
		return
	}
	if sb.State != world.StateStarted {
		select {
		case <-time.After(rn.cfg.StoppedDelay):
		case <-r.Context().Done():
			return
		}
		commonerr.Write(w, r, http.StatusBadRequest, MsgNotStarted)
		return
	}
	addr, err := rn.cfg.Docker.Addr(sandboxID, rn.cfg.ID)
	if err != nil {
		commonerr.Write(w, r, http.StatusInternalServerError, "internal server error: "+err.Error())
		return
	}
	if path == "" {
		path = "/"
	}
	target, err := url.Parse("http://" + addr + path)
	if err != nil {
		commonerr.Write(w, r, http.StatusBadRequest, "bad request: failed to parse target URL: "+err.Error())
		return
	}
	rp := &httputil.ReverseProxy{
		Director: func(req *http.Request) {
			req.Host = target.Host
			req.URL.Scheme = target.Scheme
			req.URL.Host = target.Host
			req.URL.Path = target.Path
			req.URL.RawPath = target.RawPath
		},
		Transport:     rn.transport,
		FlushInterval: 100 * time.Millisecond,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			rn.log.Warn("proxy error", "sandbox", sandboxID, "error", err)
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(rn.log.Handler(), slog.LevelDebug),
	}
	rp.ServeHTTP(w, r)
}

// BuildLogsPath is the runner API's build-log stream: GET
// /snapshots/logs?snapshotRef=<ref>[&follow=true].
const BuildLogsPath = "/snapshots/logs"

// BuildLogLines are the log of every simulated build, "%s" the ref.
var BuildLogLines = []string{
	"Building image %s",
	"Step 1/2 : FROM daytonaio/sandbox:0.5.0",
	"Step 2/2 : RUN pip install -r requirements.txt",
	"Successfully built %s",
}

// buildLogs serves a build's log for a ref built on this runner (404
// otherwise): all at once, or with follow=true one line every 50 ms,
// flushed, as a build in progress streams.
func (rn *Runner) buildLogs(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("snapshotRef")
	if ref == "" {
		commonerr.Write(w, r, http.StatusBadRequest, "bad request: snapshotRef parameter is required")
		return
	}
	if !rn.cfg.World.BuildOnRunner(ref, rn.cfg.ID) {
		commonerr.Write(w, r, http.StatusNotFound, "not found: build logs not found for ref: "+ref)
		return
	}
	follow := r.URL.Query().Get("follow") == "true"
	w.Header().Set("Content-Type", "application/octet-stream") // as the runner's gin c.Stream
	fl, _ := w.(http.Flusher)
	for _, l := range BuildLogLines {
		if strings.Contains(l, "%s") {
			l = fmt.Sprintf(l, ref)
		}
		_, _ = w.Write([]byte(l + "\n"))
		if follow && fl != nil {
			fl.Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	}
}
