// Package sim runs a whole Daytona simulator on real listeners: the API (and
// its /_sim/ control endpoints) and one listener per runner. It is what
// cmd/daytona-sim runs, and what tests use to run the simulator in-process
// (use port 0 and read the addresses from State).
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/api"
	"github.com/previewgate/previewgate/daytona-sim/runner"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

// State tells launchers and tests where everything listens; it is also the
// content of the state file.
type State struct {
	// APIURL is DAYTONA_API_URL: "http://127.0.0.1:P/api".
	APIURL string `json:"apiUrl"`
	// Runners by runner id.
	Runners map[string]RunnerState `json:"runners"`
}

// RunnerState is one runner in State.
type RunnerState struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	APIKey string `json:"apiKey"`
}

// RunnerURL returns the URL of the runner with that name.
func (s State) RunnerURL(name string) (string, bool) {
	for _, r := range s.Runners {
		if r.Name == name {
			return r.URL, true
		}
	}
	return "", false
}

// Sim is a running simulator.
type Sim struct {
	world   *world.World
	api     *api.Server
	docker  *runner.Docker
	runners []*runner.Runner
	servers []*http.Server
	state   State
	simURL  string
	log     *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, binds every listener and serves until Shutdown.
func Start(cfg Config) (*Sim, error) {
	cfg = cfg.normalized()
	w, err := cfg.build()
	if err != nil {
		return nil, err
	}
	s := &Sim{world: w, log: cfg.Logger, state: State{Runners: map[string]RunnerState{}}}
	s.api, err = api.New(api.Config{
		World: w, ProxyAPIKey: cfg.ProxyAPIKey, ProxyTemplateURL: cfg.ProxyTemplateURL,
		ProxyToolboxURL: cfg.ProxyToolboxURL, OIDC: cfg.OIDC, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.docker = runner.NewDocker(w, cfg.Logger)

	// Bind everything first so that nothing serves before every URL is known.
	var listeners []net.Listener
	fail := func(err error) (*Sim, error) {
		for _, ln := range listeners {
			_ = ln.Close()
		}
		s.docker.Close()
		return nil, err
	}
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fail(fmt.Errorf("api listener: %w", err))
	}
	listeners = append(listeners, apiLn)
	base := advertised(apiLn.Addr())
	s.state.APIURL = base + api.Prefix
	s.simURL = base + api.SimPrefix
	handlers := []http.Handler{s.api}
	for _, spec := range cfg.Runners {
		ln, err := net.Listen("tcp", spec.Addr)
		if err != nil {
			return fail(fmt.Errorf("runner %s listener: %w", spec.Name, err))
		}
		listeners = append(listeners, ln)
		u := spec.URL
		if u == "" {
			u = advertised(ln.Addr())
		}
		if err := w.SetRunnerURL(spec.ID, u); err != nil {
			return fail(err)
		}
		rn, err := runner.New(runner.Config{
			ID: spec.ID, Name: spec.Name, APIKey: spec.APIKey, World: w, Docker: s.docker,
			StoppedDelay: cfg.StoppedDelay, Logger: cfg.Logger,
		})
		if err != nil {
			return fail(err)
		}
		s.runners = append(s.runners, rn)
		handlers = append(handlers, rn)
		s.state.Runners[spec.ID] = RunnerState{Name: spec.Name, URL: u, APIKey: spec.APIKey}
	}
	errLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	for i, ln := range listeners {
		// common-go's ApplyServerTimeouts.
		srv := &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 70 * time.Second, ErrorLog: errLog}
		s.servers = append(s.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				cfg.Logger.Error("listener stopped", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	attrs := []any{"apiUrl", s.state.APIURL}
	for id, r := range s.state.Runners {
		attrs = append(attrs, slog.Group("runner_"+r.Name, "id", id, "url", r.URL))
	}
	cfg.Logger.Info("simulator listening", attrs...)
	return s, nil
}

// advertised is the base URL for a listener: wildcard binds are advertised
// on loopback.
func advertised(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// State returns where everything listens.
func (s *Sim) State() State {
	st := State{APIURL: s.state.APIURL, Runners: make(map[string]RunnerState, len(s.state.Runners))}
	for k, v := range s.state.Runners {
		st.Runners[k] = v
	}
	return st
}

// APIURL is DAYTONA_API_URL (ends with /api).
func (s *Sim) APIURL() string { return s.state.APIURL }

// SimURL is the base URL of the control endpoints (ends with /_sim).
func (s *Sim) SimURL() string { return s.simURL }

// World is the simulator's state, for in-process tests.
func (s *Sim) World() *world.World { return s.world }

// API is the API simulator, for in-process tests (counters, faults).
func (s *Sim) API() *api.Server { return s.api }

// Docker is the container stand-in, for in-process tests.
func (s *Sim) Docker() *runner.Docker { return s.docker }

// Shutdown releases hung API calls, kills every container, then shuts the
// listeners down gracefully (forcefully once ctx is done).
func (s *Sim) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.api.Close()
		s.docker.Close()
		var wg sync.WaitGroup
		errs := make([]error, len(s.servers))
		for i, srv := range s.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.Shutdown(ctx); err != nil {
					errs[i] = err
					_ = srv.Close()
				}
			}()
		}
		wg.Wait()
		for _, rn := range s.runners {
			rn.Close()
		}
		s.closeErr = errors.Join(errs...)
		s.log.Info("simulator stopped")
	})
	return s.closeErr
}

// WriteStateFile writes st as JSON to path atomically (temporary file in the
// same directory, then rename), readable by the owner only.
func WriteStateFile(path string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // no-op after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
