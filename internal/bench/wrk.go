package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Load is how wrk loads the target.
type Load struct {
	Threads, Connections int
	Duration             time.Duration
	// CPUs pins wrk with taskset ("" for no pinning).
	CPUs string
}

// Result is one wrk run.
type Result struct {
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50Ms"`
	P99ms    float64 `json:"p99Ms"`
	Requests int64   `json:"requests"`
	Non2xx   int64   `json:"non2xx"`
	Errors   int64   `json:"socketErrors"`
}

// ErrWrk is wrapped by every wrk failure.
var ErrWrk = errors.New("wrk")

// RunWrk loads url (with the Host and other headers given) and parses
// wrk's --latency report.
func RunWrk(ctx context.Context, l Load, url string, headers []string) (Result, error) {
	args := []string{"-t", strconv.Itoa(l.Threads), "-c", strconv.Itoa(l.Connections),
		"-d", strconv.Itoa(int(l.Duration/time.Second)) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	bin := "wrk"
	if l.CPUs != "" {
		args = append([]string{"-c", l.CPUs, "wrk"}, args...)
		bin = "taskset"
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v: %s", ErrWrk, err, out)
	}
	return ParseWrk(string(out))
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// ParseWrk reads wrk's report (with --latency).
func ParseWrk(out string) (Result, error) {
	var r Result
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("%w: no Requests/sec in the report: %s", ErrWrk, out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Errors += n
		}
	}
	found := 0
	for _, m := range reLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.P50ms = v
		} else {
			r.P99ms = v
		}
		found++
	}
	if found != 2 {
		return r, fmt.Errorf("%w: no 50%%/99%% latency lines (run with --latency): %s", ErrWrk, strings.TrimSpace(out))
	}
	return r, nil
}
