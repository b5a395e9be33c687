package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/sim"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFrom(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// startRun runs main's run in the background and waits for its state file.
func startRun(t *testing.T, args []string, env map[string]string) (sim.State, *syncBuffer, func() error) {
	t.Helper()
	statePath := filepath.Join(t.TempDir(), "state.json")
	args = append(args, "-state-file", statePath)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envFrom(env), logs) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after cancel")
			return nil
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, logs)
		default:
		}
		if data, err := os.ReadFile(statePath); err == nil {
			var st sim.State
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatalf("state file %s: %v", data, err)
			}
			return st, logs, stop
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = stop()
	t.Fatalf("no state file\n%s", logs)
	return sim.State{}, nil, nil
}

func TestRunWritesStateFileAndServes(t *testing.T) {
	st, logs, stop := startRun(t, []string{"-api-addr", "127.0.0.1:0", "-oidc-issuer", "http://idp.test/dex"}, nil)
	resp, err := http.Get(st.APIURL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		OIDC struct{ Issuer string } `json:"oidc"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if resp.StatusCode != 200 || cfg.OIDC.Issuer != "http://idp.test/dex" {
		t.Errorf("config: %d %+v", resp.StatusCode, cfg)
	}
	if len(st.Runners) != 2 {
		t.Fatalf("runners = %+v", st.Runners)
	}
	for id, r := range st.Runners {
		resp, err := http.Get(r.URL + "/")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("runner %s (%s): %v", r.Name, id, err)
		} else {
			resp.Body.Close()
		}
	}
	// The default seed is there.
	req, _ := http.NewRequest("GET", st.APIURL+"/preview/demo-public/public", nil)
	req.Header.Set("Authorization", "Bearer super_secret_key")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("demo-public: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	out := logs.String()
	for _, secret := range []string{"super_secret_key", "r1-runner-key", "alice-api-key", "demopreviewtoken"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain a secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, `"msg":"simulator stopped"`) {
		t.Errorf("no JSON shutdown log:\n%s", out)
	}
	if _, err := http.Get(st.APIURL + "/config"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestRunEnvFallbacks(t *testing.T) {
	env := map[string]string{
		"DAYTONA_SIM_API_ADDR":      "127.0.0.1:0",
		"DAYTONA_SIM_PROXY_API_KEY": "env-proxy-key",
		"DAYTONA_SIM_RUNNERS":       "solo=127.0.0.1:0,key=solo-key",
		"DAYTONA_SIM_SEED":          "none",
	}
	st, _, stop := startRun(t, nil, env)
	defer func() { _ = stop() }()
	if len(st.Runners) != 1 {
		t.Fatalf("runners = %+v", st.Runners)
	}
	for _, r := range st.Runners {
		if r.Name != "solo" || r.APIKey != "solo-key" {
			t.Errorf("runner = %+v", r)
		}
	}
	req, _ := http.NewRequest("GET", st.APIURL+"/preview/demo-public/public", nil)
	req.Header.Set("Authorization", "Bearer env-proxy-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 { // authenticated, but no seed
		t.Errorf("status = %d", resp.StatusCode)
	}
}

func TestRunFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{"DAYTONA_SIM_RUNNERS": "a=127.0.0.1:0 b=127.0.0.1:0", "DAYTONA_SIM_SEED": "none"}
	st, _, stop := startRun(t, []string{"-api-addr", "127.0.0.1:0", "-runner", "c=127.0.0.1:0"}, env)
	defer func() { _ = stop() }()
	if len(st.Runners) != 1 {
		t.Fatalf("runners = %+v", st.Runners)
	}
	for _, r := range st.Runners {
		if r.Name != "c" {
			t.Errorf("runner = %+v", r)
		}
	}
}

func TestRunReportsEveryProblem(t *testing.T) {
	args := []string{
		"-api-addr", "127.0.0.1:0",
		"-runner", "broken",
		"-log-level", "loud",
		"-stopped-delay", "soon",
		"-seed", filepath.Join(t.TempDir(), "missing.json"),
		"-proxy-api-key", "",
	}
	err := run(context.Background(), args, envFrom(nil), &syncBuffer{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"broken", "log-level", "stopped-delay", "missing.json", "proxy api key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRunSeedFile(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	_ = os.WriteFile(seed, []byte(`{"users":[{"name":"carol","apiKey":"carol-key"}],
		"sandboxes":[{"id":"cafe","runner":"r2","users":["carol"]}]}`), 0o600)
	st, _, stop := startRun(t, []string{"-api-addr", "127.0.0.1:0", "-seed", seed}, nil)
	defer func() { _ = stop() }()
	req, _ := http.NewRequest("GET", st.APIURL+"/sandbox/cafe/ports/3000/preview-url", nil)
	req.Header.Set("Authorization", "Bearer carol-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ URL string }
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 200 || p.URL != "http://3000-cafe.localhost:8000" {
		t.Errorf("%d %+v", resp.StatusCode, p)
	}
}
