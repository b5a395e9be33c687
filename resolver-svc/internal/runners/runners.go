// Package runners keeps the runners the resolver knows (learned from
// runner lookups, plus optional static ones) and renders them as a Traefik
// dynamic configuration for Traefik's HTTP provider: per runner, a child
// router of the previewgate router (multi-layer routing, parentRefs) that
// matches the runner's token in the Connection header the plugin sets
// (plugin.RunnerToken), and a service whose server is the runner's proxy
// URL.
//
// Traefik learns a new runner only at its next poll, so the registry
// remembers which runners it has served in a configuration body; Ready
// tells the decision whether a request may be routed to a runner yet.
package runners

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// MaxIDLength bounds a runner id (Daytona's are UUIDs).
const MaxIDLength = 128

// Errors returned by Learn and New.
var (
	ErrBadID  = errors.New("runners: runner id must be 1-128 characters of [A-Za-z0-9-]")
	ErrBadURL = errors.New("runners: runner URL must be an absolute http(s) URL without query, fragment or user info")
	ErrFull   = errors.New("runners: too many runners")
	// ErrIDCase: the child routers tell runners apart by a Connection
	// token in the canonical case of a header name
	// (plugin.RunnerConnectionToken), which two such ids would share.
	ErrIDCase = errors.New("runners: runner id differs only in case from a known runner's")
)

// Config configures the registry.
type Config struct {
	// ParentRouter is the fully qualified name of the router that runs the
	// plugin, e.g. "previewgate@file" (PREVIEWGATE_PARENT_ROUTER).
	ParentRouter string
	// Static runners, id → URL (PREVIEWGATE_STATIC_RUNNERS).
	Static map[string]string
	// ApplyDelay is how long after Traefik fetched a configuration a runner
	// in it is taken as routable: Traefik needs a moment to apply it.
	ApplyDelay time.Duration
	// MaxRunners bounds the learned runners. Default 10000.
	MaxRunners int
}

// Registry is the set of known runners. It is safe for concurrent use.
type Registry struct {
	parent     string
	applyDelay time.Duration
	max        int

	mu      sync.RWMutex
	runners map[string]*entry
	tokens  map[string]string // plugin.RunnerConnectionToken(id) -> id
	version uint64            // bumped on every change
	served  []servedAt
}

type entry struct {
	url     string
	version uint64 // registry version when url was set
	static  bool
}

// servedAt records that a configuration of a registry version was fetched.
type servedAt struct {
	version uint64
	at      time.Time
}

// New validates cfg and returns a registry holding the static runners.
func New(cfg Config) (*Registry, error) {
	var problems []error
	if cfg.ParentRouter == "" || strings.ContainsAny(cfg.ParentRouter, "`\"' \t\r\n") {
		problems = append(problems, fmt.Errorf("runners: parent router %q is not a router name", cfg.ParentRouter))
	}
	r := &Registry{
		parent:     cfg.ParentRouter,
		applyDelay: cfg.ApplyDelay,
		max:        cfg.MaxRunners,
		runners:    map[string]*entry{},
		tokens:     map[string]string{},
	}
	if r.max <= 0 {
		r.max = 10000
	}
	for id, u := range cfg.Static {
		if err := check(id, u); err != nil {
			problems = append(problems, fmt.Errorf("static runner %q: %w", id, err))
			continue
		}
		tok := plugin.RunnerConnectionToken(id)
		if other, ok := r.tokens[tok]; ok {
			// Map order: name the two ids in a stable order.
			a, b := min(id, other), max(id, other)
			problems = append(problems, fmt.Errorf("static runners %q and %q: %w", a, b, ErrIDCase))
			continue
		}
		r.version++
		r.runners[id] = &entry{url: normalizeURL(u), version: r.version, static: true}
		r.tokens[tok] = id
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return r, nil
}

// ValidID reports whether id may go into a router rule and a name.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidURL reports whether u may be a Traefik server URL.
func ValidURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" &&
		p.User == nil && p.RawQuery == "" && p.Fragment == "" && !p.ForceQuery &&
		!strings.ContainsAny(u, "`\"\\ \t\r\n")
}

func check(id, u string) error {
	if !ValidID(id) {
		return ErrBadID
	}
	if !ValidURL(u) {
		return ErrBadURL
	}
	return nil
}

func normalizeURL(u string) string { return strings.TrimRight(u, "/") }

// Learn records a runner seen in a lookup. A static runner keeps its URL.
func (r *Registry) Learn(id, u string) error {
	if err := check(id, u); err != nil {
		return fmt.Errorf("runner %q: %w", sanitize(id), err)
	}
	u = normalizeURL(u)
	r.mu.RLock()
	e, ok := r.runners[id]
	same := ok && (e.url == u || e.static)
	r.mu.RUnlock()
	if same {
		return nil
	}

	tok := plugin.RunnerConnectionToken(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.runners[id]; ok {
		if e.url == u || e.static {
			return nil
		}
	} else if len(r.runners) >= r.max {
		return ErrFull
	} else if other, ok := r.tokens[tok]; ok {
		return fmt.Errorf("runner %q (known: %q): %w", id, other, ErrIDCase)
	}
	r.version++
	r.runners[id] = &entry{url: u, version: r.version}
	r.tokens[tok] = id
	return nil
}

// Ready reports whether Traefik fetched, at least ApplyDelay ago, a
// configuration in which the runner has its current URL.
func (r *Registry) Ready(id string) bool {
	now := time.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.runners[id]
	if !ok {
		return false
	}
	for i := len(r.served) - 1; i >= 0; i-- {
		s := r.served[i]
		if s.version >= e.version && now.Sub(s.at) >= r.applyDelay {
			return true
		}
	}
	return false
}

// Len returns the number of known runners.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.runners)
}

// MarkServed records that Traefik received the configuration of version.
func (r *Registry) MarkServed(version uint64) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// Keep the fetch times of recent versions only: the newest fetch that
	// is at least ApplyDelay old, and the younger ones.
	r.served = append(r.served, servedAt{version: version, at: now})
	keep := 0
	for i := len(r.served) - 1; i >= 0; i-- {
		if now.Sub(r.served[i].at) >= r.applyDelay {
			keep = i
			break
		}
	}
	r.served = append(r.served[:0], r.served[keep:]...)
}

// sanitize makes an id safe to show in an error.
func sanitize(id string) string {
	if len(id) > MaxIDLength {
		id = id[:MaxIDLength]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return '?'
		}
		return c
	}, id)
}

var _ decide.Runners = (*Registry)(nil)
