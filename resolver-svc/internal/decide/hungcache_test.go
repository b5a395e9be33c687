package decide_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/cache"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// A Redis that accepts connections and never answers costs a decision one
// command's timeout, not one per lookup: the decisions still come from
// the API (each of up to nine cache commands waiting for its timeout made
// every decision a 504).
func TestHungRedisStillDecides(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // hung: read nothing, answer nothing
		}
	}()
	r, err := cache.NewRedis(cache.RedisConfig{Addr: ln.Addr().String(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	e := newEnv(t, func(cfg *decide.Config, deps *decide.Deps, _ *env) {
		deps.Cache = r
		cfg.Timeout = 1500 * time.Millisecond // under the nine timeouts (and retries) of the lookups
	})
	for i := 0; i < 3; i++ {
		req := preview(private, "3000")
		req.PreviewToken = token
		if d := e.decide(req); d.Forward == nil || d.Outcome != decide.OutcomePreviewToken {
			t.Fatalf("decision %d: status %d outcome %s, want a forward", i, d.Status, d.Outcome)
		}
	}
	if d := e.decide(preview(public, "3000")); d.Forward == nil || d.Status == http.StatusGatewayTimeout {
		t.Fatalf("public: status %d", d.Status)
	}
}
