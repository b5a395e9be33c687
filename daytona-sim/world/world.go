// Package world holds the simulator's in-memory state: runners, users,
// sandboxes and signed preview tokens. It is safe for concurrent use. It knows
// nothing about HTTP.
package world

import (
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// State is a sandbox's lifecycle state as the simulator models it.
type State string

// The states a sandbox can be in. Only a started sandbox has a container that
// answers; a stopped one makes the runner answer 400 ("Is the Sandbox
// started?"); an archived one has no container on any runner (404).
const (
	StateStarted  State = "started"
	StateStopped  State = "stopped"
	StateArchived State = "archived"
)

func (s State) valid() bool {
	return s == StateStarted || s == StateStopped || s == StateArchived
}

// Runner is a Daytona runner. URL is its listener's base URL (both apiUrl and
// proxyUrl in the API's RunnerFull); it is set once the listener is up.
type Runner struct {
	ID     string
	Name   string
	APIKey string
	URL    string
}

// User is a Daytona user; any of its API keys authenticates it.
type User struct {
	Name    string
	APIKeys []string
}

// Sandbox is a Daytona sandbox. Users lists the users that have access (in
// Daytona: members of the sandbox's organization). RunnerID is empty for a
// sandbox that has no runner (e.g. archived).
type Sandbox struct {
	ID             string
	RunnerID       string
	Public         bool
	PreviewToken   string
	State          State
	Users          []string
	CreatedAt      time.Time
	LastActivityAt time.Time // zero until the first activity update
	// BuildRef is buildInfo.snapshotRef: the sandbox was built from a
	// declarative image, and its runner keeps the build's logs under it.
	BuildRef string
}

// Snapshot is a Daytona snapshot (GET /snapshots/{id}): Ref names the image
// and the build's logs on its initial runner. Users may read it (in
// Daytona: members of its organization).
type Snapshot struct {
	ID       string   `json:"id"`
	Ref      string   `json:"ref"`
	RunnerID string   `json:"runner"`
	Users    []string `json:"users"`
}

// SandboxSpec describes a sandbox to create. Empty ID: a random UUID; empty
// PreviewToken: a random Daytona-style token; empty State: started. Runner is
// a runner name or id; empty means the first runner (by name).
type SandboxSpec struct {
	ID           string   `json:"id"`
	Runner       string   `json:"runner"`
	Public       bool     `json:"public"`
	PreviewToken string   `json:"previewToken"`
	State        State    `json:"state"`
	Users        []string `json:"users"`
	BuildRef     string   `json:"buildRef,omitempty"`
}

// SandboxPatch changes a sandbox; nil fields are left alone. Runner "" clears
// the sandbox's runner. RotateToken sets a new random preview token.
type SandboxPatch struct {
	Public       *bool     `json:"public"`
	State        *State    `json:"state"`
	Runner       *string   `json:"runner"`
	PreviewToken *string   `json:"previewToken"`
	RotateToken  bool      `json:"rotateToken"`
	Users        *[]string `json:"users"`
}

// idPattern is what the simulator accepts as a sandbox id: lower-case
// letters, digits and dashes (UUIDs included), at most one DNS label long.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// tokenPattern is what the simulator accepts as a preview token: Daytona
// mints nanoid(32) lower-cased, alphabet [0-9a-z_-].
var tokenPattern = regexp.MustCompile(`^[0-9a-z_-]{1,128}$`)

type signedKey struct {
	token string
	port  int
}

type signedToken struct {
	sandboxID string
	expires   time.Time
}

// World is the simulator's state.
type World struct {
	mu        sync.RWMutex
	runners   map[string]Runner // by id
	users     map[string]User   // by name
	keys      map[string]string // api key -> user name
	sandboxes map[string]Sandbox
	snapshots map[string]Snapshot
	signed    map[signedKey]signedToken
	subs      []func(sandboxID string)
	now       func() time.Time
	// requests counts the HTTP requests each runner received (runner id →
	// *atomic.Int64), so that tests can tell that nothing was forwarded.
	requests sync.Map
}

// New returns an empty world.
func New() *World {
	return &World{
		runners:   map[string]Runner{},
		users:     map[string]User{},
		keys:      map[string]string{},
		sandboxes: map[string]Sandbox{},
		snapshots: map[string]Snapshot{},
		signed:    map[signedKey]signedToken{},
		now:       time.Now,
	}
}

// Subscribe registers fn to be called (outside the world's lock) with the id
// of every sandbox that changed or was deleted.
func (w *World) Subscribe(fn func(sandboxID string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, fn)
}

func (w *World) notify(id string) {
	w.mu.RLock()
	subs := slices.Clone(w.subs)
	w.mu.RUnlock()
	for _, fn := range subs {
		fn(id)
	}
}

// AddRunner adds a runner. Ids, names and API keys must be unique.
func (w *World) AddRunner(r Runner) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	if r.ID == "" || r.Name == "" || r.APIKey == "" {
		errs = append(errs, fmt.Errorf("%w: runner needs an id, a name and an api key", ErrInvalid))
	}
	for _, o := range w.runners {
		switch {
		case o.ID == r.ID:
			errs = append(errs, fmt.Errorf("runner id %q: %w", r.ID, ErrExists))
		case o.Name == r.Name:
			errs = append(errs, fmt.Errorf("runner name %q: %w", r.Name, ErrExists))
		case o.APIKey == r.APIKey:
			errs = append(errs, fmt.Errorf("runner %q api key: %w", r.Name, ErrExists))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w.runners[r.ID] = r
	return nil
}

// SetRunnerURL records the runner's base URL once its listener is up.
func (w *World) SetRunnerURL(id, url string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.runners[id]
	if !ok {
		return fmt.Errorf("runner %q: %w", id, ErrNotFound)
	}
	r.URL = url
	w.runners[id] = r
	return nil
}

// Runner returns the runner with that id.
func (w *World) Runner(id string) (Runner, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	r, ok := w.runners[id]
	return r, ok
}

// CountRequest records one HTTP request received by the runner.
func (w *World) CountRequest(runnerID string) {
	c, ok := w.requests.Load(runnerID)
	if !ok {
		c, _ = w.requests.LoadOrStore(runnerID, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// Requests returns the number of HTTP requests the runner received.
func (w *World) Requests(runnerID string) int64 {
	if c, ok := w.requests.Load(runnerID); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// Runners returns every runner, sorted by name.
func (w *World) Runners() []Runner {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Runner, 0, len(w.runners))
	for _, r := range w.runners {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// runnerByRef finds a runner by id or name. The caller holds the lock.
func (w *World) runnerByRef(ref string) (Runner, bool) {
	if r, ok := w.runners[ref]; ok {
		return r, true
	}
	for _, r := range w.runners {
		if r.Name == ref {
			return r, true
		}
	}
	return Runner{}, false
}

// firstRunner returns the runner with the smallest name. The caller holds the lock.
func (w *World) firstRunner() (Runner, bool) {
	var best Runner
	for _, r := range w.runners {
		if best.ID == "" || r.Name < best.Name {
			best = r
		}
	}
	return best, best.ID != ""
}

// AddUser adds a user. Names and API keys must be unique (also against the
// runners' keys, since the API tells them apart by key).
func (w *World) AddUser(u User) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	if !idPattern.MatchString(u.Name) {
		errs = append(errs, fmt.Errorf("%w: user name %q must match %s", ErrInvalid, u.Name, idPattern))
	}
	if len(u.APIKeys) == 0 {
		errs = append(errs, fmt.Errorf("%w: user %q needs at least one api key", ErrInvalid, u.Name))
	}
	if _, ok := w.users[u.Name]; ok {
		errs = append(errs, fmt.Errorf("user %q: %w", u.Name, ErrExists))
	}
	for i, k := range u.APIKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("%w: user %q has an empty api key", ErrInvalid, u.Name))
			continue
		}
		_, taken := w.keys[k]
		if taken || slices.Contains(u.APIKeys[:i], k) || w.isRunnerKey(k) {
			errs = append(errs, fmt.Errorf("user %q api key #%d: %w", u.Name, i+1, ErrExists))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	u.APIKeys = slices.Clone(u.APIKeys)
	w.users[u.Name] = u
	for _, k := range u.APIKeys {
		w.keys[k] = u.Name
	}
	return nil
}

func (w *World) isRunnerKey(k string) bool {
	for _, r := range w.runners {
		if r.APIKey == k {
			return true
		}
	}
	return false
}

// UserByKey returns the user owning that API key.
func (w *World) UserByKey(key string) (User, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	name, ok := w.keys[key]
	if !ok {
		return User{}, false
	}
	return w.users[name], true
}

// IsRunnerKey reports whether key is a runner's API key.
func (w *World) IsRunnerKey(key string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.isRunnerKey(key)
}

// Users returns every user, sorted by name.
func (w *World) Users() []User {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]User, 0, len(w.users))
	for _, u := range w.users {
		u.APIKeys = slices.Clone(u.APIKeys)
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateSandbox creates a sandbox from spec and returns it.
func (w *World) CreateSandbox(spec SandboxSpec) (Sandbox, error) {
	w.mu.Lock()
	s, err := w.createLocked(spec)
	w.mu.Unlock()
	if err != nil {
		return Sandbox{}, err
	}
	w.notify(s.ID)
	return s, nil
}

func (w *World) createLocked(spec SandboxSpec) (Sandbox, error) {
	s := Sandbox{
		ID:           spec.ID,
		Public:       spec.Public,
		PreviewToken: spec.PreviewToken,
		State:        spec.State,
		Users:        slices.Clone(spec.Users),
		CreatedAt:    w.now().UTC(),
		BuildRef:     spec.BuildRef,
	}
	if s.ID == "" {
		s.ID = NewUUID()
	}
	if s.PreviewToken == "" {
		s.PreviewToken = NewPreviewToken()
	}
	if s.State == "" {
		s.State = StateStarted
	}
	var errs []error
	if !idPattern.MatchString(s.ID) {
		errs = append(errs, fmt.Errorf("%w: sandbox id %q must match %s", ErrInvalid, s.ID, idPattern))
	} else if _, ok := w.sandboxes[s.ID]; ok {
		errs = append(errs, fmt.Errorf("sandbox %q: %w", s.ID, ErrExists))
	}
	if spec.Runner == "" {
		if r, ok := w.firstRunner(); ok {
			s.RunnerID = r.ID
		}
	} else if r, ok := w.runnerByRef(spec.Runner); ok {
		s.RunnerID = r.ID
	} else {
		errs = append(errs, fmt.Errorf("sandbox %q: runner %q: %w", s.ID, spec.Runner, ErrNotFound))
	}
	w.placeLocked(&s, true)
	errs = append(errs, w.checkLocked(s)...)
	if len(errs) > 0 {
		return Sandbox{}, errors.Join(errs...)
	}
	w.sandboxes[s.ID] = s
	return s, nil
}

// placeLocked keeps the API's rule on a sandbox's runner: an archived
// sandbox has none (Daytona sets runnerId to null, so GET
// /runners/by-sandbox answers 404); one started or stopped again gets the
// first runner unless keep (the patch named its runner, "" included).
func (w *World) placeLocked(s *Sandbox, keep bool) {
	if s.State == StateArchived {
		s.RunnerID = ""
		return
	}
	if s.RunnerID == "" && !keep {
		if r, ok := w.firstRunner(); ok {
			s.RunnerID = r.ID
		}
	}
}

// checkLocked validates the fields a patch can change.
func (w *World) checkLocked(s Sandbox) []error {
	var errs []error
	if !s.State.valid() {
		errs = append(errs, fmt.Errorf("%w: sandbox %q: state %q is not started, stopped or archived", ErrInvalid, s.ID, s.State))
	}
	if !tokenPattern.MatchString(s.PreviewToken) {
		errs = append(errs, fmt.Errorf("%w: sandbox %q: preview token must match %s", ErrInvalid, s.ID, tokenPattern))
	}
	for _, u := range s.Users {
		if _, ok := w.users[u]; !ok {
			errs = append(errs, fmt.Errorf("sandbox %q: user %q: %w", s.ID, u, ErrNotFound))
		}
	}
	return errs
}

// UpdateSandbox applies p to the sandbox and returns the result.
func (w *World) UpdateSandbox(id string, p SandboxPatch) (Sandbox, error) {
	w.mu.Lock()
	s, err := w.updateLocked(id, p)
	w.mu.Unlock()
	if err != nil {
		return Sandbox{}, err
	}
	w.notify(id)
	return s, nil
}

func (w *World) updateLocked(id string, p SandboxPatch) (Sandbox, error) {
	s, ok := w.sandboxes[id]
	if !ok {
		return Sandbox{}, fmt.Errorf("sandbox %q: %w", id, ErrNotFound)
	}
	var errs []error
	if p.Public != nil {
		s.Public = *p.Public
	}
	if p.State != nil {
		s.State = *p.State
	}
	if p.Runner != nil {
		switch r, ok := w.runnerByRef(*p.Runner); {
		case *p.Runner == "":
			s.RunnerID = ""
		case ok:
			s.RunnerID = r.ID
		default:
			errs = append(errs, fmt.Errorf("sandbox %q: runner %q: %w", id, *p.Runner, ErrNotFound))
		}
	}
	if p.PreviewToken != nil && p.RotateToken {
		errs = append(errs, fmt.Errorf("%w: previewToken and rotateToken are exclusive", ErrInvalid))
	}
	if p.PreviewToken != nil {
		s.PreviewToken = *p.PreviewToken
	}
	if p.RotateToken {
		s.PreviewToken = NewPreviewToken()
	}
	if p.Users != nil {
		s.Users = slices.Clone(*p.Users)
	}
	if p.State != nil || p.Runner != nil {
		w.placeLocked(&s, p.Runner != nil)
	}
	errs = append(errs, w.checkLocked(s)...)
	if len(errs) > 0 {
		return Sandbox{}, errors.Join(errs...)
	}
	w.sandboxes[id] = s
	return s, nil
}

// DeleteSandbox removes a sandbox and its signed tokens.
func (w *World) DeleteSandbox(id string) error {
	w.mu.Lock()
	_, ok := w.sandboxes[id]
	if ok {
		delete(w.sandboxes, id)
		for k, t := range w.signed {
			if t.sandboxID == id {
				delete(w.signed, k)
			}
		}
	}
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("sandbox %q: %w", id, ErrNotFound)
	}
	w.notify(id)
	return nil
}

// Sandbox returns the sandbox with that id.
func (w *World) Sandbox(id string) (Sandbox, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	s, ok := w.sandboxes[id]
	s.Users = slices.Clone(s.Users)
	return s, ok
}

// Sandboxes returns every sandbox, sorted by id.
func (w *World) Sandboxes() []Sandbox {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Sandbox, 0, len(w.sandboxes))
	for _, s := range w.sandboxes {
		s.Users = slices.Clone(s.Users)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AddSnapshot adds a snapshot; its runner is a runner name or id.
func (w *World) AddSnapshot(sn Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	if !idPattern.MatchString(sn.ID) {
		errs = append(errs, fmt.Errorf("%w: snapshot id %q must match %s", ErrInvalid, sn.ID, idPattern))
	} else if _, ok := w.snapshots[sn.ID]; ok {
		errs = append(errs, fmt.Errorf("snapshot %q: %w", sn.ID, ErrExists))
	}
	if sn.Ref == "" {
		errs = append(errs, fmt.Errorf("%w: snapshot %q has no ref", ErrInvalid, sn.ID))
	}
	if r, ok := w.runnerByRef(sn.RunnerID); ok {
		sn.RunnerID = r.ID
	} else {
		errs = append(errs, fmt.Errorf("snapshot %q: runner %q: %w", sn.ID, sn.RunnerID, ErrNotFound))
	}
	for _, u := range sn.Users {
		if _, ok := w.users[u]; !ok {
			errs = append(errs, fmt.Errorf("snapshot %q: user %q: %w", sn.ID, u, ErrNotFound))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	sn.Users = slices.Clone(sn.Users)
	w.snapshots[sn.ID] = sn
	return nil
}

// Snapshot returns a snapshot by id.
func (w *World) Snapshot(id string) (Snapshot, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	sn, ok := w.snapshots[id]
	sn.Users = slices.Clone(sn.Users)
	return sn, ok
}

// BuildOnRunner reports whether a build with this ref ran on the runner: a
// snapshot's initial runner, or a built sandbox's runner.
func (w *World) BuildOnRunner(ref, runnerID string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, sn := range w.snapshots {
		if sn.Ref == ref && sn.RunnerID == runnerID {
			return true
		}
	}
	for _, sb := range w.sandboxes {
		if sb.BuildRef == ref && sb.RunnerID == runnerID {
			return true
		}
	}
	return false
}

// HasAccess reports whether the user may use the sandbox.
func (w *World) HasAccess(sandboxID, user string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	s, ok := w.sandboxes[sandboxID]
	return ok && slices.Contains(s.Users, user)
}

// TouchActivity records an activity update for a known sandbox; unknown ids
// are ignored (the API answers 201 for them too).
func (w *World) TouchActivity(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.sandboxes[id]; ok {
		s.LastActivityAt = w.now().UTC()
		w.sandboxes[id] = s
	}
}

// MintSignedToken creates a signed preview token for (sandbox, port) valid
// for ttl, like the API's getSignedPortPreviewUrl.
func (w *World) MintSignedToken(sandboxID string, port int, ttl time.Duration) string {
	token := randomString(signedAlphabet, 16)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.signed[signedKey{token, port}] = signedToken{sandboxID: sandboxID, expires: w.now().Add(ttl)}
	return token
}

// ResolveSignedToken returns the sandbox id of a valid, unexpired token for
// that port.
func (w *World) ResolveSignedToken(token string, port int) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := signedKey{token, port}
	t, ok := w.signed[k]
	if !ok {
		return "", false
	}
	if !w.now().Before(t.expires) {
		delete(w.signed, k)
		return "", false
	}
	return t.sandboxID, true
}

// ExpireSignedToken deletes a signed token (no error if it does not exist,
// like the API's Redis DEL).
func (w *World) ExpireSignedToken(token string, port int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.signed, signedKey{token, port})
}

const (
	signedAlphabet  = "0123456789abcdefghijklmnopqrstuvwxyz"
	previewAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz_-"
)

// NewPreviewToken returns a token shaped like Daytona's sandbox authToken:
// nanoid(32) lower-cased.
func NewPreviewToken() string { return randomString(previewAlphabet, 32) }

// NewUUID returns a random version 4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		// 256 is not a multiple of 36 or 38: the bias is irrelevant for a simulator.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
