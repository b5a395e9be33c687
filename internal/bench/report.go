package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/previewgate/previewgate/plugin"
)

// Report is everything one run measured; it is written as JSON.
type Report struct {
	When      string           `json:"when"`
	Machine   Machine          `json:"machine"`
	Load      LoadInfo         `json:"load"`
	Rounds    int              `json:"rounds"`
	Scenarios []ScenarioReport `json:"scenarios"`
	Cold      Cold             `json:"cold"`
	WebSocket Stream           `json:"webSocket"`
	SSE       Stream           `json:"sseFirstEvent"`
	Scale     Scale            `json:"scale"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU         string `json:"cpu"`
	CPUs        int    `json:"cpus"`
	Go          string `json:"go"`
	Traefik     string `json:"traefik"`
	Plugin      string `json:"plugin"`
	TraefikCPUs string `json:"traefikCpus"`
	OtherCPUs   string `json:"otherCpus"`
	// TraefikGOGC is Traefik's GOGC in this run (bare Traefik's too: the
	// same process). Runs before it was recorded had Go's default, 100.
	TraefikGOGC string `json:"traefikGogc,omitempty"`
}

// LoadInfo is the wrk load, for the report.
type LoadInfo struct {
	Threads     int    `json:"threads"`
	Connections int    `json:"connections"`
	Duration    string `json:"duration"`
}

// ScenarioReport is one scenario over every round.
type ScenarioReport struct {
	Scenario
	Rounds []Result `json:"rounds"`
	// Medians over the rounds.
	RPS   float64 `json:"rps"`
	P50ms float64 `json:"p50Ms"`
	P99ms float64 `json:"p99Ms"`
	// RatioRPS and RatioP99 compare with bare Traefik measured in the same
	// round: the median over the rounds of the per-round ratios, which a
	// noisy neighbour slowing the whole machine for a round disturbs less
	// than a ratio of medians would.
	RatioRPS float64 `json:"ratioRps"`
	RatioP99 float64 `json:"ratioP99"`
	// RatioRPSMin and RatioRPSMax are the lowest and highest of the
	// per-round req/s ratios: how far this machine's noise moves one pair.
	RatioRPSMin float64 `json:"ratioRpsMin"`
	RatioRPSMax float64 `json:"ratioRpsMax"`
	Non2xx      int64   `json:"non2xx"`
	Errors      int64   `json:"socketErrors"`
}

func newReport(o Options) *Report {
	return &Report{
		When: time.Now().UTC().Format(time.RFC3339),
		Machine: Machine{
			CPU: cpuModel(), CPUs: runtime.NumCPU(), Go: runtime.Version(),
			Traefik: traefikVersion(o.Bins.Traefik), Plugin: plugin.Version,
			TraefikCPUs: o.TraefikCPUs, OtherCPUs: o.OtherCPUs, TraefikGOGC: o.traefikGOGC(),
		},
		Load:   LoadInfo{Threads: o.Load.Threads, Connections: o.Load.Connections, Duration: o.Load.Duration.String()},
		Rounds: o.Rounds,
	}
}

// addScenarios summarises the rounds. A scenario's ratios are medians of
// its rounds' ratios to the bare Traefik result paired with each
// (paired[name][i], the bracket of the bare runs just before and just
// after results[name][i]); without pairs, to bare Traefik's run of the same
// round.
func (r *Report) addScenarios(scs []Scenario, results, paired map[string][]Result) {
	for _, sc := range scs {
		rs := results[sc.Name]
		sr := ScenarioReport{Scenario: sc, Rounds: rs}
		var rps, p50, p99 []float64
		for _, x := range rs {
			rps, p50, p99 = append(rps, x.RPS), append(p50, x.P50ms), append(p99, x.P99ms)
			sr.Non2xx += x.Non2xx
			sr.Errors += x.Errors
		}
		sr.RPS, sr.P50ms, sr.P99ms = median(rps), median(p50), median(p99)
		r.Scenarios = append(r.Scenarios, sr)
	}
	for i := range r.Scenarios {
		rs := results[r.Scenarios[i].Name]
		bare := paired[r.Scenarios[i].Name]
		if bare == nil {
			bare = results[ScBare]
		}
		var rps, p99 []float64
		for j := 0; j < len(rs) && j < len(bare); j++ {
			if bare[j].RPS > 0 && bare[j].P99ms > 0 {
				rps = append(rps, rs[j].RPS/bare[j].RPS)
				p99 = append(p99, rs[j].P99ms/bare[j].P99ms)
			}
		}
		r.Scenarios[i].RatioRPS, r.Scenarios[i].RatioP99 = median(rps), median(p99)
		if len(rps) > 0 {
			r.Scenarios[i].RatioRPSMin, r.Scenarios[i].RatioRPSMax = slices.Min(rps), slices.Max(rps)
		}
	}
}

// Scenario returns the scenario's report, or nil.
func (r *Report) Scenario(name string) *ScenarioReport {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints the human-readable summary.
func (r *Report) WriteTable(w io.Writer) {
	gogc := r.Machine.TraefikGOGC
	if gogc == "" { // a report from before the setting was recorded
		gogc = DefaultTraefikGOGC
	}
	fmt.Fprintf(w, "\n%s · %s · %d CPUs · Traefik %s (CPUs %s, GOGC=%s) · wrk -t%d -c%d -d%s (CPUs %s) · %d rounds, medians\n\n",
		r.When, r.Machine.CPU, r.Machine.CPUs, r.Machine.Traefik, orAll(r.Machine.TraefikCPUs), gogc,
		r.Load.Threads, r.Load.Connections, r.Load.Duration, orAll(r.Machine.OtherCPUs), r.Rounds)
	fmt.Fprintf(w, "| %-22s | %9s | %7s | %7s | %7s | %11s | %7s | %s |\n", "scenario", "req/s", "p50 ms", "p99 ms", "x bare", "rounds", "p99 x", "non-2xx")
	fmt.Fprintf(w, "|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s|\n", strings.Repeat("-", 24), strings.Repeat("-", 10), strings.Repeat("-", 8), strings.Repeat("-", 8), strings.Repeat("-", 8), strings.Repeat("-", 12), strings.Repeat("-", 8), strings.Repeat("-", 9))
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "| %-22s | %9.0f | %7.2f | %7.2f | %7.2f | %4.2f-%4.2f | %7.2f | %7d |\n", s.Name, s.RPS, s.P50ms, s.P99ms, s.RatioRPS, s.RatioRPSMin, s.RatioRPSMax, s.RatioP99, s.Non2xx+s.Errors)
	}
	fmt.Fprintf(w, "\ncold path: %d concurrent first requests in %.2fs, statuses %v, API calls %v\n", r.Cold.Requests, r.Cold.Seconds, r.Cold.Statuses, r.Cold.APICalls)
	fmt.Fprintf(w, "WebSocket round trip (µs): gateway p50 %.0f p99 %.0f · bare p50 %.0f p99 %.0f (%d each)\n",
		r.WebSocket.Gateway.P50us, r.WebSocket.Gateway.P99us, r.WebSocket.Bare.P50us, r.WebSocket.Bare.P99us, r.WebSocket.Gateway.N)
	fmt.Fprintf(w, "SSE first event (µs): gateway p50 %.0f p99 %.0f · bare p50 %.0f p99 %.0f (%d each)\n",
		r.SSE.Gateway.P50us, r.SSE.Gateway.P99us, r.SSE.Bare.P50us, r.SSE.Bare.P99us, r.SSE.Gateway.N)
	fmt.Fprintf(w, "scale: %d sandboxes in %.1fs (%d failed) · resolver RSS %.1f → %.1f MiB · Traefik RSS %.1f → %.1f MiB · plugin cache %d entries (bound %d) · Traefik idle CPU %.1f %% → %.1f %%\n",
		r.Scale.Sandboxes, r.Scale.Seconds, r.Scale.Failed, r.Scale.ResolverRSSBeforeMiB, r.Scale.ResolverRSSAfterMiB,
		r.Scale.TraefikRSSBeforeMiB, r.Scale.TraefikRSSAfterMiB, r.Scale.PluginCacheEntries, r.Scale.PluginCacheLimit,
		r.Scale.TraefikIdleCPUBeforePercent, r.Scale.TraefikIdleCPUAfterPercent)
}

func orAll(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func traefikVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
