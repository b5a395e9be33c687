package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/previewgate/previewgate/resolver-svc/internal/cache"
	"github.com/previewgate/previewgate/resolver-svc/internal/cache/cachetest"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// redisServer is the one redis-server of this test package; nil when the
// binary is missing (redisErr says why).
var (
	redisServer *cachetest.RedisServer
	redisErr    error
)

func TestMain(m *testing.M) {
	redisServer, redisErr = cachetest.StartRedis()
	if redisErr != nil && !errors.Is(redisErr, cachetest.ErrNoRedis) {
		fmt.Fprintln(os.Stderr, redisErr)
		os.Exit(1)
	}
	code := m.Run()
	redisServer.Stop()
	os.Exit(code)
}

func needRedis(t *testing.T) {
	t.Helper()
	if redisServer == nil {
		t.Skip(redisErr)
	}
}

// raw is a plain go-redis client on the test server, to look behind the
// cache's back.
func raw(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: redisServer.Socket, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func newRedis(t *testing.T) *cache.Redis {
	t.Helper()
	needRedis(t)
	r, err := cache.NewRedis(cache.RedisConfig{Network: "unix", Addr: redisServer.Socket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := raw(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMemoryConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) decide.Cache { return cache.NewMemory(1000) })
}

func TestRedisConformance(t *testing.T) {
	needRedis(t)
	cachetest.Run(t, func(t *testing.T) decide.Cache { return newRedis(t) })
}

func TestMemoryIsBounded(t *testing.T) {
	m := cache.NewMemory(160)
	ctx := context.Background()
	for i := range 10_000 {
		if err := m.Set(ctx, fmt.Sprintf("key-%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n > 160 {
		t.Fatalf("holds %d items, bound is 160", n)
	}
	// The most recent ones survive.
	if _, ok, _ := m.Get(ctx, "key-9999"); !ok {
		t.Fatal("the newest item was evicted")
	}
}

func TestMemoryLRU(t *testing.T) {
	m := cache.NewMemory(16) // one item per shard
	ctx := context.Background()
	// Find two keys in the same shard by filling: with one slot per shard,
	// a key survives only until another key of its shard arrives. Reading a
	// key does not protect it from a newer write, but a read of an evicted
	// key is a miss, never a stale value.
	_ = m.Set(ctx, "a", []byte("1"), time.Minute)
	for i := range 100 {
		_ = m.Set(ctx, fmt.Sprintf("x%d", i), []byte("2"), time.Minute)
	}
	if m.Len() > 16 {
		t.Fatalf("Len = %d", m.Len())
	}
	if v, ok, _ := m.Get(ctx, "a"); ok && string(v) != "1" {
		t.Fatalf("stale value %q", v)
	}
}

func TestMemoryStartsNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 100 {
		m := cache.NewMemory(10)
		_ = m.Set(context.Background(), "k", []byte("v"), time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines: %d before, %d after", before, after)
	}
}

func TestRedisKeysArePrefixedAndExpire(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	_ = r.Set(ctx, "runner:abc", []byte("x"), time.Minute)
	_, _ = r.SetNX(ctx, "activity:abc", []byte("1"), 45*time.Second)

	keys, err := raw(t).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, cache.KeyPrefix) {
			t.Errorf("key %q lacks the prefix %q", k, cache.KeyPrefix)
		}
		ttl, err := raw(t).PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %q has TTL %v (%v); every key must expire", k, ttl, err)
		}
	}
}

func TestRedisDown(t *testing.T) {
	r, err := cache.NewRedis(cache.RedisConfig{Network: "unix", Addr: t.TempDir() + "/none.sock", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, ok, err := r.Get(ctx, "k"); err == nil || ok {
		t.Fatalf("Get on a dead server = %v, %v; want an error", ok, err)
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err == nil {
		t.Fatal("Set on a dead server: no error")
	}
	if err := r.Ping(ctx); err == nil {
		t.Fatal("Ping on a dead server: no error")
	}
}

func TestNewRedisNeedsAddr(t *testing.T) {
	if _, err := cache.NewRedis(cache.RedisConfig{}); err == nil {
		t.Fatal("want an error")
	}
}
