// Package api simulates the Daytona API (NestJS app, v0.190.0) endpoints that
// the preview proxy and the SDKs call, with the API's paths, auth rules, JSON
// shapes, status codes and error bodies. It also serves the simulator's
// control endpoints under /_sim/ (test double only: no auth, never part of
// Daytona).
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/world"
)

// Prefix is the API's global prefix: DAYTONA_API_URL ends with it.
const Prefix = "/api"

// SimPrefix is the prefix of the control endpoints.
const SimPrefix = "/_sim"

// OIDC is the oidc block of GET /api/config.
type OIDC struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
	Audience string `json:"audience"`
}

// Config configures the API simulator.
type Config struct {
	World       *world.World
	ProxyAPIKey string
	// ProxyTemplateURL builds preview URLs: "{{PORT}}" and "{{sandboxId}}"
	// are replaced (by the signed token for signed URLs).
	ProxyTemplateURL string
	ProxyToolboxURL  string
	OIDC             OIDC
	Version          string
	Logger           *slog.Logger
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid api config")

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.World == nil {
		errs = append(errs, fmt.Errorf("%w: no world", ErrConfig))
	}
	if c.ProxyAPIKey == "" {
		errs = append(errs, fmt.Errorf("%w: empty proxy api key", ErrConfig))
	}
	if !strings.Contains(c.ProxyTemplateURL, "{{PORT}}") || !strings.Contains(c.ProxyTemplateURL, "{{sandboxId}}") {
		errs = append(errs, fmt.Errorf("%w: proxy template url %q needs {{PORT}} and {{sandboxId}}", ErrConfig, c.ProxyTemplateURL))
	}
	if c.ProxyToolboxURL == "" {
		errs = append(errs, fmt.Errorf("%w: empty proxy toolbox url", ErrConfig))
	}
	if c.OIDC.Issuer == "" || c.OIDC.ClientID == "" || c.OIDC.Audience == "" {
		errs = append(errs, fmt.Errorf("%w: oidc issuer, client id and audience are required", ErrConfig))
	}
	return errors.Join(errs...)
}

// LastAccess describes the last GET /api/preview/{id}/access call.
type LastAccess struct {
	SandboxID    string `json:"sandboxId"`
	User         string `json:"user"` // empty when the key was not a user's
	ForwardedFor string `json:"forwardedFor"`
	Status       int    `json:"status"`
	At           string `json:"at"`
}

// Server is the API simulator; it is an http.Handler for the whole listener
// (/api/... and /_sim/...).
type Server struct {
	cfg      Config
	log      *slog.Logger
	calls    *counters
	faults   *faults
	done     chan struct{}
	doneOnce sync.Once

	mu         sync.Mutex
	lastAccess *LastAccess
}

// New validates cfg and returns a server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "v0.0.0-dev"
	}
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "api"),
		calls:  newCounters(),
		faults: newFaults(),
		done:   make(chan struct{}),
	}, nil
}

// Close releases calls hung by a fault; call it before shutting the HTTP
// server down.
func (s *Server) Close() { s.doneOnce.Do(func() { close(s.done) }) }

// Calls returns a snapshot of the call counters.
func (s *Server) Calls() Calls { return s.calls.snapshot() }

// ResetCalls zeroes the call counters and forgets the last access call.
func (s *Server) ResetCalls() {
	s.calls.reset()
	s.mu.Lock()
	s.lastAccess = nil
	s.mu.Unlock()
}

// AddFault adds a fault rule and returns it with its id.
func (s *Server) AddFault(f Fault) (Fault, error) { return s.faults.add(f) }

// ClearFaults removes every fault and releases hung calls.
func (s *Server) ClearFaults() { s.faults.clear() }

// LastAccess returns the last access-check call, if any.
func (s *Server) LastAccess() (LastAccess, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastAccess == nil {
		return LastAccess{}, false
	}
	return *s.lastAccess, true
}

// ServeHTTP dispatches on the raw path; it never cleans or redirects.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Powered-By", "Express")
	path := r.URL.EscapedPath()
	switch {
	case path == SimPrefix || strings.HasPrefix(path, SimPrefix+"/"):
		w.Header().Del("X-Powered-By")
		s.serveSim(w, r, strings.TrimPrefix(path, SimPrefix))
	case len(path) >= len(Prefix) && strings.EqualFold(path[:len(Prefix)], Prefix) &&
		(len(path) == len(Prefix) || path[len(Prefix)] == '/'):
		s.serveAPI(w, r, path[len(Prefix):])
	default:
		// The real API serves its dashboard here; nothing the proxy calls.
		s.calls.start(UnmatchedEndpoint, "")
		writeError(w, r, http.StatusNotFound, "Cannot "+r.Method+" "+requestURL(r))
	}
}

// statusWriter remembers the status code for the call log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rel string) {
	var (
		rt route
		p  params
		ok bool
	)
	for _, cand := range routes {
		if p, ok = cand.match(r.Method, rel); ok {
			rt = cand
			break
		}
	}
	name, subject := UnmatchedEndpoint, ""
	if ok {
		name, subject = rt.name(), rt.subject(p)
	}
	seq := s.calls.start(name, subject)
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	fault, outcome := s.applyFault(sw, r, name, subject)
	switch {
	case outcome == faultAnswered:
	case outcome == faultAbort:
		s.calls.finish(seq, 0, fault)
		panic(http.ErrAbortHandler) // close the connection without an answer
	case !ok:
		writeError(sw, r, http.StatusNotFound, "Cannot "+r.Method+" "+requestURL(r))
	default:
		rt.handle(s, sw, r, p)
	}
	s.calls.finish(seq, sw.status, fault)
	// The path may hold preview tokens: log the endpoint name only.
	s.log.Debug("api call", "endpoint", name, "status", sw.status, "fault", fault,
		"ms", time.Since(start).Milliseconds())
}

// What a fault did to a call.
type faultOutcome int

const (
	faultNone     faultOutcome = iota // answer normally
	faultAnswered                     // the fault answered the call (or dropped its connection)
	faultAbort                        // drop the call: the client left or the simulator is closing
)

// applyFault lets the first matching fault act on the call and returns its
// id (0 when no fault matched) and what it did. Latency, and a hang released
// by clearing the faults, end in a normal answer.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, endpoint, subject string) (int, faultOutcome) {
	f, cleared, ok := s.faults.take(endpoint, subject)
	if !ok {
		return 0, faultNone
	}
	switch f.Mode {
	case FaultError:
		msg := http.StatusText(f.Status)
		if f.Status == http.StatusInternalServerError {
			msg = MsgUnexpected
		}
		writeError(w, r, f.Status, msg)
		return f.ID, faultAnswered
	case FaultLatency:
		select {
		case <-time.After(f.latency()):
			return f.ID, faultNone
		case <-r.Context().Done():
		case <-s.done:
		}
		return f.ID, faultAbort
	case FaultHang:
		select {
		case <-cleared:
			return f.ID, faultNone
		case <-r.Context().Done():
		case <-s.done:
		}
		return f.ID, faultAbort
	case FaultReset:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return f.ID, faultAbort
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST rather than FIN
		}
		_ = conn.Close()
		return f.ID, faultAnswered
	}
	return f.ID, faultNone
}
