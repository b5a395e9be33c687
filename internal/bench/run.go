package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/gorilla/securecookie"

	"github.com/previewgate/previewgate/internal/stack"
	"github.com/previewgate/previewgate/plugin"
)

// Options configure a benchmark run.
type Options struct {
	Root, Dir string
	Bins      stack.Bins
	Rounds    int
	Load      Load
	// ColdRequests concurrent first requests to one new sandbox.
	ColdRequests int
	// Sandboxes distinct sandboxes warmed for the scale check.
	Sandboxes int
	// WSMessages WebSocket round trips per route and round.
	WSMessages int
	// SSERequests SSE streams per route and round.
	SSERequests int
	// Only, if set, limits the throughput rounds to these scenarios (bare
	// Traefik is always kept: the ratios need it).
	Only []string
	// TraefikCPUs and OtherCPUs pin Traefik and everything else.
	TraefikCPUs, OtherCPUs string
	// TraefikGOGC is Traefik's GOGC; empty is Go's default, 100 (set
	// explicitly: a GOGC in the caller's environment does not leak in).
	TraefikGOGC string
	// TraefikEnv, TraefikWrapper, TraefikWrapperTimeout and PollInterval
	// go to stack.Options (CountInstructions sets them).
	TraefikEnv            []string
	PollInterval          string
	TraefikWrapper        []string
	TraefikWrapperTimeout time.Duration
	// DumpDir, if set, keeps CountInstructions' callgrind dumps there, one
	// per count: callgrind.<scenario>.out, and bare Traefik's as
	// callgrind.traefik-bare.<scenario>.out when it sends that scenario's
	// headers (callgrind_annotate reads them).
	DumpDir string
	Log     io.Writer
}

// DefaultTraefikGOGC is the GOGC Traefik runs with unless told: Go's
// default, as the gateway ships it.
const DefaultTraefikGOGC = "100"

// traefikGOGC is the GOGC Traefik runs with.
func (o Options) traefikGOGC() string {
	if o.TraefikGOGC != "" {
		return o.TraefikGOGC
	}
	return DefaultTraefikGOGC
}

// env is a running benchmark stack.
type env struct {
	s   *stack.Stack
	up  *Upstream
	scs []Scenario
}

func (e *env) url(sc Scenario) string {
	if sc.Direct {
		return e.up.URL() + sc.Path
	}
	return "http://" + e.s.Web + sc.Path
}

func (e *env) headers(sc Scenario) []string {
	h := append([]string(nil), sc.Headers...)
	if sc.Host != "" {
		h = append(h, "Host: "+sc.Host)
	}
	return h
}

// scenario returns the scenario of that name.
func (e *env) scenario(name string) (Scenario, bool) {
	for _, sc := range e.scs {
		if sc.Name == name {
			return sc, true
		}
	}
	return Scenario{}, false
}

func (e *env) close() {
	e.s.Stop()
	e.up.Close()
}

// start runs the stack with the comparison routes and checks that every
// scenario answers the upstream's "ok".
func start(ctx context.Context, o Options) (*env, error) {
	up, err := StartUpstream(runnerKey, "bench-r2-key")
	if err != nil {
		return nil, err
	}
	s, err := stack.Start(ctx, stack.Options{
		Root: o.Root, Dir: o.Dir, Bins: o.Bins,
		Runners: []string{
			"r1=127.0.0.1:0,key=" + runnerKey + ",url=" + up.URL(),
			"r2=127.0.0.1:0,key=bench-r2-key,url=" + up.URL(),
		},
		StaticRunners: true,
		ResolverEnv:   []string{"PREVIEWGATE_FORWARD_AUTH=true", "LOG_LEVEL=warn"},
		TraefikCPUs:   o.TraefikCPUs, OtherCPUs: o.OtherCPUs,
		TraefikEnv:     append([]string{"GOGC=" + o.traefikGOGC()}, o.TraefikEnv...),
		TraefikWrapper: o.TraefikWrapper, TraefikWrapperTimeout: o.TraefikWrapperTimeout,
		PollInterval: o.PollInterval,
		ExtraDynamic: benchDynamic(up.URL()),
		ExtraStatic: func(st map[string]interface{}) {
			// pprof on the loopback-only admin entry point (Profile).
			st["api"].(map[string]interface{})["debug"] = true
		},
		Plugins: []stack.LocalPlugin{noopPlugin, rewritePlugin},
	})
	if err != nil {
		up.Close()
		return nil, err
	}
	cookie, err := securecookie.New([]byte(stack.SimProxyAPIKey), nil).Encode("daytona-sandbox-auth-demo-private", "demo-private")
	if err != nil {
		s.Stop()
		up.Close()
		return nil, err
	}
	e := &env{s: s, up: up, scs: scenarios(cookie)}
	for _, sc := range e.scs {
		if err := checkOK(e.url(sc), e.headers(sc)); err != nil {
			e.close()
			return nil, fmt.Errorf("%s: %w\n%s", sc.Name, err, s.Logs())
		}
	}
	return e, nil
}

// Profile loads one scenario and records Traefik's CPU profile meanwhile.
// It returns how many requests reached the runner stand-in while the
// profile was recorded, so that profiles of two scenarios compare per
// request.
func Profile(ctx context.Context, o Options, scenario, out string) (int64, error) {
	e, err := start(ctx, o)
	if err != nil {
		return 0, err
	}
	defer e.close()
	sc, ok := e.scenario(scenario)
	if !ok {
		return 0, fmt.Errorf("no scenario %q", scenario)
	}
	load := o.Load
	load.Duration += 2 * time.Second
	done := make(chan error, 1)
	go func() {
		_, err := RunWrk(ctx, load, e.url(sc), e.headers(sc))
		done <- err
	}()
	time.Sleep(time.Second)
	secs := int(o.Load.Duration / time.Second)
	before := e.up.Requests()
	resp, err := (&http.Client{Timeout: o.Load.Duration + 30*time.Second}).Get(
		"http://" + e.s.Admin + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(f, resp.Body) // the profile comes when it is recorded
	n := e.up.Requests() - before
	if err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return n, <-done
}

// Run starts the stack, measures everything and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	logf := func(format string, args ...interface{}) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	e, err := start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	s, scs := e.s, e.scs
	if len(o.Only) > 0 {
		var kept []Scenario
		for _, sc := range scs {
			for _, n := range append(o.Only, ScBare) {
				if sc.Name == n {
					kept = append(kept, sc)
					break
				}
			}
		}
		scs = kept
	}
	urlOf, headersOf := e.url, e.headers
	r := newReport(o)
	warm := o.Load
	warm.Duration = time.Second
	for _, sc := range scs {
		if _, err := RunWrk(ctx, warm, urlOf(sc), headersOf(sc)); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", sc.Name, err)
		}
	}
	// Every scenario's run is bracketed by bare Traefik runs, one just
	// before and one just after, and its ratios are taken against their
	// mean: this VM's speed drifts within seconds (consecutive bare runs
	// differ by a sixth), so only runs back to back compare, and a drift
	// across the pair cancels. The bare runs carry the scenario's own
	// request headers (a preview token, a cookie), so that the pair differs
	// only by what the gateway does; a bare run after one scenario is the
	// one before the next when their headers are the same.
	bareSc, _ := e.scenario(ScBare)
	results := map[string][]Result{}
	one := func(round int, sc Scenario) (Result, error) {
		res, err := RunWrk(ctx, o.Load, urlOf(sc), headersOf(sc))
		if err != nil {
			return res, fmt.Errorf("%s round %d: %w", sc.Name, round, err)
		}
		logf("round %d  %-22s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %d", round, sc.Name, res.RPS, res.P50ms, res.P99ms, res.Non2xx)
		results[sc.Name] = append(results[sc.Name], res)
		return res, nil
	}
	paired, err := bracketed(o.Rounds, scs, bareSc, one)
	if err != nil {
		return nil, err
	}
	r.addScenarios(scs, results, paired)

	if o.ColdRequests > 0 {
		logf("cold path: %d concurrent first requests to one new sandbox", o.ColdRequests)
		if r.Cold, err = coldPath(s, o.ColdRequests); err != nil {
			return nil, err
		}
	}
	if o.WSMessages > 0 {
		logf("WebSocket round trips, gateway and bare Traefik")
		if r.WebSocket, err = webSockets(ctx, s, o.Rounds, o.WSMessages); err != nil {
			return nil, err
		}
	}
	if o.SSERequests > 0 {
		logf("SSE first events, gateway and bare Traefik")
		if r.SSE, err = sse(s, o.Rounds, o.SSERequests); err != nil {
			return nil, err
		}
	}
	if o.Sandboxes > 0 {
		logf("scale: %d distinct sandboxes", o.Sandboxes)
		if r.Scale, err = scale(s, o.Sandboxes); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// bracketed runs every scenario but bare Traefik, round after round, each
// between two bare Traefik runs with its headers (see Run), and returns
// each run's bracket by scenario.
func bracketed(rounds int, scs []Scenario, bare Scenario, one func(round int, sc Scenario) (Result, error)) (map[string][]Result, error) {
	paired := map[string][]Result{}
	var last Result // the last run, when it was bare with lastHeaders
	var lastHeaders []string
	haveLast := false
	for round := 1; round <= rounds; round++ {
		for _, sc := range scs {
			if sc.Name == ScBare {
				continue
			}
			b := bareWith(bare, sc)
			if !haveLast || !slices.Equal(lastHeaders, b.Headers) {
				var err error
				if last, err = one(round, b); err != nil {
					return nil, err
				}
			}
			before := last
			if _, err := one(round, sc); err != nil {
				return nil, err
			}
			after, err := one(round, b)
			if err != nil {
				return nil, err
			}
			last, lastHeaders, haveLast = after, b.Headers, true
			paired[sc.Name] = append(paired[sc.Name], bracket(before, after))
		}
	}
	return paired, nil
}

// bracket is what a scenario's run is compared with: the mean of the bare
// Traefik runs just before and just after it.
func bracket(before, after Result) Result {
	return Result{
		RPS:   (before.RPS + after.RPS) / 2,
		P50ms: (before.P50ms + after.P50ms) / 2,
		P99ms: (before.P99ms + after.P99ms) / 2,
	}
}

// bareWith is the bare Traefik scenario sending sc's request headers too
// (those it does not send already, such as the no-op plugin's runner key).
func bareWith(bare, sc Scenario) Scenario {
	h := append([]string(nil), bare.Headers...)
	for _, x := range sc.Headers {
		if !slices.Contains(h, x) {
			h = append(h, x)
		}
	}
	bare.Headers = h
	return bare
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func newRequest(method, url string, headers []string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

func checkOK(url string, headers []string) error {
	req, err := newRequest("GET", url, headers)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		return fmt.Errorf("GET %s: %s %q", url, resp.Status, b)
	}
	return nil
}

func simJSON(s *stack.Stack, method, path, body string, out interface{}) error {
	req, err := http.NewRequest(method, s.SimAPI+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Cold is the cold-path check.
type Cold struct {
	Requests int              `json:"requests"`
	Statuses map[string]int   `json:"statuses"`
	APICalls map[string]int64 `json:"apiCalls"`
	Seconds  float64          `json:"seconds"`
}

func coldPath(s *stack.Stack, n int) (Cold, error) {
	c := Cold{Requests: n, Statuses: map[string]int{}}
	const id, token = "cold-sandbox", "coldpreviewtoken0000000000000000"
	if err := simJSON(s, "POST", "/_sim/sandboxes", `{"id":"`+id+`","runner":"r1","previewToken":"`+token+`"}`, nil); err != nil {
		return c, err
	}
	if err := simJSON(s, "POST", "/_sim/calls/reset", "", nil); err != nil {
		return c, err
	}
	// One connection per request: the first requests of many clients.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := newRequest("GET", "http://"+s.Web+FastPath, []string{"Host: 3000-" + id + ".localhost", "X-Daytona-Preview-Token: " + token})
			<-start
			status := "error"
			if resp, err := cl.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = strconv.Itoa(resp.StatusCode)
			}
			mu.Lock()
			c.Statuses[status]++
			mu.Unlock()
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	c.Seconds = time.Since(t0).Seconds()
	time.Sleep(500 * time.Millisecond) // the last-activity update is sent in the background
	var calls struct {
		BySandbox map[string]map[string]int64 `json:"bySandbox"`
	}
	if err := simJSON(s, "GET", "/_sim/calls", "", &calls); err != nil {
		return c, err
	}
	c.APICalls = map[string]int64{}
	for endpoint, bySandbox := range calls.BySandbox {
		if v := bySandbox[id]; v > 0 {
			c.APICalls[endpoint] = v
		}
	}
	return c, nil
}

// Latency is a distribution summary in microseconds.
type Latency struct {
	N     int     `json:"n"`
	P50us float64 `json:"p50Us"`
	P99us float64 `json:"p99Us"`
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(d)-1) + 0.5)
		return float64(d[i].Nanoseconds()) / 1000
	}
	return Latency{N: len(d), P50us: at(0.50), P99us: at(0.99)}
}

// Stream compares the gateway with bare Traefik.
type Stream struct {
	Gateway Latency `json:"gateway"`
	Bare    Latency `json:"bare"`
}

type route struct {
	host, path string
	headers    []string
}

func streamRoutes() (gateway, bare route) {
	return route{"3000-demo-public.localhost", "", nil},
		route{"bare.bench", runnerPrefix, []string{runnerAuthHead}}
}

// webSockets measures echo round trips through the gateway and bare
// Traefik. Each round opens one connection through each and alternates
// them message by message, so that both see the same moments of this VM
// (a block of one route then a block of the other would let the VM's
// drift, or what ran just before, fall on one of them).
func webSockets(ctx context.Context, s *stack.Stack, rounds, n int) (Stream, error) {
	gw, bare := streamRoutes()
	var out [2][]time.Duration
	msg := []byte("previewgate websocket benchmark message, 64 bytes long.........")
	for round := 0; round < rounds; round++ {
		var conns [2]*websocket.Conn
		for i, rt := range []route{gw, bare} {
			h := http.Header{}
			for _, kv := range rt.headers {
				k, v, _ := strings.Cut(kv, ": ")
				h.Set(k, v)
			}
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, _, err := websocket.Dial(dctx, "ws://"+s.Web+rt.path+"/ws", &websocket.DialOptions{Host: rt.host, HTTPHeader: h})
			cancel()
			if err != nil {
				if conns[0] != nil {
					conns[0].CloseNow()
				}
				return Stream{}, fmt.Errorf("websocket via %s: %w", rt.host, err)
			}
			conns[i] = c
		}
		err := func() error {
			for j := 0; j < n; j++ {
				for i, c := range conns {
					t0 := time.Now()
					if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
						return err
					}
					if _, _, err := c.Read(ctx); err != nil {
						return err
					}
					out[i] = append(out[i], time.Since(t0))
				}
			}
			return nil
		}()
		for _, c := range conns {
			c.Close(websocket.StatusNormalClosure, "")
		}
		if err != nil {
			return Stream{}, err
		}
	}
	return Stream{Gateway: summarize(out[0]), Bare: summarize(out[1])}, nil
}

// sse measures the time from sending the request to the first event.
func sse(s *stack.Stack, rounds, n int) (Stream, error) {
	gw, bare := streamRoutes()
	var out [2][]time.Duration
	for round := 0; round < rounds; round++ {
		for j := 0; j < n; j++ {
			for i, rt := range []route{gw, bare} {
				req, err := newRequest("GET", "http://"+s.Web+rt.path+"/sse?n=2&ms=200", append([]string{"Host: " + rt.host}, rt.headers...))
				if err != nil {
					return Stream{}, err
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					return Stream{}, err
				}
				line, err := bufio.NewReader(resp.Body).ReadString('\n')
				d := time.Since(t0)
				resp.Body.Close()
				if err != nil || !strings.HasPrefix(line, "data: ") {
					return Stream{}, fmt.Errorf("sse via %s: %q %v", rt.host, line, err)
				}
				out[i] = append(out[i], d)
			}
		}
	}
	return Stream{Gateway: summarize(out[0]), Bare: summarize(out[1])}, nil
}

// Scale is the many-sandboxes check.
type Scale struct {
	Sandboxes            int     `json:"sandboxes"`
	Failed               int     `json:"failed"`
	Seconds              float64 `json:"seconds"`
	ResolverRSSBeforeMiB float64 `json:"resolverRssBeforeMiB"`
	ResolverRSSAfterMiB  float64 `json:"resolverRssAfterMiB"`
	TraefikRSSBeforeMiB  float64 `json:"traefikRssBeforeMiB"`
	TraefikRSSAfterMiB   float64 `json:"traefikRssAfterMiB"`
	PluginCacheEntries   int     `json:"pluginCacheEntries"`
	PluginCacheLimit     int     `json:"pluginCacheLimit"`
	// Traefik's CPU use while no request comes, before the warm-up and
	// with the warmed decisions cached: what keeping them costs (the
	// plugin's sweeper shares Traefik's one core with the requests).
	TraefikIdleCPUBeforePercent float64 `json:"traefikIdleCpuBeforePercent"`
	TraefikIdleCPUAfterPercent  float64 `json:"traefikIdleCpuAfterPercent"`
}

// idleWindow is how long Traefik's idle CPU use is sampled.
const idleWindow = 3 * time.Second

func scale(s *stack.Stack, n int) (Scale, error) {
	sc := Scale{Sandboxes: n}
	_, resolverPID, traefikPID := s.PIDs()
	sc.ResolverRSSBeforeMiB, sc.TraefikRSSBeforeMiB = rssMiB(resolverPID), rssMiB(traefikPID)
	sc.TraefikIdleCPUBeforePercent = idleCPUPercent(traefikPID)
	ids := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				id := "scale-" + strconv.Itoa(i)
				err := simJSON(s, "POST", "/_sim/sandboxes", `{"id":"`+id+`","runner":"r1","public":true}`, nil)
				if err == nil {
					err = checkOK("http://"+s.Web+FastPath, []string{"Host: 3000-" + id + ".localhost"})
				}
				if err != nil {
					mu.Lock()
					sc.Failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	sc.Seconds = time.Since(t0).Seconds()
	if sc.Failed > n/100 {
		return sc, fmt.Errorf("scale: %d of %d sandboxes failed, first: %v", sc.Failed, n, firstErr)
	}
	runtime.GC()
	sc.ResolverRSSAfterMiB, sc.TraefikRSSAfterMiB = rssMiB(resolverPID), rssMiB(traefikPID)
	req, _ := newRequest("GET", "http://"+s.Web+"/health", []string{"Host: localhost", plugin.HeaderKey + ": " + s.Secret})
	resp, err := client.Do(req)
	if err != nil {
		return sc, err
	}
	defer resp.Body.Close()
	var h struct {
		Cache struct {
			Entries int `json:"entries"`
			Limit   int `json:"limit"`
		} `json:"cache"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return sc, fmt.Errorf("gateway health: %w", err)
	}
	sc.PluginCacheEntries, sc.PluginCacheLimit = h.Cache.Entries, h.Cache.Limit
	sc.TraefikIdleCPUAfterPercent = idleCPUPercent(traefikPID)
	return sc, nil
}

// idleCPUPercent samples a process's CPU time (user and system) over
// idleWindow, in percent of one core; -1 when /proc cannot tell.
func idleCPUPercent(pid int) float64 {
	t0, ok0 := cpuTicks(pid)
	time.Sleep(idleWindow)
	t1, ok1 := cpuTicks(pid)
	if !ok0 || !ok1 {
		return -1
	}
	// /proc counts in USER_HZ, 100 per second on Linux.
	return float64(t1-t0) / 100 / idleWindow.Seconds() * 100
}

// cpuTicks reads utime + stime from /proc/<pid>/stat.
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing one (utime and stime are fields 14, 15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, err1 == nil && err2 == nil
}

// rssMiB reads a process's resident set size.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// PinSelf moves every thread of this process to cpus (taskset -a -p).
func PinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}
