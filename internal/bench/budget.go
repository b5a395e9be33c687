package bench

import "fmt"

// Budgets are the hot-path targets that `make bench-check` enforces.
type Budgets struct {
	// CacheHitRPS: a cache hit keeps at least this share of bare Traefik's
	// req/s, with p99 at most CacheHitP99 times bare Traefik's.
	CacheHitRPS, CacheHitP99 float64
	// CacheOffRPS: with the plugin cache off (a resolver call per request).
	CacheOffRPS float64
	// WebSocketP50: gateway round-trip p50 at most this times bare's.
	WebSocketP50 float64
}

// DefaultBudgets are the budgets.
var DefaultBudgets = Budgets{CacheHitRPS: 0.75, CacheHitP99: 1.5, CacheOffRPS: 0.45, WebSocketP50: 1.10}

// Check returns every budget the report misses (nil: all met).
func (b Budgets) Check(r *Report) []string {
	var miss []string
	for _, name := range []string{ScPublic, ScToken, ScCookie} {
		s := r.Scenario(name)
		switch {
		case s == nil:
			miss = append(miss, name+": not measured")
		case s.RatioRPS < b.CacheHitRPS:
			miss = append(miss, rpsMiss(s, b.CacheHitRPS)+floors(r))
		}
		if s != nil && s.RatioP99 > b.CacheHitP99 {
			miss = append(miss, fmt.Sprintf("%s: p99 %.3fx bare Traefik's, budget <= %.2fx", name, s.RatioP99, b.CacheHitP99))
		}
		if s != nil && s.Non2xx+s.Errors > 0 {
			miss = append(miss, fmt.Sprintf("%s: %d non-2xx answers or socket errors", name, s.Non2xx+s.Errors))
		}
	}
	if s := r.Scenario(ScNoCache); s == nil {
		miss = append(miss, ScNoCache+": not measured")
	} else if s.RatioRPS < b.CacheOffRPS {
		miss = append(miss, rpsMiss(s, b.CacheOffRPS))
	}
	if r.Cold.Requests == 0 || len(r.Cold.APICalls) == 0 {
		miss = append(miss, "cold path: not measured")
	}
	for endpoint, n := range r.Cold.APICalls {
		if n != 1 {
			miss = append(miss, fmt.Sprintf("cold path: %d calls to %s for one sandbox, budget exactly 1", n, endpoint))
		}
	}
	if ok := r.Cold.Statuses["200"]; ok != r.Cold.Requests {
		miss = append(miss, fmt.Sprintf("cold path: %d of %d first requests answered 200 (%v)", ok, r.Cold.Requests, r.Cold.Statuses))
	}
	ws := r.WebSocket
	if ws.Bare.P50us <= 0 || ws.Gateway.P50us > b.WebSocketP50*ws.Bare.P50us {
		miss = append(miss, fmt.Sprintf("WebSocket round trip p50 %.0f µs, bare Traefik %.0f µs, budget <= %.2fx", ws.Gateway.P50us, ws.Bare.P50us, b.WebSocketP50))
	}
	// The bound holds but for the stores in flight (in the map, not yet counted).
	if lim := r.Scale.PluginCacheLimit; lim > 0 && r.Scale.PluginCacheEntries > lim+lim/100 {
		miss = append(miss, fmt.Sprintf("scale: plugin cache %d entries over its bound %d (+1%%)", r.Scale.PluginCacheEntries, lim))
	}
	return miss
}

// rpsMiss says how far s's req/s ratio falls below budget, with the spread
// of its rounds.
func rpsMiss(s *ScenarioReport, budget float64) string {
	return fmt.Sprintf("%s: %.3f of bare Traefik's req/s (rounds %.2f-%.2f), budget >= %.2f", s.Name, s.RatioRPS, s.RatioRPSMin, s.RatioRPSMax, budget)
}

// floors words what the floors measured in the same run, so that a missed
// hit budget reads against the least any Yaegi plugin cost then, and what
// the public hit measured without the child router (routing direct).
func floors(r *Report) string {
	out := ""
	for _, name := range []string{ScDirect, ScRewrite, ScNoop} {
		if s := r.Scenario(name); s != nil {
			out += fmt.Sprintf("; %s %.3f (%.2f-%.2f)", name, s.RatioRPS, s.RatioRPSMin, s.RatioRPSMax)
		}
	}
	return out
}
