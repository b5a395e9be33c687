package bench

import "testing"

// Ratios are taken round by round against bare Traefik, then the median:
// a round where the whole machine was slow does not skew them.
func TestRatiosAreMediansOfPerRoundRatios(t *testing.T) {
	r := &Report{}
	results := map[string][]Result{
		ScBare:   {{RPS: 1000, P99ms: 10}, {RPS: 500, P99ms: 20}, {RPS: 1000, P99ms: 10}},
		ScPublic: {{RPS: 800, P99ms: 12}, {RPS: 400, P99ms: 24}, {RPS: 800, P99ms: 12}},
	}
	r.addScenarios([]Scenario{{Name: ScBare}, {Name: ScPublic}}, results)
	s := r.Scenario(ScPublic)
	if s.RatioRPS != 0.8 || s.RatioP99 != 1.2 || s.RPS != 800 {
		t.Errorf("ratio %.3f, p99 ratio %.3f, rps %.0f; want 0.8, 1.2, 800", s.RatioRPS, s.RatioP99, s.RPS)
	}
}

func TestBudgets(t *testing.T) {
	good := &Report{
		Scenarios: []ScenarioReport{
			{Scenario: Scenario{Name: ScPublic}, RatioRPS: 0.8, RatioP99: 1.2},
			{Scenario: Scenario{Name: ScToken}, RatioRPS: 0.8, RatioP99: 1.2},
			{Scenario: Scenario{Name: ScCookie}, RatioRPS: 0.76, RatioP99: 1.3},
			{Scenario: Scenario{Name: ScNoCache}, RatioRPS: 0.5},
		},
		Cold:      Cold{Requests: 10, Statuses: map[string]int{"200": 10}, APICalls: map[string]int64{"a": 1, "b": 1}},
		WebSocket: Stream{Gateway: Latency{P50us: 105}, Bare: Latency{P50us: 100}},
		Scale:     Scale{PluginCacheEntries: 10050, PluginCacheLimit: 10000},
	}
	if miss := DefaultBudgets.Check(good); len(miss) != 0 {
		t.Errorf("a good report misses %v", miss)
	}
	bad := *good
	bad.Scenarios = append([]ScenarioReport(nil), good.Scenarios...)
	bad.Scenarios[2].RatioRPS = 0.7
	bad.Cold.APICalls = map[string]int64{"a": 2}
	bad.WebSocket.Gateway.P50us = 120
	if miss := DefaultBudgets.Check(&bad); len(miss) != 3 {
		t.Errorf("want 3 misses, got %v", miss)
	}
}
