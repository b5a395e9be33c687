package bench

import (
	"strings"
	"testing"
)

// Ratios are taken round by round against bare Traefik, then the median:
// a round where the whole machine was slow does not skew them.
func TestRatiosAreMediansOfPerRoundRatios(t *testing.T) {
	r := &Report{}
	results := map[string][]Result{
		ScBare:   {{RPS: 1000, P99ms: 10}, {RPS: 500, P99ms: 20}, {RPS: 1000, P99ms: 10}},
		ScPublic: {{RPS: 800, P99ms: 12}, {RPS: 400, P99ms: 24}, {RPS: 800, P99ms: 12}},
	}
	r.addScenarios([]Scenario{{Name: ScBare}, {Name: ScPublic}}, results, nil)
	s := r.Scenario(ScPublic)
	if s.RatioRPS != 0.8 || s.RatioP99 != 1.2 || s.RPS != 800 {
		t.Errorf("ratio %.3f, p99 ratio %.3f, rps %.0f; want 0.8, 1.2, 800", s.RatioRPS, s.RatioP99, s.RPS)
	}
}

// With pairs, each run is compared with the bare Traefik run just before it.
func TestRatiosArePairedWithTheBareRunBefore(t *testing.T) {
	r := &Report{}
	results := map[string][]Result{
		ScBare:   {{RPS: 1000, P99ms: 10}, {RPS: 600, P99ms: 10}, {RPS: 1000, P99ms: 10}, {RPS: 600, P99ms: 10}},
		ScPublic: {{RPS: 900, P99ms: 11}, {RPS: 900, P99ms: 11}},
		ScToken:  {{RPS: 300, P99ms: 20}, {RPS: 300, P99ms: 20}},
	}
	paired := map[string][]Result{
		ScPublic: {results[ScBare][0], results[ScBare][2]},
		ScToken:  {results[ScBare][1], results[ScBare][3]},
	}
	r.addScenarios([]Scenario{{Name: ScBare}, {Name: ScPublic}, {Name: ScToken}}, results, paired)
	if p, tk := r.Scenario(ScPublic), r.Scenario(ScToken); p.RatioRPS != 0.9 || tk.RatioRPS != 0.5 || tk.RatioP99 != 2 {
		t.Errorf("ratios %.3f and %.3f (p99 %.2f), want 0.9 and 0.5 (p99 2)", p.RatioRPS, tk.RatioRPS, tk.RatioP99)
	}
}

// The table and a missed budget show how far the rounds' ratios spread.
func TestRatioRangeIsShown(t *testing.T) {
	r := &Report{}
	results := map[string][]Result{
		ScBare:   {{RPS: 1000, P99ms: 10}, {RPS: 1000, P99ms: 10}, {RPS: 1000, P99ms: 10}},
		ScCookie: {{RPS: 600, P99ms: 10}, {RPS: 700, P99ms: 10}, {RPS: 900, P99ms: 10}},
	}
	r.addScenarios([]Scenario{{Name: ScBare}, {Name: ScCookie}}, results, nil)
	s := r.Scenario(ScCookie)
	if s.RatioRPS != 0.7 || s.RatioRPSMin != 0.6 || s.RatioRPSMax != 0.9 {
		t.Fatalf("ratio %.2f (%.2f-%.2f), want 0.70 (0.60-0.90)", s.RatioRPS, s.RatioRPSMin, s.RatioRPSMax)
	}
	var table strings.Builder
	r.WriteTable(&table)
	if !strings.Contains(table.String(), "0.60-0.90") {
		t.Errorf("the table does not show the range:\n%s", table.String())
	}
	miss := strings.Join(DefaultBudgets.Check(r), "\n")
	if !strings.Contains(miss, ScCookie+": 0.700 of bare Traefik's req/s (rounds 0.60-0.90)") {
		t.Errorf("the miss does not show the range:\n%s", miss)
	}
}

// A missed hit budget shows what the floors, and the public hit routing
// direct, measured in the same run.
func TestHitMissShowsTheFloors(t *testing.T) {
	r := &Report{Scenarios: []ScenarioReport{
		{Scenario: Scenario{Name: ScNoop}, RatioRPS: 0.85, RatioRPSMin: 0.8, RatioRPSMax: 0.9},
		{Scenario: Scenario{Name: ScDirect}, RatioRPS: 0.78, RatioRPSMin: 0.72, RatioRPSMax: 0.9},
		{Scenario: Scenario{Name: ScRewrite}, RatioRPS: 0.8, RatioRPSMin: 0.7, RatioRPSMax: 0.95},
		{Scenario: Scenario{Name: ScToken}, RatioRPS: 0.7, RatioRPSMin: 0.6, RatioRPSMax: 0.8},
	}}
	miss := strings.Join(DefaultBudgets.Check(r), "\n")
	want := ScToken + ": 0.700 of bare Traefik's req/s (rounds 0.60-0.80), budget >= 0.75; " + ScDirect + " 0.780 (0.72-0.90); " + ScRewrite + " 0.800 (0.70-0.95); " + ScNoop + " 0.850 (0.80-0.90)"
	if !strings.Contains(miss, want) {
		t.Errorf("the miss does not show the floors:\n%s\nwant a line with\n%s", miss, want)
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

// A bare run paired with a scenario sends that scenario's headers too, and
// only those: pairs do not leak headers into each other.
func TestBareRunsCarryTheScenarioHeaders(t *testing.T) {
	bare := Scenario{Name: ScBare, Headers: make([]string, 1, 8)}
	bare.Headers[0] = runnerAuthHead
	token := bareWith(bare, Scenario{Headers: []string{"X-Daytona-Preview-Token: t"}})
	cookie := bareWith(bare, Scenario{Headers: []string{"Cookie: c=1"}})
	noop := bareWith(bare, Scenario{Headers: []string{runnerAuthHead}})
	want := [][]string{
		{runnerAuthHead, "X-Daytona-Preview-Token: t"},
		{runnerAuthHead, "Cookie: c=1"},
		{runnerAuthHead},
		{runnerAuthHead},
	}
	for i, got := range [][]string{token.Headers, cookie.Headers, noop.Headers, bare.Headers} {
		if strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("run %d: headers %q, want %q", i, got, want[i])
		}
	}
}

// Every scenario's run sits between two bare runs with its headers, and is
// compared with their mean; a bare run is shared by neighbours only when
// their headers are the same.
func TestScenarioRunsAreBracketedByBareRuns(t *testing.T) {
	bare := Scenario{Name: ScBare, Headers: []string{runnerAuthHead}}
	scs := []Scenario{
		bare,
		{Name: ScPublic},
		{Name: ScNoop, Headers: []string{runnerAuthHead}},
		{Name: ScToken, Headers: []string{"X-Daytona-Preview-Token: t"}},
	}
	var seq []string
	rps := 0.0
	one := func(round int, sc Scenario) (Result, error) {
		rps += 100
		seq = append(seq, sc.Name+"("+strings.Join(sc.Headers, ",")+")")
		return Result{RPS: rps, P99ms: rps / 100}, nil
	}
	paired, err := bracketed(2, scs, bare, one)
	if err != nil {
		t.Fatal(err)
	}
	b, bt := ScBare+"("+runnerAuthHead+")", ScBare+"("+runnerAuthHead+",X-Daytona-Preview-Token: t)"
	want := []string{
		b, ScPublic + "()", b, ScNoop + "(" + runnerAuthHead + ")", b,
		bt, ScToken + "(X-Daytona-Preview-Token: t)", bt,
		b, ScPublic + "()", b, ScNoop + "(" + runnerAuthHead + ")", b,
		bt, ScToken + "(X-Daytona-Preview-Token: t)", bt,
	}
	if strings.Join(seq, "\n") != strings.Join(want, "\n") {
		t.Fatalf("runs:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
	// Runs 1..16 made 100..1600 req/s: public's first run (200) sits
	// between 100 and 300, token's first (700) between 600 and 800, the
	// second round's public (1000) between 900 and 1100.
	for name, wantRPS := range map[string][]float64{ScPublic: {200, 1000}, ScNoop: {400, 1200}, ScToken: {700, 1500}} {
		got := paired[name]
		if len(got) != 2 || got[0].RPS != wantRPS[0] || got[1].RPS != wantRPS[1] || got[0].P99ms != wantRPS[0]/100 {
			t.Errorf("%s brackets %+v, want req/s %v", name, got, wantRPS)
		}
	}
}
