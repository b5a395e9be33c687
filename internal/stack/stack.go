package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SimProxyAPIKey is the simulator's PROXY_API_KEY (Daytona's dev default),
// given to the resolver.
const SimProxyAPIKey = "super_secret_key"

// Options describe one stack. Empty addresses are chosen free on loopback.
type Options struct {
	// Root is the repository root; Dir a fresh directory for configuration
	// and logs.
	Root, Dir string
	Bins      Bins

	// WebAddr is Traefik's public entry point; AdminAddr its ping and API.
	WebAddr, AdminAddr string
	// ResolverInternal and ResolverPublic are the resolver's listeners.
	ResolverInternal, ResolverPublic string
	// SimAPIAddr is the simulator's API (served under /api and /_sim).
	SimAPIAddr string
	// Runners are the simulator's runners, "name" (a free port) or
	// "name=host:port". Default: r1, r2.
	Runners []string
	// StaticRunners gives the resolver the simulator's runners up front, so
	// that Traefik routes to them before the first request.
	StaticRunners bool
	// Direct runs routing mode "direct": one fixed runner service (the
	// first runner), no HTTP provider.
	Direct bool
	// PluginCacheSize, if set, overrides the plugin's cacheSize (0: off).
	PluginCacheSize *int
	// PollInterval is Traefik's HTTP provider poll interval. Default 1s.
	PollInterval string
	// Secret is the shared plugin/resolver secret. Default: random.
	Secret string
	// ResolverEnv is added to the resolver's environment (overrides).
	ResolverEnv []string
	// TraefikEnv is added to Traefik's environment (overrides: the
	// benchmark sets GOGC).
	TraefikEnv []string
	// TraefikWrapper, if set, is a command that runs Traefik: its binary
	// and arguments are appended (the benchmark runs it under valgrind).
	// Each of Traefik's start-up waits then gets TraefikWrapperTimeout
	// (instead of a minute to start and half a minute to route).
	TraefikWrapper        []string
	TraefikWrapperTimeout time.Duration
	// LogOut, if set, also receives every process's output, prefixed.
	LogOut io.Writer
	// TraefikLogLevel defaults to ERROR (INFO for the dev stack).
	TraefikLogLevel string

	// TraefikCPUs and OtherCPUs, if set, pin Traefik and the other
	// processes to CPUs with taskset (a list such as "0" or "1-3").
	TraefikCPUs, OtherCPUs string
	// ExtraStatic and ExtraDynamic may change Traefik's generated static and
	// dynamic configuration (the benchmark adds its routers there).
	ExtraStatic, ExtraDynamic func(map[string]interface{})
	// Plugins are more local plugins to install beside ours.
	Plugins []LocalPlugin
	// Helm, if set, is a values file for the official Traefik chart
	// (traefik/helm/values.yaml): Traefik and the resolver are then run as
	// the chart would run them from it (see loadHelm), instead of from
	// traefik/*.yml.
	Helm string
}

// LocalPlugin is a Traefik local plugin given as its files (".traefik.yml",
// "go.mod", sources), installed under plugins-local/src/<Module>.
type LocalPlugin struct {
	Name, Module string
	Files        map[string]string
}

// Stack is a running gateway: Traefik with the plugin, the resolver and the
// Daytona simulator.
type Stack struct {
	opts Options
	// Web is Traefik's public entry point (host:port); WebPort its port.
	Web     string
	WebPort int
	// Admin is Traefik's ping and API entry point.
	Admin string
	// ResolverInternal and ResolverPublic are the resolver's listeners.
	ResolverInternal, ResolverPublic string
	// SimAPI is the simulator's base URL (without /api).
	SimAPI string
	// Runners maps runner ids to the simulator's runner state.
	Runners map[string]SimRunner
	// Secret is the shared plugin/resolver secret.
	Secret string

	sim, resolver, traefik *proc
}

// SimRunner is one runner in the simulator's state file.
type SimRunner struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	APIKey string `json:"apiKey"`
}

type simState struct {
	APIURL  string               `json:"apiUrl"`
	Runners map[string]SimRunner `json:"runners"`
}

// Start starts the simulator, then the resolver, then Traefik, and waits
// until a request through Traefik reaches the plugin and every runner the
// resolver knows is routable. On error everything started is stopped.
//
// Free ports are picked before the processes bind them, so another process
// can take one in between (go test runs packages in parallel): a start that
// fails on a taken address is tried again with other ports.
func Start(ctx context.Context, o Options) (*Stack, error) {
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, o)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
	}
}

func start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Root == "" || o.Dir == "" {
		return nil, errors.New("stack: Root and Dir are required")
	}
	if len(o.Runners) == 0 {
		o.Runners = []string{"r1", "r2"}
	}
	if o.PollInterval == "" {
		o.PollInterval = "1s"
	}
	if o.TraefikLogLevel == "" {
		o.TraefikLogLevel = "ERROR"
	}
	if o.Secret == "" {
		var b [24]byte
		_, _ = rand.Read(b[:])
		o.Secret = "stack-" + hex.EncodeToString(b[:])
	}
	// Every address left empty gets a port of its own; a stack from Helm
	// values also needs the chart's websecure entry point.
	var websecure string
	var unset []*string
	for _, a := range []*string{&o.WebAddr, &o.AdminAddr, &o.ResolverInternal, &o.ResolverPublic, &o.SimAPIAddr} {
		if *a == "" {
			unset = append(unset, a)
		}
	}
	if o.Helm != "" {
		unset = append(unset, &websecure)
	}
	free, err := FreeAddrs(len(unset))
	if err != nil {
		return nil, err
	}
	for i, a := range unset {
		*a = free[i]
	}
	s = &Stack{opts: o, Web: o.WebAddr, Admin: o.AdminAddr, ResolverInternal: o.ResolverInternal,
		ResolverPublic: o.ResolverPublic, SimAPI: "http://" + o.SimAPIAddr, Secret: o.Secret}
	_, port, err := net.SplitHostPort(o.WebAddr)
	if err != nil {
		return nil, err
	}
	s.WebPort, _ = strconv.Atoi(port)
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}

	// The simulator: API plus runners on free ports, state written once up.
	statePath := filepath.Join(o.Dir, "sim-state.json")
	_ = os.Remove(statePath) // left by an earlier attempt
	simArgs := []string{
		"-api-addr", o.SimAPIAddr,
		"-proxy-api-key", SimProxyAPIKey,
		"-proxy-template-url", "http://{{PORT}}-{{sandboxId}}.localhost:" + port,
		"-proxy-toolbox-url", "http://localhost:" + port + "/toolbox",
		"-state-file", statePath,
		"-stopped-delay", "200ms",
	}
	for _, r := range o.Runners {
		if !strings.Contains(r, "=") {
			r += "=127.0.0.1:0"
		}
		simArgs = append(simArgs, "-runner", r)
	}
	if s.sim, err = startPinned(o.OtherCPUs, "daytona-sim", o.Dir, nil, o.LogOut, o.Bins.Sim, simArgs...); err != nil {
		return s, err
	}
	var st simState
	if err = s.sim.waitFor(ctx, 30*time.Second, "writing its state file", func() error {
		b, err := os.ReadFile(statePath)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &st)
	}); err != nil {
		return s, err
	}
	s.Runners = st.Runners

	// The resolver.
	var env []string
	var hc *helmConfig
	if o.Helm != "" {
		if hc, err = loadHelm(o, websecure); err != nil {
			return s, err
		}
		// The sidecar's environment from the values.
		env = hc.resolverEnv
	} else {
		env = []string{
			"PROXY_API_KEY=" + SimProxyAPIKey,
			"PREVIEWGATE_SECRET=" + o.Secret,
			"PREVIEWGATE_INTERNAL_ADDR=" + o.ResolverInternal,
			"PREVIEWGATE_DECIDE_SOCKET=" + DecideSocket(o.ResolverInternal),
		}
	}
	// What only this stack knows: the simulator's API, a free public port.
	env = append(env, "DAYTONA_API_URL="+st.APIURL, "PREVIEWGATE_PUBLIC_ADDR="+o.ResolverPublic, "API_CLIENT_TIMEOUT_SEC=5")
	if o.Direct {
		// The fixed service reaches the first runner: only its sandboxes
		// are forwarded.
		name, _, _ := strings.Cut(o.Runners[0], "=")
		env = append(env, "PREVIEWGATE_ROUTING=direct", "PREVIEWGATE_DIRECT_RUNNER="+s.RunnerID(name))
	} else if o.StaticRunners {
		env = append(env, "PREVIEWGATE_STATIC_RUNNERS="+s.staticRunners())
	}
	env = append(env, o.ResolverEnv...)
	if s.resolver, err = startPinned(o.OtherCPUs, "resolver", o.Dir, env, o.LogOut, o.Bins.Resolver); err != nil {
		return s, err
	}
	if err = s.resolver.waitFor(ctx, 30*time.Second, "answering /health", httpOK("http://"+o.ResolverInternal+"/health")); err != nil {
		return s, err
	}

	// Traefik, with the repository's configuration rewritten for this stack.
	setup := traefikSetup{
		root: o.Root, dir: o.Dir, webAddr: o.WebAddr, adminAddr: o.AdminAddr,
		resolverInternal: o.ResolverInternal, secret: o.Secret, direct: o.Direct,
		pollInterval: o.PollInterval, logLevel: o.TraefikLogLevel, pluginCache: o.PluginCacheSize,
		extraStatic: o.ExtraStatic, extraDynamic: o.ExtraDynamic, plugins: o.Plugins,
	}
	if o.Direct {
		name, _, _ := strings.Cut(o.Runners[0], "=")
		setup.directRunnerURL = s.runnerURL(name)
	}
	var traefikEnv, traefikArgs []string
	if hc != nil {
		traefikEnv, traefikArgs = hc.traefikEnv, hc.traefikArgs
	} else {
		staticPath, err := writeTraefikConfig(setup)
		if err != nil {
			return s, err
		}
		traefikArgs = []string{"--configFile=" + staticPath}
	}
	traefikEnv = append(traefikEnv, o.TraefikEnv...)
	traefikBin, startWait, routeWait := o.Bins.Traefik, 60*time.Second, 30*time.Second
	if len(o.TraefikWrapper) > 0 {
		traefikArgs = append(append(append([]string(nil), o.TraefikWrapper[1:]...), traefikBin), traefikArgs...)
		traefikBin, startWait, routeWait = o.TraefikWrapper[0], o.TraefikWrapperTimeout, o.TraefikWrapperTimeout
	}
	if s.traefik, err = startPinned(o.TraefikCPUs, "traefik", o.Dir, traefikEnv, o.LogOut, traefikBin, traefikArgs...); err != nil {
		return s, err
	}
	if err = s.traefik.waitFor(ctx, startWait, "answering ping", httpOK("http://"+o.AdminAddr+"/ping")); err != nil {
		return s, err
	}
	if err = s.traefik.waitFor(ctx, startWait, "running the plugin", s.gatewayHealthy); err != nil {
		return s, err
	}
	if o.StaticRunners && !o.Direct {
		for id := range s.Runners {
			name := "previewgate-runner-" + id + "@http"
			if err = s.traefik.waitFor(ctx, routeWait, "routing to runner "+id, s.routerEnabled(name)); err != nil {
				return s, err
			}
		}
		// The resolver counts a runner as routable a moment after Traefik
		// fetched it; wait for the demo sandboxes to forward.
		if err = s.traefik.waitFor(ctx, routeWait, "forwarding to the demo sandbox", s.forwards("3000-demo-public.localhost")); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *Stack) staticRunners() string {
	ids := make([]string, 0, len(s.Runners))
	for id := range s.Runners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + "=" + s.Runners[id].URL
	}
	return strings.Join(parts, ",")
}

// runnerURL returns the URL of the runner with the given name.
func (s *Stack) runnerURL(name string) string {
	for _, r := range s.Runners {
		if r.Name == name {
			return r.URL
		}
	}
	return ""
}

// RunnerID returns the id of the runner with the given name.
func (s *Stack) RunnerID(name string) string {
	for id, r := range s.Runners {
		if r.Name == name {
			return id
		}
	}
	return ""
}

// gatewayHealthy: GET /health on the gateway host answers through the plugin.
func (s *Stack) gatewayHealthy() error {
	resp, err := s.Do("GET", "localhost", "/health", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("gateway /health: %s", resp.Status)
	}
	return nil
}

func (s *Stack) forwards(host string) func() error {
	return func() error {
		resp, err := s.Do("GET", host, "/", nil)
		return answers200("GET http://"+host+"/", resp, err)
	}
}

func (s *Stack) routerEnabled(name string) func() error {
	c := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := c.Get("http://" + s.Admin + "/api/http/routers/" + name)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return fmt.Errorf("router %s: %s", name, resp.Status)
		}
		if r.Status != "enabled" {
			return fmt.Errorf("router %s: status %q", name, r.Status)
		}
		return nil
	}
}

// client never follows redirects and never reuses a proxy from the
// environment.
var client = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends one request to Traefik's public entry point with the given Host.
func (s *Stack) Do(method, host, pathAndQuery string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://"+s.Web+pathAndQuery, nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	return client.Do(req)
}

// URL is the address a browser would use for a sandbox port through the
// gateway.
func (s *Stack) URL(port int, sandbox string) string {
	return "http://" + strconv.Itoa(port) + "-" + sandbox + ".localhost:" + strconv.Itoa(s.WebPort) + "/"
}

// Host is the Host header of a sandbox port.
func (s *Stack) Host(port int, sandbox string) string {
	return strconv.Itoa(port) + "-" + sandbox + ".localhost"
}

// startPinned starts a process, under taskset when cpus is set.
func startPinned(cpus, name, dir string, env []string, out io.Writer, bin string, args ...string) (*proc, error) {
	if cpus != "" {
		args = append([]string{"-c", cpus, bin}, args...)
		bin = "taskset"
	}
	return startProc(name, dir, dir, env, out, bin, args...)
}

// PIDs returns the process ids of the simulator, the resolver and Traefik.
func (s *Stack) PIDs() (sim, resolver, traefik int) {
	return s.sim.cmd.Process.Pid, s.resolver.cmd.Process.Pid, s.traefik.cmd.Process.Pid
}

// StopResolver stops the resolver only (failure tests).
func (s *Stack) StopResolver() { s.resolver.stop(5 * time.Second) }

// Logs returns the end of every process's log.
func (s *Stack) Logs() string {
	var b strings.Builder
	for _, p := range []*proc{s.sim, s.resolver, s.traefik} {
		if p != nil {
			fmt.Fprintf(&b, "=== %s (%s)\n%s\n", p.name, p.log, p.tail())
		}
	}
	return b.String()
}

// Wait returns when a process exits, with its name and error.
func (s *Stack) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.sim.done:
		return fmt.Errorf("daytona-sim exited: %v", s.sim.err)
	case <-s.resolver.done:
		return fmt.Errorf("resolver exited: %v", s.resolver.err)
	case <-s.traefik.done:
		return fmt.Errorf("traefik exited: %v", s.traefik.err)
	}
}

// Stop stops every process, Traefik first.
func (s *Stack) Stop() {
	if s == nil {
		return
	}
	s.traefik.stop(5 * time.Second)
	s.resolver.stop(5 * time.Second)
	s.sim.stop(5 * time.Second)
}

// The dev topology: the addresses of docker-compose.yml, where the resolver
// and the simulator share Traefik's network namespace. The dev stack
// (cmd/devstack) uses them as its defaults; compose_test.go checks them
// against docker-compose.yml and traefik/*.yml.
const (
	DevWebAddr          = "127.0.0.1:8000"
	DevAdminAddr        = "127.0.0.1:8089"
	DevResolverInternal = "127.0.0.1:8081"
	// DevDecideSocket is the resolverSocket of traefik/dynamic.yml.
	DevDecideSocket   = "@previewgate-decide"
	DevResolverPublic = "127.0.0.1:8080"
	DevSimAPIAddr     = "127.0.0.1:3000"
	DevRunners        = "r1=127.0.0.1:3003,r2=127.0.0.1:3004"
)

// DecideSocket names a stack's decision socket after its resolver's
// internal port: the configuration's name with "-{port}", so that stacks
// side by side (tests, the benchmark) never share one.
func DecideSocket(resolverInternal string) string {
	_, port, _ := net.SplitHostPort(resolverInternal)
	return DevDecideSocket + "-" + port
}
