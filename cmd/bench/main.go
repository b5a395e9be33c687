// Command bench measures the gateway through the real Traefik (make bench)
// and checks the hot-path budgets (make bench-check).
//
//	bench [-rounds 3] [-duration 10s] [-out bench/results]   measure, print, write JSON and PNG
//	bench -check [-report FILE]                               measure (or read FILE), then fail on a missed budget
//
// Traefik runs pinned to CPU 0, everything else (wrk, the resolver, the
// simulator, the runner stand-in, this program) to CPU 1, so that req/s
// through Traefik is one core's worth of Traefik CPU per request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/previewgate/previewgate/internal/bench"
	"github.com/previewgate/previewgate/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	rounds := flag.Int("rounds", 5, "interleaved rounds of every scenario")
	duration := flag.Duration("duration", 4*time.Second, "wrk duration per run (each scenario run sits between two bare Traefik runs)")
	conns := flag.Int("connections", 32, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	cold := flag.Int("cold", 1000, "concurrent first requests to one new sandbox")
	sandboxes := flag.Int("sandboxes", 10000, "distinct sandboxes warmed for the scale check")
	ws := flag.Int("ws", 500, "WebSocket round trips per route and round")
	sseN := flag.Int("sse", 20, "SSE streams per route and round")
	out := flag.String("out", "bench/results", "results folder (JSON and PNG)")
	check := flag.Bool("check", false, "fail when a budget is missed")
	report := flag.String("report", "", "with -check: check this JSON report instead of measuring")
	only := flag.String("only", "", "comma-separated scenarios for the throughput rounds (bare Traefik is always kept); set -cold, -ws, -sse and -sandboxes to 0 to skip those")
	gogc := flag.String("gogc", bench.DefaultTraefikGOGC, "Traefik's GOGC (bare Traefik's too: one process); the default is Go's, as the gateway ships it")
	instructions := flag.Int("instructions", 0, "instead of the whole run: count Traefik's instructions per request under valgrind's callgrind, this many sequential requests per scenario (-only limits them); each count's callgrind dump is kept in -out as callgrind.<scenario>.out")
	profile := flag.String("profile", "", "instead of the whole run: load this scenario for -duration and write Traefik's CPU profile to -out/<scenario>.pprof")
	flag.Parse()
	if n, err := strconv.Atoi(*gogc); *gogc != "" && *gogc != "off" && (err != nil || n < 1) {
		return fmt.Errorf("-gogc %q: want a percentage above 0 or \"off\" (as GOGC)", *gogc)
	}

	if *check && *report != "" {
		r, err := bench.ReadJSON(*report)
		if err != nil {
			return err
		}
		return checkBudgets(r)
	}

	root, err := stack.Root()
	if err != nil {
		return err
	}
	traefikCPUs, otherCPUs := "", ""
	if runtime.NumCPU() >= 2 {
		traefikCPUs, otherCPUs = "0", "1"
		if runtime.NumCPU() > 2 {
			otherCPUs = fmt.Sprintf("1-%d", runtime.NumCPU()-1)
		}
		if err := bench.PinSelf(otherCPUs); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(os.Stderr, "bench: one CPU: nothing is pinned, ratios will be noisier")
	}
	work, err := os.MkdirTemp("", "previewgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Fprintln(os.Stderr, "building (Traefik is cached in the Go build cache after the first time)...")
	bins, err := stack.Build(ctx, root, filepath.Join(work, "bin"))
	if err != nil {
		return err
	}
	dir := *out
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	opts := bench.Options{
		Root: root, Dir: filepath.Join(work, "stack"), Bins: bins, Rounds: *rounds,
		Load:         bench.Load{Threads: *threads, Connections: *conns, Duration: *duration, CPUs: otherCPUs},
		ColdRequests: *cold, Sandboxes: *sandboxes, WSMessages: *ws, SSERequests: *sseN,
		TraefikCPUs: traefikCPUs, OtherCPUs: otherCPUs, TraefikGOGC: *gogc, Log: os.Stderr,
	}
	if *instructions > 0 {
		opts.DumpDir = dir // callgrind.<scenario>.out, for callgrind_annotate
	}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if *instructions > 0 {
		counts, err := bench.CountInstructions(ctx, opts, *instructions)
		if err != nil {
			return err
		}
		bench.WriteInstructions(os.Stdout, counts)
		return nil
	}
	if *profile != "" {
		path := filepath.Join(dir, *profile+".pprof")
		n, err := bench.Profile(ctx, opts, *profile, path)
		if err != nil {
			return err
		}
		fmt.Printf("Traefik CPU profile of %d requests (%.0f req/s): go tool pprof -top %s %s\n",
			n, float64(n)/duration.Seconds(), bins.Traefik, path)
		return nil
	}
	r, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	r.WriteTable(os.Stdout)
	stamp := time.Now().UTC().Format("20060102-150405")
	for _, name := range []string{stamp, "latest"} {
		if err := r.WriteJSON(filepath.Join(dir, name+".json")); err != nil {
			return err
		}
		if err := r.WritePNG(filepath.Join(dir, name+".png")); err != nil {
			return err
		}
	}
	fmt.Printf("\nwritten: %s/{%s,latest}.{json,png}\n", dir, stamp)
	if *check {
		return checkBudgets(r)
	}
	return nil
}

func checkBudgets(r *bench.Report) error {
	miss := bench.DefaultBudgets.Check(r)
	if len(miss) == 0 {
		fmt.Println("\nbench-check: every budget met")
		return nil
	}
	fmt.Fprintln(os.Stderr, "\nbench-check: BUDGETS MISSED")
	for _, m := range miss {
		fmt.Fprintln(os.Stderr, "  -", m)
	}
	return fmt.Errorf("%d budgets missed", len(miss))
}
