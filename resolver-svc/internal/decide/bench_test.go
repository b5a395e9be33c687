package decide_test

import (
	"context"
	"testing"

	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// The decision on warm caches: what the resolver spends per plugin cache
// miss once the API answers are cached. Compare runs with benchstat.
func benchDecide(b *testing.B, req decide.Request) {
	e := newEnv(b)
	if d := e.decide(req); d.Forward == nil {
		b.Fatalf("not a forward: %+v", d)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.SkipActivity = true // the activity updates are rate-limited anyway
		if d := e.d.Decide(ctx, req); d.Forward == nil {
			b.Fatal("not a forward")
		}
	}
}

func BenchmarkDecidePublic(b *testing.B) { benchDecide(b, preview(public, "3000")) }

func BenchmarkDecidePreviewToken(b *testing.B) {
	req := preview(private, "3000")
	req.PreviewToken = token
	benchDecide(b, req)
}

func BenchmarkDecideBearer(b *testing.B) {
	req := preview(private, "3000")
	req.Bearer = userJWT
	benchDecide(b, req)
}
