package decide_test

import (
	"net/http"
	"testing"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona/daytonatest"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// The build-log routes, as Daytona's proxy decides them: the API, asked
// with the user's bearer token, names the snapshot ref and the runner; the
// decision forwards to the runner's BuildLogsPath with that ref, strips
// the user's Authorization, and is never cached.
func TestBuildLogs(t *testing.T) {
	const built, snap, ref = "built-sandbox", "snap-1", "registry:5000/daytona/built:abc"
	e := newEnv(t)
	e.api.AddSandbox(built, daytonatest.Sandbox{Runner: runnerID, Users: []string{userJWT}, BuildRef: ref})
	e.api.AddSnapshot(snap, daytonatest.Snapshot{Ref: ref, InitialRunner: runnerID, Users: []string{userJWT}})
	e.api.AddRunner("runner-split", daytonatest.RunnerInfo{ProxyURL: "http://proxy:3003", APIURL: "http://api:3003", APIKey: "k"})
	e.api.AddSnapshot("snap-split", daytonatest.Snapshot{Ref: ref, InitialRunner: "runner-split", Users: []string{userJWT}})
	e.api.AddSnapshot("snap-noref", daytonatest.Snapshot{InitialRunner: runnerID, Users: []string{userJWT}})
	logs := func(route, id, bearer string) decide.Request {
		return decide.Request{Route: route, Sandbox: id, Bearer: bearer, ClientIP: "203.0.113.7"}
	}
	for _, c := range []struct {
		name   string
		req    decide.Request
		status int // 0: forward
	}{
		{"sandbox", logs(plugin.RouteSandboxBuildLogs, built, userJWT), 0},
		{"snapshot", logs(plugin.RouteSnapshotBuildLogs, snap, userJWT), 0},
		{"no bearer", logs(plugin.RouteSandboxBuildLogs, built, ""), http.StatusUnauthorized},
		{"bearer the API refuses", logs(plugin.RouteSandboxBuildLogs, built, proxyKey), http.StatusUnauthorized},
		{"no access", logs(plugin.RouteSandboxBuildLogs, built, "someone-else"), http.StatusNotFound},
		{"a key without the permission", logs(plugin.RouteSandboxBuildLogs, built, daytonatest.ForbiddenKey), http.StatusForbidden},
		{"unknown", logs(plugin.RouteSnapshotBuildLogs, "nope", userJWT), http.StatusNotFound},
		{"sandbox without build info", logs(plugin.RouteSandboxBuildLogs, private, userJWT), http.StatusBadRequest},
		{"snapshot without ref", logs(plugin.RouteSnapshotBuildLogs, "snap-noref", userJWT), http.StatusBadRequest},
		{"runner whose apiUrl is not its proxyUrl", logs(plugin.RouteSnapshotBuildLogs, "snap-split", userJWT), http.StatusBadGateway},
		{"bad id", logs(plugin.RouteSnapshotBuildLogs, "a/b", userJWT), http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := e.decide(c.req)
			if c.status != 0 {
				if d.Forward != nil || d.Status != c.status {
					t.Fatalf("%s %d, want %d", d.Outcome, d.Status, c.status)
				}
				return
			}
			f := d.Forward
			if f == nil {
				t.Fatalf("%s %d %s", d.Outcome, d.Status, d.Message)
			}
			if f.Prefix != plugin.BuildLogsPath || f.SnapshotRef != ref || f.Runner != runnerID ||
				f.RunnerAuth != "Bearer "+runnerKey || !f.StripAuthorization || f.TTL != 0 {
				t.Errorf("forward %+v", f)
			}
		})
	}
	// The sandbox and snapshot were asked for (as the user: the fake
	// answers only user keys) from the client's address (the API counts failed authentications per address);
	// no activity was reported.
	for _, r := range e.api.Requests() {
		if (r.Endpoint == daytonatest.SandboxGet || r.Endpoint == daytonatest.SnapshotGet) && r.ForwardedFor != "203.0.113.7" {
			t.Errorf("%s: X-Forwarded-For %q", r.Path, r.ForwardedFor)
		}
		if r.Endpoint == daytonatest.LastActivity {
			t.Errorf("a build-log decision reported activity")
		}
	}
}
