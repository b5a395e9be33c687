package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gorilla/securecookie"

	"github.com/previewgate/previewgate/daytona-sim/demoapp"
	"github.com/previewgate/previewgate/daytona-sim/world"
	"github.com/previewgate/previewgate/internal/stack"
	"github.com/previewgate/previewgate/plugin"
)

func TestPublicSandboxPage(t *testing.T) {
	resp, body := get(t, gw, gw.Host(3000, "demo-public"), "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	if !strings.Contains(string(body), "demo-public") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("not the demo page of demo-public: %s", body)
	}
}

func TestPrivateSandboxCredentials(t *testing.T) {
	host := gw.Host(3000, "demo-private")
	tests := []struct {
		name, path string
		header     http.Header
	}{
		{"preview token header", "/echo", http.Header{"X-Daytona-Preview-Token": {privateToken}}},
		{"query key", "/echo?DAYTONA_SANDBOX_AUTH_KEY=" + privateToken, nil},
		{"bearer user key", "/echo", http.Header{"Authorization": {"Bearer " + aliceKey}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo(t, gw, host, tt.path, tt.header)
			if e.SandboxID != "demo-private" || e.Port != "3000" {
				t.Errorf("reached %s:%s, want demo-private:3000", e.SandboxID, e.Port)
			}
			// No credential of ours reaches the sandbox.
			for _, h := range []string{"X-Daytona-Preview-Token", "Authorization", "X-Daytona-Authorization"} {
				if v, ok := e.Headers[h]; ok {
					t.Errorf("the sandbox received %s: %q", h, v)
				}
			}
			noRunnerToken(t, e)
			if strings.Contains(e.RawQuery, "DAYTONA_SANDBOX_AUTH_KEY") {
				t.Errorf("the sandbox received the query key: %q", e.RawQuery)
			}
			if got := e.Headers["X-Forwarded-Host"]; len(got) != 1 || got[0] != host {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, host)
			}
		})
	}
}

func TestPrivateSandboxRefusals(t *testing.T) {
	host := gw.Host(3000, "demo-private")
	tests := []struct {
		name    string
		path    string
		header  http.Header
		message string
	}{
		{"nothing", "/", nil, "X-Daytona-Preview-Token"},
		{"wrong preview token", "/", http.Header{"X-Daytona-Preview-Token": {"wrong-token-000000000000000000000"}}, ""},
		{"wrong query key", "/?DAYTONA_SANDBOX_AUTH_KEY=nope", nil, ""},
		{"another user's key", "/", http.Header{"Authorization": {"Bearer " + bobKey}}, ""},
		{"forged sandbox cookie", "/", http.Header{"Cookie": {"daytona-sandbox-auth-demo-private=forged"}}, ""},
		{"a public sandbox's token", "/", http.Header{"X-Daytona-Preview-Token": {"demopreviewtoken0000000000000000"}}, ""},
	}
	reachesNoRunner(t, gw, "a refused request", func() {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := get(t, gw, host, tt.path, tt.header)
				wantError(t, resp, body, http.StatusUnauthorized, tt.message)
			})
		}
	})
}

func TestAlwaysAuthPortsOfPublicSandbox(t *testing.T) {
	for _, port := range []int{22222, 2280, 33333} {
		resp, body := get(t, gw, gw.Host(port, "demo-public"), "/", nil)
		wantError(t, resp, body, http.StatusUnauthorized, "")
	}
	e := echo(t, gw, gw.Host(2280, "demo-public"), "/echo", http.Header{"X-Daytona-Preview-Token": {"demopreviewtoken0000000000000000"}})
	if e.Port != "2280" {
		t.Errorf("reached port %s, want 2280", e.Port)
	}
}

func TestUnknownSandboxIs404(t *testing.T) {
	resp, body := get(t, gw, gw.Host(3000, "no-such-sandbox"), "/", nil)
	wantError(t, resp, body, http.StatusNotFound, "")
}

func TestBadHostsAre400(t *testing.T) {
	reachesNoRunner(t, gw, "a bad host", func() {
		for _, host := range []string{
			"demo-public.localhost",       // no port
			"0-demo-public.localhost",     // port 0
			"70000-demo-public.localhost", // port out of range
			"30a0-demo-public.localhost",  // not decimal
			"3000-.localhost",             // no id
			"3000-Demo_Public.localhost",  // not an id shape
		} {
			t.Run(host, func(t *testing.T) {
				resp, body := get(t, gw, host, "/", nil)
				wantError(t, resp, body, http.StatusBadRequest, "")
			})
		}
	})
}

// A preview host is one label under the preview domain: the router's
// wildcard Host matches no deeper name, so Traefik answers 404 itself.
func TestDeeperHostsAreNoPreviewHosts(t *testing.T) {
	reachesNoRunner(t, gw, "a deeper host", func() {
		resp, body := get(t, gw, "3000-demo-public.other.localhost", "/", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %s, want 404: %s", resp.Status, body)
		}
	})
}

func TestTwoRunnersEachReachTheirOwn(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer " + aliceKey}}
	for sandbox, runner := range map[string]string{"demo-private": "r1", "demo-r2": "r2"} {
		e := echo(t, gw, gw.Host(3000, sandbox), "/echo", h)
		if e.SandboxID != sandbox || e.RunnerName != runner {
			t.Errorf("%s: reached %s on %s, want %s", sandbox, e.SandboxID, e.RunnerName, runner)
		}
	}
}

// noRunnerToken fails when a header that reached the sandbox names a runner
// (the plugin's Connection token is for Traefik's child routers alone).
func noRunnerToken(t *testing.T, e demoapp.Echo) {
	t.Helper()
	for k, vs := range e.Headers {
		for _, v := range vs {
			if strings.Contains(strings.ToLower(v), plugin.RunnerToken) {
				t.Errorf("the sandbox received %s: %q", k, v)
			}
		}
	}
}

// A client cannot pick the runner: Traefik's entry point applies (drops) a
// client's Connection tokens, and the plugin sets its own.
func TestSpoofedRunnerTokenAndRunnerAuthChangeNothing(t *testing.T) {
	h := http.Header{
		"Connection":              {plugin.RunnerConnectionToken(gw.RunnerID("r2")), plugin.RunnerToken + gw.RunnerID("r2")},
		"X-Daytona-Authorization": {"Bearer r2-runner-key"},
	}
	e := echo(t, gw, gw.Host(3000, "demo-public"), "/echo", h)
	if e.SandboxID != "demo-public" || e.RunnerName != "r1" {
		t.Errorf("reached %s on %s, want demo-public on r1", e.SandboxID, e.RunnerName)
	}
	if v, ok := e.Headers["X-Daytona-Authorization"]; ok {
		t.Errorf("the sandbox received X-Daytona-Authorization: %q", v)
	}
	noRunnerToken(t, e)
	// A private sandbox stays private whatever runner credentials a client sends.
	resp, body := get(t, gw, gw.Host(3000, "demo-private"), "/", h)
	wantError(t, resp, body, http.StatusUnauthorized, "")
}

// A path that would climb out of the sandbox prefix once decoded gets 400
// from the plugin. Traefik itself (sanitizePath, on by default) first
// decodes the unreserved %2e and cleans "/../" like any client would, so
// such a path reaches the same sandbox at its cleaned form: never another
// sandbox, never the runner's own API.
func TestTraversalIsRejected(t *testing.T) {
	host := gw.Host(3000, "demo-public")
	reachesNoRunner(t, gw, "a traversal attempt", func() {
		for _, p := range []string{
			"/..%2f..%2f..%2fdemo-private/toolbox/proxy/3000/",
			"/a/..%2F..%2F..%2F..%2Fx",
			"/..%5c..%5cx",
			"/a%5c..%5cb",
			"/a/%2E%2E%2Fb",
			"/.%2fx",
		} {
			t.Run(p, func(t *testing.T) {
				resp, body := get(t, gw, host, p, nil)
				wantError(t, resp, body, http.StatusBadRequest, "")
			})
		}
	})
	for p, want := range map[string]string{
		"/%2e%2e/%2e%2e/echo/x": "/echo/x",
		"/echo/a/%2E/b":         "/echo/a/b",
	} {
		e := echo(t, gw, host, p, nil)
		if e.SandboxID != "demo-public" || e.RawPath != want {
			t.Errorf("%s reached %s at %q, want demo-public at %q", p, e.SandboxID, e.RawPath, want)
		}
	}
}

func TestPathAndQueryKeptAsSent(t *testing.T) {
	host := gw.Host(3000, "demo-private")
	e := echo(t, gw, host, "/echo/a%20b/c%2Fd?z=1&DAYTONA_SANDBOX_AUTH_KEY="+privateToken+"&a=2&z=0&e=%26", nil)
	if e.RawQuery != "z=1&a=2&z=0&e=%26" {
		t.Errorf("query %q, want z=1&a=2&z=0&e=%%26", e.RawQuery)
	}
	if e.RawPath != "/echo/a%20b/c%2Fd" {
		t.Errorf("path %q, want /echo/a%%20b/c%%2Fd", e.RawPath)
	}
}

func TestWebSocketEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+gw.Web+"/ws", &websocket.DialOptions{
		Host: gw.Host(3000, "demo-public"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello", strings.Repeat("x", 100000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echo of %d bytes came back as %d bytes", len(msg), len(got))
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// Events must arrive as the app sends them: the first one long before the
// last is even written.
func TestServerSentEventsAreNotBuffered(t *testing.T) {
	resp, err := gw.Do("GET", gw.Host(3000, "demo-public"), "/sse?n=3&ms=1500", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	for i := 0; i < 2; i++ {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended after %d events", i)
			}
			if !strings.HasPrefix(l, "data: "+string(rune('0'+i))+" ") {
				t.Errorf("event %d is %q", i, l)
			}
		case <-time.After(1200 * time.Millisecond):
			// Event i is written at i*1.5 s; the wait for it starts after
			// event i-1 arrived, so it should come in about 1.5 s at most,
			// and event 0 at once.
			if i == 0 {
				t.Fatal("the first event did not arrive within 1.2 s: the stream is buffered")
			}
			select {
			case <-lines:
			case <-time.After(2 * time.Second):
				t.Fatalf("event %d did not arrive", i)
			}
		}
	}
}

func TestGatewayHealth(t *testing.T) {
	resp, body := get(t, gw, "localhost", "/health", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("GET /health: %s %s", resp.Status, body)
	}
}

func TestSDKToolboxRoute(t *testing.T) {
	// Always authenticated, never redirected.
	resp, body := get(t, gw, "localhost", "/toolbox/demo-public/echo", nil)
	wantError(t, resp, body, http.StatusUnauthorized, "")
	resp, body = get(t, gw, "localhost", "/toolbox/demo-private/version", http.Header{"Authorization": {"Bearer " + aliceKey}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("toolbox route: %s %s", resp.Status, body)
	}
}

// A runner that Traefik does not know yet becomes routable within the HTTP
// provider's poll interval; until then the answer is 503 with Retry-After,
// never a request to the wrong place.
func TestNewRunnerBecomesRoutable(t *testing.T) {
	s := startStack(t, stack.Options{Runners: []string{"r1", "r2", "r3"}, PollInterval: "1s"})
	simPost(t, s, "/_sim/sandboxes", `{"id":"fresh-r3","runner":"r3","public":true}`)
	host := s.Host(3000, "fresh-r3")
	resp, body := get(t, s, host, "/echo", nil)
	if resp.StatusCode == http.StatusServiceUnavailable {
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %s", body)
		}
	} else if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %s %s", resp.Status, body)
	}
	start := time.Now()
	eventually(t, 10*time.Second, "fresh-r3 routable", func() error {
		resp, body := get(t, s, host, "/echo", nil)
		if resp.StatusCode != http.StatusOK {
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("while registering: %s %s", resp.Status, body)
			}
			return errors.New(resp.Status)
		}
		var e demoapp.Echo
		if err := json.Unmarshal(body, &e); err != nil || e.RunnerName != "r3" {
			t.Fatalf("reached %q (%v), want runner r3", body, err)
		}
		return nil
	})
	t.Logf("routable after %s", time.Since(start).Round(10*time.Millisecond))
}

// Direct mode: one fixed runner service, no runner token, no HTTP provider.
func TestDirectMode(t *testing.T) {
	s := startStack(t, stack.Options{Direct: true}) // the first runner, r1
	e := echo(t, s, s.Host(3000, "demo-private"), "/echo", http.Header{"X-Daytona-Preview-Token": {privateToken}})
	if e.SandboxID != "demo-private" || e.RunnerName != "r1" {
		t.Errorf("reached %s on %s", e.SandboxID, e.RunnerName)
	}
	noRunnerToken(t, e)
	// A sandbox on r2 is not forwarded to r1 (with r2's key): 502.
	reachesNoRunner(t, s, "a sandbox on another runner", func() {
		resp, body := get(t, s, s.Host(3000, "demo-r2"), "/echo", nil)
		wantError(t, resp, body, http.StatusBadGateway, "runner")
	})
}

// With the resolver gone, nothing is forwarded: requests that were never
// decided get 502/503 JSON.
func TestResolverDownForwardsNothing(t *testing.T) {
	off := 0
	s := startStack(t, stack.Options{StaticRunners: true, PluginCacheSize: &off})
	s.StopResolver()
	reachesNoRunner(t, s, "a request with the resolver down", func() {
		for _, tc := range []struct{ host, path string }{
			{s.Host(3000, "demo-public"), "/"},
			{s.Host(3000, "demo-private"), "/?DAYTONA_SANDBOX_AUTH_KEY=" + privateToken},
			{"localhost", "/toolbox/demo-private/files"},
		} {
			resp, body := get(t, s, tc.host, tc.path, nil)
			if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s%s: %s, want 502 or 503", tc.host, tc.path, resp.Status)
				continue
			}
			wantError(t, resp, body, resp.StatusCode, "")
		}
	})
}

// The daytona-sandbox-auth-{id} cookie, in the format of Daytona's proxy
// (securecookie keyed with PROXY_API_KEY), lets the request through, and
// none of our cookies reaches the sandbox while the app's own do.
func TestSandboxCookie(t *testing.T) {
	name := "daytona-sandbox-auth-demo-private"
	value, err := securecookie.New([]byte(stack.SimProxyAPIKey), nil).Encode(name, "demo-private")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Cookie": {"app=1; " + name + "=" + value + "; daytona-sandbox-auth-other=x; theme=dark"}}
	e := echo(t, gw, gw.Host(3000, "demo-private"), "/echo", h)
	var names []string
	for _, c := range e.Cookies {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "app,theme" {
		t.Errorf("the sandbox received cookies %v, want app and theme only", names)
	}
	// A cookie made for another sandbox does not open this one.
	other, _ := securecookie.New([]byte(stack.SimProxyAPIKey), nil).Encode("daytona-sandbox-auth-demo-r2", "demo-r2")
	resp, body := get(t, gw, gw.Host(3000, "demo-private"), "/", http.Header{"Cookie": {name + "=" + other}})
	wantError(t, resp, body, http.StatusUnauthorized, "")
}

// Traefik's API shows the dynamic configuration (the plugin's options
// included): the shared secret must not be in it.
func TestTraefikAPIDoesNotShowTheSecret(t *testing.T) {
	for _, p := range []string{"/api/rawdata", "/api/http/middlewares", "/api/overview", "/api/entrypoints"} {
		resp, err := http.Get("http://" + gw.Admin + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", p, resp.Status)
		}
		if strings.Contains(string(b), gw.Secret) {
			t.Errorf("Traefik's %s shows the shared secret", p)
		}
	}
}

// CORS through the real Traefik, as Daytona's proxy answers it: a browser
// app on another origin gets its preflight answered by the gateway (a
// private sandbox's and the SDK's toolbox route alike, no credentials
// asked for), and the Origin echoed with credentials allowed on the
// sandbox's answer; X-Daytona-Disable-CORS: true leaves it all to the
// sandbox and never reaches it.
func TestCORS(t *testing.T) {
	const origin = "https://app.example.com"
	preflight := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"x-daytona-preview-token,content-type"}}
	for _, c := range []struct{ host, path string }{
		{gw.Host(3000, "demo-private"), "/echo"},
		{"localhost", "/toolbox/demo-private/files"},
	} {
		reachesNoRunner(t, gw, "a preflight", func() {
			resp, err := gw.Do("OPTIONS", c.host, c.path, preflight)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
				resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Daytona-Preview-Token") {
				t.Errorf("preflight %s%s: %s %v", c.host, c.path, resp.Status, resp.Header)
			}
		})
	}
	host := gw.Host(3000, "demo-private")
	token := http.Header{"X-Daytona-Preview-Token": {privateToken}, "Origin": {origin}}
	resp, body := get(t, gw, host, "/echo", token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("GET from another origin: %s %v %s", resp.Status, resp.Header, body)
	}
	token.Set("X-Daytona-Disable-CORS", "true")
	resp, body = get(t, gw, host, "/echo", token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET with CORS disabled: %s %v", resp.Status, resp.Header)
	}
	var e demoapp.Echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Headers["X-Daytona-Disable-Cors"]; ok {
		t.Error("the sandbox received X-Daytona-Disable-CORS")
	}
}

// The build-log routes of the gateway host, as the SDKs use them: the
// user's API key reads the build's log from its runner (snapshotRef set by
// the gateway, whatever the client sent); no key is 401, no access 404, no
// build 400.
func TestBuildLogs(t *testing.T) {
	alice := http.Header{"Authorization": {"Bearer " + aliceKey}}
	for _, path := range []string{
		"/sandboxes/demo-private/build-logs?follow=true",
		"/snapshots/" + world.DemoSnapshot + "/build-logs",
		"/snapshots/" + world.DemoSnapshot + "/build-logs?snapshotRef=someone-elses-build",
	} {
		resp, body := get(t, gw, "localhost", path, alice)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Successfully built "+world.DemoBuildRef) {
			t.Errorf("%s: %s %s", path, resp.Status, body)
		}
	}
	resp, body := get(t, gw, "localhost", "/sandboxes/demo-private/build-logs", nil)
	wantError(t, resp, body, http.StatusUnauthorized, "")
	resp, body = get(t, gw, "localhost", "/sandboxes/demo-private/build-logs", http.Header{"Authorization": {"Bearer bob-api-key"}})
	wantError(t, resp, body, http.StatusNotFound, "")
	resp, body = get(t, gw, "localhost", "/sandboxes/demo-public/build-logs", alice)
	wantError(t, resp, body, http.StatusBadRequest, "no build info")
}
