package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func (e *env) send(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSimSandboxes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, v SandboxView)
		errContains              []string
	}{
		{name: "create with defaults", method: "POST", path: "/_sim/sandboxes", body: `{}`, status: 201,
			check: func(t *testing.T, v SandboxView) {
				if len(v.ID) != 36 || v.Runner != "r1" || v.RunnerID != r1ID || v.State != "started" || len(v.PreviewToken) != 32 || v.LastActivityAt != nil {
					t.Errorf("%+v", v)
				}
			}},
		{name: "create full", method: "POST", path: "/_sim/sandboxes",
			body: `{"id":"s1","runner":"r2","public":true,"previewToken":"tok1","state":"stopped","users":["bob"]}`, status: 201,
			check: func(t *testing.T, v SandboxView) {
				if v.ID != "s1" || v.Runner != "r2" || !v.Public || v.PreviewToken != "tok1" || v.State != "stopped" || len(v.Users) != 1 {
					t.Errorf("%+v", v)
				}
			}},
		{name: "create duplicate", method: "POST", path: "/_sim/sandboxes", body: `{"id":"demo-public"}`, status: 409},
		{name: "create invalid reports every problem", method: "POST", path: "/_sim/sandboxes",
			body: `{"id":"Bad","runner":"r9","state":"x","users":["zed"]}`, status: 400,
			errContains: []string{`"Bad"`, `"r9"`, `"x"`, `"zed"`}},
		{name: "create unknown field", method: "POST", path: "/_sim/sandboxes", body: `{"idd":"x"}`, status: 400, errContains: []string{"idd"}},
		{name: "get one", method: "GET", path: "/_sim/sandboxes/demo-r2", status: 200,
			check: func(t *testing.T, v SandboxView) {
				if v.Runner != "r2" || v.PreviewToken != "demopreviewtoken0000000000000002" {
					t.Errorf("%+v", v)
				}
			}},
		{name: "get unknown", method: "GET", path: "/_sim/sandboxes/nope", status: 404},
		{name: "patch public and move", method: "PATCH", path: "/_sim/sandboxes/demo-private", body: `{"public":true,"runner":"r2"}`, status: 200,
			check: func(t *testing.T, v SandboxView) {
				if !v.Public || v.Runner != "r2" {
					t.Errorf("%+v", v)
				}
			}},
		{name: "patch rotate", method: "PATCH", path: "/_sim/sandboxes/demo-public", body: `{"rotateToken":true}`, status: 200,
			check: func(t *testing.T, v SandboxView) {
				if v.PreviewToken == "demopreviewtoken0000000000000000" {
					t.Error("token not rotated")
				}
			}},
		{name: "patch unknown sandbox", method: "PATCH", path: "/_sim/sandboxes/nope", body: `{"public":true}`, status: 404},
		{name: "patch unknown runner", method: "PATCH", path: "/_sim/sandboxes/demo-r2", body: `{"runner":"r9"}`, status: 400},
		{name: "stop shorthand", method: "POST", path: "/_sim/sandboxes/demo-r2/stop", status: 200,
			check: func(t *testing.T, v SandboxView) {
				if v.State != "stopped" {
					t.Errorf("%+v", v)
				}
			}},
		{name: "start shorthand", method: "POST", path: "/_sim/sandboxes/demo-stopped/start", status: 200,
			check: func(t *testing.T, v SandboxView) {
				if v.State != "started" {
					t.Errorf("%+v", v)
				}
			}},
		{name: "delete", method: "DELETE", path: "/_sim/sandboxes/demo-r2", status: 204},
		{name: "delete again", method: "DELETE", path: "/_sim/sandboxes/demo-r2", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.send(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.check != nil {
				var v SandboxView
				if err := json.Unmarshal([]byte(body), &v); err != nil {
					t.Fatal(err)
				}
				tt.check(t, v)
			}
			for _, s := range tt.errContains {
				if msg := errMessage(body); !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %s", msg, s)
				}
			}
		})
	}
	resp, body := e.send(t, "GET", "/_sim/sandboxes", "")
	var list struct{ Sandboxes []SandboxView }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var ids []string
	for _, s := range list.Sandboxes {
		ids = append(ids, s.ID)
	}
	if len(ids) != 5 || !slices.IsSorted(ids) || !slices.Contains(ids, "s1") || slices.Contains(ids, "demo-r2") {
		t.Errorf("ids = %v, want 4 seeded + 2 created - 1 deleted, sorted", ids)
	}
	// The API sees the changes at once.
	if resp, _ := e.do(t, "GET", "/api/preview/demo-private/public", proxyKey); resp.StatusCode != 200 {
		t.Errorf("public after patch: %d", resp.StatusCode)
	}
}

func TestSimUsersAndRunners(t *testing.T) {
	e := newEnv(t)
	resp, body := e.send(t, "POST", "/_sim/users", `{"name":"carol","apiKey":"carol-key"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := e.send(t, "POST", "/_sim/users", `{"name":"carol","apiKey":"other"}`); resp.StatusCode != 409 {
		t.Errorf("duplicate user: %d", resp.StatusCode)
	}
	if resp, _ := e.send(t, "PATCH", "/_sim/sandboxes/demo-private", `{"users":["alice","carol"]}`); resp.StatusCode != 200 {
		t.Fatalf("grant: %d", resp.StatusCode)
	}
	if resp, body := e.do(t, "GET", "/api/preview/demo-private/access", "carol-key"); resp.StatusCode != 200 {
		t.Errorf("carol access: %d %s", resp.StatusCode, body)
	}
	_, body = e.send(t, "GET", "/_sim/users", "")
	var users struct{ Users []UserView }
	_ = json.Unmarshal([]byte(body), &users)
	if len(users.Users) != 3 || users.Users[2].Name != "carol" || strings.Join(users.Users[2].Sandboxes, ",") != "demo-private" {
		t.Errorf("users = %+v", users)
	}
	if len(users.Users[0].Sandboxes) != 4 {
		t.Errorf("alice's sandboxes = %v", users.Users[0].Sandboxes)
	}

	_, body = e.send(t, "GET", "/_sim/runners", "")
	var runners struct{ Runners []RunnerView }
	_ = json.Unmarshal([]byte(body), &runners)
	if len(runners.Runners) != 2 || runners.Runners[0] != (RunnerView{ID: r1ID, Name: "r1", URL: r1URL, APIKey: "r1-key"}) {
		t.Errorf("runners = %+v", runners)
	}
	for _, p := range []string{"/_sim", "/_sim/endpoints"} {
		if resp, body := e.send(t, "GET", p, ""); resp.StatusCode != 200 || !strings.Contains(body, "/") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := e.send(t, "GET", "/_sim/nope", ""); resp.StatusCode != 404 {
		t.Errorf("unknown control endpoint: %d", resp.StatusCode)
	}
}

// errMessage returns the message of an API error body.
func errMessage(body string) string {
	var e APIError
	_ = json.Unmarshal([]byte(body), &e)
	return e.Message
}

func addFault(t *testing.T, e *env, body string) Fault {
	t.Helper()
	resp, b := e.send(t, "POST", "/_sim/api-fault", body)
	var f Fault
	if resp.StatusCode != 201 || json.Unmarshal([]byte(b), &f) != nil {
		t.Fatalf("add fault: %d %s", resp.StatusCode, b)
	}
	return f
}

func TestFaultError(t *testing.T) {
	e := newEnv(t)
	f := addFault(t, e, `{"mode":"error","status":503,"count":2,"endpoint":"GET /preview/{id}/public","sandbox":"demo-public"}`)
	if f.ID == 0 || f.Status != 503 {
		t.Fatalf("%+v", f)
	}
	path := "/api/preview/demo-public/public"
	for i := range 2 {
		resp, body := e.do(t, "GET", path, proxyKey)
		checkAPIError(t, resp, body, 503, "Service Unavailable", path)
		_ = i
	}
	if resp, _ := e.do(t, "GET", path, proxyKey); resp.StatusCode != 200 {
		t.Errorf("after count: %d", resp.StatusCode)
	}
	// Other endpoints and sandboxes were never hit.
	calls := e.srv.Calls()
	if calls.Recent[0].Fault != f.ID || calls.Recent[2].Fault != 0 {
		t.Errorf("recent = %+v", calls.Recent)
	}
	_, body := e.send(t, "GET", "/_sim/api-fault", "")
	var list struct{ Faults []Fault }
	_ = json.Unmarshal([]byte(body), &list)
	if len(list.Faults) != 1 || list.Faults[0].Hits != 2 {
		t.Errorf("faults = %+v", list)
	}

	addFault(t, e, `{"mode":"error"}`) // every call, 500
	resp, body := e.do(t, "GET", "/api/config", "")
	checkAPIError(t, resp, body, 500, MsgUnexpected, "/api/config")
	if resp, _ := e.send(t, "DELETE", "/_sim/api-fault", ""); resp.StatusCode != 204 {
		t.Fatalf("clear: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/api/config", ""); resp.StatusCode != 200 {
		t.Errorf("after clear: %d", resp.StatusCode)
	}
}

func TestFaultFilters(t *testing.T) {
	e := newEnv(t)
	addFault(t, e, `{"mode":"error","status":502,"endpoint":"GET /runners/by-sandbox/{id}","sandbox":"demo-r2"}`)
	tests := []struct {
		path   string
		status int
	}{
		{"/api/runners/by-sandbox/demo-r2", 502},
		{"/api/runners/by-sandbox/demo-private", 200},
		{"/api/preview/demo-r2/public", 404},
		{"/api/runners/by-sandbox/demo-r2", 502},
	}
	for _, tt := range tests {
		if resp, _ := e.do(t, "GET", tt.path, proxyKey); resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.path, resp.StatusCode, tt.status)
		}
	}
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t)
	addFault(t, e, `{"mode":"latency","latencyMs":150,"count":1}`)
	start := time.Now()
	resp, body := e.do(t, "GET", "/api/preview/demo-public/public", proxyKey)
	if d := time.Since(start); d < 150*time.Millisecond || resp.StatusCode != 200 || body != "true" {
		t.Errorf("first call: %v %d %q", d, resp.StatusCode, body)
	}
	start = time.Now()
	e.do(t, "GET", "/api/config", "")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second call slowed: %v", d)
	}
}

func TestFaultHang(t *testing.T) {
	e := newEnv(t)
	addFault(t, e, `{"mode":"hang","endpoint":"GET /config"}`)

	// A client with a deadline gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/config", nil)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung call: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("returned after %v", d)
	}

	// Clearing the faults releases a hung call, which then answers normally.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(e.ts.URL + "/api/config")
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case s := <-done:
		t.Fatalf("answered while hung: %d", s)
	case <-time.After(100 * time.Millisecond):
	}
	e.srv.ClearFaults()
	select {
	case s := <-done:
		if s != 200 {
			t.Errorf("released call: %d", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("clear did not release the hung call")
	}

	// Closing the server drops hung calls without an answer.
	addFault(t, e, `{"mode":"hang"}`)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(e.ts.URL + "/api/config")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	e.srv.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("dropped call got an answer")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("close did not release the hung call")
	}
}

func TestFaultReset(t *testing.T) {
	e := newEnv(t)
	addFault(t, e, `{"mode":"reset","count":1}`)
	// A fresh connection: Go's client silently retries a GET that failed on a reused one.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(e.ts.URL + "/api/config"); err == nil {
		resp.Body.Close()
		t.Fatalf("reset call answered %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/api/config", ""); resp.StatusCode != 200 {
		t.Errorf("next call: %d", resp.StatusCode)
	}
}

func TestFaultValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		body string
		want []string
	}{
		{`{"mode":"explode"}`, []string{"explode"}},
		{`{"mode":"error","status":99}`, []string{"status 99"}},
		{`{"mode":"latency"}`, []string{"latencyMs"}},
		{`{"mode":"hang","status":500,"latencyMs":5,"count":-1,"endpoint":"GET /nope"}`,
			[]string{"status is only", "latencyMs is only", "count -1", `"GET /nope"`}},
		{`{"mode":"hang","extra":1}`, []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			resp, body := e.send(t, "POST", "/_sim/api-fault", tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if msg := errMessage(body); !strings.Contains(msg, w) {
					t.Errorf("%q lacks %s", msg, w)
				}
			}
		})
	}
	if got := e.srv.faults.list(); len(got) != 0 {
		t.Errorf("invalid faults were added: %+v", got)
	}
}
