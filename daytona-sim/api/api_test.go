package api

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/world"
)

const (
	proxyKey = "proxy-key"
	r1ID     = "11111111-1111-4111-8111-111111111111"
	r2ID     = "22222222-2222-4222-8222-222222222222"
	r1URL    = "http://127.0.0.1:3003"
)

type env struct {
	srv   *Server
	ts    *httptest.Server
	world *world.World
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := world.New()
	for _, r := range []world.Runner{
		{ID: r1ID, Name: "r1", APIKey: "r1-key", URL: r1URL},
		{ID: r2ID, Name: "r2", APIKey: "r2-key", URL: "http://127.0.0.1:3004"},
	} {
		if err := w.AddRunner(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Apply(world.DefaultSeed()); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		World: w, ProxyAPIKey: proxyKey,
		ProxyTemplateURL: "http://{{PORT}}-{{sandboxId}}.localhost:8000",
		ProxyToolboxURL:  "http://localhost:8000/toolbox",
		OIDC:             OIDC{Issuer: "http://dex:5556/dex", ClientID: "cid", Audience: "aud"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return &env{srv: s, ts: ts, world: w}
}

// do sends a request; bearer "" sends no Authorization header.
func (e *env) do(t *testing.T, method, path, bearer string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
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

func mediaType(t *testing.T, resp *http.Response) string {
	t.Helper()
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	return mt
}

// checkAPIError asserts the NestJS error body: exactly the five keys, an
// RFC 3339 timestamp, the request URL as path.
func checkAPIError(t *testing.T, resp *http.Response, body string, status int, msg, path string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if mt := mediaType(t, resp); mt != "application/json" {
		t.Errorf("content type = %q", mt)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "error,message,path,statusCode,timestamp" {
		t.Errorf("error keys = %v", keys)
	}
	if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if m["statusCode"] != float64(status) || m["error"] != http.StatusText(status) {
		t.Errorf("statusCode/error = %v/%v", m["statusCode"], m["error"])
	}
	if msg != "" && m["message"] != msg {
		t.Errorf("message = %q, want %q", m["message"], msg)
	}
	if m["path"] != path {
		t.Errorf("path = %q, want %q", m["path"], path)
	}
}

// endpointCase is one request with its expected answer: a text body for
// 200 "true"-style answers, or an error message.
type endpointCase struct {
	name    string
	method  string
	path    string
	bearer  string
	status  int
	text    string // expected text/html body when status is 2xx and not JSON
	message string // expected error message when status >= 400
}

func runCases(t *testing.T, e *env, cases []endpointCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			resp, body := e.do(t, method, tt.path, tt.bearer)
			if tt.status >= 400 {
				checkAPIError(t, resp, body, tt.status, tt.message, tt.path)
				return
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.text != "" {
				if body != tt.text {
					t.Errorf("body = %q, want %q", body, tt.text)
				}
				if mt := mediaType(t, resp); mt != "text/html" {
					t.Errorf("content type = %q, want text/html", mt)
				}
			}
		})
	}
}

func TestProxyEndpoints(t *testing.T) {
	e := newEnv(t)
	runCases(t, e, []endpointCase{
		{name: "public: public sandbox", path: "/api/preview/demo-public/public", bearer: proxyKey, status: 200, text: "true"},
		{name: "public: private sandbox", path: "/api/preview/demo-private/public", bearer: proxyKey, status: 404, message: "Sandbox with ID demo-private not found"},
		{name: "public: unknown sandbox", path: "/api/preview/nope/public", bearer: proxyKey, status: 404, message: "Sandbox with ID nope not found"},
		{name: "public: no auth", path: "/api/preview/demo-public/public", status: 401, message: MsgInvalidCredentials},
		{name: "public: wrong key", path: "/api/preview/demo-public/public", bearer: "nope", status: 401, message: MsgInvalidCredentials},
		{name: "public: user key", path: "/api/preview/demo-public/public", bearer: "alice-api-key", status: 403, message: MsgInvalidAuthContext},
		{name: "public: runner key", path: "/api/preview/demo-public/public", bearer: "r1-key", status: 403, message: MsgInvalidAuthContext},

		{name: "validate: right token", path: "/api/preview/demo-private/validate/" + world.DemoPrivateToken, bearer: proxyKey, status: 200, text: "true"},
		{name: "validate: other sandbox's token", path: "/api/preview/demo-r2/validate/" + world.DemoPrivateToken, bearer: proxyKey, status: 404, message: "Sandbox with ID demo-r2 not found"},
		{name: "validate: wrong token", path: "/api/preview/demo-private/validate/wrong", bearer: proxyKey, status: 404},
		{name: "validate: unknown sandbox", path: "/api/preview/nope/validate/" + world.DemoPrivateToken, bearer: proxyKey, status: 404},
		{name: "validate: no auth", path: "/api/preview/demo-private/validate/" + world.DemoPrivateToken, status: 401, message: MsgInvalidCredentials},
		{name: "validate: user key", path: "/api/preview/demo-private/validate/" + world.DemoPrivateToken, bearer: "alice-api-key", status: 403},

		{name: "sandbox-id: not a signed token", path: "/api/preview/demo-private/3000/sandbox-id", bearer: proxyKey, status: 403, message: MsgInvalidSignedToken},
		{name: "sandbox-id: no auth", path: "/api/preview/abcdefghij012345/3000/sandbox-id", status: 401},

		{name: "last-activity: proxy", method: "POST", path: "/api/sandbox/demo-private/last-activity", bearer: proxyKey, status: 201},
		{name: "last-activity: unknown id", method: "POST", path: "/api/sandbox/nope/last-activity", bearer: proxyKey, status: 201},
		{name: "last-activity: user with access", method: "POST", path: "/api/sandbox/demo-r2/last-activity", bearer: "alice-api-key", status: 201},
		{name: "last-activity: user without access", method: "POST", path: "/api/sandbox/demo-r2/last-activity", bearer: "bob-api-key", status: 404, message: "Sandbox with ID or name demo-r2 not found"},
		{name: "last-activity: no auth", method: "POST", path: "/api/sandbox/demo-r2/last-activity", status: 401},
		{name: "last-activity: GET", path: "/api/sandbox/demo-r2/last-activity", bearer: proxyKey, status: 404, message: "Cannot GET /api/sandbox/demo-r2/last-activity"},

		{name: "runner by sandbox: unknown", path: "/api/runners/by-sandbox/nope", bearer: proxyKey, status: 404, message: "Sandbox with ID nope not found"},
		{name: "runner by sandbox: no auth", path: "/api/runners/by-sandbox/demo-private", status: 401},
		{name: "runner by sandbox: user", path: "/api/runners/by-sandbox/demo-private", bearer: "alice-api-key", status: 403},
		{name: "runner full: unknown uuid", path: "/api/runners/33333333-3333-4333-8333-333333333333/full", bearer: proxyKey, status: 404, message: MsgRunnerNotFound},
		{name: "runner full: not a uuid", path: "/api/runners/r1/full", bearer: proxyKey, status: 404, message: MsgRunnerNotFound},
		{name: "runner full: no auth", path: "/api/runners/" + r1ID + "/full", status: 401},

		{name: "config: no auth needed", path: "/api/config", status: 200},
		{name: "config: trailing slash and case", path: "/API/Config/", status: 200},
		{name: "unmatched", path: "/api/nope?x=1", status: 404, message: "Cannot GET /api/nope?x=1"},
		{name: "outside /api", path: "/dashboard", status: 404},
	})
}

func TestBearerParsing(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		header string
		query  string
		status int
	}{
		{"exact", "Bearer " + proxyKey, "", 200},
		{"scheme is case-insensitive", "bEaReR " + proxyKey, "", 200},
		{"two spaces", "Bearer  " + proxyKey, "", 401},
		{"trailing space (trimmed by the HTTP parser)", "Bearer " + proxyKey + " ", "", 200},
		{"other scheme", "Basic " + proxyKey, "", 401},
		{"no scheme", proxyKey, "", 401},
		{"empty token", "Bearer ", "", 401},
		{"access_token query", "", "?access_token=" + proxyKey, 200},
		{"header and query", "Bearer " + proxyKey, "?access_token=" + proxyKey, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/api/preview/demo-public/public"+tt.query, "", "Authorization", tt.header)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, sandbox, bearer string
		status                int
		user                  string
	}{
		{"alice", "demo-private", "alice-api-key", 200, "alice"},
		{"alice on stopped", "demo-stopped", "alice-api-key", 200, "alice"},
		{"bob has no access", "demo-private", "bob-api-key", 404, "bob"},
		{"unknown sandbox", "nope", "alice-api-key", 404, "alice"},
		{"proxy key is not a user", "demo-private", proxyKey, 404, ""},
		{"unknown key", "demo-private", "nope", 401, ""},
		{"no key", "demo-private", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xff := "203.0.113.7"
			path := "/api/preview/" + tt.sandbox + "/access"
			resp, body := e.do(t, "GET", path, tt.bearer, "X-Forwarded-For", xff)
			if tt.status == 200 {
				if resp.StatusCode != 200 || body != "true" {
					t.Fatalf("got %d %q", resp.StatusCode, body)
				}
			} else {
				checkAPIError(t, resp, body, tt.status, "", path)
			}
			la, ok := e.srv.LastAccess()
			if !ok || la.SandboxID != tt.sandbox || la.User != tt.user || la.ForwardedFor != xff || la.Status != tt.status {
				t.Errorf("last access = %+v", la)
			}
		})
	}
	// Also over HTTP.
	resp, body := e.do(t, "GET", "/_sim/last-access", "")
	var la LastAccess
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &la) != nil || la.ForwardedFor != "203.0.113.7" {
		t.Errorf("GET /_sim/last-access: %d %s", resp.StatusCode, body)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, "GET", "/api/config", "")
	if resp.StatusCode != 200 || mediaType(t, resp) != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "oidc", "linkedAccountsEnabled", "announcements", "proxyTemplateUrl",
		"proxyToolboxUrl", "defaultSnapshot", "dashboardUrl", "maxAutoArchiveInterval", "maintananceMode", "environment"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing required key %q", k)
		}
	}
	oidc, _ := m["oidc"].(map[string]any)
	if oidc["issuer"] != "http://dex:5556/dex" || oidc["clientId"] != "cid" || oidc["audience"] != "aud" {
		t.Errorf("oidc = %v", oidc)
	}
	if _, ok := m["announcements"].(map[string]any); !ok {
		t.Errorf("announcements is not an object: %v", m["announcements"])
	}
	if m["proxyTemplateUrl"] != "http://{{PORT}}-{{sandboxId}}.localhost:8000" || m["proxyToolboxUrl"] != "http://localhost:8000/toolbox" {
		t.Errorf("proxy urls: %v %v", m["proxyTemplateUrl"], m["proxyToolboxUrl"])
	}
}

func decodeRunner(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	for _, k := range RunnerFullRequiredKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("RunnerFull lacks required key %q", k)
		}
	}
	if tags, ok := m["tags"].([]any); !ok || tags == nil {
		t.Errorf("tags = %v, want an array", m["tags"])
	}
	if _, err := time.Parse(time.RFC3339, m["createdAt"].(string)); err != nil {
		t.Errorf("createdAt: %v", err)
	}
	return m
}

func TestRunnerEndpoints(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path     string
		id, url, key   string
		wantRegionType bool
	}{
		{"by sandbox r1", "/api/runners/by-sandbox/demo-private", r1ID, r1URL, "r1-key", false},
		{"by sandbox r2", "/api/runners/by-sandbox/demo-r2", r2ID, "http://127.0.0.1:3004", "r2-key", false},
		{"by sandbox, stopped sandbox", "/api/runners/by-sandbox/demo-stopped", r1ID, r1URL, "r1-key", false},
		// RunnerFullDto.fromRunner(runner): no regionType (runner.controller.ts getRunnerByIdFull).
		{"full", "/api/runners/" + r1ID + "/full", r1ID, r1URL, "r1-key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tt.path, proxyKey)
			if resp.StatusCode != 200 || mediaType(t, resp) != "application/json" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			m := decodeRunner(t, body)
			if m["id"] != tt.id || m["proxyUrl"] != tt.url || m["apiUrl"] != tt.url || m["apiKey"] != tt.key {
				t.Errorf("runner = %v", m)
			}
			if m["runnerClass"] != "container" || m["state"] != "ready" {
				t.Errorf("class/state = %v/%v", m["runnerClass"], m["state"])
			}
			if _, ok := m["regionType"]; ok != tt.wantRegionType {
				t.Errorf("regionType present = %v", ok)
			}
		})
	}
	t.Run("sandbox without runner", func(t *testing.T) {
		empty := ""
		if _, err := e.world.UpdateSandbox("demo-stopped", world.SandboxPatch{Runner: &empty}); err != nil {
			t.Fatal(err)
		}
		path := "/api/runners/by-sandbox/demo-stopped"
		resp, body := e.do(t, "GET", path, proxyKey)
		checkAPIError(t, resp, body, 404, "Sandbox with ID demo-stopped does not have a runner", path)
	})
}

func TestPreviewURLs(t *testing.T) {
	e := newEnv(t)
	t.Run("preview-url", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/api/sandbox/demo-private/ports/3000/preview-url", "alice-api-key")
		var got PortPreviewURL
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		want := PortPreviewURL{SandboxID: "demo-private", URL: "http://3000-demo-private.localhost:8000", Token: world.DemoPrivateToken}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	runCases(t, e, []endpointCase{
		{name: "preview-url: bob", path: "/api/sandbox/demo-private/ports/3000/preview-url", bearer: "bob-api-key", status: 404, message: "Sandbox with ID or name demo-private not found"},
		{name: "preview-url: unknown", path: "/api/sandbox/nope/ports/3000/preview-url", bearer: "alice-api-key", status: 404},
		{name: "preview-url: proxy key", path: "/api/sandbox/demo-private/ports/3000/preview-url", bearer: proxyKey, status: 403, message: MsgInvalidAuthContext},
		{name: "preview-url: no auth", path: "/api/sandbox/demo-private/ports/3000/preview-url", status: 401},
		{name: "preview-url: port 0", path: "/api/sandbox/demo-private/ports/0/preview-url", bearer: "alice-api-key", status: 400, message: MsgInvalidPort},
		{name: "preview-url: port 65536", path: "/api/sandbox/demo-private/ports/65536/preview-url", bearer: "alice-api-key", status: 400, message: MsgInvalidPort},
		{name: "signed: expiry 0", path: "/api/sandbox/demo-private/ports/3000/signed-preview-url?expiresInSeconds=0", bearer: "alice-api-key", status: 400, message: MsgInvalidExpiry},
		{name: "signed: expiry too long", path: "/api/sandbox/demo-private/ports/3000/signed-preview-url?expiresInSeconds=86401", bearer: "alice-api-key", status: 400, message: MsgInvalidExpiry},
		{name: "signed: bob", path: "/api/sandbox/demo-private/ports/3000/signed-preview-url", bearer: "bob-api-key", status: 404},
	})

	t.Run("signed url lifecycle", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/api/sandbox/demo-private/ports/3000/signed-preview-url?expiresInSeconds=120", "alice-api-key")
		var got SignedPortPreviewURL
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if !regexp.MustCompile(`^[0-9a-z]{16}$`).MatchString(got.Token) || got.Port != 3000 || got.SandboxID != "demo-private" ||
			got.URL != "http://3000-"+got.Token+".localhost:8000" {
			t.Fatalf("signed = %+v", got)
		}
		resp, body = e.do(t, "GET", "/api/preview/"+got.Token+"/3000/sandbox-id", proxyKey)
		if resp.StatusCode != 200 || body != "demo-private" || mediaType(t, resp) != "text/html" {
			t.Errorf("sandbox-id: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
		path := "/api/preview/" + got.Token + "/3001/sandbox-id"
		resp, body = e.do(t, "GET", path, proxyKey)
		checkAPIError(t, resp, body, 403, MsgInvalidSignedToken, path)

		resp, body = e.do(t, "POST", "/api/sandbox/demo-private/ports/3000/signed-preview-url/"+got.Token+"/expire", "alice-api-key")
		if resp.StatusCode != 201 || body != "" {
			t.Errorf("expire: %d %q", resp.StatusCode, body)
		}
		path = "/api/preview/" + got.Token + "/3000/sandbox-id"
		resp, body = e.do(t, "GET", path, proxyKey)
		checkAPIError(t, resp, body, 403, MsgInvalidSignedToken, path)
	})
}

func TestUpdatePublicStatus(t *testing.T) {
	e := newEnv(t)
	for _, step := range []struct {
		isPublic string
		want     bool
	}{{"true", true}, {"false", false}, {"true", true}, {"yes", false}} {
		resp, body := e.do(t, "POST", "/api/sandbox/demo-private/public/"+step.isPublic, "alice-api-key")
		var dto map[string]any
		if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &dto) != nil {
			t.Fatalf("%s: %d %s", step.isPublic, resp.StatusCode, body)
		}
		for _, k := range []string{"id", "organizationId", "name", "user", "env", "labels", "public", "networkBlockAll",
			"target", "cpu", "gpu", "memory", "disk", "toolboxProxyUrl"} {
			if _, ok := dto[k]; !ok {
				t.Errorf("Sandbox lacks required key %q", k)
			}
		}
		if dto["public"] != step.want {
			t.Errorf("%s: public = %v", step.isPublic, dto["public"])
		}
		resp, _ = e.do(t, "GET", "/api/preview/demo-private/public", proxyKey)
		if (resp.StatusCode == 200) != step.want {
			t.Errorf("%s: /public answered %d", step.isPublic, resp.StatusCode)
		}
	}
	resp, body := e.do(t, "POST", "/api/sandbox/demo-private/public/true", "bob-api-key")
	checkAPIError(t, resp, body, 404, "Sandbox with ID or name demo-private not found", "/api/sandbox/demo-private/public/true")
}

func TestLastActivityRecorded(t *testing.T) {
	e := newEnv(t)
	if sb, _ := e.world.Sandbox("demo-r2"); !sb.LastActivityAt.IsZero() {
		t.Fatal("activity before any call")
	}
	resp, body := e.do(t, "POST", "/api/sandbox/demo-r2/last-activity", proxyKey)
	if resp.StatusCode != 201 || body != "" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if sb, _ := e.world.Sandbox("demo-r2"); time.Since(sb.LastActivityAt) > time.Minute {
		t.Errorf("last activity = %v", sb.LastActivityAt)
	}
}

func TestCallCounters(t *testing.T) {
	e := newEnv(t)
	e.do(t, "GET", "/api/config", "")
	e.do(t, "GET", "/api/preview/demo-private/public", proxyKey)
	e.do(t, "GET", "/api/preview/demo-private/public", proxyKey)
	e.do(t, "GET", "/api/preview/demo-public/public", "")
	e.do(t, "GET", "/api/preview/demo-private/validate/x", proxyKey)
	e.do(t, "GET", "/api/preview/tok/3000/sandbox-id", proxyKey)
	e.do(t, "GET", "/api/nope", proxyKey)
	e.do(t, "GET", "/_sim/sandboxes", "") // not counted

	resp, body := e.do(t, "GET", "/_sim/calls", "")
	var c Calls
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &c) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if c.Total != 7 {
		t.Errorf("total = %d", c.Total)
	}
	wantEndpoint := map[string]int64{
		"GET /config": 1, "GET /preview/{id}/public": 3, "GET /preview/{id}/validate/{token}": 1,
		"GET /preview/{token}/{port}/sandbox-id": 1, UnmatchedEndpoint: 1,
	}
	for k, v := range wantEndpoint {
		if c.ByEndpoint[k] != v {
			t.Errorf("byEndpoint[%q] = %d, want %d", k, c.ByEndpoint[k], v)
		}
	}
	if len(c.ByEndpoint) != len(wantEndpoint) {
		t.Errorf("byEndpoint = %v", c.ByEndpoint)
	}
	pub := c.BySandbox["GET /preview/{id}/public"]
	if pub["demo-private"] != 2 || pub["demo-public"] != 1 {
		t.Errorf("bySandbox public = %v", pub)
	}
	if c.BySandbox["GET /preview/{token}/{port}/sandbox-id"]["tok"] != 1 {
		t.Errorf("bySandbox sandbox-id = %v", c.BySandbox)
	}
	if len(c.Recent) != 7 || c.Recent[1].Status != 404 || c.Recent[3].Status != 401 || c.Recent[0].Status != 200 {
		t.Errorf("recent = %+v", c.Recent)
	}

	resp, _ = e.do(t, "POST", "/_sim/calls/reset", "")
	if resp.StatusCode != 204 {
		t.Fatalf("reset: %d", resp.StatusCode)
	}
	if c := e.srv.Calls(); c.Total != 0 || len(c.ByEndpoint) != 0 || len(c.Recent) != 0 {
		t.Errorf("after reset: %+v", c)
	}
	if _, ok := e.srv.LastAccess(); ok {
		t.Error("last access survived the reset")
	}
}

func TestRouteMatching(t *testing.T) {
	tests := []struct {
		method, path string
		want         string
		params       params
	}{
		{"GET", "/preview/abc/public", "GET /preview/{id}/public", params{"id": "abc"}},
		{"GET", "/preview/a%2Fb/public", "GET /preview/{id}/public", params{"id": "a/b"}},
		{"GET", "/preview/abc/validate/tok", "GET /preview/{id}/validate/{token}", params{"id": "abc", "token": "tok"}},
		{"GET", "/preview/tok/3000/sandbox-id", "GET /preview/{token}/{port}/sandbox-id", params{"token": "tok", "port": "3000"}},
		{"GET", "/runners/by-sandbox/x", "GET /runners/by-sandbox/{id}", params{"id": "x"}},
		{"GET", "/runners/by-sandbox/full", "GET /runners/by-sandbox/{id}", params{"id": "full"}},
		{"POST", "/sandbox/x/public/true", "POST /sandbox/{id}/public/{isPublic}", params{"id": "x", "isPublic": "true"}},
		{"GET", "/preview//public", "", nil},
		{"POST", "/preview/x/public", "", nil},
		{"GET", "/preview/x/public/extra", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			for _, rt := range routes {
				if p, ok := rt.match(tt.method, tt.path); ok {
					if rt.name() != tt.want {
						t.Fatalf("matched %q, want %q", rt.name(), tt.want)
					}
					for k, v := range tt.params {
						if p[k] != v {
							t.Errorf("param %s = %q, want %q", k, p[k], v)
						}
					}
					return
				}
			}
			if tt.want != "" {
				t.Errorf("no match, want %q", tt.want)
			}
		})
	}
}

// GET /sandbox/{id} and GET /snapshots/{id} (the build-log routes') answer
// users with access only, with every key the generated Go client
// (model_sandbox.go, model_snapshot_dto.go, model_build_info.go) requires,
// so that Daytona's own proxy can read them too.
func TestBuildEndpoints(t *testing.T) {
	e := newEnv(t)
	required := map[string][]string{
		"/api/sandbox/demo-private": {"id", "organizationId", "name", "user", "env", "labels", "public",
			"networkBlockAll", "target", "cpu", "gpu", "memory", "disk", "toolboxProxyUrl"},
		"/api/snapshots/" + world.DemoSnapshot: {"id", "general", "name", "state", "size", "entrypoint", "cpu",
			"gpu", "mem", "disk", "errorReason", "createdAt", "updatedAt", "lastUsedAt"},
	}
	for path, keys := range required {
		resp, body := e.do(t, "GET", path, "alice-api-key")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks required key %q", path, k)
			}
		}
		if strings.HasPrefix(path, "/api/sandbox/") {
			bi, _ := m["buildInfo"].(map[string]any)
			for _, k := range []string{"createdAt", "updatedAt", "snapshotRef"} {
				if _, ok := bi[k]; !ok {
					t.Errorf("buildInfo lacks required key %q", k)
				}
			}
			if bi["snapshotRef"] != world.DemoBuildRef || m["runnerId"] != r1ID {
				t.Errorf("sandbox: %v", m)
			}
		} else if m["ref"] != world.DemoBuildRef || m["initialRunnerId"] != r1ID {
			t.Errorf("snapshot: %v", m)
		}
		if resp, _ := e.do(t, "GET", path, "bob-api-key"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s for a user without access: %d", path, resp.StatusCode)
		}
		// The proxy may read a sandbox (ProxyAuthContextGuard), without its
		// build info; a snapshot it may not.
		resp, body = e.do(t, "GET", path, proxyKey)
		if strings.HasPrefix(path, "/api/sandbox/") {
			if resp.StatusCode != http.StatusOK || strings.Contains(body, "buildInfo") {
				t.Errorf("%s with the proxy key: %d %s", path, resp.StatusCode, body)
			}
		} else if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with the proxy key: %d", path, resp.StatusCode)
		}
	}
	// A sandbox built from no declarative image has no buildInfo.
	_, body := e.do(t, "GET", "/api/sandbox/demo-public", "alice-api-key")
	if strings.Contains(body, "buildInfo") {
		t.Errorf("demo-public has build info: %s", body)
	}
}
