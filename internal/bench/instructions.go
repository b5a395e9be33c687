package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Instructions is the count of one scenario's requests under callgrind.
type Instructions struct {
	Scenario string
	Requests int
	// PerRequest is Traefik's user-space instructions per request; Bare
	// is bare Traefik's for the same request headers.
	PerRequest, Bare float64
	// Allocs and Bytes are Traefik's heap allocations per request (its
	// runtime's memstats), and BareAllocs bare Traefik's.
	Allocs, Bytes, BareAllocs float64
}

// ErrNoCallgrind is returned when valgrind's callgrind is not installed.
var ErrNoCallgrind = errors.New("bench: -instructions needs valgrind (apt-get install valgrind)")

// CountInstructions runs Traefik under valgrind's callgrind (one thread:
// GOMAXPROCS=1) and counts the instructions Traefik executes for n
// requests of each scenario, sent one after another on one connection:
// zeroed before, dumped after; and Traefik's heap allocations for them.
// Traefik's collector is off (GOGC=off): a collection marks the whole live
// heap, so whether one falls among a scenario's requests would move its
// count by several percent; the allocations say what the collector would
// have to do. Unlike req/s on a shared VM these counts repeat (two runs
// of one build agree within 1-2 %), so two builds compare side by side
// with a run or two each; they leave out the
// kernel (syscalls, wake-ups), the memory system and the collector (and
// what Traefik runs on timers, measured idle and taken out), so
// they bound what req/s can show rather than predict it. Scenarios that
// Traefik does not serve (the runner directly) are skipped; for the
// cache-off ones only Traefik's side of a decision counts.
func CountInstructions(ctx context.Context, o Options, n int) ([]Instructions, error) {
	valgrind, err := exec.LookPath("valgrind")
	if err != nil {
		return nil, ErrNoCallgrind
	}
	control, err := exec.LookPath("callgrind_control")
	if err != nil {
		return nil, ErrNoCallgrind
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	dumps := filepath.Join(o.Dir, "callgrind.out")
	o.TraefikWrapper = []string{valgrind, "--tool=callgrind", "--callgrind-out-file=" + dumps}
	o.TraefikWrapperTimeout = 10 * time.Minute
	// One thread, and no preemption signals (callgrind asserts on Go's).
	o.TraefikEnv = append(o.TraefikEnv, "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")
	o.TraefikGOGC = "off"
	// Work on a timer would count against whatever requests it falls
	// among (under callgrind a second holds about a hundred): the runners
	// are static, so Traefik's HTTP provider polls once, at its start.
	o.PollInterval = "1h"
	e, err := start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	_, _, pid := e.s.PIDs()
	// No Accept-Encoding (nor, in sequential, a User-Agent): the request
	// headers are wrk's, which the header map's size depends on.
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, DisableCompression: true}}
	zero := func() error {
		if err := exec.CommandContext(ctx, control, "-z", strconv.Itoa(pid)).Run(); err != nil {
			return fmt.Errorf("callgrind_control -z: %w", err)
		}
		return nil
	}
	dump := func() (int64, string, error) {
		if err := exec.CommandContext(ctx, control, "-d", strconv.Itoa(pid)).Run(); err != nil {
			return 0, "", fmt.Errorf("callgrind_control -d: %w", err)
		}
		return newestTotal(dumps)
	}
	// What Traefik executes on its timers meanwhile (the plugin's cache
	// sweeper every SweepInterval, the runtime's): measured with no request
	// for idle, then taken out of each count in proportion to its time.
	const idle = 10 * time.Second
	if err := zero(); err != nil {
		return nil, err
	}
	time.Sleep(idle)
	idleTotal, _, err := dump()
	if err != nil {
		return nil, err
	}
	idleRate := float64(idleTotal) / idle.Seconds()
	if o.Log != nil {
		fmt.Fprintf(o.Log, "instructions: %.0f per second idle\n", idleRate)
	}
	type counted struct{ instr, allocs, bytes float64 }
	count := func(sc Scenario, label string) (counted, error) {
		var c counted
		if o.Log != nil {
			fmt.Fprintf(o.Log, "instructions: %s %q, %d requests\n", sc.Name, sc.Headers, n)
		}
		if err := sequential(ctx, client, e.url(sc), e.headers(sc), n/4+1); err != nil { // warm
			return c, fmt.Errorf("%s: %w", sc.Name, err)
		}
		before, err := memStats(client, e.s.Admin)
		if err != nil {
			return c, err
		}
		if err := zero(); err != nil {
			return c, err
		}
		began := time.Now()
		if err := sequential(ctx, client, e.url(sc), e.headers(sc), n); err != nil {
			return c, fmt.Errorf("%s: %w", sc.Name, err)
		}
		total, file, err := dump()
		if err != nil {
			return c, fmt.Errorf("%s: %w", sc.Name, err)
		}
		if o.DumpDir != "" {
			if err := os.Rename(file, filepath.Join(o.DumpDir, "callgrind."+label+".out")); err != nil {
				return c, err
			}
		}
		total -= int64(idleRate * time.Since(began).Seconds())
		after, err := memStats(client, e.s.Admin)
		if err != nil {
			return c, err
		}
		c.instr = float64(total) / float64(n)
		c.allocs = float64(after.Mallocs-before.Mallocs) / float64(n)
		c.bytes = float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
		return c, nil
	}
	bare, _ := e.scenario(ScBare)
	bareBy := map[string]counted{} // bare Traefik's counts by request headers
	var out []Instructions
	for _, sc := range e.scs {
		if sc.Direct || sc.Name == ScBare || len(o.Only) > 0 && !slices.Contains(o.Only, sc.Name) {
			continue
		}
		// As in the req/s rounds, a scenario compares with bare Traefik
		// sending the same request headers.
		b := bareWith(bare, sc)
		hk := strings.Join(b.Headers, "\n")
		if _, ok := bareBy[hk]; !ok {
			label := ScBare
			if len(b.Headers) != len(bare.Headers) {
				label += "." + sc.Name
			}
			v, err := count(b, label)
			if err != nil {
				return nil, err
			}
			bareBy[hk] = v
		}
		v, err := count(sc, sc.Name)
		if err != nil {
			return nil, err
		}
		bc := bareBy[hk]
		out = append(out, Instructions{Scenario: sc.Name, Requests: n, PerRequest: v.instr, Bare: bc.instr,
			Allocs: v.allocs, Bytes: v.bytes, BareAllocs: bc.allocs})
	}
	return out, nil
}

// memStats reads Traefik's runtime memory statistics from expvar
// (/debug/vars on the admin entry point: the benchmark turns api.debug on).
func memStats(client *http.Client, admin string) (runtime.MemStats, error) {
	var v struct{ Memstats runtime.MemStats }
	resp, err := client.Get("http://" + admin + "/debug/vars")
	if err != nil {
		return v.Memstats, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v.Memstats, fmt.Errorf("/debug/vars: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v.Memstats, err
}

// sequential sends n requests one after another and wants each answered
// 200.
func sequential(ctx context.Context, client *http.Client, url string, headers []string, n int) error {
	for i := 0; i < n; i++ {
		req, err := newRequest(http.MethodGet, url, headers)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "") // Go's client then sends none
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("request %d: %s", i, resp.Status)
		}
	}
	return nil
}

// newestTotal reads the instruction total of the newest callgrind dump
// whose name starts with base ("totals:" or "summary:" line), and names
// that dump.
func newestTotal(base string) (int64, string, error) {
	matches, err := filepath.Glob(base + "*")
	if err != nil || len(matches) == 0 {
		return 0, "", fmt.Errorf("no callgrind dump at %s*", base)
	}
	newest, newestTime := "", time.Time{}
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.ModTime().After(newestTime) {
			newest, newestTime = m, st.ModTime()
		}
	}
	f, err := os.Open(newest)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"totals: ", "summary: "} {
			if v, ok := strings.CutPrefix(line, p); ok {
				fields := strings.Fields(v)
				if len(fields) > 0 {
					total, err := strconv.ParseInt(fields[0], 10, 64)
					return total, newest, err
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, "", err
	}
	return 0, "", fmt.Errorf("%s: no totals line", newest)
}

// WriteInstructions prints the counts, each with bare Traefik's for the
// same request headers divided by it (what req/s would keep if
// instructions were all a request cost).
func WriteInstructions(w io.Writer, counts []Instructions) {
	fmt.Fprintf(w, "| %-24s | %13s | %18s | %11s | %13s | %11s | %18s |\n|---|--:|--:|--:|--:|--:|--:|\n",
		"scenario", "instr/request", "bare, same headers", "bare / this", "allocs/request", "bytes/request", "bare allocs/request")
	for _, c := range counts {
		ratio := 0.0
		if c.PerRequest > 0 {
			ratio = c.Bare / c.PerRequest
		}
		fmt.Fprintf(w, "| %-24s | %13.0f | %18.0f | %11.3f | %14.1f | %13.0f | %19.1f |\n",
			c.Scenario, c.PerRequest, c.Bare, ratio, c.Allocs, c.Bytes, c.BareAllocs)
	}
}
