package daytona_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona/daytonatest"
)

const (
	proxyKey = "proxy-key-0123456789"
	sandbox  = "8c2f6a1e-0b7d-4a53-9d55-6b1f3f0f2a11"
	token    = "previewtoken0123456789abcdefghij"
)

func newClient(t *testing.T, baseURL string, mod ...func(*daytona.Config)) *daytona.Client {
	t.Helper()
	cfg := daytona.Config{
		BaseURL:        baseURL,
		APIKey:         proxyKey,
		Timeout:        5 * time.Second,
		AttemptTimeout: time.Second,
		BaseDelay:      time.Millisecond,
		MaxDelay:       2 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := daytona.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func fakeAPI(t *testing.T) *daytonatest.API {
	api := daytonatest.New(t, proxyKey)
	api.AddRunner("runner-1", daytonatest.RunnerInfo{ProxyURL: "http://runner-proxy:3003", APIURL: "http://runner-api:3003", APIKey: "runner-key"})
	api.AddRunner("runner-2", daytonatest.RunnerInfo{APIURL: "http://runner-api-only:3003", APIKey: "runner-key-2"})
	api.AddSandbox(sandbox, daytonatest.Sandbox{Token: token, Runner: "runner-1", Users: []string{"user-jwt"}})
	api.AddSandbox("public-one", daytonatest.Sandbox{Public: true, Runner: "runner-2"})
	api.AddSandbox("archived", daytonatest.Sandbox{})
	return api
}

func TestNewValidation(t *testing.T) {
	_, err := daytona.New(daytona.Config{BaseURL: "ftp://x", Timeout: 0})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"BaseURL", "APIKey", "Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestYesNoEndpoints(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL())
	ctx := context.Background()

	tests := []struct {
		name string
		call func() (bool, error)
		want bool
	}{
		{"public sandbox", func() (bool, error) { return c.IsPublic(ctx, "public-one") }, true},
		{"private sandbox", func() (bool, error) { return c.IsPublic(ctx, sandbox) }, false},
		{"unknown sandbox is not public", func() (bool, error) { return c.IsPublic(ctx, "nope") }, false},
		{"valid token", func() (bool, error) { return c.ValidateToken(ctx, sandbox, token) }, true},
		{"wrong token", func() (bool, error) { return c.ValidateToken(ctx, sandbox, "wrong") }, false},
		{"token of another sandbox", func() (bool, error) { return c.ValidateToken(ctx, "public-one", token) }, false},
		{"empty token, no call", func() (bool, error) { return c.ValidateToken(ctx, sandbox, "") }, false},
		{"user with access", func() (bool, error) { return c.HasAccess(ctx, sandbox, "user-jwt", "203.0.113.7") }, true},
		{"user without access (404)", func() (bool, error) { return c.HasAccess(ctx, sandbox, "other-jwt", "203.0.113.7") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// A token that Daytona could not have minted is refused without a call:
// in the path, "../" (escaped "..%2F") would name another endpoint to a
// proxy in front of the API that decodes and cleans paths.
func TestMalformedTokensAreRefusedWithoutACall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusOK) // what /config or /public of a public sandbox would say
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	for _, tok := range []string{"", ".", "..", "../../../config", "..%2F..%2Fconfig", "a/b", "a b", "tok?x=1", "tok#f",
		"t\x00k", "tok%00", strings.Repeat("a", daytona.MaxTokenLength+1)} {
		ok, err := c.ValidateToken(context.Background(), sandbox, tok)
		if ok || err != nil {
			t.Errorf("ValidateToken(%q) = %v, %v; want false, nil", tok, ok, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d API calls for malformed tokens, want none", n)
	}
	// Daytona's own shape (and upper case) still asks the API.
	if ok, err := c.ValidateToken(context.Background(), sandbox, "abc_DEF-0123456789abcdefghijklmn"); !ok || err != nil || calls.Load() != 1 {
		t.Errorf("a well-formed token: %v, %v after %d calls; want true, nil after 1", ok, err, calls.Load())
	}
}

func TestHasAccessCallsAsTheUser(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL())
	if ok, err := c.HasAccess(context.Background(), sandbox, "user-jwt", "2001:db8::1"); !ok || err != nil {
		t.Fatalf("HasAccess = %v, %v", ok, err)
	}
	if ok, err := c.HasAccess(context.Background(), sandbox, "user-jwt", "not an ip, evil"); !ok || err != nil {
		t.Fatalf("HasAccess = %v, %v", ok, err)
	}
	reqs := api.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].Authorization != "Bearer user-jwt" {
		t.Errorf("Authorization = %q, want the user's bearer", reqs[0].Authorization)
	}
	if reqs[0].ForwardedFor != "2001:db8::1" {
		t.Errorf("X-Forwarded-For = %q", reqs[0].ForwardedFor)
	}
	if reqs[1].ForwardedFor != "" {
		t.Errorf("X-Forwarded-For for a non-IP = %q, want none", reqs[1].ForwardedFor)
	}
}

// A bearer token longer than any JWT or API key is no, without a call.
func TestHasAccessRefusesOverlongTokens(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL())
	long := strings.Repeat("a", daytona.MaxUserTokenLength+1)
	if ok, err := c.HasAccess(context.Background(), sandbox, long, ""); ok || err != nil {
		t.Fatalf("HasAccess = %v, %v; want false, nil", ok, err)
	}
	if n := len(api.Requests()); n != 0 {
		t.Fatalf("%d API requests, want none", n)
	}
}

func TestHasAccessUserUnauthorizedIsFalse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		daytonatest.WriteError(w, r.URL.Path, http.StatusUnauthorized, "Unauthorized")
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL+"/api")
	ok, err := c.HasAccess(context.Background(), sandbox, "expired-jwt", "")
	if ok || err != nil {
		t.Fatalf("HasAccess = %v, %v; want false, nil", ok, err)
	}
}

func TestProxyKeyRejected(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL(), func(c *daytona.Config) { c.APIKey = "wrong-key" })
	_, err := c.IsPublic(context.Background(), sandbox)
	if !errors.Is(err, daytona.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong-key") {
		t.Fatalf("error reveals the key: %v", err)
	}
	if api.Calls(daytonatest.IsPublic) != 1 {
		t.Fatalf("a 401 was retried: %d calls", api.Calls(daytonatest.IsPublic))
	}
}

func TestRunnerBySandbox(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL())
	ctx := context.Background()

	r, err := c.RunnerBySandbox(ctx, sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if want := (daytona.Runner{ID: "runner-1", URL: "http://runner-proxy:3003", APIKey: "runner-key", APIURL: "http://runner-api:3003"}); r != want {
		t.Fatalf("runner = %+v, want %+v", r, want)
	}

	r, err = c.RunnerBySandbox(ctx, "public-one")
	if err != nil || r.URL != "http://runner-api-only:3003" {
		t.Fatalf("apiUrl fallback: %+v, %v", r, err)
	}

	for _, id := range []string{"archived", "unknown"} {
		_, err = c.RunnerBySandbox(ctx, id)
		if !errors.Is(err, daytona.ErrNotFound) {
			t.Fatalf("%s: err = %v, want ErrNotFound", id, err)
		}
		var apiErr *daytona.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("%s: err = %#v, want an APIError 404", id, err)
		}
	}
	if api.Calls(daytonatest.Runner) != 4 {
		t.Fatalf("404s were retried: %d calls", api.Calls(daytonatest.Runner))
	}
}

func TestRunnerMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", "<html>"},
		{"no key", `{"id":"r","proxyUrl":"http://x"}`},
		{"no url", `{"id":"r","apiKey":"k"}`},
		{"no id", `{"proxyUrl":"http://x","apiKey":"k"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			_, err := newClient(t, srv.URL).RunnerBySandbox(context.Background(), sandbox)
			if !errors.Is(err, daytona.ErrUnavailable) || !errors.Is(err, daytona.ErrBadResponse) {
				t.Fatalf("err = %v, want ErrUnavailable+ErrBadResponse", err)
			}
		})
	}
}

func TestStatusMappingAndRetries(t *testing.T) {
	tests := []struct {
		status    int
		wantCalls int32
		wantErr   error // nil: a definite false
	}{
		{http.StatusBadRequest, 1, nil},
		{http.StatusForbidden, 1, nil},
		{http.StatusNotFound, 1, nil},
		{http.StatusGone, 1, nil},
		{http.StatusRequestTimeout, 3, daytona.ErrUnavailable},
		{http.StatusTooManyRequests, 3, daytona.ErrUnavailable},
		{http.StatusInternalServerError, 3, daytona.ErrUnavailable},
		{http.StatusBadGateway, 3, daytona.ErrUnavailable},
		{http.StatusServiceUnavailable, 3, daytona.ErrUnavailable},
		{http.StatusMovedPermanently, 1, daytona.ErrUnavailable},
		{http.StatusNoContent, 1, daytona.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tt.status == http.StatusMovedPermanently {
					w.Header().Set("Location", "http://elsewhere.invalid/")
				}
				daytonatest.WriteError(w, r.URL.Path, tt.status, "boom")
			}))
			t.Cleanup(srv.Close)
			got, err := newClient(t, srv.URL).ValidateToken(context.Background(), sandbox, token)
			if got {
				t.Fatal("got true")
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want a definite false", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if calls.Load() != tt.wantCalls {
				t.Fatalf("%d calls, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(srv.Close)
	ok, err := newClient(t, srv.URL).IsPublic(context.Background(), sandbox)
	if !ok || err != nil || calls.Load() != 3 {
		t.Fatalf("IsPublic = %v, %v after %d calls", ok, err, calls.Load())
	}
}

func TestBackoffDelays(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, func(c *daytona.Config) {
		c.BaseDelay, c.MaxDelay = 0, 0 // Daytona's: 150 ms, 300 ms
	})
	start := time.Now()
	_, err := c.IsPublic(context.Background(), sandbox)
	if !errors.Is(err, daytona.ErrUnavailable) {
		t.Fatal(err)
	}
	if len(times) != 3 {
		t.Fatalf("%d attempts", len(times))
	}
	gap1, gap2 := times[1].Sub(times[0]), times[2].Sub(times[1])
	if gap1 < 120*time.Millisecond || gap1 > 400*time.Millisecond || gap2 < 240*time.Millisecond || gap2 > 700*time.Millisecond {
		t.Fatalf("gaps %v, %v; want about 150 ms and 300 ms", gap1, gap2)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("too slow")
	}
}

func TestTimeouts(t *testing.T) {
	api := fakeAPI(t)
	api.Delay(2 * time.Second)

	t.Run("per attempt", func(t *testing.T) {
		c := newClient(t, api.URL(), func(c *daytona.Config) { c.AttemptTimeout = 30 * time.Millisecond })
		_, err := c.IsPublic(context.Background(), sandbox)
		if !errors.Is(err, daytona.ErrUnavailable) || !errors.Is(err, daytona.ErrTimeout) {
			t.Fatalf("err = %v, want ErrUnavailable+ErrTimeout", err)
		}
	})
	t.Run("caller's context", func(t *testing.T) {
		c := newClient(t, api.URL())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.RunnerBySandbox(ctx, sandbox)
		if !errors.Is(err, daytona.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > time.Second {
			t.Fatal("the context deadline was not honoured")
		}
	})
	t.Run("overall budget", func(t *testing.T) {
		c := newClient(t, api.URL(), func(c *daytona.Config) { c.Timeout = 60 * time.Millisecond })
		_, err := c.IsPublic(context.Background(), sandbox)
		if !errors.Is(err, daytona.ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNetworkErrorIsUnavailableAndRedacted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	c := newClient(t, url)
	_, err := c.ValidateToken(context.Background(), sandbox, token)
	if !errors.Is(err, daytona.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "/validate/") {
		t.Fatalf("error reveals the request path: %v", err)
	}
}

// A 4xx that is not the API's error JSON (an ingress's HTML page, a
// gateway's own JSON, a firewall's refusal) says nothing of the sandbox:
// retried, then unavailable, never a definite (cached) "no". Daytona's
// client cannot decode it either and retries.
func TestForeignErrorBodiesAreNoAnswer(t *testing.T) {
	for _, body := range []string{``, `<html>404 Not Found</html>`, `{"message":"no Route matched with those values"}`,
		`{"statusCode":404,"message":"x"}`, `{"statusCode":404,"timestamp":"yesterday"}`, `[404]`} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(body))
		}))
		c := newClient(t, srv.URL)
		ok, err := c.IsPublic(context.Background(), sandbox)
		_, rerr := c.RunnerBySandbox(context.Background(), sandbox)
		srv.Close()
		if ok || !errors.Is(err, daytona.ErrUnavailable) || errors.Is(err, daytona.ErrNotFound) {
			t.Errorf("body %q: IsPublic = %v, %v; want unavailable", body, ok, err)
		}
		if !errors.Is(rerr, daytona.ErrUnavailable) || errors.Is(rerr, daytona.ErrNotFound) {
			t.Errorf("body %q: RunnerBySandbox err = %v; want unavailable", body, rerr)
		}
		if n := calls.Load(); n != 6 {
			t.Errorf("body %q: %d calls, want 3 attempts each", body, n)
		}
	}
}

func TestAPIErrorMessage(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"message string", `{"path":"/api/x","timestamp":"2026-01-01T00:00:00Z","statusCode":404,"error":"Not Found","message":"Runner not found"}`, "runner_by_sandbox: 404 Not Found: Runner not found"},
		{"message list", `{"timestamp":"2026-01-01T00:00:00.123Z","statusCode":400,"error":"Bad Request","message":["id must be a UUID","port too big"]}`, "id must be a UUID, port too big"},
		{"error only", `{"timestamp":"2026-01-01T00:00:00Z","statusCode":404,"error":"Not Found"}`, ": Not Found"},
		{"control characters", `{"timestamp":"2026-01-01T00:00:00Z","statusCode":404,"message":"a\u0000b\nc"}`, ": abc"},
		{"proxy key echoed", `{"timestamp":"2026-01-01T00:00:00Z","statusCode":404,"message":"bad key ` + proxyKey + `"}`, "bad key [redacted]"},
		{"long", `{"timestamp":"2026-01-01T00:00:00Z","statusCode":404,"message":"` + strings.Repeat("é", 300) + `"}`, "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL)
			_, err := c.RunnerBySandbox(context.Background(), sandbox)
			if !errors.Is(err, daytona.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, token) || strings.Contains(msg, proxyKey) || strings.Contains(msg, "/api/x") {
				t.Fatalf("error leaks: %q", msg)
			}
			if len(msg) > 400 {
				t.Fatalf("error too long: %d", len(msg))
			}
		})
	}
}

func TestTokenRedactedFromAPIMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		daytonatest.WriteError(w, r.URL.Path, http.StatusInternalServerError, "Cannot GET "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(t, srv.URL).ValidateToken(context.Background(), sandbox, token)
	if !errors.Is(err, daytona.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %q: token not redacted", err)
	}
}

func TestProxyKeySentOnMachineCalls(t *testing.T) {
	api := fakeAPI(t)
	api.AddSignedToken("abcdefgh12345678", "3000", sandbox)
	c := newClient(t, api.URL())
	ctx := context.Background()
	if _, err := c.IsPublic(ctx, sandbox); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ValidateToken(ctx, sandbox, token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunnerBySandbox(ctx, sandbox); err != nil {
		t.Fatal(err)
	}
	if id, err := c.SandboxIDFromSignedToken(ctx, "abcdefgh12345678", 3000); err != nil || id != sandbox {
		t.Fatalf("SandboxIDFromSignedToken = %q, %v", id, err)
	}
	if err := c.UpdateLastActivity(ctx, sandbox); err != nil {
		t.Fatal(err)
	}
	for _, r := range api.Requests() {
		if r.Authorization != "Bearer "+proxyKey {
			t.Errorf("%s: Authorization = %q", r.Endpoint, r.Authorization)
		}
		if r.ForwardedFor != "" {
			t.Errorf("%s: X-Forwarded-For sent on a machine call", r.Endpoint)
		}
	}
	if api.Calls(daytonatest.LastActivity) != 1 {
		t.Fatal("last-activity not called")
	}
}

func TestSignedToken(t *testing.T) {
	api := fakeAPI(t)
	c := newClient(t, api.URL())
	_, err := c.SandboxIDFromSignedToken(context.Background(), "expired000000000", 3000)
	if !errors.Is(err, daytona.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`"` + sandbox + `"`))
	}))
	t.Cleanup(srv.Close)
	id, err := newClient(t, srv.URL).SandboxIDFromSignedToken(context.Background(), "abcdefgh12345678", 3000)
	if err != nil || id != sandbox {
		t.Fatalf("quoted id: %q, %v", id, err)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("../../etc"))
	}))
	t.Cleanup(bad.Close)
	if _, err := newClient(t, bad.URL).SandboxIDFromSignedToken(context.Background(), "abcdefgh12345678", 3000); !errors.Is(err, daytona.ErrBadResponse) {
		t.Fatalf("bad id: err = %v", err)
	}
}

func TestObserve(t *testing.T) {
	api := fakeAPI(t)
	var mu sync.Mutex
	seen := map[string]int{}
	c := newClient(t, api.URL(), func(c *daytona.Config) {
		c.Observe = func(ep, result string, d time.Duration) {
			mu.Lock()
			seen[ep+" "+result]++
			mu.Unlock()
		}
	})
	_, _ = c.IsPublic(context.Background(), "public-one")
	_, _ = c.IsPublic(context.Background(), sandbox)
	api.Fail(http.StatusBadGateway, "")
	_, _ = c.IsPublic(context.Background(), sandbox)
	mu.Lock()
	defer mu.Unlock()
	if seen["is_public 2xx"] != 1 || seen["is_public 4xx"] != 1 || seen["is_public 5xx"] != 3 {
		t.Fatalf("observed %v", seen)
	}
}
