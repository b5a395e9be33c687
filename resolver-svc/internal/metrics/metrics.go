// Package metrics holds the resolver's Prometheus collectors, registered on
// a registry the caller injects. All names start with
// previewgate_resolver_. Labels carry only closed sets of values (routes,
// outcomes, endpoint names, results): never an id, a token or a key.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

const namespace = "previewgate_resolver"

// Metrics are the resolver's collectors.
type Metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	apiCalls  *prometheus.CounterVec
	apiTime   *prometheus.HistogramVec
	cache     *prometheus.CounterVec
	activity  *prometheus.CounterVec
	requests  *prometheus.HistogramVec
}

// New registers the collectors (and the Go and process collectors) on reg.
// runners, if not nil, reports the number of known runners.
func New(reg *prometheus.Registry, runners func() int) *Metrics {
	m := &Metrics{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "decisions_total",
			Help: "Decisions made, by route and outcome.",
		}, []string{"route", "outcome"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "api_requests_total",
			Help: "HTTP attempts to the Daytona API, by endpoint and result (2xx, 3xx, 4xx, 5xx, timeout, error).",
		}, []string{"endpoint", "result"}),
		apiTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "api_request_duration_seconds",
			Help:    "Duration of HTTP attempts to the Daytona API, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"endpoint"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_requests_total",
			Help: "Cache lookups, by cache (runner, public, auth, activity) and result (hit, miss, error; skipped: Redis failed a moment ago).",
		}, []string{"cache", "result"}),
		activity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "activity_updates_total",
			Help: "Last-activity updates, by result (sent, failed, dropped).",
		}, []string{"result"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "request_duration_seconds",
			Help:    "Duration of requests to the resolver, by handler.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"handler"}),
	}
	reg.MustRegister(m.decisions, m.apiCalls, m.apiTime, m.cache, m.activity, m.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if runners != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "runners_known",
			Help: "Runners in the Traefik configuration.",
		}, func() float64 { return float64(runners()) }))
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Decision counts one decision.
func (m *Metrics) Decision(route string, outcome decide.Outcome) {
	m.decisions.WithLabelValues(route, string(outcome)).Inc()
}

// APICall records one HTTP attempt to the Daytona API (daytona.Config.Observe).
func (m *Metrics) APICall(endpoint, result string, d time.Duration) {
	m.apiCalls.WithLabelValues(endpoint, result).Inc()
	m.apiTime.WithLabelValues(endpoint).Observe(d.Seconds())
}

// CacheResult counts a cache lookup (decide.Observer).
func (m *Metrics) CacheResult(kind, result string) {
	m.cache.WithLabelValues(kind, result).Inc()
}

// Activity counts a last-activity update (decide.Observer).
func (m *Metrics) Activity(result string) {
	m.activity.WithLabelValues(result).Inc()
}

// Request records the duration of one request to a handler.
func (m *Metrics) Request(handler string, d time.Duration) {
	m.requests.WithLabelValues(handler).Observe(d.Seconds())
}

var _ decide.Observer = (*Metrics)(nil)
