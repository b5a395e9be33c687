package decide

import (
	"context"
	"errors"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/authcookie"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
)

// API is what the decision needs of the Daytona API. Yes/no methods return
// an error only for technical faults (the answer is then unknown); a
// definite "no" is (false, nil). RunnerBySandbox returns an error that
// matches daytona.ErrNotFound for an unknown sandbox or one without runner.
type API interface {
	IsPublic(ctx context.Context, sandboxID string) (bool, error)
	ValidateToken(ctx context.Context, sandboxID, token string) (bool, error)
	HasAccess(ctx context.Context, sandboxID, userToken, clientIP string) (bool, error)
	RunnerBySandbox(ctx context.Context, sandboxID string) (daytona.Runner, error)
	UpdateLastActivity(ctx context.Context, sandboxID string) error
	// For the build-log routes.
	SandboxBuild(ctx context.Context, sandboxID, userToken, clientIP string) (daytona.BuildSource, error)
	SnapshotBuild(ctx context.Context, snapshotID, userToken, clientIP string) (daytona.BuildSource, error)
	RunnerFull(ctx context.Context, runnerID string) (daytona.Runner, error)
}

// Cache stores small values with a TTL. Keys are built by this package and
// never hold a secret (tokens appear only as SHA-256 hex). Errors are
// technical faults only; a miss is (nil, false, nil). Every Set and SetNX
// has a positive TTL. A cache that failed a moment ago may answer
// ErrCacheSkipped at once instead of trying again.
type Cache interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only if key is absent and reports whether it did.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// ErrCacheSkipped is a cache's answer while it stays away from a server
// that just failed: a miss, nothing to log.
var ErrCacheSkipped = errors.New("cache skipped: it failed a moment ago")

// Cookies verifies Daytona's daytona-sandbox-auth-<idOrToken> cookie and
// returns the sandbox id it grants.
type Cookies interface {
	Verify(idOrToken, value string) (sandboxID string, err error)
}

// Runners is the registry of runners that Traefik routes to (routing mode
// "runners"). Learn records a runner seen in a lookup and fails for ids or
// URLs that cannot be routed; Ready reports whether Traefik has fetched a
// configuration with the runner's current URL.
type Runners interface {
	Learn(id, url string) error
	Ready(id string) bool
}

// Observer receives counts for metrics. Kinds: "runner", "public", "auth",
// "activity". Results: "hit", "miss", "error"; activity results: "sent",
// "failed", "dropped".
type Observer interface {
	CacheResult(kind, result string)
	Activity(result string)
}

type nopObserver struct{}

func (nopObserver) CacheResult(string, string) {}
func (nopObserver) Activity(string)            {}

// Compile-time checks that the real implementations fit (the cache and
// runners packages check themselves against Cache and Runners).
var (
	_ API     = (*daytona.Client)(nil)
	_ Cookies = (*authcookie.Codec)(nil)
)
