package plugin

import (
	"net/http"
	"net/url"
	"testing"
)

func buildLogsAnswer(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(tRoute) != RouteSandboxBuildLogs && r.Header.Get(tRoute) != RouteSnapshotBuildLogs {
		w.Header().Set(HeaderDecision, DecisionRespond)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Header.Get(HeaderBearer) != "user-key" {
		w.Header().Set(HeaderDecision, DecisionRespond)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h := w.Header()
	h.Set(HeaderDecision, DecisionForward)
	h.Set(HeaderRunner, "r1")
	h.Set(HeaderRunnerKey, "Bearer key-r1")
	h.Set(HeaderPrefix, BuildLogsPath)
	h.Set(HeaderSnapshotRef, "reg/img:1")
	h.Set(HeaderStripAuth, "1")
	h.Set(HeaderTTL, "0")
}

// GET /sandboxes/{id}/build-logs and /snapshots/{id}/build-logs on the
// gateway host go to the runner's BuildLogsPath with snapshotRef set to
// the resolver's ref (a client's own is replaced), the runner key, without
// the user's Authorization; each request is decided again.
func TestBuildLogsRoutes(t *testing.T) {
	f := &fakeResolver{answer: buildLogsAnswer}
	h, s, _ := newTestHandler(t, f, nil)
	user := map[string]string{"Authorization": "Bearer user-key"}
	for i, target := range []string{
		"http://localhost/sandboxes/sb-1/build-logs?follow=true",
		"http://localhost/snapshots/snap_1/build-logs?follow=true&snapshotRef=other",
		"http://localhost/sandboxes/sb-1/build-logs?follow=true",
	} {
		s.called = false
		rec := serve(h, "GET", target, user)
		if rec.Code != http.StatusTeapot || !s.called {
			t.Fatalf("%s: status %d %s", target, rec.Code, rec.Body.String())
		}
		q, _ := url.ParseQuery(s.target[len(BuildLogsPath)+1:])
		if s.path != BuildLogsPath || q.Get("follow") != "true" || len(q["snapshotRef"]) != 1 || q.Get("snapshotRef") != "reg/img:1" {
			t.Errorf("%s: forwarded to %s", target, s.target)
		}
		if s.header.Get(HeaderDaytonaAuthorization) != "Bearer key-r1" || s.header.Get("Authorization") != "" || s.header.Get(hConnection) != RunnerConnectionToken("r1") {
			t.Errorf("%s: headers %v", target, s.header)
		}
		if f.count() != i+1 {
			t.Errorf("%s: %d decisions, want %d (never cached)", target, f.count(), i+1)
		}
	}
	for _, c := range []struct {
		method, target string
		header         map[string]string
		status         int
	}{
		{"GET", "http://localhost/sandboxes/sb-1/build-logs", nil, http.StatusUnauthorized},
		{"POST", "http://localhost/sandboxes/sb-1/build-logs", user, http.StatusNotFound}, // another gateway path
		{"GET", "http://localhost/sandboxes/a.b/build-logs", user, http.StatusNotFound},
	} {
		s.called = false
		if rec := serve(h, c.method, c.target, c.header); rec.Code != c.status || s.called {
			t.Errorf("%s %s: status %d (want %d), forwarded %v", c.method, c.target, rec.Code, c.status, s.called)
		}
	}
	// An upgrade request is forwarded like the others (it reports no
	// sandbox activity: the route has no sandbox prefix).
	s.called = false
	if rec := serve(h, "GET", "http://localhost/sandboxes/sb-1/build-logs", map[string]string{
		"Authorization": "Bearer user-key", "Connection": "Upgrade", "Upgrade": "websocket"}); rec.Code != http.StatusTeapot || !s.called {
		t.Errorf("upgrade: status %d, forwarded %v", rec.Code, s.called)
	}
	// A malformed pair of the client's is dropped, as Daytona's URL.Query() does.
	s.called = false
	if rec := serve(h, "GET", "http://localhost/sandboxes/sb-1/build-logs?a=%zz&follow=true", user); rec.Code != http.StatusTeapot || s.target != BuildLogsPath+"?follow=true&snapshotRef=reg%2Fimg%3A1" {
		t.Errorf("malformed pair: status %d, forwarded to %q", rec.Code, s.target)
	}
	// A forward decision without the ref, or with another path, is no
	// valid build-log decision.
	for _, broken := range []string{HeaderSnapshotRef, HeaderPrefix} {
		broken := broken // Yaegi v0.16.1 shares loop variables
		f := &fakeResolver{answer: func(w http.ResponseWriter, r *http.Request) {
			buildLogsAnswer(w, r)
			if broken == HeaderPrefix {
				w.Header().Set(HeaderPrefix, "/sandboxes/sb-1/toolbox")
			} else {
				w.Header().Del(broken)
			}
		}}
		h, s, _ := newTestHandler(t, f, nil)
		if rec := serve(h, "GET", "http://localhost/sandboxes/sb-1/build-logs", user); rec.Code != http.StatusBadGateway || s.called {
			t.Errorf("without a valid %s: status %d, forwarded %v", broken, rec.Code, s.called)
		}
	}
}
