package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/api"
	"github.com/previewgate/previewgate/daytona-sim/demoapp"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.APIAddr = "127.0.0.1:0"
	cfg.StoppedDelay = 10 * time.Millisecond
	return cfg
}

func start(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestEndToEnd follows what a preview proxy does: API lookups with the
// proxy key, then the runner with the runner key from RunnerFull.
func TestEndToEnd(t *testing.T) {
	s := start(t, testConfig())
	st := s.State()
	if !strings.HasPrefix(st.APIURL, "http://127.0.0.1:") || !strings.HasSuffix(st.APIURL, "/api") || len(st.Runners) != 2 {
		t.Fatalf("state = %+v", st)
	}
	auth := []string{"Authorization", "Bearer " + DefaultProxyAPIKey}
	if resp, body := get(t, st.APIURL+"/preview/demo-private/validate/"+world.DemoPrivateToken, auth...); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("validate: %d %s", resp.StatusCode, body)
	}
	for _, tt := range []struct{ sandbox, runner string }{{"demo-private", "r1"}, {"demo-r2", "r2"}} {
		resp, body := get(t, st.APIURL+"/runners/by-sandbox/"+tt.sandbox, auth...)
		var rf api.RunnerFull
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &rf) != nil {
			t.Fatalf("by-sandbox: %d %s", resp.StatusCode, body)
		}
		wantURL, _ := st.RunnerURL(tt.runner)
		if rf.ProxyURL != wantURL || rf.APIKey != st.Runners[rf.ID].APIKey || rf.Name != tt.runner {
			t.Errorf("runner = %+v, state = %+v", rf, st.Runners)
		}
		resp, body = get(t, rf.ProxyURL+"/sandboxes/"+tt.sandbox+"/toolbox/proxy/3000/echo",
			"X-Daytona-Authorization", "Bearer "+rf.APIKey)
		var ec demoapp.Echo
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &ec) != nil {
			t.Fatalf("runner: %d %s", resp.StatusCode, body)
		}
		if ec.SandboxID != tt.sandbox || ec.RunnerName != tt.runner || ec.RunnerID != rf.ID {
			t.Errorf("echo = %+v", ec)
		}
	}
	// A sandbox created through /_sim is served at once, UUID id included.
	req, _ := http.NewRequest("POST", s.SimURL()+"/sandboxes", strings.NewReader(`{"runner":"r2"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v api.SandboxView
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	r2URL, _ := st.RunnerURL("r2")
	if resp, body := get(t, r2URL+"/sandboxes/"+v.ID+"/toolbox/proxy/5173/echo", "X-Daytona-Authorization", "Bearer r2-runner-key"); resp.StatusCode != 200 || !strings.Contains(body, v.ID) {
		t.Errorf("new sandbox: %d %s", resp.StatusCode, body)
	}
	if s.API().Calls().ByEndpoint["GET /runners/by-sandbox/{id}"] != 2 {
		t.Errorf("calls = %+v", s.API().Calls().ByEndpoint)
	}
}

func TestShutdownReleasesHungCalls(t *testing.T) {
	s, err := Start(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.API().AddFault(api.Fault{Mode: api.FaultHang}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.APIURL() + "/config")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if err := <-errc; err == nil {
		t.Error("hung call got an answer")
	}
	if _, err := http.Get(s.APIURL() + "/config"); err == nil {
		t.Error("api still serving")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"default is valid", func(*Config) {}, nil},
		{"no seed, one runner", func(c *Config) { c.Seed = world.Seed{}; c.Runners = []RunnerSpec{{Name: "solo"}} }, nil},
		{"no runners", func(c *Config) { c.Runners = nil; c.Seed = world.Seed{} }, []string{"at least one runner"}},
		{"seed needs r2", func(c *Config) { c.Runners = []RunnerSpec{{Name: "r1"}} }, []string{`runner "r2"`}},
		{"duplicate runner", func(c *Config) { c.Runners = append(c.Runners, RunnerSpec{Name: "r1"}) }, []string{"already exists"}},
		{"bad runner fields", func(c *Config) {
			c.Runners[0] = RunnerSpec{Name: "r1", ID: "not-a-uuid", Addr: "nohost", APIKey: DefaultProxyAPIKey, URL: "ftp://x"}
		}, []string{"not a lower-case UUID", "address", "differ from the proxy key", "url"}},
		{"template without placeholders", func(c *Config) { c.ProxyTemplateURL = "http://preview.test" }, []string{"toolbox url", "{{PORT}}"}},
		{"template with explicit toolbox url", func(c *Config) {
			c.ProxyTemplateURL = "https://p{{PORT}}x{{sandboxId}}.example"
			c.ProxyToolboxURL = "https://example/toolbox"
		}, nil},
		{"everything at once", func(c *Config) {
			c.APIAddr = "bad"
			c.ProxyAPIKey = ""
			c.OIDC.Issuer = ""
			c.StoppedDelay = -1
		}, []string{"api address", "empty proxy api key", "oidc", "negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) && !errors.Is(err, api.ErrConfig) {
				t.Errorf("%v does not wrap ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseRunnerSpec(t *testing.T) {
	tests := []struct {
		in   string
		want RunnerSpec
		err  bool
	}{
		{"r1=127.0.0.1:0", RunnerSpec{Name: "r1", Addr: "127.0.0.1:0"}, false},
		{"eu=0.0.0.0:3003,key=secret_api_token,url=http://runner:3003,id=33333333-3333-4333-8333-333333333333",
			RunnerSpec{Name: "eu", Addr: "0.0.0.0:3003", APIKey: "secret_api_token", URL: "http://runner:3003", ID: "33333333-3333-4333-8333-333333333333"}, false},
		{"r1", RunnerSpec{}, true},
		{"=127.0.0.1:0", RunnerSpec{}, true},
		{"r1=:0,color=blue", RunnerSpec{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRunnerSpec(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("got %+v, %v", got, err)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("%v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestDeriveRunnerID(t *testing.T) {
	tests := []struct{ name, want string }{
		{"r1", "11111111-1111-4111-8111-111111111111"},
		{"r2", "22222222-2222-4222-8222-222222222222"},
		{"44444444-4444-4444-8444-444444444444", "44444444-4444-4444-8444-444444444444"},
	}
	for _, tt := range tests {
		if got := DeriveRunnerID(tt.name); got != tt.want {
			t.Errorf("%s: %s", tt.name, got)
		}
	}
	a, b := DeriveRunnerID("eu-1"), DeriveRunnerID("eu-2")
	if a == b || a != DeriveRunnerID("eu-1") || !uuidPattern.MatchString(a) || a[14] != '4' {
		t.Errorf("derived ids %s %s", a, b)
	}
}

func TestWriteStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := State{APIURL: "http://127.0.0.1:1/api", Runners: map[string]RunnerState{"id": {Name: "r1", URL: "http://127.0.0.1:2", APIKey: "k"}}}
	if err := WriteStateFile(path, st); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var got State
	if err := json.Unmarshal(data, &got); err != nil || got.APIURL != st.APIURL || got.Runners["id"] != st.Runners["id"] {
		t.Errorf("state file = %s (%v)", data, err)
	}
	var raw map[string]map[string]map[string]string
	_ = json.Unmarshal(data, &raw)
	if raw["runners"]["id"]["url"] != "http://127.0.0.1:2" || raw["runners"]["id"]["apiKey"] != "k" {
		t.Errorf("wire shape = %s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
	if err := WriteStateFile(filepath.Join(dir, "missing", "x.json"), st); err == nil {
		t.Error("no error for a missing directory")
	}
}

func TestAdvertisedURL(t *testing.T) {
	cfg := testConfig()
	cfg.Runners = []RunnerSpec{{Name: "r1"}, {Name: "r2", URL: "http://runner-two:3003"}}
	s := start(t, cfg)
	u1, _ := s.State().RunnerURL("r1")
	u2, _ := s.State().RunnerURL("r2")
	if !strings.HasPrefix(u1, "http://127.0.0.1:") || u2 != "http://runner-two:3003" {
		t.Errorf("urls = %s %s", u1, u2)
	}
	if resp, _ := get(t, u1+"/"); resp.StatusCode != 200 {
		t.Errorf("r1 health: %d", resp.StatusCode)
	}
	rn, _ := s.World().Runner(DeriveRunnerID("r2"))
	if rn.URL != "http://runner-two:3003" {
		t.Errorf("world runner url = %s", rn.URL)
	}
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4zero, Port: 3003}, "http://127.0.0.1:3003"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 3003}, "http://127.0.0.1:3003"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 80}, "http://10.0.0.5:80"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "http://[::1]:80"},
	}
	for _, tt := range tests {
		if got := advertised(tt.addr); got != tt.want {
			t.Errorf("advertised(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
