package world

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Seed is the initial content of a world. Runners are not part of it: they
// need listeners and come from the simulator's configuration; sandboxes refer
// to them by name (or id).
type Seed struct {
	Users     []UserSpec    `json:"users"`
	Sandboxes []SandboxSpec `json:"sandboxes"`
	Snapshots []Snapshot    `json:"snapshots,omitempty"`
}

// UserSpec describes a user in a seed: apiKey and apiKeys are merged.
type UserSpec struct {
	Name    string   `json:"name"`
	APIKey  string   `json:"apiKey,omitempty"`
	APIKeys []string `json:"apiKeys,omitempty"`
}

// User converts the spec.
func (u UserSpec) User() User {
	keys := u.APIKeys
	if u.APIKey != "" {
		keys = append([]string{u.APIKey}, keys...)
	}
	return User{Name: u.Name, APIKeys: keys}
}

// Preview tokens of the default seed.
const (
	DemoPublicToken  = "demopreviewtoken0000000000000000"
	DemoPrivateToken = "demopreviewtoken0000000000000001"
	DemoR2Token      = "demopreviewtoken0000000000000002"
	DemoStoppedToken = "demopreviewtoken0000000000000003"
)

// DefaultSeed is the demo world: it expects runners named r1 and r2.
func DefaultSeed() Seed {
	all := []string{"alice"}
	return Seed{
		Users: []UserSpec{
			{Name: "alice", APIKey: "alice-api-key"},
			{Name: "bob", APIKey: "bob-api-key"},
		},
		Sandboxes: []SandboxSpec{
			{ID: "demo-public", Runner: "r1", Public: true, PreviewToken: DemoPublicToken, State: StateStarted, Users: all},
			{ID: "demo-private", Runner: "r1", PreviewToken: DemoPrivateToken, State: StateStarted, Users: all, BuildRef: DemoBuildRef},
			{ID: "demo-r2", Runner: "r2", PreviewToken: DemoR2Token, State: StateStarted, Users: all},
			{ID: "demo-stopped", Runner: "r1", PreviewToken: DemoStoppedToken, State: StateStopped, Users: all},
		},
		Snapshots: []Snapshot{{ID: DemoSnapshot, Ref: DemoBuildRef, RunnerID: "r1", Users: all}},
	}
}

// The default seed's build: demo-private was built from a declarative
// image, which is also the snapshot DemoSnapshot.
const (
	DemoSnapshot = "demo-snapshot"
	DemoBuildRef = "registry.sim:5000/daytona/demo-build:1.0"
)

// LoadSeed reads a JSON seed file; unknown fields are an error.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("read seed: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("%w: seed %s: %w", ErrInvalid, path, err)
	}
	return s, nil
}

// Apply adds the seed's users, then its sandboxes, and reports every problem.
func (w *World) Apply(s Seed) error {
	var errs []error
	for _, u := range s.Users {
		if err := w.AddUser(u.User()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sb := range s.Sandboxes {
		if sb.ID == "" {
			errs = append(errs, fmt.Errorf("%w: a seed sandbox has no id", ErrInvalid))
			continue
		}
		if _, err := w.CreateSandbox(sb); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sn := range s.Snapshots {
		if err := w.AddSnapshot(sn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
