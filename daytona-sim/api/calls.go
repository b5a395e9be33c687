package api

import (
	"slices"
	"sync"
	"time"
)

// Calls is a snapshot of the call counters (GET /_sim/calls).
type Calls struct {
	// Total counts every API call, including unmatched ones.
	Total int64 `json:"total"`
	// ByEndpoint counts calls per endpoint name, e.g. "GET /preview/{id}/public".
	ByEndpoint map[string]int64 `json:"byEndpoint"`
	// BySandbox counts calls per endpoint name and first path parameter (the
	// sandbox id; the signed token or runner id for the endpoints that take one).
	BySandbox map[string]map[string]int64 `json:"bySandbox"`
	// Recent lists the last calls, oldest first (at most recentLimit).
	Recent []Call `json:"recent"`
}

// Call is one API call in Calls.Recent. Status is 0 while the call is still
// being answered (e.g. hung by a fault) and when a fault dropped it.
type Call struct {
	Seq      int64  `json:"seq"`
	At       string `json:"at"`
	Endpoint string `json:"endpoint"`
	Sandbox  string `json:"sandbox,omitempty"`
	Status   int    `json:"status"`
	Fault    int    `json:"fault,omitempty"` // id of the fault that hit this call
}

const recentLimit = 1000

// counters counts API calls; safe for concurrent use.
type counters struct {
	mu         sync.Mutex
	total      int64
	byEndpoint map[string]int64
	bySandbox  map[string]map[string]int64
	recent     []Call
}

func newCounters() *counters {
	c := &counters{}
	c.reset()
	return c
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total = 0
	c.byEndpoint = map[string]int64{}
	c.bySandbox = map[string]map[string]int64{}
	c.recent = nil
}

// start counts a call and returns its sequence number.
func (c *counters) start(endpoint, sandbox string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.byEndpoint[endpoint]++
	if sandbox != "" {
		m := c.bySandbox[endpoint]
		if m == nil {
			m = map[string]int64{}
			c.bySandbox[endpoint] = m
		}
		m[sandbox]++
	}
	c.recent = append(c.recent, Call{Seq: c.total, At: isoTime(time.Now()), Endpoint: endpoint, Sandbox: sandbox})
	if len(c.recent) > recentLimit {
		c.recent = slices.Delete(c.recent, 0, len(c.recent)-recentLimit)
	}
	return c.total
}

// finish records the status (and fault) of call seq if it is still listed.
func (c *counters) finish(seq int64, status, fault int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.recent) - 1; i >= 0; i-- {
		if c.recent[i].Seq == seq {
			c.recent[i].Status = status
			c.recent[i].Fault = fault
			return
		}
		if c.recent[i].Seq < seq {
			return
		}
	}
}

func (c *counters) snapshot() Calls {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Calls{
		Total:      c.total,
		ByEndpoint: make(map[string]int64, len(c.byEndpoint)),
		BySandbox:  make(map[string]map[string]int64, len(c.bySandbox)),
		Recent:     slices.Clone(c.recent),
	}
	for k, v := range c.byEndpoint {
		out.ByEndpoint[k] = v
	}
	for k, m := range c.bySandbox {
		cp := make(map[string]int64, len(m))
		for s, v := range m {
			cp[s] = v
		}
		out.BySandbox[k] = cp
	}
	if out.Recent == nil {
		out.Recent = []Call{}
	}
	return out
}
