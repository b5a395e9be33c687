// Package daytonatest is an in-process fake of the Daytona API endpoints the
// resolver calls, served by httptest on 127.0.0.1. It counts calls per
// endpoint and can be switched into failure modes. It is for tests only.
package daytonatest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Endpoint names used by Calls (the same names as the daytona package's).
const (
	IsPublic      = "is_public"
	ValidateToken = "validate_token"
	HasAccess     = "has_access"
	SignedToken   = "signed_token"
	Runner        = "runner_by_sandbox"
	LastActivity  = "last_activity"
	SandboxGet    = "sandbox"
	SnapshotGet   = "snapshot"
	RunnerFull    = "runner_full"
)

// ForbiddenKey is a user key the fake's GET /sandbox/{id} and GET
// /snapshots/{id} answer 403 (an API key without the permission).
const ForbiddenKey = "forbidden-key"

// Sandbox is one fake sandbox.
type Sandbox struct {
	Public bool
	// Token is the sandbox's preview token.
	Token string
	// Runner is the id of its runner; "" means "no runner" (archived).
	Runner string
	// Users are the bearer tokens (JWTs or API keys) with access.
	Users []string
	// BuildRef is buildInfo.snapshotRef ("": no build info).
	BuildRef string
}

// Snapshot is one fake snapshot (GET /snapshots/{id}).
type Snapshot struct {
	Ref, InitialRunner string
	Users              []string
}

// RunnerInfo is one fake runner.
type RunnerInfo struct {
	ProxyURL string
	APIURL   string
	APIKey   string
}

// Request is what the fake saw of one request.
type Request struct {
	Endpoint      string
	Method        string
	Path          string
	Authorization string
	ForwardedFor  string
}

// API is the fake. Configure its exported fields through the methods, which
// lock.
type API struct {
	// Key is the proxy key the fake expects (PROXY_API_KEY).
	Key string

	mu        sync.Mutex
	sandboxes map[string]Sandbox
	runners   map[string]RunnerInfo
	signed    map[string]string // token+"/"+port → sandbox id
	snapshots map[string]Snapshot
	fail      int // status to answer everything with (0: none)
	failBody  string
	delay     time.Duration
	calls     map[string]int
	requests  []Request
	server    *httptest.Server
}

// New starts a fake on 127.0.0.1 that expects the proxy key key. It is
// closed when the test ends.
func New(t testing.TB, key string) *API {
	a := &API{
		Key:       key,
		sandboxes: map[string]Sandbox{},
		runners:   map[string]RunnerInfo{},
		signed:    map[string]string{},
		snapshots: map[string]Snapshot{},
		calls:     map[string]int{},
	}
	a.server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.server.Close)
	return a
}

// URL is the API base URL, ending in "/api" like DAYTONA_API_URL.
func (a *API) URL() string { return a.server.URL + "/api" }

// AddSandbox adds or replaces a sandbox.
func (a *API) AddSandbox(id string, s Sandbox) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sandboxes[id] = s
}

// AddRunner adds or replaces a runner.
func (a *API) AddRunner(id string, r RunnerInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runners[id] = r
}

// AddSnapshot adds or replaces a snapshot.
func (a *API) AddSnapshot(id string, s Snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.snapshots[id] = s
}

// AddSignedToken makes token a valid signed preview token for sandbox id
// and port.
func (a *API) AddSignedToken(token, port, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signed[token+"/"+port] = id
}

// Fail makes every request answer status with body (0 switches it off).
func (a *API) Fail(status int, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail, a.failBody = status, body
}

// Delay makes every request wait d before answering.
func (a *API) Delay(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delay = d
}

// Calls returns how many requests an endpoint received.
func (a *API) Calls(endpoint string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[endpoint]
}

// TotalCalls returns how many requests the fake received.
func (a *API) TotalCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

// Requests returns a copy of every request seen.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Reset forgets the counters.
func (a *API) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = map[string]int{}
	a.requests = nil
}

// WriteError writes the API's error JSON.
func WriteError(w http.ResponseWriter, path string, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"path":       path,
		"timestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"statusCode": status,
		"error":      http.StatusText(status),
		"message":    message,
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	ep := endpointOf(r.Method, parts)

	a.mu.Lock()
	a.calls[ep]++
	a.requests = append(a.requests, Request{
		Endpoint:      ep,
		Method:        r.Method,
		Path:          r.URL.Path,
		Authorization: r.Header.Get("Authorization"),
		ForwardedFor:  r.Header.Get("X-Forwarded-For"),
	})
	fail, failBody, delay := a.fail, a.failBody, a.delay
	a.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		w.WriteHeader(fail)
		_, _ = w.Write([]byte(failBody))
		return
	}
	asUser := ep == HasAccess || ep == SandboxGet || ep == SnapshotGet
	if !asUser && r.Header.Get("Authorization") != "Bearer "+a.Key {
		WriteError(w, r.URL.Path, http.StatusUnauthorized, "Unauthorized")
		return
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	switch ep {
	case IsPublic:
		if s, ok := a.sandboxes[parts[1]]; ok && s.Public {
			writeTrue(w)
			return
		}
		WriteError(w, r.URL.Path, http.StatusNotFound, "Sandbox not found or not public")
	case ValidateToken:
		if s, ok := a.sandboxes[parts[1]]; ok && s.Token != "" && s.Token == parts[3] {
			writeTrue(w)
			return
		}
		WriteError(w, r.URL.Path, http.StatusNotFound, "Invalid auth token")
	case HasAccess:
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			WriteError(w, r.URL.Path, http.StatusUnauthorized, "Unauthorized")
			return
		}
		s, found := a.sandboxes[parts[1]]
		if found {
			for _, u := range s.Users {
				if u == bearer {
					writeTrue(w)
					return
				}
			}
		}
		WriteError(w, r.URL.Path, http.StatusNotFound, "Sandbox not found")
	case SignedToken:
		if id, ok := a.signed[parts[1]+"/"+parts[2]]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(id))
			return
		}
		WriteError(w, r.URL.Path, http.StatusForbidden, "Invalid or expired token")
	case Runner:
		s, ok := a.sandboxes[parts[2]]
		if !ok {
			WriteError(w, r.URL.Path, http.StatusNotFound, "Sandbox with ID "+parts[2]+" not found")
			return
		}
		ri, ok := a.runners[s.Runner]
		if !ok {
			WriteError(w, r.URL.Path, http.StatusNotFound, "Runner not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": s.Runner, "proxyUrl": ri.ProxyURL, "apiUrl": ri.APIURL, "apiKey": ri.APIKey,
			"cpu": 4, "memory": 8, "disk": 50, "region": "us", "name": "default", "state": "ready",
			"unschedulable": false, "tags": []string{}, "createdAt": "2026-01-01T00:00:00Z",
			"updatedAt": "2026-01-01T00:00:00Z", "version": "0", "apiVersion": "2", "runnerClass": "container",
		})
	case LastActivity:
		w.WriteHeader(http.StatusCreated)
	case SandboxGet, SnapshotGet:
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if bearer == "" || bearer == a.Key {
			WriteError(w, r.URL.Path, http.StatusUnauthorized, "Unauthorized")
			return
		}
		if bearer == ForbiddenKey {
			WriteError(w, r.URL.Path, http.StatusForbidden, "Forbidden resource")
			return
		}
		body := map[string]any{"id": parts[1]}
		var users []string
		if ep == SandboxGet {
			sb := a.sandboxes[parts[1]]
			users = sb.Users
			body["runnerId"] = sb.Runner
			if sb.BuildRef != "" {
				body["buildInfo"] = map[string]any{"snapshotRef": sb.BuildRef}
			}
		} else {
			sn := a.snapshots[parts[1]]
			users = sn.Users
			body["ref"], body["initialRunnerId"] = sn.Ref, sn.InitialRunner
		}
		for _, u := range users {
			if u == bearer {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(body)
				return
			}
		}
		WriteError(w, r.URL.Path, http.StatusNotFound, "Not found")
	case RunnerFull:
		ri, ok := a.runners[parts[1]]
		if !ok {
			WriteError(w, r.URL.Path, http.StatusNotFound, "Runner not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": parts[1], "proxyUrl": ri.ProxyURL, "apiUrl": ri.APIURL, "apiKey": ri.APIKey})
	default:
		WriteError(w, r.URL.Path, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	}
}

func writeTrue(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("true"))
}

func endpointOf(method string, p []string) string {
	switch {
	case method == http.MethodGet && len(p) == 3 && p[0] == "preview" && p[2] == "public":
		return IsPublic
	case method == http.MethodGet && len(p) == 4 && p[0] == "preview" && p[2] == "validate":
		return ValidateToken
	case method == http.MethodGet && len(p) == 3 && p[0] == "preview" && p[2] == "access":
		return HasAccess
	case method == http.MethodGet && len(p) == 4 && p[0] == "preview" && p[3] == "sandbox-id":
		return SignedToken
	case method == http.MethodGet && len(p) == 3 && p[0] == "runners" && p[1] == "by-sandbox":
		return Runner
	case method == http.MethodPost && len(p) == 3 && p[0] == "sandbox" && p[2] == "last-activity":
		return LastActivity
	case method == http.MethodGet && len(p) == 2 && p[0] == "sandbox":
		return SandboxGet
	case method == http.MethodGet && len(p) == 2 && p[0] == "snapshots":
		return SnapshotGet
	case method == http.MethodGet && len(p) == 3 && p[0] == "runners" && p[2] == "full":
		return RunnerFull
	}
	return "unknown"
}
