package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/previewgate/previewgate/daytona-sim/world"
)

// SandboxView is a sandbox as the control endpoints show it.
type SandboxView struct {
	ID             string   `json:"id"`
	Runner         string   `json:"runner"`   // runner name, "" when none
	RunnerID       string   `json:"runnerId"` // runner id, "" when none
	Public         bool     `json:"public"`
	PreviewToken   string   `json:"previewToken"`
	State          string   `json:"state"`
	Users          []string `json:"users"`
	CreatedAt      string   `json:"createdAt"`
	LastActivityAt *string  `json:"lastActivityAt"`
}

// RunnerView is a runner as GET /_sim/runners shows it.
type RunnerView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	URL    string `json:"url"`
	APIKey string `json:"apiKey"`
	// Requests counts the HTTP requests the runner received.
	Requests int64 `json:"requests"`
}

// UserView is a user as the control endpoints show it.
type UserView struct {
	Name    string   `json:"name"`
	APIKeys []string `json:"apiKeys"`
	// Sandboxes lists the sandboxes the user may use (output only).
	Sandboxes []string `json:"sandboxes"`
}

// simIndex documents the control endpoints (GET /_sim).
var simIndex = map[string]string{
	"GET /_sim/calls":                "call counters: {total, byEndpoint, bySandbox, recent}",
	"POST /_sim/calls/reset":         "zero the call counters and forget the last access call",
	"GET /_sim/sandboxes":            "{sandboxes: [sandbox]}",
	"POST /_sim/sandboxes":           "create: {id?, runner?, public?, previewToken?, state?, users?} -> 201 sandbox",
	"GET /_sim/sandboxes/{id}":       "one sandbox",
	"PATCH /_sim/sandboxes/{id}":     "change: {public?, state?, runner?, previewToken?, rotateToken?, users?} -> sandbox",
	"DELETE /_sim/sandboxes/{id}":    "delete -> 204",
	"GET /_sim/users":                "{users: [user]}",
	"POST /_sim/users":               "create: {name, apiKey?, apiKeys?} -> 201 user",
	"GET /_sim/runners":              "{runners: [{id, name, url, apiKey, requests}]}",
	"GET /_sim/api-fault":            "{faults: [fault]}",
	"POST /_sim/api-fault":           "add: {mode: error|hang|latency|reset, status?, latencyMs?, count?, endpoint?, sandbox?} -> 201 fault",
	"DELETE /_sim/api-fault":         "clear every fault, release hung calls -> 204",
	"GET /_sim/last-access":          "the last GET /api/preview/{id}/access call: {sandboxId, user, forwardedFor, status, at}",
	"note":                           "test-double control endpoints of the Daytona simulator; not part of Daytona",
	"GET /_sim/endpoints":            "{endpoints: [name]}: the simulated API endpoints (keys of the counters)",
	"POST /_sim/sandboxes/{id}/stop": "shorthand for PATCH {state: stopped}; /start likewise",
}

func (s *Server) serveSim(w http.ResponseWriter, r *http.Request, rel string) {
	segs := strings.Split(strings.Trim(rel, "/"), "/")
	for i, seg := range segs {
		v, err := url.PathUnescape(seg)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad path")
			return
		}
		segs[i] = v
	}
	key := r.Method + " " + segs[0]
	switch {
	case len(segs) == 1 && segs[0] == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, simIndex)
	case len(segs) == 1 && key == "GET endpoints":
		writeJSON(w, http.StatusOK, map[string][]string{"endpoints": Endpoints()})
	case len(segs) == 1 && key == "GET calls":
		writeJSON(w, http.StatusOK, s.Calls())
	case len(segs) == 2 && key == "POST calls" && segs[1] == "reset":
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	case len(segs) == 1 && key == "GET sandboxes":
		s.listSandboxes(w)
	case len(segs) == 1 && key == "POST sandboxes":
		s.createSandbox(w, r)
	case len(segs) == 2 && segs[0] == "sandboxes":
		s.oneSandbox(w, r, segs[1])
	case len(segs) == 3 && key == "POST sandboxes" && (segs[2] == "start" || segs[2] == "stop"):
		state := world.StateStarted
		if segs[2] == "stop" {
			state = world.StateStopped
		}
		s.patchSandbox(w, r, segs[1], world.SandboxPatch{State: &state})
	case len(segs) == 1 && key == "GET users":
		s.listUsers(w)
	case len(segs) == 1 && key == "POST users":
		s.createUser(w, r)
	case len(segs) == 1 && key == "GET runners":
		s.listRunners(w)
	case len(segs) == 1 && segs[0] == "api-fault":
		s.serveFaults(w, r)
	case len(segs) == 1 && key == "GET last-access":
		la, ok := s.LastAccess()
		if !ok {
			writeError(w, r, http.StatusNotFound, "no access call yet")
			return
		}
		writeJSON(w, http.StatusOK, la)
	default:
		writeError(w, r, http.StatusNotFound, "Cannot "+r.Method+" "+requestURL(r))
	}
}

// decode reads a JSON body strictly (unknown fields are an error).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %w", world.ErrInvalid, err)
	}
	return nil
}

// writeProblem maps a world error to a status: 409 for duplicates, 404 when
// the addressed resource is missing, 400 otherwise.
func writeProblem(w http.ResponseWriter, r *http.Request, err error, missing bool) {
	status := http.StatusBadRequest
	switch {
	case missing:
		status = http.StatusNotFound
	case errors.Is(err, world.ErrExists):
		status = http.StatusConflict
	}
	writeError(w, r, status, strings.ReplaceAll(err.Error(), "\n", "; "))
}

func (s *Server) view(sb world.Sandbox) SandboxView {
	v := SandboxView{
		ID: sb.ID, RunnerID: sb.RunnerID, Public: sb.Public, PreviewToken: sb.PreviewToken,
		State: string(sb.State), Users: sb.Users, CreatedAt: isoTime(sb.CreatedAt),
	}
	if v.Users == nil {
		v.Users = []string{}
	}
	if rn, ok := s.cfg.World.Runner(sb.RunnerID); ok {
		v.Runner = rn.Name
	}
	if !sb.LastActivityAt.IsZero() {
		t := isoTime(sb.LastActivityAt)
		v.LastActivityAt = &t
	}
	return v
}

func (s *Server) listSandboxes(w http.ResponseWriter) {
	all := s.cfg.World.Sandboxes()
	out := make([]SandboxView, 0, len(all))
	for _, sb := range all {
		out = append(out, s.view(sb))
	}
	writeJSON(w, http.StatusOK, map[string][]SandboxView{"sandboxes": out})
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) {
	var spec world.SandboxSpec
	if err := decode(r, &spec); err != nil {
		writeProblem(w, r, err, false)
		return
	}
	sb, err := s.cfg.World.CreateSandbox(spec)
	if err != nil {
		writeProblem(w, r, err, false)
		return
	}
	s.log.Info("sandbox created", "sandbox", sb.ID, "runner", sb.RunnerID, "public", sb.Public, "state", sb.State)
	writeJSON(w, http.StatusCreated, s.view(sb))
}

func (s *Server) oneSandbox(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodGet:
		sb, ok := s.cfg.World.Sandbox(id)
		if !ok {
			writeError(w, r, http.StatusNotFound, sandboxNotFound(id))
			return
		}
		writeJSON(w, http.StatusOK, s.view(sb))
	case http.MethodPatch:
		var p world.SandboxPatch
		if err := decode(r, &p); err != nil {
			writeProblem(w, r, err, false)
			return
		}
		s.patchSandbox(w, r, id, p)
	case http.MethodDelete:
		if err := s.cfg.World.DeleteSandbox(id); err != nil {
			writeProblem(w, r, err, true)
			return
		}
		s.log.Info("sandbox deleted", "sandbox", id)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "use GET, PATCH or DELETE")
	}
}

func (s *Server) patchSandbox(w http.ResponseWriter, r *http.Request, id string, p world.SandboxPatch) {
	if _, ok := s.cfg.World.Sandbox(id); !ok {
		writeError(w, r, http.StatusNotFound, sandboxNotFound(id))
		return
	}
	sb, err := s.cfg.World.UpdateSandbox(id, p)
	if err != nil {
		writeProblem(w, r, err, false)
		return
	}
	s.log.Info("sandbox changed", "sandbox", sb.ID, "runner", sb.RunnerID, "public", sb.Public, "state", sb.State,
		"tokenChanged", p.RotateToken || p.PreviewToken != nil)
	writeJSON(w, http.StatusOK, s.view(sb))
}

func (s *Server) userView(u world.User) UserView {
	v := UserView{Name: u.Name, APIKeys: u.APIKeys, Sandboxes: []string{}}
	for _, sb := range s.cfg.World.Sandboxes() {
		if s.cfg.World.HasAccess(sb.ID, u.Name) {
			v.Sandboxes = append(v.Sandboxes, sb.ID)
		}
	}
	return v
}

func (s *Server) listUsers(w http.ResponseWriter) {
	all := s.cfg.World.Users()
	out := make([]UserView, 0, len(all))
	for _, u := range all {
		out = append(out, s.userView(u))
	}
	writeJSON(w, http.StatusOK, map[string][]UserView{"users": out})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var spec world.UserSpec
	if err := decode(r, &spec); err != nil {
		writeProblem(w, r, err, false)
		return
	}
	u := spec.User()
	if err := s.cfg.World.AddUser(u); err != nil {
		writeProblem(w, r, err, false)
		return
	}
	s.log.Info("user created", "user", u.Name)
	writeJSON(w, http.StatusCreated, s.userView(u))
}

func (s *Server) listRunners(w http.ResponseWriter) {
	all := s.cfg.World.Runners()
	out := make([]RunnerView, 0, len(all))
	for _, rn := range all {
		out = append(out, RunnerView{ID: rn.ID, Name: rn.Name, URL: rn.URL, APIKey: rn.APIKey, Requests: s.cfg.World.Requests(rn.ID)})
	}
	writeJSON(w, http.StatusOK, map[string][]RunnerView{"runners": out})
}

func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]Fault{"faults": s.faults.list()})
	case http.MethodPost:
		var f Fault
		if err := decode(r, &f); err != nil {
			writeProblem(w, r, err, false)
			return
		}
		f, err := s.AddFault(f)
		if err != nil {
			writeProblem(w, r, err, false)
			return
		}
		s.log.Info("api fault added", "id", f.ID, "mode", f.Mode, "endpoint", f.Endpoint, "count", f.Count)
		writeJSON(w, http.StatusCreated, f)
	case http.MethodDelete:
		s.ClearFaults()
		s.log.Info("api faults cleared")
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "use GET, POST or DELETE")
	}
}
