package decide

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
)

// Cache keys. Sandbox ids are validated ([a-z0-9-]) before they get here;
// tokens only ever appear as SHA-256 hex. The Redis cache adds its
// "previewgate:v1:" namespace.
const (
	keyRunner      = "runner:"       // runner:<sandbox>
	keyPublic      = "public:"       // public:<sandbox>
	keyAuthBearer  = "auth:bearer:"  // auth:bearer:<sandbox>:<sha256(token)>
	keyAuthPreview = "auth:preview:" // auth:preview:<sandbox>:<sha256(token)>
	keyActivity    = "activity:"     // activity:<sandbox>
	kindRunner     = "runner"
	kindPublic     = "public"
	kindAuth       = "auth"
	kindActivity   = "activity"
	valueTrue      = "1"
	valueFalse     = "0"
)

// tokenKey is the cache key of a credential's validity for one sandbox:
// the sandbox is part of the key, so a token valid for sandbox A is never
// taken as valid for sandbox B.
func tokenKey(prefix, sandbox, token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefix + sandbox + ":" + hex.EncodeToString(sum[:])
}

// cachedRunner is the cached value of a runner lookup.
type cachedRunner struct {
	ID      string `json:"id,omitempty"`
	URL     string `json:"url,omitempty"`
	Key     string `json:"key,omitempty"`
	Missing bool   `json:"missing,omitempty"`
}

// runner returns the sandbox's runner (cached, shared between concurrent
// callers). An unknown sandbox is cached for NotFoundTTL.
func (d *Decider) runner(ctx context.Context, id string) (daytona.Runner, error) {
	decode := func(b []byte) (result[daytona.Runner], bool) {
		var c cachedRunner
		if json.Unmarshal(b, &c) != nil {
			return result[daytona.Runner]{}, false
		}
		if c.Missing {
			return result[daytona.Runner]{err: errCachedNotFound}, true
		}
		if c.ID == "" || c.URL == "" || c.Key == "" {
			return result[daytona.Runner]{}, false
		}
		return result[daytona.Runner]{v: daytona.Runner{ID: c.ID, URL: c.URL, APIKey: c.Key}}, true
	}
	fetch := func(ctx context.Context) (daytona.Runner, []byte, time.Duration, error) {
		r, err := d.api.RunnerBySandbox(ctx, id)
		switch {
		case err == nil:
			b, _ := json.Marshal(cachedRunner{ID: r.ID, URL: r.URL, Key: r.APIKey})
			return r, b, d.cfg.RunnerTTL, nil
		case errors.Is(err, daytona.ErrNotFound):
			b, _ := json.Marshal(cachedRunner{Missing: true})
			return r, b, d.cfg.NotFoundTTL, err
		default:
			return r, nil, 0, err
		}
	}
	return lookup(ctx, d, kindRunner, keyRunner+id, decode, fetch)
}

// public reports whether the sandbox is public (cached: PublicTTL if so,
// PrivateTTL if not).
func (d *Decider) public(ctx context.Context, id string) (bool, error) {
	return d.yesNo(ctx, kindPublic, keyPublic+id, d.cfg.PublicTTL, d.cfg.PrivateTTL,
		func(ctx context.Context) (bool, error) { return d.api.IsPublic(ctx, id) })
}

// bearerValid reports whether a bearer token grants the sandbox (checked as
// the user; cached per sandbox and token hash).
func (d *Decider) bearerValid(ctx context.Context, id, token, clientIP string) (bool, error) {
	return d.yesNo(ctx, kindAuth, tokenKey(keyAuthBearer, id, token), d.cfg.AuthValidTTL, d.cfg.AuthInvalidTTL,
		func(ctx context.Context) (bool, error) { return d.api.HasAccess(ctx, id, token, clientIP) })
}

// previewTokenValid reports whether token is the sandbox's preview token
// (cached per sandbox and token hash; header and query tokens share it).
func (d *Decider) previewTokenValid(ctx context.Context, id, token string) (bool, error) {
	return d.yesNo(ctx, kindAuth, tokenKey(keyAuthPreview, id, token), d.cfg.AuthValidTTL, d.cfg.AuthInvalidTTL,
		func(ctx context.Context) (bool, error) { return d.api.ValidateToken(ctx, id, token) })
}

func (d *Decider) yesNo(ctx context.Context, kind, key string, trueTTL, falseTTL time.Duration,
	call func(context.Context) (bool, error)) (bool, error) {
	decode := func(b []byte) (result[bool], bool) {
		switch string(b) {
		case valueTrue:
			return result[bool]{v: true}, true
		case valueFalse:
			return result[bool]{v: false}, true
		}
		return result[bool]{}, false
	}
	fetch := func(ctx context.Context) (bool, []byte, time.Duration, error) {
		v, err := call(ctx)
		switch {
		case err != nil:
			return false, nil, 0, err // never cached: the answer is unknown
		case v:
			return true, []byte(valueTrue), trueTTL, nil
		default:
			return false, []byte(valueFalse), falseTTL, nil
		}
	}
	return lookup(ctx, d, kind, key, decode, fetch)
}

// errCachedNotFound is a runner lookup's cached "no such sandbox".
var errCachedNotFound = fmt.Errorf("%w (cached)", daytona.ErrNotFound)

// errOtherRunner: in routing direct, the sandbox is on another runner than
// the one the fixed service reaches.
var errOtherRunner = errors.New("decide: the sandbox is on another runner than PREVIEWGATE_DIRECT_RUNNER")

// result is what a shared lookup hands to every caller waiting on it.
type result[T any] struct {
	v   T
	err error
	// abandoned: the flight was bound to the context of the caller that
	// started it (no detached slot was free), and that caller went away
	// before it ended: its outcome says nothing about the others.
	abandoned bool
}

// lookup reads key from the cache; on a miss, one caller per key (per
// process) runs fetch and stores its value, and every concurrent caller
// gets that result. The flight runs detached from the caller's context
// (bounded by LookupTimeout), so a caller that gives up does not fail the
// others and the result still lands in the cache. decode returns ok=false
// for an unreadable value (treated as a miss); fetch returns the value to
// cache (nil: do not cache) and its TTL.
func lookup[T any](ctx context.Context, d *Decider, kind, key string,
	decode func([]byte) (result[T], bool),
	fetch func(context.Context) (T, []byte, time.Duration, error)) (T, error) {
	b, ok, err := d.cache.Get(ctx, key)
	switch {
	case errors.Is(err, ErrCacheSkipped):
		d.obs.CacheResult(kind, "skipped")
	case err != nil:
		// A cache fault is a miss: the API still answers.
		d.obs.CacheResult(kind, "error")
		d.log.Warn("cache get failed", "cache", kind, "err", err)
	case ok:
		if r, ok := decode(b); ok {
			d.obs.CacheResult(kind, "hit")
			return r.v, r.err
		}
		d.obs.CacheResult(kind, "miss")
	default:
		d.obs.CacheResult(kind, "miss")
	}
	// A caller that joined a flight abandoned by its starter starts (or
	// joins) another, a few times at most: one client hanging up must not
	// fail everyone else's decision.
	for attempt := 0; ; attempt++ {
		res, err := flight(ctx, d, kind, key, decode, fetch)
		if err == nil && res.abandoned && ctx.Err() == nil && attempt < 3 {
			continue
		}
		return res.v, cmp.Or(err, res.err)
	}
}

// flight runs or joins the shared lookup of key; err is the caller's own
// context ending first.
func flight[T any](ctx context.Context, d *Decider, kind, key string,
	decode func([]byte) (result[T], bool),
	fetch func(context.Context) (T, []byte, time.Duration, error)) (result[T], error) {
	ch := d.flights.DoChan(key, func() (any, error) {
		base, bound := context.WithoutCancel(ctx), false
		select {
		case d.detached <- struct{}{}:
			defer func() { <-d.detached }()
		default:
			// Too many lookups outlive their callers already: this one
			// ends with the caller that started it.
			base, bound = ctx, true
		}
		fctx, cancel := context.WithTimeout(base, d.cfg.LookupTimeout)
		defer cancel()
		// Another flight may have filled the cache between our miss and
		// this flight's start.
		if b, ok, err := d.cache.Get(fctx, key); err == nil && ok {
			if r, ok := decode(b); ok {
				return r, nil
			}
		}
		v, b, ttl, err := fetch(fctx)
		if bound && ctx.Err() != nil {
			return result[T]{v: v, err: err, abandoned: true}, nil
		}
		if b != nil && ttl > 0 {
			if serr := d.cache.Set(fctx, key, b, ttl); serr != nil && !errors.Is(serr, ErrCacheSkipped) {
				d.obs.CacheResult(kind, "error")
				d.log.Warn("cache set failed", "cache", kind, "err", serr)
			}
		}
		return result[T]{v: v, err: err}, nil
	})
	select {
	case r := <-ch:
		return r.Val.(result[T]), nil
	case <-ctx.Done():
		return result[T]{}, ctx.Err()
	}
}
