package api

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Fault modes.
const (
	FaultError   = "error"   // answer Status (default 500) with the API's JSON error body
	FaultHang    = "hang"    // never answer (until the client gives up or the faults are cleared)
	FaultLatency = "latency" // wait LatencyMs, then answer normally
	FaultReset   = "reset"   // close the connection without an answer
)

// ErrInvalidFault is wrapped by every fault validation error.
var ErrInvalidFault = errors.New("invalid fault")

// Fault makes API calls misbehave (POST /_sim/api-fault). A call is hit by
// the first fault, in creation order, whose filters match and that has calls
// left.
type Fault struct {
	ID        int    `json:"id"`
	Mode      string `json:"mode"`
	Status    int    `json:"status,omitempty"`
	LatencyMs int    `json:"latencyMs,omitempty"`
	// Count is how many calls the fault hits; 0 means every call until cleared.
	Count int `json:"count"`
	// Endpoint, if set, restricts the fault to one endpoint name
	// (e.g. "GET /preview/{id}/public", see GET /_sim/calls).
	Endpoint string `json:"endpoint,omitempty"`
	// Sandbox, if set, restricts the fault to calls whose first path
	// parameter is this value.
	Sandbox string `json:"sandbox,omitempty"`
	// Hits is how many calls the fault has hit so far (output only).
	Hits int `json:"hits"`
}

func (f *Fault) normalize() error {
	var errs []error
	switch f.Mode {
	case FaultError:
		if f.Status == 0 {
			f.Status = 500
		}
		if f.Status < 200 || f.Status > 599 {
			errs = append(errs, fmt.Errorf("%w: status %d is not in 200..599", ErrInvalidFault, f.Status))
		}
	case FaultLatency:
		if f.LatencyMs <= 0 {
			errs = append(errs, fmt.Errorf("%w: latency mode needs latencyMs > 0", ErrInvalidFault))
		}
	case FaultHang, FaultReset:
	default:
		errs = append(errs, fmt.Errorf("%w: mode %q is not error, hang, latency or reset", ErrInvalidFault, f.Mode))
	}
	if f.Mode != FaultError && f.Status != 0 {
		errs = append(errs, fmt.Errorf("%w: status is only for error mode", ErrInvalidFault))
	}
	if f.Mode != FaultLatency && f.LatencyMs != 0 {
		errs = append(errs, fmt.Errorf("%w: latencyMs is only for latency mode", ErrInvalidFault))
	}
	if f.Count < 0 {
		errs = append(errs, fmt.Errorf("%w: count %d is negative", ErrInvalidFault, f.Count))
	}
	if f.Endpoint != "" && !isEndpoint(f.Endpoint) {
		errs = append(errs, fmt.Errorf("%w: endpoint %q is not one of %q", ErrInvalidFault, f.Endpoint, Endpoints()))
	}
	f.Hits = 0
	return errors.Join(errs...)
}

func (f *Fault) matches(endpoint, sandbox string) bool {
	return (f.Count == 0 || f.Hits < f.Count) &&
		(f.Endpoint == "" || f.Endpoint == endpoint) &&
		(f.Sandbox == "" || f.Sandbox == sandbox)
}

// faults holds the fault rules; safe for concurrent use.
type faults struct {
	mu      sync.Mutex
	nextID  int
	rules   []*Fault
	cleared chan struct{} // closed (and replaced) by clear: releases hung calls
}

func newFaults() *faults { return &faults{cleared: make(chan struct{})} }

func (fs *faults) add(f Fault) (Fault, error) {
	if err := f.normalize(); err != nil {
		return Fault{}, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	f.ID = fs.nextID
	fs.rules = append(fs.rules, &f)
	return f, nil
}

// take returns the fault that hits this call (counting the hit) and the
// channel that is closed when the faults are cleared.
func (fs *faults) take(endpoint, sandbox string) (Fault, <-chan struct{}, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.rules {
		if f.matches(endpoint, sandbox) {
			f.Hits++
			return *f, fs.cleared, true
		}
	}
	return Fault{}, nil, false
}

func (fs *faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, f := range fs.rules {
		out = append(out, *f)
	}
	return out
}

// clear removes every fault and releases hung calls.
func (fs *faults) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = slices.Delete(fs.rules, 0, len(fs.rules))
	close(fs.cleared)
	fs.cleared = make(chan struct{})
}

func (f Fault) latency() time.Duration { return time.Duration(f.LatencyMs) * time.Millisecond }
