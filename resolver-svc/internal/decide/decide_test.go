package decide_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/authcookie"
	"github.com/previewgate/previewgate/resolver-svc/internal/cache"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona/daytonatest"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
)

const (
	proxyKey   = "super_secret_key"
	private    = "8c2f6a1e-0b7d-4a53-9d55-6b1f3f0f2a11"
	public     = "5d0c7e52-31a4-4d8e-a7a1-0c1b2f9e4d33"
	other      = "0f8f0b7a-2222-4c4c-8888-9a9a9a9a9a9a"
	archived   = "a7c1d9e0-1111-4b4b-9999-000000000000"
	token      = "privatetoken0123456789abcdefghij"
	otherToken = "othertoken00123456789abcdefghijk"
	userJWT    = "eyJhbGciOi.user.jwt"
	runnerID   = "4f1e2d3c-runner-0001"
	runnerURL  = "http://runner-1.internal:3003"
	runnerKey  = "runner-secret-key"
)

// env is one decision under test with its fake API.
type env struct {
	t       testing.TB
	api     *daytonatest.API
	cache   *recordingCache
	cookies *authcookie.Codec
	runners *runners.Registry
	d       *decide.Decider
}

type option func(*decide.Config, *decide.Deps, *env)

func direct() option {
	return func(_ *decide.Config, deps *decide.Deps, _ *env) { deps.Runners = nil }
}

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	api := daytonatest.New(t, proxyKey)
	api.AddRunner(runnerID, daytonatest.RunnerInfo{ProxyURL: runnerURL, APIKey: runnerKey})
	api.AddSandbox(private, daytonatest.Sandbox{Token: token, Runner: runnerID, Users: []string{userJWT}})
	api.AddSandbox(public, daytonatest.Sandbox{Public: true, Token: "publictoken", Runner: runnerID})
	api.AddSandbox(other, daytonatest.Sandbox{Token: otherToken, Runner: runnerID})
	api.AddSandbox(archived, daytonatest.Sandbox{Token: token})

	client, err := daytona.New(daytona.Config{
		BaseURL: api.URL(), APIKey: proxyKey,
		Timeout: 5 * time.Second, AttemptTimeout: 2 * time.Second,
		BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := authcookie.New([]byte(proxyKey))
	reg, err := runners.New(runners.Config{ParentRouter: "previewgate@file"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, api: api, cache: &recordingCache{Cache: cache.NewMemory(1000)}, cookies: codec, runners: reg}
	cfg := decide.Config{
		DecisionTTL: 15 * time.Second, Timeout: 2 * time.Second, LookupTimeout: 5 * time.Second,
		PublicTTL: 30 * time.Second, PrivateTTL: 10 * time.Second,
		AuthValidTTL: 2 * time.Minute, AuthInvalidTTL: 5 * time.Second,
		RunnerTTL: 2 * time.Minute, NotFoundTTL: 5 * time.Second,
		ActivityInterval: 45 * time.Second,
	}
	deps := decide.Deps{API: client, Cache: e.cache, Cookies: codec, Runners: reg}
	for _, o := range opts {
		o(&cfg, &deps, e)
	}
	e.d, err = decide.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.d.Close)
	// Traefik has fetched a configuration with the runner.
	_ = reg.Learn(runnerID, runnerURL)
	reg.MarkServed(reg.Render().Version)
	return e
}

func (e *env) decide(req decide.Request) decide.Decision {
	e.t.Helper()
	return e.d.Decide(context.Background(), req)
}

// cookie makes a Daytona auth cookie value for name idOrToken granting id,
// issued at.
func cookie(t testing.TB, key, idOrToken, id string, at time.Time) string {
	var buf bytes.Buffer
	_ = gob.NewEncoder(&buf).Encode(id)
	payload := base64.URLEncoding.EncodeToString(buf.Bytes())
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "%s|%d|%s", authcookie.Name(idOrToken), at.Unix(), payload)
	return base64.URLEncoding.EncodeToString(append([]byte(fmt.Sprintf("%d|%s|", at.Unix(), payload)), m.Sum(nil)...))
}

func preview(id, port string) decide.Request {
	return decide.Request{Route: plugin.RoutePreview, Sandbox: id, Port: port, ClientIP: "203.0.113.9"}
}

func TestDecisionMatrix(t *testing.T) {
	now := time.Now()
	with := func(r decide.Request, f func(*decide.Request)) decide.Request { f(&r); return r }
	tests := []struct {
		name    string
		req     decide.Request
		outcome decide.Outcome
		status  int    // 0: forward
		prefix  string // forward
		strip   bool
		msg     string // substring of the message
	}{
		{name: "public, no credentials", req: preview(public, "3000"),
			outcome: decide.OutcomePublic, prefix: "/sandboxes/" + public + "/toolbox/proxy/3000"},
		{name: "public, port 22222 needs auth", req: preview(public, "22222"),
			outcome: decide.OutcomeMissingAuth, status: 401, msg: "missing authentication"},
		{name: "public, port 2280 needs auth", req: preview(public, "2280"),
			outcome: decide.OutcomeMissingAuth, status: 401},
		{name: "public, port 33333 needs auth", req: preview(public, "33333"),
			outcome: decide.OutcomeMissingAuth, status: 401},
		{name: "public, port 2280 with its token", req: with(preview(public, "2280"), func(r *decide.Request) { r.PreviewToken = "publictoken" }),
			outcome: decide.OutcomePreviewToken, prefix: "/sandboxes/" + public + "/toolbox/proxy/2280"},
		{name: "public, bearer kept for the app", req: with(preview(public, "3000"), func(r *decide.Request) { r.Bearer = "app-token" }),
			outcome: decide.OutcomePublic, prefix: "/sandboxes/" + public + "/toolbox/proxy/3000"},
		{name: "private, no credentials", req: preview(private, "3000"),
			outcome: decide.OutcomeMissingAuth, status: 401,
			msg: "missing authentication: send a preview token in the X-Daytona-Preview-Token header or the DAYTONA_SANDBOX_AUTH_KEY query parameter, or an API key or JWT as Authorization: Bearer"},
		{name: "private, bearer", req: with(preview(private, "3000"), func(r *decide.Request) { r.Bearer = userJWT }),
			outcome: decide.OutcomeBearer, prefix: "/sandboxes/" + private + "/toolbox/proxy/3000", strip: true},
		{name: "private, bearer without access", req: with(preview(private, "3000"), func(r *decide.Request) { r.Bearer = "stranger" }),
			outcome: decide.OutcomeInvalidAuth, status: 401, msg: "Authorization: Bearer has no access"},
		{name: "private, header token", req: with(preview(private, "8080"), func(r *decide.Request) { r.PreviewToken = token }),
			outcome: decide.OutcomePreviewToken, prefix: "/sandboxes/" + private + "/toolbox/proxy/8080"},
		{name: "private, wrong header token", req: with(preview(private, "3000"), func(r *decide.Request) { r.PreviewToken = "wrong" }),
			outcome: decide.OutcomeInvalidAuth, status: 401, msg: "unauthorized: authentication failed: invalid preview token in the X-Daytona-Preview-Token header"},
		{name: "private, query token", req: with(preview(private, "3000"), func(r *decide.Request) { r.QueryToken = token }),
			outcome: decide.OutcomeQueryToken, prefix: "/sandboxes/" + private + "/toolbox/proxy/3000"},
		{name: "private, wrong query token", req: with(preview(private, "3000"), func(r *decide.Request) { r.QueryToken = "wrong" }),
			outcome: decide.OutcomeInvalidAuth, status: 401, msg: "DAYTONA_SANDBOX_AUTH_KEY"},
		{name: "private, another sandbox's token", req: with(preview(private, "3000"), func(r *decide.Request) { r.PreviewToken = otherToken }),
			outcome: decide.OutcomeInvalidAuth, status: 401},
		{name: "private, wrong bearer then good token", req: with(preview(private, "3000"), func(r *decide.Request) { r.Bearer = "stranger"; r.PreviewToken = token }),
			outcome: decide.OutcomePreviewToken, prefix: "/sandboxes/" + private + "/toolbox/proxy/3000"},
		{name: "private, every credential wrong", req: with(preview(private, "3000"), func(r *decide.Request) {
			r.Bearer, r.PreviewToken, r.QueryToken, r.Cookie = "x", "y", "z", "garbage"
		}), outcome: decide.OutcomeInvalidAuth, status: 401, msg: "Bearer has no access to this sandbox; invalid preview token in the X-Daytona-Preview-Token header; invalid preview token in the DAYTONA_SANDBOX_AUTH_KEY query parameter; invalid sandbox auth cookie"},
		{name: "private, cookie", req: with(preview(private, "3000"), func(r *decide.Request) { r.Cookie = cookie(t, proxyKey, private, private, now) }),
			outcome: decide.OutcomeCookie, prefix: "/sandboxes/" + private + "/toolbox/proxy/3000"},
		{name: "private, forged cookie", req: with(preview(private, "3000"), func(r *decide.Request) { r.Cookie = cookie(t, "not the key", private, private, now) }),
			outcome: decide.OutcomeInvalidAuth, status: 401, msg: "invalid sandbox auth cookie"},
		{name: "private, expired cookie", req: with(preview(private, "3000"), func(r *decide.Request) {
			r.Cookie = cookie(t, proxyKey, private, private, now.Add(-2*time.Hour))
		}), outcome: decide.OutcomeInvalidAuth, status: 401, msg: "expired sandbox auth cookie"},
		{name: "private, cookie granting another sandbox", req: with(preview(private, "3000"), func(r *decide.Request) { r.Cookie = cookie(t, proxyKey, private, other, now) }),
			outcome: decide.OutcomeInvalidAuth, status: 401, msg: "invalid sandbox auth cookie"},
		{name: "private, another sandbox's cookie", req: with(preview(private, "3000"), func(r *decide.Request) { r.Cookie = cookie(t, proxyKey, other, other, now) }),
			outcome: decide.OutcomeInvalidAuth, status: 401},
		{name: "unknown sandbox", req: with(preview("00000000-dead-beef-0000-000000000000", "3000"), func(r *decide.Request) { r.PreviewToken = token }),
			outcome: decide.OutcomeNotFound, status: 404, msg: "not found: sandbox not found"},
		{name: "sandbox without runner", req: preview(archived, "3000"),
			outcome: decide.OutcomeNotFound, status: 404},
		{name: "toolbox, no credentials, even public", req: decide.Request{Route: plugin.RouteToolbox, Sandbox: public},
			outcome: decide.OutcomeMissingAuth, status: 401},
		{name: "toolbox, token", req: decide.Request{Route: plugin.RouteToolbox, Sandbox: private, PreviewToken: token, Port: "3000"},
			outcome: decide.OutcomePreviewToken, prefix: "/sandboxes/" + private + "/toolbox"},
		{name: "toolbox, bearer", req: decide.Request{Route: plugin.RouteToolbox, Sandbox: private, Bearer: userJWT},
			outcome: decide.OutcomeBearer, prefix: "/sandboxes/" + private + "/toolbox", strip: true},
		{name: "gateway", req: decide.Request{Route: plugin.RouteGateway},
			outcome: decide.OutcomeGateway, status: 404, msg: "not found"},
		{name: "signed-token host", req: preview("abcdefgh12345678", "3000"),
			outcome: decide.OutcomeSignedToken, status: 401, msg: "signed preview URLs"},
		{name: "bad sandbox id", req: preview("UPPER", "3000"), outcome: decide.OutcomeBadRequest, status: 400, msg: "invalid sandbox id"},
		{name: "bad sandbox id in toolbox", req: decide.Request{Route: plugin.RouteToolbox, Sandbox: "../x"}, outcome: decide.OutcomeBadRequest, status: 400},
		{name: "bad port", req: preview(private, "70000"), outcome: decide.OutcomeBadRequest, status: 400, msg: "invalid port"},
		{name: "port with leading zero", req: preview(private, "03000"), outcome: decide.OutcomeBadRequest, status: 400},
		{name: "no port", req: preview(private, ""), outcome: decide.OutcomeBadRequest, status: 400},
		{name: "unknown route", req: decide.Request{Route: "other", Sandbox: private}, outcome: decide.OutcomeBadRequest, status: 400, msg: "unknown route"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.decide(tt.req)
			if d.Outcome != tt.outcome {
				t.Fatalf("outcome = %s (%d %q, err %v), want %s", d.Outcome, d.Status, d.Message, d.Err, tt.outcome)
			}
			if tt.status == 0 {
				f := d.Forward
				if f == nil {
					t.Fatalf("no forward: %d %q", d.Status, d.Message)
				}
				if f.Runner != runnerID || f.RunnerAuth != "Bearer "+runnerKey || f.Prefix != tt.prefix ||
					f.StripAuthorization != tt.strip || f.TTL != 15*time.Second {
					t.Fatalf("forward = %+v, want prefix %s strip %v", *f, tt.prefix, tt.strip)
				}
				return
			}
			if d.Forward != nil || d.Status != tt.status {
				t.Fatalf("status = %d (forward %v), want %d", d.Status, d.Forward, tt.status)
			}
			if !strings.Contains(d.Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", d.Message, tt.msg)
			}
			for _, secret := range []string{token, otherToken, userJWT, runnerKey, proxyKey} {
				if strings.Contains(d.Message, secret) {
					t.Fatalf("message reveals a secret: %q", d.Message)
				}
			}
		})
	}
}

func TestToolboxOnlyMode(t *testing.T) {
	e := newEnv(t, func(c *decide.Config, _ *decide.Deps, _ *env) { c.ToolboxOnly = true })
	if d := e.decide(preview(public, "3000")); d.Outcome != decide.OutcomeToolboxOnly || d.Status != 404 {
		t.Fatalf("port 3000: %s %d", d.Outcome, d.Status)
	}
	// Before any credential: a signed-token host is 404 too, not 401.
	if d := e.decide(preview("abcdefgh12345678", "3000")); d.Outcome != decide.OutcomeToolboxOnly || d.Status != 404 {
		t.Fatalf("signed token, port 3000: %s %d", d.Outcome, d.Status)
	}
	req := preview(private, "2280")
	req.PreviewToken = token
	if d := e.decide(req); d.Forward == nil {
		t.Fatalf("port 2280: %s %d", d.Outcome, d.Status)
	}
	if d := e.decide(decide.Request{Route: plugin.RouteToolbox, Sandbox: private, PreviewToken: token}); d.Forward == nil {
		t.Fatalf("toolbox route: %s %d", d.Outcome, d.Status)
	}
	if n := e.api.Calls(daytonatest.Runner); n != 1 {
		t.Fatalf("%d runner lookups; port 3000 should make none", n)
	}
}

func TestAPIDown(t *testing.T) {
	e := newEnv(t)
	e.api.Fail(http.StatusInternalServerError, `{"statusCode":500,"message":"database is down at 10.0.0.7"}`)
	for _, req := range []decide.Request{preview(private, "3000"), {Route: plugin.RouteToolbox, Sandbox: private, PreviewToken: token}} {
		d := e.decide(req)
		if d.Status != http.StatusBadGateway || d.Outcome != decide.OutcomeUnavailable || d.Forward != nil {
			t.Fatalf("%s %d", d.Outcome, d.Status)
		}
		if d.Message != "bad gateway: the Daytona API is unavailable, please retry" || d.Err == nil {
			t.Fatalf("message %q err %v", d.Message, d.Err)
		}
	}
	if n := e.api.Calls(daytonatest.Runner); n != 6 {
		t.Fatalf("%d runner calls; want 3 attempts per decision and nothing cached", n)
	}
}

func TestAPITimeout(t *testing.T) {
	e := newEnv(t, func(c *decide.Config, _ *decide.Deps, _ *env) { c.Timeout = 100 * time.Millisecond })
	e.api.Delay(time.Second)
	start := time.Now()
	d := e.decide(preview(private, "3000"))
	if d.Status != http.StatusGatewayTimeout || d.Outcome != decide.OutcomeTimeout {
		t.Fatalf("%s %d %q", d.Outcome, d.Status, d.Message)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("the decision timeout was not honoured")
	}
}

func TestAuthFaultIsNot401(t *testing.T) {
	e := newEnv(t)
	// Runner and public answers are cached first; then validation fails.
	if d := e.decide(preview(private, "3000")); d.Status != 401 {
		t.Fatalf("warm-up: %d", d.Status)
	}
	e.api.Fail(http.StatusServiceUnavailable, "")
	req := preview(private, "3000")
	req.PreviewToken = token
	d := e.decide(req)
	if d.Status != http.StatusBadGateway {
		t.Fatalf("validation down: %s %d", d.Outcome, d.Status)
	}
	// The fault was not cached as "invalid": once the API is back, the
	// same token works.
	e.api.Fail(0, "")
	if d := e.decide(req); d.Forward == nil {
		t.Fatalf("after recovery: %s %d %q", d.Outcome, d.Status, d.Message)
	}
}

func TestProxyKeyRejectedIs502(t *testing.T) {
	e := newEnv(t)
	e.api.Key = "rotated"
	d := e.decide(preview(private, "3000"))
	if d.Status != http.StatusBadGateway || d.Outcome != decide.OutcomeUnavailable {
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
}

func TestCaching(t *testing.T) {
	e := newEnv(t)
	req := preview(private, "3000")
	req.PreviewToken = token
	for range 5 {
		if d := e.decide(req); d.Forward == nil {
			t.Fatalf("%s %d", d.Outcome, d.Status)
		}
	}
	for _, ep := range []string{daytonatest.Runner, daytonatest.IsPublic, daytonatest.ValidateToken} {
		if n := e.api.Calls(ep); n != 1 {
			t.Errorf("%s: %d calls, want 1", ep, n)
		}
	}
	// A wrong token is cached too (briefly), per sandbox and token.
	bad := preview(private, "3000")
	bad.PreviewToken = "wrong"
	e.decide(bad)
	e.decide(bad)
	if n := e.api.Calls(daytonatest.ValidateToken); n != 2 {
		t.Errorf("validate calls = %d, want 2", n)
	}
	// The token valid for one sandbox is asked about again for another.
	req.Sandbox = other
	if d := e.decide(req); d.Status != 401 {
		t.Fatalf("token of %s opened %s: %s", private, other, d.Outcome)
	}
	if n := e.api.Calls(daytonatest.ValidateToken); n != 3 {
		t.Errorf("validate calls = %d, want 3", n)
	}
}

func TestCacheKeysHoldNoSecret(t *testing.T) {
	e := newEnv(t)
	for _, req := range []decide.Request{
		{Route: plugin.RoutePreview, Sandbox: private, Port: "3000", Bearer: userJWT},
		{Route: plugin.RoutePreview, Sandbox: private, Port: "3000", PreviewToken: token},
		{Route: plugin.RoutePreview, Sandbox: private, Port: "3000", QueryToken: "query-secret"},
		{Route: plugin.RoutePreview, Sandbox: private, Port: "3000", Cookie: cookie(t, proxyKey, private, private, time.Now())},
	} {
		e.decide(req)
	}
	e.d.Close() // let the activity update finish
	keys := e.cache.Keys()
	if len(keys) < 5 {
		t.Fatalf("keys = %v", keys)
	}
	sum := sha256.Sum256([]byte(token))
	foundHash := false
	for _, k := range keys {
		for _, s := range []string{userJWT, token, "query-secret", proxyKey, runnerKey} {
			if strings.Contains(k, s) {
				t.Errorf("key %q holds a secret", k)
			}
		}
		if strings.Contains(k, fmt.Sprintf("%x", sum)) && strings.Contains(k, private) {
			foundHash = true
		}
	}
	if !foundHash {
		t.Errorf("no key holds (sandbox, sha256(token)): %v", keys)
	}
}

func TestPublicTTLs(t *testing.T) {
	e := newEnv(t, func(c *decide.Config, _ *decide.Deps, _ *env) {
		c.PublicTTL, c.PrivateTTL = 300*time.Millisecond, 50*time.Millisecond
	})
	e.decide(preview(public, "3000"))
	e.decide(preview(private, "3000"))
	time.Sleep(120 * time.Millisecond)
	e.decide(preview(public, "3000"))
	e.decide(preview(private, "3000"))
	// Private was asked again (its TTL passed), public was not.
	if n := e.api.Calls(daytonatest.IsPublic); n != 3 {
		t.Fatalf("public checks = %d, want 3", n)
	}
}

func TestRegistrationGate(t *testing.T) {
	e := newEnv(t)
	// A second runner that Traefik has not fetched yet.
	e.api.AddRunner("runner-new", daytonatest.RunnerInfo{ProxyURL: "http://runner-2:3003", APIKey: "k2"})
	e.api.AddSandbox("new-sandbox-1", daytonatest.Sandbox{Public: true, Runner: "runner-new"})
	d := e.decide(preview("new-sandbox-1", "3000"))
	if d.Status != http.StatusServiceUnavailable || d.RetryAfter != 1 || d.Outcome != decide.OutcomeRegistering {
		t.Fatalf("%s %d retry %d", d.Outcome, d.Status, d.RetryAfter)
	}
	if !strings.Contains(d.Message, "sandbox runner is being registered") {
		t.Fatalf("message %q", d.Message)
	}
	rendered := e.runners.Render()
	if !strings.Contains(string(rendered.Body), "previewgate-runner-runner-new") {
		t.Fatal("the runner was not learned")
	}
	e.runners.MarkServed(rendered.Version)
	if d := e.decide(preview("new-sandbox-1", "3000")); d.Forward == nil || d.Forward.Runner != "runner-new" {
		t.Fatalf("after the fetch: %s %d", d.Outcome, d.Status)
	}
	// Unauthenticated requests get their 401, not the 503.
	e.api.AddSandbox("new-sandbox-2", daytonatest.Sandbox{Runner: "runner-other"})
	e.api.AddRunner("runner-other", daytonatest.RunnerInfo{ProxyURL: "http://runner-3:3003", APIKey: "k3"})
	if d := e.decide(preview("new-sandbox-2", "3000")); d.Status != 401 {
		t.Fatalf("unauthenticated on an unserved runner: %d", d.Status)
	}
}

func TestUnroutableRunner(t *testing.T) {
	e := newEnv(t)
	e.api.AddRunner("bad`id", daytonatest.RunnerInfo{ProxyURL: "http://x", APIKey: "k"})
	e.api.AddSandbox("sandbox-bad-runner", daytonatest.Sandbox{Public: true, Runner: "bad`id"})
	d := e.decide(preview("sandbox-bad-runner", "3000"))
	if d.Status != http.StatusBadGateway || d.Outcome != decide.OutcomeBadRunner {
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
	if strings.Contains(string(e.runners.Render().Body), "bad`id") {
		t.Fatal("an unsafe id reached the Traefik configuration")
	}
}

func TestDirectModeHasNoGate(t *testing.T) {
	e := newEnv(t, direct())
	e.api.AddRunner("runner-new", daytonatest.RunnerInfo{ProxyURL: "http://runner-2:3003", APIKey: "k2"})
	e.api.AddSandbox("new-sandbox-1", daytonatest.Sandbox{Public: true, Runner: "runner-new"})
	if d := e.decide(preview("new-sandbox-1", "3000")); d.Forward == nil {
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
}

func TestLastActivity(t *testing.T) {
	e := newEnv(t)
	req := preview(private, "3000")
	req.PreviewToken = token
	for range 10 {
		e.decide(req)
	}
	skip := preview(public, "3000")
	skip.SkipActivity = true
	e.decide(skip)
	e.decide(preview(private, "3000")) // 401: no update
	e.d.Close()
	reqs := e.api.Requests()
	var paths []string
	for _, r := range reqs {
		if r.Endpoint == daytonatest.LastActivity {
			paths = append(paths, r.Path)
		}
	}
	if len(paths) != 1 || paths[0] != "/api/sandbox/"+private+"/last-activity" {
		t.Fatalf("last-activity calls: %v", paths)
	}
}

// A forward decision made for a request that skips the activity update is
// not cached by the plugin (TTL 0): the requests that would reuse it must
// reach the resolver and count as activity.
func TestSkipActivityDecisionsAreNotReused(t *testing.T) {
	e := newEnv(t)
	req := preview(public, "3000")
	if d := e.decide(req); d.Forward == nil || d.Forward.TTL <= 0 {
		t.Fatalf("plain request: %+v", d)
	}
	req.SkipActivity = true
	d := e.decide(req)
	if d.Forward == nil {
		t.Fatalf("skip request: %s %d", d.Outcome, d.Status)
	}
	if d.Forward.TTL != 0 {
		t.Fatalf("skip request: TTL %v, want 0 (not cached)", d.Forward.TTL)
	}
}

// A failed last-activity update is tried again after the retry window (a
// ninth of the interval), not only after the whole interval: Daytona's
// proxy remembers an update only once it succeeded.
func TestFailedLastActivityIsRetried(t *testing.T) {
	e := newEnv(t, func(cfg *decide.Config, _ *decide.Deps, _ *env) { cfg.ActivityInterval = 900 * time.Millisecond })
	warm := preview(public, "3000")
	warm.SkipActivity = true
	if d := e.decide(warm); d.Forward == nil { // the lookups are cached from here on
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
	updates := func() (n int) {
		for _, r := range e.api.Requests() {
			if r.Endpoint == daytonatest.LastActivity {
				n++
			}
		}
		return n
	}
	e.api.Fail(http.StatusServiceUnavailable, `{"statusCode":503,"message":"down"}`)
	if d := e.decide(preview(public, "3000")); d.Forward == nil {
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 5s", what)
			}
		}
	}
	waitFor("failed update", func() bool { return updates() > 0 })
	time.Sleep(50 * time.Millisecond) // its retries end, and its goroutine is done with the debounce
	failed := updates()
	e.api.Fail(0, "")
	time.Sleep(150 * time.Millisecond) // past the retry window (100 ms), within the interval
	e.decide(preview(public, "3000"))
	waitFor("second update", func() bool { return updates() > failed })
}

// With two resolvers sharing the cache, one that finds the other's claim
// on an update looks again after the retry window: if that update failed,
// it sends its own.
func TestFailedLastActivityIsRetriedByAnotherResolver(t *testing.T) {
	shared := cache.NewMemory(100)
	share := func(cfg *decide.Config, deps *decide.Deps, e *env) {
		e.cache = &recordingCache{Cache: shared}
		deps.Cache = e.cache
		cfg.ActivityInterval = 900 * time.Millisecond // retry window 100 ms
	}
	a, b := newEnv(t, share), newEnv(t, share)
	warm := preview(public, "3000")
	warm.SkipActivity = true
	a.decide(warm)
	b.decide(warm)
	a.api.Fail(http.StatusServiceUnavailable, `{"statusCode":503,"message":"down"}`)
	a.decide(preview(public, "3000")) // A claims the update and fails
	time.Sleep(20 * time.Millisecond)
	b.decide(preview(public, "3000")) // B finds A's claim
	time.Sleep(200 * time.Millisecond)
	b.decide(preview(public, "3000")) // past the retry window
	for deadline := time.Now().Add(5 * time.Second); b.api.Calls(daytonatest.LastActivity) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("B sent no update after A's failed")
		}
	}
}

func TestLastActivitySharedDebounce(t *testing.T) {
	// Two resolvers sharing one cache send one update between them.
	shared := cache.NewMemory(100)
	share := func(_ *decide.Config, deps *decide.Deps, e *env) {
		e.cache = &recordingCache{Cache: shared}
		deps.Cache = e.cache
	}
	a := newEnv(t, share)
	req := preview(public, "3000")
	a.decide(req)
	a.d.Close()
	other := newEnv(t, share)
	other.decide(req)
	other.d.Close()
	if n := other.api.Calls(daytonatest.LastActivity); n != 0 {
		t.Fatalf("the second resolver sent %d updates", n)
	}
	if n := a.api.Calls(daytonatest.LastActivity); n != 1 {
		t.Fatalf("the first resolver sent %d updates", n)
	}
}

// TestSingleflight: 1000 concurrent first requests for one cold sandbox make
// exactly one call per API endpoint.
func TestSingleflight(t *testing.T) {
	e := newEnv(t)
	e.api.Delay(50 * time.Millisecond) // keep the flights open while callers pile up
	req := preview(private, "3000")
	req.PreviewToken = token
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[decide.Outcome]int{}
	for range 1000 {
		wg.Go(func() {
			d := e.d.Decide(context.Background(), req)
			mu.Lock()
			outcomes[d.Outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	e.d.Close()
	if outcomes[decide.OutcomePreviewToken] != 1000 {
		t.Fatalf("outcomes = %v", outcomes)
	}
	for _, ep := range []string{daytonatest.Runner, daytonatest.IsPublic, daytonatest.ValidateToken, daytonatest.LastActivity} {
		if n := e.api.Calls(ep); n != 1 {
			t.Errorf("%s: %d calls, want exactly 1", ep, n)
		}
	}
	if n := e.api.TotalCalls(); n != 4 {
		t.Errorf("%d API calls in all, want 4", n)
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	e := newEnv(t)
	e.api.Delay(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan decide.Decision)
	go func() { done <- e.d.Decide(ctx, preview(public, "3000")) }()
	time.Sleep(20 * time.Millisecond)
	second := make(chan decide.Decision)
	go func() { second <- e.d.Decide(context.Background(), preview(public, "3000")) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if d := <-done; d.Forward != nil {
		t.Fatal("a cancelled caller got a forward")
	}
	if d := <-second; d.Forward == nil {
		t.Fatalf("the other caller failed: %s %d", d.Outcome, d.Status)
	}
	if n := e.api.Calls(daytonatest.Runner); n != 1 {
		t.Fatalf("%d runner calls", n)
	}
}

func TestCacheFaultFallsBackToAPI(t *testing.T) {
	e := newEnv(t, func(_ *decide.Config, deps *decide.Deps, e *env) {
		deps.Cache = brokenCache{}
	})
	req := preview(private, "3000")
	req.PreviewToken = token
	if d := e.decide(req); d.Forward == nil {
		t.Fatalf("%s %d", d.Outcome, d.Status)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := decide.New(decide.Config{}, decide.Deps{})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"API, Cache and Cookies", "PublicTTL", "Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// BenchmarkDecideCached is the hot path: every lookup is a cache hit.
func BenchmarkDecideCached(b *testing.B) {
	e := newEnv(b, func(c *decide.Config, _ *decide.Deps, _ *env) { c.ActivityInterval = time.Hour })
	req := preview(private, "3000")
	req.PreviewToken = token
	if d := e.decide(req); d.Forward == nil {
		b.Fatal(d.Outcome)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := e.d.Decide(ctx, req); d.Forward == nil {
			b.Fatal(d.Outcome)
		}
	}
}

// BenchmarkDecideCookie: a private sandbox opened by its auth cookie.
func BenchmarkDecideCookie(b *testing.B) {
	e := newEnv(b, func(c *decide.Config, _ *decide.Deps, _ *env) { c.ActivityInterval = time.Hour })
	req := preview(private, "3000")
	req.Cookie = cookie(b, proxyKey, private, private, time.Now())
	if d := e.decide(req); d.Forward == nil {
		b.Fatal(d.Outcome)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := e.d.Decide(ctx, req); d.Forward == nil {
			b.Fatal(d.Outcome)
		}
	}
}

// recordingCache remembers every key written.
type recordingCache struct {
	decide.Cache
	mu   sync.Mutex
	keys []string
}

func (c *recordingCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.mu.Lock()
	c.keys = append(c.keys, key)
	c.mu.Unlock()
	return c.Cache.Set(ctx, key, v, ttl)
}

func (c *recordingCache) SetNX(ctx context.Context, key string, v []byte, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	c.keys = append(c.keys, key)
	c.mu.Unlock()
	return c.Cache.SetNX(ctx, key, v, ttl)
}

func (c *recordingCache) Keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.keys...)
}

// brokenCache fails every operation.
type brokenCache struct{}

func (brokenCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("cache down")
}
func (brokenCache) Set(context.Context, string, []byte, time.Duration) error {
	return fmt.Errorf("cache down")
}
func (brokenCache) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, fmt.Errorf("cache down")
}

// Touch (an open WebSocket's report) updates the sandbox's last activity
// as a forward decision does: once per interval, and not for a bad id.
func TestTouchUpdatesActivityOncePerInterval(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		e.d.Touch(private)
	}
	e.d.Touch("-not-an-id")
	e.d.Close()
	var paths []string
	for _, r := range e.api.Requests() {
		if r.Endpoint == daytonatest.LastActivity {
			paths = append(paths, r.Path)
		}
	}
	if len(paths) != 1 || paths[0] != "/api/sandbox/"+private+"/last-activity" {
		t.Fatalf("last-activity calls: %v", paths)
	}
}

// Lookups outlive the decision that started them (they fill the cache for
// the next one), but only MaxDetachedLookups at once: past that a lookup
// ends with its caller, so that a slow API and many distinct credentials
// pile up neither API calls nor goroutines.
func TestDetachedLookupsAreBounded(t *testing.T) {
	e := newEnv(t, func(cfg *decide.Config, _ *decide.Deps, _ *env) {
		cfg.MaxDetachedLookups = 1
		cfg.Timeout = 100 * time.Millisecond
	})
	e.api.Delay(400 * time.Millisecond)
	if d := e.decide(preview(private, "3000")); d.Status != http.StatusGatewayTimeout {
		t.Fatalf("slow API: status %d, want 504", d.Status)
	}
	// The first lookup holds the one detached slot: the second ends with
	// its decision.
	if d := e.decide(preview(other, "3000")); d.Status != http.StatusGatewayTimeout {
		t.Fatalf("slow API: status %d, want 504", d.Status)
	}
	time.Sleep(600 * time.Millisecond) // the detached lookup lands in the cache
	e.api.Delay(0)
	before := e.api.Calls(daytonatest.Runner)
	e.decide(preview(private, "3000"))
	if n := e.api.Calls(daytonatest.Runner) - before; n != 0 {
		t.Errorf("the detached lookup was not cached: %d more runner calls", n)
	}
	e.decide(preview(other, "3000"))
	if n := e.api.Calls(daytonatest.Runner) - before; n != 1 {
		t.Errorf("the lookup tied to its caller: %d more runner calls, want 1 (it ended with its decision)", n)
	}
}

// In routing direct with PREVIEWGATE_DIRECT_RUNNER, a sandbox on another
// runner gets 502 and no forward (its runner key would go to the wrong
// runner); one on that runner is forwarded.
func TestDirectRunnerIsChecked(t *testing.T) {
	api := func(e *env) {
		e.api.AddRunner("runner-2", daytonatest.RunnerInfo{ProxyURL: "http://runner-2.internal:3003", APIKey: "runner-2-key"})
		e.api.AddSandbox("elsewhere", daytonatest.Sandbox{Public: true, Runner: "runner-2"})
	}
	for _, c := range []struct {
		directRunner, sandbox string
		want                  int
	}{
		{runnerID, public, http.StatusOK},
		{runnerID, "elsewhere", http.StatusBadGateway},
		{"", "elsewhere", http.StatusOK}, // not checked
	} {
		e := newEnv(t, direct(), func(cfg *decide.Config, _ *decide.Deps, _ *env) { cfg.DirectRunner = c.directRunner })
		api(e)
		d := e.decide(preview(c.sandbox, "3000"))
		got := d.Status
		if d.Forward != nil {
			got = http.StatusOK
		}
		if got != c.want || (c.want != http.StatusOK && d.Forward != nil) {
			t.Errorf("direct runner %q, sandbox %s: %d (forward %v), want %d", c.directRunner, c.sandbox, got, d.Forward != nil, c.want)
		}
	}
}

// Once the detached slots are taken, a lookup ends with the caller that
// started it; a caller that joined it and is still there asks again rather
// than failing with the starter's cancellation (a client hanging up must
// not turn another client's decision into a 502).
func TestJoinersOutliveAStarterThatHangsUp(t *testing.T) {
	e := newEnv(t, func(cfg *decide.Config, _ *decide.Deps, _ *env) {
		cfg.MaxDetachedLookups = 1
	})
	e.api.Delay(300 * time.Millisecond)
	// A slow lookup takes the one detached slot.
	c1, cancel1 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel1()
	e.d.Decide(c1, preview(private, "3000"))
	// A client starts the public sandbox's lookup, bound to its request...
	c2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go e.d.Decide(c2, preview(public, "3000"))
	time.Sleep(20 * time.Millisecond)
	// ...another joins it, and the first hangs up.
	done := make(chan decide.Decision)
	go func() { done <- e.d.Decide(context.Background(), preview(public, "3000")) }()
	time.Sleep(20 * time.Millisecond)
	cancel2()
	if d := <-done; d.Forward == nil {
		t.Fatalf("the joiner's decision: %d %s (%v)", d.Status, d.Outcome, d.Err)
	}
}
