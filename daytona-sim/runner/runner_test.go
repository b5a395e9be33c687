package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/previewgate/previewgate/daytona-sim/demoapp"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

const (
	r1ID  = "11111111-1111-4111-8111-111111111111"
	r2ID  = "22222222-2222-4222-8222-222222222222"
	r1Key = "r1-key"
	delay = 80 * time.Millisecond
)

type env struct {
	world  *world.World
	docker *Docker
	r1     *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := world.New()
	_ = w.AddRunner(world.Runner{ID: r1ID, Name: "r1", APIKey: r1Key})
	_ = w.AddRunner(world.Runner{ID: r2ID, Name: "r2", APIKey: "r2-key"})
	if err := w.Apply(world.DefaultSeed()); err != nil {
		t.Fatal(err)
	}
	d := NewDocker(w, nil)
	rn, err := New(Config{ID: r1ID, Name: "r1", APIKey: r1Key, World: w, Docker: d, StoppedDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rn)
	t.Cleanup(func() { d.Close(); ts.Close(); rn.Close() })
	return &env{world: w, docker: d, r1: ts}
}

// get sends a request to runner r1 with its key in X-Daytona-Authorization
// (unless hdr sets that header) and the given extra headers.
func (e *env) get(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.r1.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderDaytonaAuth, "Bearer "+r1Key)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
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

// checkError asserts Daytona's common Go error body.
func checkError(t *testing.T, resp *http.Response, body string, status int, code, msg string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, status, body)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "code,message,method,path,statusCode,timestamp" {
		t.Errorf("keys = %v", keys)
	}
	if m["statusCode"] != float64(status) || m["code"] != code || m["message"] != msg {
		t.Errorf("body = %s", body)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err != nil {
		t.Error(err)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(t, "GET", "/", HeaderDaytonaAuth, "")
	if resp.StatusCode != 200 || body != `{"status":"ok","version":"v0.0.0-dev"}` {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	path := "/sandboxes/demo-private/toolbox/version"
	tests := []struct {
		name    string
		daytona string // X-Daytona-Authorization ("" = absent)
		authz   string // Authorization ("" = absent)
		status  int
		msg     string
	}{
		{"runner header", "Bearer " + r1Key, "", 200, ""},
		{"authorization fallback", "", "Bearer " + r1Key, 200, ""},
		{"runner header wins", "Bearer wrong", "Bearer " + r1Key, 401, MsgInvalidToken},
		{"runner header wins when right", "Bearer " + r1Key, "Bearer user-token", 200, ""},
		{"missing", "", "", 401, MsgAuthRequired},
		{"wrong token", "Bearer nope", "", 401, MsgInvalidToken},
		{"lower-case scheme", "bearer " + r1Key, "", 401, MsgAuthFormat},
		{"two spaces", "Bearer  " + r1Key, "", 401, MsgAuthFormat},
		{"three parts", "Bearer " + r1Key + " x", "", 401, MsgAuthFormat},
		{"no scheme", r1Key, "", 401, MsgAuthFormat},
		{"other runner's key", "Bearer r2-key", "", 401, MsgInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(t, "GET", path, HeaderDaytonaAuth, tt.daytona, "Authorization", tt.authz)
			if tt.status == 200 {
				if resp.StatusCode != 200 || !strings.Contains(body, `"version"`) {
					t.Errorf("%d %s", resp.StatusCode, body)
				}
				return
			}
			checkError(t, resp, body, tt.status, "UNAUTHORIZED", tt.msg)
		})
	}
	t.Run("unknown route needs auth first", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/info", HeaderDaytonaAuth, "")
		checkError(t, resp, body, 401, "UNAUTHORIZED", MsgAuthRequired)
		resp, body = e.get(t, "GET", "/info")
		if resp.StatusCode != 404 || body != "404 page not found" {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})
}

func echoVia(t *testing.T, e *env, path string, hdr ...string) demoapp.Echo {
	t.Helper()
	resp, body := e.get(t, "GET", path, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var ec demoapp.Echo
	if err := json.Unmarshal([]byte(body), &ec); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return ec
}

func TestRawPathPreserved(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, appPath, query string
		wantPath             string
	}{
		{"encoded slash", "/a%2Fb", "", "/a/b"},
		{"encoded dot segments", "/..%2f..%2fetc%2fpasswd", "", "/../../etc/passwd"},
		{"literal dot segments", "/x/../../y", "", "/x/../../y"},
		{"double slashes", "//a//b/", "", "//a//b/"},
		{"encoded at and parens", "/a%40b/(c)", "", "/a@b/(c)"},
		{"encoded letter", "/%41", "", "/A"},
		{"utf-8", "/%E2%82%AC", "", "/€"},
		{"query kept verbatim", "/echo", "b=2&a=1&a=%2F&DAYTONA_SANDBOX_AUTH_KEY=x", "/echo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/sandboxes/demo-private/toolbox/proxy/3000" + tt.appPath
			if tt.query != "" {
				target += "?" + tt.query
			}
			ec := echoVia(t, e, target)
			if ec.RawPath != tt.appPath || ec.Path != tt.wantPath || ec.RawQuery != tt.query {
				t.Errorf("app got raw %q path %q query %q", ec.RawPath, ec.Path, ec.RawQuery)
			}
			if ec.Host != "localhost:3000" || ec.Port != "3000" || ec.SandboxID != "demo-private" || ec.RunnerID != r1ID || ec.RunnerName != "r1" {
				t.Errorf("host %q, identity %+v", ec.Host, ec)
			}
		})
	}
}

func TestPageThroughRunner(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/sandboxes/demo-private/toolbox/proxy/3000", "/sandboxes/demo-private/toolbox/proxy/3000/"} {
		resp, body := e.get(t, "GET", path)
		if resp.StatusCode != 200 || !strings.Contains(body, "<code>demo-private</code>") || !strings.Contains(body, "<dd>localhost:3000</dd>") {
			t.Errorf("%s: %d %.200s", path, resp.StatusCode, body)
		}
	}
}

func TestHeadersSeenByApp(t *testing.T) {
	e := newEnv(t)
	ec := echoVia(t, e, "/sandboxes/demo-private/toolbox/proxy/8080/echo",
		"Authorization", "Bearer user-token", "X-Forwarded-For", "203.0.113.9", "Cookie", "a=1; b=2")
	if _, ok := ec.Headers[HeaderDaytonaAuth]; ok {
		t.Error("X-Daytona-Authorization reached the app")
	}
	if got := ec.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer user-token" {
		t.Errorf("Authorization = %v", got)
	}
	// client (as sent), the caller of the runner, the runner (daemon hop).
	if got := ec.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "203.0.113.9, 127.0.0.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %v", got)
	}
	if len(ec.Cookies) != 2 || ec.Port != "8080" || ec.Host != "localhost:8080" {
		t.Errorf("cookies %v port %s host %s", ec.Cookies, ec.Port, ec.Host)
	}
}

func TestSandboxStates(t *testing.T) {
	e := newEnv(t)
	if _, err := e.world.CreateSandbox(world.SandboxSpec{ID: "arch", Runner: "r1", State: world.StateArchived}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sandbox string
		status        int
		code, msg     string
		minDelay      time.Duration
	}{
		{"on another runner", "demo-r2", 404, "NOT_FOUND", MsgNoContainer + "demo-r2", 0},
		{"unknown", "nope", 404, "NOT_FOUND", MsgNoContainer + "nope", 0},
		{"archived", "arch", 404, "NOT_FOUND", MsgNoContainer + "arch", 0},
		{"stopped", "demo-stopped", 400, "BAD_REQUEST", MsgNotStarted, delay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp, body := e.get(t, "GET", "/sandboxes/"+tt.sandbox+"/toolbox/proxy/3000/")
			if d := time.Since(start); d < tt.minDelay {
				t.Errorf("answered after %v, want ≥ %v", d, tt.minDelay)
			}
			checkError(t, resp, body, tt.status, tt.code, tt.msg)
		})
	}
	t.Run("move to another runner", func(t *testing.T) {
		if resp, _ := e.get(t, "GET", "/sandboxes/demo-private/toolbox/version"); resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
		r2 := "r2"
		_, _ = e.world.UpdateSandbox("demo-private", world.SandboxPatch{Runner: &r2})
		resp, body := e.get(t, "GET", "/sandboxes/demo-private/toolbox/version")
		checkError(t, resp, body, 404, "NOT_FOUND", MsgNoContainer+"demo-private")
	})
}

func TestToolbox(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"version", "/sandboxes/demo-public/toolbox/version", 200, `{"version":"v0.0.0-dev"}`},
		{"files root", "/sandboxes/demo-public/toolbox/files?path=/", 200, `"name":"home"`},
		{"files default dir", "/sandboxes/demo-public/toolbox/files", 200, `"name":"README.md"`},
		{"files missing", "/sandboxes/demo-public/toolbox/files?path=/nope", 404, ""},
		{"preview of port 2280 reaches the toolbox", "/sandboxes/demo-public/toolbox/proxy/2280/version", 200, `"version"`},
		{"toolbox echo", "/sandboxes/demo-public/toolbox/echo/a%2Fb", 200, `"rawPath": "/echo/a%2Fb"`},
		{"toolbox echo port", "/sandboxes/demo-public/toolbox/echo", 200, `"port": "2280"`},
		{"unknown toolbox route", "/sandboxes/demo-public/toolbox/nope", 404, "404 page not found"},
		{"bad port", "/sandboxes/demo-public/toolbox/proxy/abc/", 400, "failed to parse target URL"},
		{"not a toolbox route", "/sandboxes/demo-public/info", 404, "404 page not found"},
		{"encoded sandbox id", "/sandboxes/demo%2Dpublic/toolbox/version", 200, `"version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(t, "GET", tt.path)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestRedirectPassesThrough(t *testing.T) {
	e := newEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.r1.URL+"/sandboxes/demo-public/toolbox/redirect?to=/x%2Fy", nil)
	req.Header.Set(HeaderDaytonaAuth, "Bearer "+r1Key)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/x/y" {
		t.Errorf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSSEThroughRunner(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.r1.URL+"/sandboxes/demo-private/toolbox/proxy/3000/sse?n=3&ms=200", nil)
	req.Header.Set(HeaderDaytonaAuth, "Bearer "+r1Key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var first time.Duration
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if n == 0 {
				first = time.Since(start)
			}
			n++
		}
	}
	total := time.Since(start)
	if n != 3 || total < 400*time.Millisecond || first > 250*time.Millisecond {
		t.Errorf("%d events, first after %v, end after %v: buffered?", n, first, total)
	}
}

func dialWS(t *testing.T, e *env, sandbox string) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	u := "ws" + strings.TrimPrefix(e.r1.URL, "http") + "/sandboxes/" + sandbox + "/toolbox/proxy/3000/ws"
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader:   http.Header{HeaderDaytonaAuth: {"Bearer " + r1Key}},
		Subprotocols: []string{"proto-a", "proto-b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if resp.StatusCode != 101 || c.Subprotocol() != "proto-a" {
		t.Fatalf("%d %q", resp.StatusCode, c.Subprotocol())
	}
	return c, ctx
}

func TestWebSocketThroughRunner(t *testing.T) {
	e := newEnv(t)
	c, ctx := dialWS(t, e, "demo-private")
	for _, msg := range []string{"one", "two"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("echo %q: %q %v", msg, got, err)
		}
	}
}

func TestStoppingKillsContainer(t *testing.T) {
	e := newEnv(t)
	c, ctx := dialWS(t, e, "demo-private")
	if e.docker.Running() != 1 {
		t.Fatalf("running = %d", e.docker.Running())
	}
	stopped := world.StateStopped
	if _, err := e.world.UpdateSandbox("demo-private", world.SandboxPatch{State: &stopped}); err != nil {
		t.Fatal(err)
	}
	readCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, err := c.Read(readCtx); err == nil || readCtx.Err() != nil {
		t.Errorf("websocket survived the stop: %v", err)
	}
	if e.docker.Running() != 0 {
		t.Errorf("running = %d", e.docker.Running())
	}
	resp, body := e.get(t, "GET", "/sandboxes/demo-private/toolbox/proxy/3000/echo")
	checkError(t, resp, body, 400, "BAD_REQUEST", MsgNotStarted)

	started := world.StateStarted
	_, _ = e.world.UpdateSandbox("demo-private", world.SandboxPatch{State: &started})
	if resp, _ := e.get(t, "GET", "/sandboxes/demo-private/toolbox/proxy/3000/echo"); resp.StatusCode != 200 {
		t.Errorf("after restart: %d", resp.StatusCode)
	}
}

func TestConfigValidate(t *testing.T) {
	d := NewDocker(world.New(), nil)
	defer d.Close()
	_, err := New(Config{ID: "", APIKey: "a b", StoppedDelay: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"id and name", "api key", "world and docker", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestSplitToolboxPath(t *testing.T) {
	tests := []struct {
		raw, id, path string
		ok            bool
	}{
		{"/sandboxes/x/toolbox", "x", "", true},
		{"/sandboxes/x/toolbox/", "x", "/", true},
		{"/sandboxes/x/toolbox/proxy/3000/a%2Fb", "x", "/proxy/3000/a%2Fb", true},
		{"/sandboxes/x/toolboxes", "", "", false},
		{"/sandboxes//toolbox/", "", "", false},
		{"/sandboxes/x", "", "", false},
		{"/sandbox/x/toolbox/", "", "", false},
	}
	for _, tt := range tests {
		id, path, ok := splitToolboxPath(tt.raw)
		if id != tt.id || path != tt.path || ok != tt.ok {
			t.Errorf("%s: %q %q %v", tt.raw, id, path, ok)
		}
	}
}

// The container address must answer only while the sandbox runs.
func TestDockerLifecycle(t *testing.T) {
	e := newEnv(t)
	addr, err := e.docker.Addr("demo-private", r1ID)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.docker.Addr("demo-private", r1ID); again != addr {
		t.Errorf("second Addr = %s, want %s", again, addr)
	}
	_ = e.world.DeleteSandbox("demo-private")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("container still listening after delete")
	}
	e.docker.Close()
	if _, err := e.docker.Addr("demo-public", r1ID); err == nil {
		t.Error("Addr after Close")
	}
}

// GET /snapshots/logs serves the log of a build that ran on this runner
// (a snapshot's or a built sandbox's ref), after the runner's auth; a ref
// it never built is 404, no ref 400.
func TestBuildLogs(t *testing.T) {
	e := newEnv(t)
	ref := url.QueryEscape(world.DemoBuildRef)
	for _, q := range []string{"?snapshotRef=" + ref, "?snapshotRef=" + ref + "&follow=true"} {
		resp, body := e.get(t, "GET", BuildLogsPath+q)
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(body, "Successfully built "+world.DemoBuildRef+"\n") ||
			strings.Count(body, "\n") != len(BuildLogLines) {
			t.Errorf("%s: %d %q", q, resp.StatusCode, body)
		}
	}
	if resp, _ := e.get(t, "GET", BuildLogsPath+"?snapshotRef=other:1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown ref: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "GET", BuildLogsPath); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no ref: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "GET", BuildLogsPath+"?snapshotRef="+ref, HeaderDaytonaAuth, "Bearer wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
}
