package world

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	r1ID = "11111111-1111-4111-8111-111111111111"
	r2ID = "22222222-2222-4222-8222-222222222222"
)

func newWorld(t *testing.T) *World {
	t.Helper()
	w := New()
	for _, r := range []Runner{{ID: r1ID, Name: "r1", APIKey: "k1"}, {ID: r2ID, Name: "r2", APIKey: "k2"}} {
		if err := w.AddRunner(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Apply(DefaultSeed()); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDefaultSeed(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		id      string
		runner  string
		public  bool
		token   string
		state   State
		aliceOK bool
	}{
		{"demo-public", r1ID, true, DemoPublicToken, StateStarted, true},
		{"demo-private", r1ID, false, DemoPrivateToken, StateStarted, true},
		{"demo-r2", r2ID, false, DemoR2Token, StateStarted, true},
		{"demo-stopped", r1ID, false, DemoStoppedToken, StateStopped, true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			s, ok := w.Sandbox(tt.id)
			if !ok {
				t.Fatal("missing")
			}
			if s.RunnerID != tt.runner || s.Public != tt.public || s.PreviewToken != tt.token || s.State != tt.state {
				t.Errorf("got %+v", s)
			}
			if got := w.HasAccess(tt.id, "alice"); got != tt.aliceOK {
				t.Errorf("alice access = %v", got)
			}
			if w.HasAccess(tt.id, "bob") {
				t.Error("bob has access")
			}
		})
	}
	if u, ok := w.UserByKey("alice-api-key"); !ok || u.Name != "alice" {
		t.Errorf("alice key: %+v %v", u, ok)
	}
	if u, ok := w.UserByKey("bob-api-key"); !ok || u.Name != "bob" {
		t.Errorf("bob key: %+v %v", u, ok)
	}
	if len(w.Sandboxes()) != 4 {
		t.Errorf("sandboxes: %d", len(w.Sandboxes()))
	}
}

func TestCreateSandbox(t *testing.T) {
	tests := []struct {
		name    string
		spec    SandboxSpec
		wantErr []error  // every one must be reported
		wantMsg []string // substrings of the error
	}{
		{name: "defaults", spec: SandboxSpec{}},
		{name: "uuid id", spec: SandboxSpec{ID: "0b5c8e1e-3c1d-4f7a-9a51-1f0e2d3c4b5a", Runner: r2ID}},
		{name: "duplicate", spec: SandboxSpec{ID: "demo-public"}, wantErr: []error{ErrExists}},
		{name: "upper case id", spec: SandboxSpec{ID: "Demo"}, wantErr: []error{ErrInvalid}},
		{name: "id with underscore", spec: SandboxSpec{ID: "a_b"}, wantErr: []error{ErrInvalid}},
		{name: "unknown runner", spec: SandboxSpec{ID: "x", Runner: "r9"}, wantErr: []error{ErrNotFound}, wantMsg: []string{`runner "r9"`}},
		{name: "unknown user", spec: SandboxSpec{ID: "x", Users: []string{"zed"}}, wantErr: []error{ErrNotFound}, wantMsg: []string{`user "zed"`}},
		{name: "bad state", spec: SandboxSpec{ID: "x", State: "running"}, wantErr: []error{ErrInvalid}, wantMsg: []string{"running"}},
		{name: "bad token", spec: SandboxSpec{ID: "x", PreviewToken: "has space"}, wantErr: []error{ErrInvalid}},
		{
			name:    "every problem at once",
			spec:    SandboxSpec{ID: "X", Runner: "nope", State: "zzz", Users: []string{"zed"}},
			wantErr: []error{ErrInvalid, ErrNotFound},
			wantMsg: []string{`sandbox id "X"`, `runner "nope"`, `state "zzz"`, `user "zed"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			s, err := w.CreateSandbox(tt.spec)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				got, ok := w.Sandbox(s.ID)
				if !ok || got.ID != s.ID {
					t.Fatalf("not stored: %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, created %+v", s)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %v", err, want)
				}
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestCreateSandboxDefaults(t *testing.T) {
	w := newWorld(t)
	s, err := w.CreateSandbox(SandboxSpec{})
	if err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(s.ID) {
		t.Errorf("id %q is not a v4 UUID", s.ID)
	}
	if !regexp.MustCompile(`^[0-9a-z_-]{32}$`).MatchString(s.PreviewToken) {
		t.Errorf("token %q is not nanoid(32)-shaped", s.PreviewToken)
	}
	if s.State != StateStarted || s.RunnerID != r1ID || s.Public {
		t.Errorf("defaults: %+v", s)
	}
	s2, _ := w.CreateSandbox(SandboxSpec{})
	if s2.ID == s.ID || s2.PreviewToken == s.PreviewToken {
		t.Error("ids or tokens repeat")
	}
}

func ptr[T any](v T) *T { return &v }

func TestUpdateSandbox(t *testing.T) {
	tests := []struct {
		name    string
		patch   SandboxPatch
		check   func(t *testing.T, s Sandbox)
		wantErr error
	}{
		{name: "public", patch: SandboxPatch{Public: ptr(true)}, check: func(t *testing.T, s Sandbox) {
			if !s.Public {
				t.Error("not public")
			}
		}},
		{name: "stop", patch: SandboxPatch{State: ptr(StateStopped)}, check: func(t *testing.T, s Sandbox) {
			if s.State != StateStopped {
				t.Error(s.State)
			}
		}},
		{name: "move by name", patch: SandboxPatch{Runner: ptr("r2")}, check: func(t *testing.T, s Sandbox) {
			if s.RunnerID != r2ID {
				t.Error(s.RunnerID)
			}
		}},
		{name: "clear runner", patch: SandboxPatch{Runner: ptr("")}, check: func(t *testing.T, s Sandbox) {
			if s.RunnerID != "" {
				t.Error(s.RunnerID)
			}
		}},
		{name: "rotate", patch: SandboxPatch{RotateToken: true}, check: func(t *testing.T, s Sandbox) {
			if s.PreviewToken == DemoPrivateToken || len(s.PreviewToken) != 32 {
				t.Error(s.PreviewToken)
			}
		}},
		{name: "explicit token", patch: SandboxPatch{PreviewToken: ptr("newtoken")}, check: func(t *testing.T, s Sandbox) {
			if s.PreviewToken != "newtoken" {
				t.Error(s.PreviewToken)
			}
		}},
		{name: "users", patch: SandboxPatch{Users: ptr([]string{"bob"})}, check: func(t *testing.T, s Sandbox) {
			if len(s.Users) != 1 || s.Users[0] != "bob" {
				t.Error(s.Users)
			}
		}},
		{name: "token and rotate", patch: SandboxPatch{PreviewToken: ptr("x"), RotateToken: true}, wantErr: ErrInvalid},
		{name: "unknown runner", patch: SandboxPatch{Runner: ptr("r7")}, wantErr: ErrNotFound},
		{name: "bad state", patch: SandboxPatch{State: ptr(State("gone"))}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			s, err := w.UpdateSandbox("demo-private", tt.patch)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got, _ := w.Sandbox("demo-private"); got.PreviewToken != DemoPrivateToken || got.RunnerID != r1ID {
					t.Errorf("failed patch changed the sandbox: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
			stored, _ := w.Sandbox("demo-private")
			tt.check(t, stored)
		})
	}
	if _, err := newWorld(t).UpdateSandbox("nope", SandboxPatch{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown sandbox: %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	var got []string
	w.Subscribe(func(id string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, id)
	})
	_, _ = w.CreateSandbox(SandboxSpec{ID: "new-one"})
	_, _ = w.UpdateSandbox("demo-private", SandboxPatch{Public: ptr(true)})
	_ = w.DeleteSandbox("demo-r2")
	_, _ = w.UpdateSandbox("missing", SandboxPatch{}) // no notification
	want := []string{"new-one", "demo-private", "demo-r2"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("notified %v, want %v", got, want)
	}
	if err := w.DeleteSandbox("demo-r2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestSignedTokens(t *testing.T) {
	w := newWorld(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return now }
	tok := w.MintSignedToken("demo-private", 3000, 60*time.Second)
	if !regexp.MustCompile(`^[0-9a-z]{16}$`).MatchString(tok) {
		t.Fatalf("token %q is not 16 [0-9a-z]", tok)
	}
	if id, ok := w.ResolveSignedToken(tok, 3000); !ok || id != "demo-private" {
		t.Errorf("resolve: %q %v", id, ok)
	}
	if _, ok := w.ResolveSignedToken(tok, 3001); ok {
		t.Error("token is not port-scoped")
	}
	now = now.Add(60 * time.Second)
	if _, ok := w.ResolveSignedToken(tok, 3000); ok {
		t.Error("expired token still valid")
	}
	tok2 := w.MintSignedToken("demo-private", 8080, time.Hour)
	w.ExpireSignedToken(tok2, 8080)
	if _, ok := w.ResolveSignedToken(tok2, 8080); ok {
		t.Error("expired-by-call token still valid")
	}
	tok3 := w.MintSignedToken("demo-r2", 80, time.Hour)
	_ = w.DeleteSandbox("demo-r2")
	if _, ok := w.ResolveSignedToken(tok3, 80); ok {
		t.Error("token of a deleted sandbox still valid")
	}
}

func TestAddUserConflicts(t *testing.T) {
	tests := []struct {
		name string
		user User
		want error
	}{
		{"ok", User{Name: "carol", APIKeys: []string{"carol-key", "carol-jwt"}}, nil},
		{"duplicate name", User{Name: "alice", APIKeys: []string{"x"}}, ErrExists},
		{"another user's key", User{Name: "carol", APIKeys: []string{"bob-api-key"}}, ErrExists},
		{"a runner's key", User{Name: "carol", APIKeys: []string{"k1"}}, ErrExists},
		{"repeated key", User{Name: "carol", APIKeys: []string{"a", "a"}}, ErrExists},
		{"no key", User{Name: "carol"}, ErrInvalid},
		{"bad name", User{Name: "Carol!", APIKeys: []string{"c"}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			err := w.AddUser(tt.user)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range tt.user.APIKeys {
					if u, ok := w.UserByKey(k); !ok || u.Name != tt.user.Name {
						t.Errorf("key %q not mapped", k)
					}
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoadSeed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(good, []byte(`{"users":[{"name":"carol","apiKeys":["c1","c2"]}],
		"sandboxes":[{"id":"s1","runner":"r2","public":true,"users":["carol"]}]}`), 0o600)
	_ = os.WriteFile(bad, []byte(`{"users":[],"sandboxs":[]}`), 0o600)

	seed, err := LoadSeed(good)
	if err != nil {
		t.Fatal(err)
	}
	w := New()
	_ = w.AddRunner(Runner{ID: r2ID, Name: "r2", APIKey: "k2"})
	if err := w.Apply(seed); err != nil {
		t.Fatal(err)
	}
	if s, ok := w.Sandbox("s1"); !ok || s.RunnerID != r2ID || !s.Public || !w.HasAccess("s1", "carol") {
		t.Errorf("seeded sandbox: %+v", s)
	}
	if _, err := LoadSeed(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sandboxs") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := LoadSeed(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A seed whose sandboxes and snapshots need runners that do not exist
	// reports each one.
	err = New().Apply(DefaultSeed())
	if err == nil || strings.Count(err.Error(), "not found") != 5 {
		t.Errorf("apply without runners: %v", err)
	}
}

func TestRequestsAreCountedPerRunner(t *testing.T) {
	w := New()
	if got := w.Requests("r1"); got != 0 {
		t.Fatalf("unseen runner: %d requests, want 0", got)
	}
	w.CountRequest("r1")
	w.CountRequest("r1")
	w.CountRequest("r2")
	if got := w.Requests("r1"); got != 2 {
		t.Errorf("r1: %d requests, want 2", got)
	}
	if got := w.Requests("r2"); got != 1 {
		t.Errorf("r2: %d requests, want 1", got)
	}
}

// An archived sandbox has no runner, as in Daytona (runnerId null: GET
// /runners/by-sandbox answers 404); started again, it gets the first
// runner, unless the same patch names one ("" keeps it without).
func TestArchivedSandboxesHaveNoRunner(t *testing.T) {
	w := newWorld(t)
	sb, err := w.CreateSandbox(SandboxSpec{ID: "arch", Runner: "r2", State: StateArchived})
	if err != nil || sb.RunnerID != "" {
		t.Fatalf("created archived: runner %q, %v", sb.RunnerID, err)
	}
	started := StateStarted
	if sb, _ = w.UpdateSandbox("arch", SandboxPatch{State: &started}); sb.RunnerID == "" {
		t.Fatal("started again without a runner")
	}
	archived := StateArchived
	if sb, _ = w.UpdateSandbox("arch", SandboxPatch{State: &archived}); sb.RunnerID != "" {
		t.Fatalf("archived with runner %q", sb.RunnerID)
	}
	none := ""
	if sb, _ = w.UpdateSandbox("arch", SandboxPatch{State: &started, Runner: &none}); sb.RunnerID != "" {
		t.Fatalf("started with Runner \"\": runner %q", sb.RunnerID)
	}
}
