// Package daytona is a small typed client for the Daytona API endpoints a
// preview proxy uses (apps/api v0.190.0): the public check, preview-token
// validation, user access, signed-token resolution, the sandbox's runner and
// last-activity updates.
//
// Status handling is in one place (Client.do): only the expected success
// status counts; a 4xx other than 408 and 429 is a definite answer
// (ErrNotFound, or false for the yes/no endpoints); 5xx, 408, 429 and
// network errors are retried (3 attempts, backoff 150 ms doubling to 1 s, as
// Daytona's proxy does) and then returned as ErrUnavailable.
package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/previewgate/previewgate/plugin"
)

// Retry policy of Daytona's proxy (pkg/proxy/retry.go), used for zero
// Config fields.
const (
	DefaultAttempts  = 3
	DefaultBaseDelay = 150 * time.Millisecond
	DefaultMaxDelay  = time.Second
)

// maxBody bounds every response body read.
const maxBody = 64 << 10

// Endpoint names, used in errors, logs and metrics labels.
const (
	EndpointIsPublic      = "is_public"
	EndpointValidateToken = "validate_token"
	EndpointHasAccess     = "has_access"
	EndpointSignedToken   = "signed_token"
	EndpointRunner        = "runner_by_sandbox"
	EndpointLastActivity  = "last_activity"
	EndpointSandbox       = "sandbox"     // build logs: GET /sandbox/{id}, as the user
	EndpointSnapshot      = "snapshot"    // build logs: GET /snapshots/{id}, as the user
	EndpointRunnerFull    = "runner_full" // build logs: GET /runners/{id}/full
)

// Config configures a Client. BaseURL, APIKey, Timeout and AttemptTimeout
// are required; the rest have the defaults stated.
type Config struct {
	// BaseURL is DAYTONA_API_URL, including the "/api" prefix,
	// e.g. "http://api:3000/api".
	BaseURL string
	// APIKey is PROXY_API_KEY, sent as "Authorization: Bearer <key>".
	APIKey string
	// Timeout bounds one logical call, every attempt and backoff included
	// (API_CLIENT_TIMEOUT_SEC).
	Timeout time.Duration
	// AttemptTimeout bounds one HTTP attempt. Capped at Timeout.
	AttemptTimeout time.Duration
	// Attempts is the number of tries for retryable failures. Default 3.
	Attempts int
	// BaseDelay and MaxDelay shape the backoff between attempts.
	// Default 150 ms doubling up to 1 s.
	BaseDelay, MaxDelay time.Duration
	// UserAgent is sent on every call. Default "previewgate-resolver".
	UserAgent string
	// Observe, if set, is called after every HTTP attempt with the endpoint
	// name, a result ("2xx", "3xx", "4xx", "5xx", "timeout" or "error") and
	// the attempt's duration.
	Observe func(endpoint, result string, d time.Duration)
	// Transport overrides the HTTP transport (tests). Default: a clone of
	// http.DefaultTransport with a 30 s idle timeout.
	Transport http.RoundTripper
}

// Runner is what the proxy needs of a RunnerFull.
type Runner struct {
	// ID is the runner's id.
	ID string
	// URL is the runner's proxyUrl, or its apiUrl when proxyUrl is empty.
	URL string
	// APIKey authenticates the proxy to the runner
	// (X-Daytona-Authorization: Bearer <APIKey>).
	APIKey string
	// APIURL is the runner's apiUrl (its build logs), or URL when empty.
	APIURL string
}

// BuildSource is what the build-log routes need of a sandbox or a
// snapshot: the ref the runner keeps the build's logs under, and the
// runner. Either may be empty (no build info, no runner).
type BuildSource struct {
	SnapshotRef string
	RunnerID    string
}

// Client calls the Daytona API. It is safe for concurrent use.
type Client struct {
	base    string // without trailing slash
	auth    string // "Bearer <key>"
	apiKey  string
	cfg     Config
	http    *http.Client
	observe func(endpoint, result string, d time.Duration)
}

// New validates cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	var problems []error
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		problems = append(problems, errors.New("daytona: BaseURL must be an absolute http(s) URL without query"))
	}
	if cfg.APIKey == "" {
		problems = append(problems, errors.New("daytona: APIKey is required"))
	}
	if cfg.Timeout <= 0 || cfg.AttemptTimeout <= 0 {
		problems = append(problems, errors.New("daytona: Timeout and AttemptTimeout must be positive"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if cfg.AttemptTimeout > cfg.Timeout {
		cfg.AttemptTimeout = cfg.Timeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "previewgate-resolver"
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.IdleConnTimeout = 30 * time.Second
		t.MaxIdleConnsPerHost = 64
		t.ResponseHeaderTimeout = cfg.AttemptTimeout
		rt = t
	}
	observe := cfg.Observe
	if observe == nil {
		observe = func(string, string, time.Duration) {}
	}
	return &Client{
		base:   strings.TrimRight(cfg.BaseURL, "/"),
		auth:   "Bearer " + cfg.APIKey,
		apiKey: cfg.APIKey,
		cfg:    cfg,
		http: &http.Client{
			Transport: rt,
			// The API never redirects; following one could send a key elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		observe: observe,
	}, nil
}

// IsPublic reports whether the sandbox is public: GET /preview/{id}/public.
// The API answers 404 for private and unknown sandboxes alike.
func (c *Client) IsPublic(ctx context.Context, sandboxID string) (bool, error) {
	return c.yesNo(ctx, call{
		endpoint: EndpointIsPublic,
		path:     "/preview/" + url.PathEscape(sandboxID) + "/public",
	})
}

// ValidateToken reports whether token is the sandbox's preview token:
// GET /preview/{id}/validate/{token}.
//
// A token that is not of the shape Daytona mints (validToken) is refused
// without a call: it goes into the path, and a "../" in it, escaped as
// "..%2F", would name another endpoint to a proxy in front of the API that
// decodes and cleans paths.
func (c *Client) ValidateToken(ctx context.Context, sandboxID, token string) (bool, error) {
	if !validToken(token) {
		return false, nil
	}
	return c.yesNo(ctx, call{
		endpoint: EndpointValidateToken,
		path:     "/preview/" + url.PathEscape(sandboxID) + "/validate/" + url.PathEscape(token),
		secrets:  []string{token, url.PathEscape(token)},
	})
}

// MaxTokenLength bounds a preview token (Daytona's are 32 characters).
const MaxTokenLength = 256

// tokenChars are the characters of a preview token: Daytona mints
// nanoid(32) lower-cased ([0-9a-z_-]); upper case is let through.
const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// validToken reports whether t can be a preview token: 1 to MaxTokenLength
// of tokenChars, so that it is one plain path segment (never "." or "..").
func validToken(t string) bool {
	return t != "" && len(t) <= MaxTokenLength && strings.Trim(t, tokenChars) == ""
}

// HasAccess reports whether the holder of userToken (a JWT or a user API
// key) may use the sandbox: GET /preview/{id}/access, called as the user
// (Authorization: Bearer <userToken>) with X-Forwarded-For: clientIP (left
// out when clientIP is not an IP address). A 401 (bad token) is false.
//
// A token longer than MaxUserTokenLength is refused without a call: no
// JWT or API key is that long, and the API's ingress would answer such a
// header with an error page (a fault, not a "no").
func (c *Client) HasAccess(ctx context.Context, sandboxID, userToken, clientIP string) (bool, error) {
	if !validUserToken(userToken) {
		return false, nil
	}
	cl := call{
		endpoint: EndpointHasAccess,
		path:     "/preview/" + url.PathEscape(sandboxID) + "/access",
		auth:     "Bearer " + userToken,
		secrets:  []string{userToken},
		asUser:   true,
	}
	if ip, err := netip.ParseAddr(clientIP); err == nil {
		cl.forwardedFor = ip.String()
	}
	return c.yesNo(ctx, cl)
}

// MaxUserTokenLength bounds a user's bearer token (a JWT or an API key).
const MaxUserTokenLength = 16 << 10

// validUserToken reports whether t can be a user's token: not empty, at
// most MaxUserTokenLength. Others are refused without a call.
func validUserToken(t string) bool {
	return t != "" && len(t) <= MaxUserTokenLength
}

// SandboxIDFromSignedToken resolves a signed preview URL token for a port:
// GET /preview/{token}/{port}/sandbox-id. The API answers the raw id (not
// JSON). An invalid or expired token (403) is ErrNotFound.
func (c *Client) SandboxIDFromSignedToken(ctx context.Context, token string, port int) (string, error) {
	body, err := c.do(ctx, call{
		endpoint: EndpointSignedToken,
		path:     "/preview/" + url.PathEscape(token) + "/" + strconv.Itoa(port) + "/sandbox-id",
		secrets:  []string{token},
		want:     http.StatusOK,
	})
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(body))
	if len(id) >= 2 && id[0] == '"' && id[len(id)-1] == '"' {
		id = id[1 : len(id)-1]
	}
	if !plugin.ValidSandboxID(id) {
		return "", fmt.Errorf("%w: %w: %s: the sandbox id has an unexpected shape", ErrUnavailable, ErrBadResponse, EndpointSignedToken)
	}
	return id, nil
}

// RunnerBySandbox returns the runner of a sandbox: GET
// /runners/by-sandbox/{id} (a RunnerFull). No runner, or no such sandbox,
// is ErrNotFound.
func (c *Client) RunnerBySandbox(ctx context.Context, sandboxID string) (Runner, error) {
	body, err := c.do(ctx, call{
		endpoint: EndpointRunner,
		path:     "/runners/by-sandbox/" + url.PathEscape(sandboxID),
		want:     http.StatusOK,
	})
	if err != nil {
		return Runner{}, err
	}
	return runnerFull(body, EndpointRunner)
}

// RunnerFull returns a runner by id: GET /runners/{id}/full. An unknown
// runner is ErrNotFound.
func (c *Client) RunnerFull(ctx context.Context, runnerID string) (Runner, error) {
	body, err := c.do(ctx, call{
		endpoint: EndpointRunnerFull,
		path:     "/runners/" + url.PathEscape(runnerID) + "/full",
		want:     http.StatusOK,
	})
	if err != nil {
		return Runner{}, err
	}
	return runnerFull(body, EndpointRunnerFull)
}

// runnerFull reads a RunnerFull body.
func runnerFull(body []byte, endpoint string) (Runner, error) {
	var rf struct {
		ID       string `json:"id"`
		ProxyURL string `json:"proxyUrl"`
		APIURL   string `json:"apiUrl"`
		APIKey   string `json:"apiKey"`
	}
	if err := json.Unmarshal(body, &rf); err != nil {
		return Runner{}, fmt.Errorf("%w: %w: %s: the body is not a RunnerFull JSON object", ErrUnavailable, ErrBadResponse, endpoint)
	}
	r := Runner{ID: rf.ID, URL: rf.ProxyURL, APIKey: rf.APIKey, APIURL: rf.APIURL}
	if r.URL == "" {
		r.URL = rf.APIURL
	}
	if r.APIURL == "" {
		r.APIURL = r.URL
	}
	if r.ID == "" || r.URL == "" || r.APIKey == "" {
		return Runner{}, fmt.Errorf("%w: %w: %s: the runner has no id, proxyUrl/apiUrl or apiKey", ErrUnavailable, ErrBadResponse, endpoint)
	}
	return r, nil
}

// SandboxBuild returns a sandbox's build info, asked as the user (the API
// checks their access): GET /sandbox/{id} (id or name), its
// buildInfo.snapshotRef and runnerId. A 401 is an *APIError with that
// status; no access or no such sandbox is ErrNotFound.
func (c *Client) SandboxBuild(ctx context.Context, sandboxID, userToken, clientIP string) (BuildSource, error) {
	var sb struct {
		RunnerID  string `json:"runnerId"`
		BuildInfo *struct {
			SnapshotRef string `json:"snapshotRef"`
		} `json:"buildInfo"`
	}
	if err := c.userJSON(ctx, EndpointSandbox, "/sandbox/"+url.PathEscape(sandboxID), userToken, clientIP, &sb); err != nil {
		return BuildSource{}, err
	}
	src := BuildSource{RunnerID: sb.RunnerID}
	if sb.BuildInfo != nil {
		src.SnapshotRef = sb.BuildInfo.SnapshotRef
	}
	return src, nil
}

// SnapshotBuild returns a snapshot's ref and initial runner, asked as the
// user: GET /snapshots/{id}. Errors as SandboxBuild.
func (c *Client) SnapshotBuild(ctx context.Context, snapshotID, userToken, clientIP string) (BuildSource, error) {
	var sn struct {
		Ref             string `json:"ref"`
		InitialRunnerID string `json:"initialRunnerId"`
	}
	if err := c.userJSON(ctx, EndpointSnapshot, "/snapshots/"+url.PathEscape(snapshotID), userToken, clientIP, &sn); err != nil {
		return BuildSource{}, err
	}
	return BuildSource{SnapshotRef: sn.Ref, RunnerID: sn.InitialRunnerID}, nil
}

// userJSON GETs path as the user and decodes the JSON answer into v. The
// client's address goes with the user's token (X-Forwarded-For), as for
// HasAccess: the API counts failed authentications per client address,
// and without it would count them against the resolver's.
func (c *Client) userJSON(ctx context.Context, endpoint, path, userToken, clientIP string, v any) error {
	if !validUserToken(userToken) {
		return &APIError{Endpoint: endpoint, StatusCode: http.StatusUnauthorized, kind: ErrNotFound}
	}
	cl := call{
		endpoint: endpoint,
		path:     path,
		auth:     "Bearer " + userToken,
		secrets:  []string{userToken},
		asUser:   true,
		want:     http.StatusOK,
	}
	if ip, err := netip.ParseAddr(clientIP); err == nil {
		cl.forwardedFor = ip.String()
	}
	body, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if json.Unmarshal(body, v) != nil {
		return fmt.Errorf("%w: %w: %s: the body is not a JSON object", ErrUnavailable, ErrBadResponse, endpoint)
	}
	return nil
}

// UpdateLastActivity records activity on the sandbox, which keeps its
// auto-stop timer from firing: POST /sandbox/{id}/last-activity (201).
func (c *Client) UpdateLastActivity(ctx context.Context, sandboxID string) error {
	_, err := c.do(ctx, call{
		endpoint: EndpointLastActivity,
		method:   http.MethodPost,
		path:     "/sandbox/" + url.PathEscape(sandboxID) + "/last-activity",
	})
	return err
}

// call describes one logical API call.
type call struct {
	endpoint     string
	method       string   // default GET
	path         string   // below BaseURL; may hold a secret: never logged
	auth         string   // default the proxy key
	asUser       bool     // auth is the user's token: a 401 is the user's problem
	forwardedFor string   // X-Forwarded-For
	secrets      []string // redacted from API messages
	want         int      // exact status wanted; 0: any 2xx
}

// yesNo maps a yes/no endpoint: 200 is true, a definite "no" is false.
func (c *Client) yesNo(ctx context.Context, cl call) (bool, error) {
	cl.want = http.StatusOK
	_, err := c.do(ctx, cl)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// do performs a call with retries and maps the outcome: nil and the body
// on success; ErrNotFound or ErrUnauthorized (as *APIError) for a definite
// answer; ErrUnavailable (with ErrTimeout when it timed out) otherwise.
func (c *Client) do(ctx context.Context, cl call) ([]byte, error) {
	if cl.method == "" {
		cl.method = http.MethodGet
	}
	if cl.auth == "" {
		cl.auth = c.auth
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	var last error
	delay := c.cfg.BaseDelay
	for attempt := 1; ; attempt++ {
		body, retry, err := c.attempt(ctx, cl)
		if !retry {
			return body, err
		}
		last = err
		if attempt >= c.cfg.Attempts {
			break
		}
		// Backoff with ±20 % jitter, bounded by the caller's context.
		d := delay + time.Duration(rand.Int64N(int64(delay)/5+1)) - delay/10
		if d > c.cfg.MaxDelay {
			d = c.cfg.MaxDelay
		}
		delay *= 2
		if delay > c.cfg.MaxDelay {
			delay = c.cfg.MaxDelay
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, unavailable(cl.endpoint, ctx.Err())
		case <-t.C:
		}
	}
	return nil, unavailable(cl.endpoint, fmt.Errorf("after %d attempts: %w", c.cfg.Attempts, last))
}

// attempt makes one HTTP request. retry reports a failure worth retrying
// (err is then the cause).
func (c *Client) attempt(ctx context.Context, cl call) (body []byte, retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, unavailable(cl.endpoint, err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, cl.method, c.base+cl.path, nil)
	if err != nil {
		// Only a malformed BaseURL gets here, and New checked it.
		return nil, false, fmt.Errorf("%w: %s: building the request failed", ErrUnavailable, cl.endpoint)
	}
	req.Header.Set("Authorization", cl.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if cl.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", cl.forwardedFor)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = transportError(err)
		result := "error"
		if isTimeout(err) {
			result = "timeout"
		}
		c.observe(cl.endpoint, result, time.Since(start))
		if ctx.Err() != nil {
			// The caller's budget is gone: no further attempt.
			return nil, false, unavailable(cl.endpoint, ctx.Err())
		}
		return nil, true, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	// Drain a little more so the connection can be reused, then close.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	c.observe(cl.endpoint, statusClass(resp.StatusCode), time.Since(start))

	status := resp.StatusCode
	switch {
	case status == cl.want || (cl.want == 0 && status >= 200 && status < 300):
		if rerr != nil {
			return nil, true, transportError(rerr)
		}
		return body, false, nil
	case retryable(status) || status >= 400 && !isAPIErrorBody(body):
		// A 4xx that is not the API's own error JSON (an ingress's HTML
		// page, a firewall's refusal) says nothing of the sandbox: retried,
		// then unavailable, never a cached "no" (Daytona's client does the
		// same: it cannot decode the error).
		return nil, true, &APIError{Endpoint: cl.endpoint, StatusCode: status, Message: parseAPIMessage(body, c.secrets(cl))}
	case status == http.StatusUnauthorized && !cl.asUser:
		return nil, false, &APIError{Endpoint: cl.endpoint, StatusCode: status, Message: parseAPIMessage(body, c.secrets(cl)), kind: ErrUnauthorized}
	case status >= 400:
		return nil, false, &APIError{Endpoint: cl.endpoint, StatusCode: status, Message: parseAPIMessage(body, c.secrets(cl)), kind: ErrNotFound}
	default:
		// An unexpected 1xx/2xx/3xx: no definite answer.
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, &APIError{Endpoint: cl.endpoint, StatusCode: status, kind: ErrBadResponse})
	}
}

func (c *Client) secrets(cl call) []string {
	return append([]string{c.apiKey}, cl.secrets...)
}

// unavailable wraps cause as ErrUnavailable, adding ErrTimeout when cause
// is a timeout.
func unavailable(endpoint string, cause error) error {
	if isTimeout(cause) {
		return fmt.Errorf("%w: %w: %s: %w", ErrUnavailable, ErrTimeout, endpoint, cause)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, endpoint, cause)
}

// transportError drops the *url.Error wrapper, whose text holds the request
// URL (and so, for some endpoints, a token).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func statusClass(status int) string {
	switch {
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}
