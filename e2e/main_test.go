// Package e2e runs the gateway end to end: the real Traefik binary with the
// plugin as a local plugin (interpreted by Traefik's Yaegi), the resolver and
// the Daytona simulator, each a process on free loopback ports.
package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/demoapp"
	"github.com/previewgate/previewgate/daytona-sim/world"
	"github.com/previewgate/previewgate/internal/stack"
	"github.com/previewgate/previewgate/plugin"
)

var (
	root string
	bins stack.Bins
	// gw is the shared stack: routing "runners", runners r1 and r2 known
	// from the start.
	gw *stack.Stack
)

var verbose = flag.Bool("stack-logs", false, "copy every process's output to stderr")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = stack.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir, err := os.MkdirTemp("", "previewgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	ctx := context.Background()
	if bins, err = stack.Build(ctx, root, binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "previewgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gw, err = stack.Start(ctx, stack.Options{Root: root, Dir: dir, Bins: bins, StaticRunners: true, LogOut: logOut()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, gw.Logs())
	}
	gw.Stop()
	return code
}

func logOut() io.Writer {
	if *verbose {
		return os.Stderr
	}
	return nil
}

// startStack starts a stack of the test's own, stopped at the test's end.
func startStack(t *testing.T, o stack.Options) *stack.Stack {
	t.Helper()
	o.Root, o.Dir, o.Bins, o.LogOut = root, t.TempDir(), bins, logOut()
	s, err := stack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.Logs())
		}
		s.Stop()
	})
	return s
}

// get sends a request through the gateway and reads the whole answer.
func get(t *testing.T, s *stack.Stack, host, pathAndQuery string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.Do("GET", host, pathAndQuery, h)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, pathAndQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET http://%s%s: reading the body: %v", host, pathAndQuery, err)
	}
	return resp, body
}

// echo asks the sandbox's echo app and decodes what it received.
func echo(t *testing.T, s *stack.Stack, host, pathAndQuery string, h http.Header) demoapp.Echo {
	t.Helper()
	resp, body := get(t, s, host, pathAndQuery, h)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET http://%s%s: %s %s", host, pathAndQuery, resp.Status, body)
	}
	var e demoapp.Echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("GET http://%s%s: not an echo: %v: %s", host, pathAndQuery, err, body)
	}
	return e
}

// wantError checks the status and Daytona's JSON error body.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, msgPart string) plugin.ErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %s, want %d: %s", resp.Status, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var e plugin.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not Daytona's error JSON: %v: %s", err, body)
	}
	if e.StatusCode != status || e.Code == "" || e.Timestamp == "" || e.Method == "" {
		t.Errorf("incomplete error body: %s", body)
	}
	if !strings.Contains(e.Message, msgPart) {
		t.Errorf("message %q does not contain %q", e.Message, msgPart)
	}
	return e
}

// reachesNoRunner runs f and fails the test if any runner's request count
// moved meanwhile: what f sends must never be forwarded.
func reachesNoRunner(t *testing.T, s *stack.Stack, what string, f func()) {
	t.Helper()
	before := runnerRequests(t, s)
	f()
	if after := runnerRequests(t, s); !maps.Equal(after, before) {
		t.Errorf("%s reached a runner: %v before, %v after", what, before, after)
	}
}

// runnerRequests reads the simulator's per-runner request counters.
func runnerRequests(t *testing.T, s *stack.Stack) map[string]int64 {
	t.Helper()
	var v struct {
		Runners []struct {
			Name     string `json:"name"`
			Requests int64  `json:"requests"`
		} `json:"runners"`
	}
	simGet(t, s, "/_sim/runners", &v)
	out := map[string]int64{}
	for _, r := range v.Runners {
		out[r.Name] = r.Requests
	}
	return out
}

// simGet reads a simulator control endpoint's JSON into v.
func simGet(t *testing.T, s *stack.Stack, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.SimAPI + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// simPost calls a simulator control endpoint.
func simPost(t *testing.T, s *stack.Stack, path, body string) {
	t.Helper()
	resp, err := http.Post(s.SimAPI+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
}

// eventually retries check until it passes or the deadline.
func eventually(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Demo credentials.
const (
	privateToken = world.DemoPrivateToken
	aliceKey     = "alice-api-key"
	bobKey       = "bob-api-key"
)
