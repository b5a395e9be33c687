package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
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

// blackhole is a TCP server that accepts connections and reads what comes
// but never answers: a hung Redis. read counts the bytes it got.
func blackhole(t *testing.T) (addr string, read func() int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				for {
					k, err := c.Read(buf)
					n.Add(int64(k))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), n.Load
}

// After a failed command the cache stays away from the server for its
// cooldown: every command is a miss at once (decide.ErrCacheSkipped) and
// nothing reaches the server; then it tries again.
func TestRedisCoolsDownAfterAFailure(t *testing.T) {
	addr, read := blackhole(t)
	r, err := cache.NewRedis(cache.RedisConfig{Addr: addr, Timeout: 50 * time.Millisecond, Cooldown: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()
	if _, _, err := r.Get(ctx, "k"); err == nil || errors.Is(err, decide.ErrCacheSkipped) {
		t.Fatalf("first Get: %v, want the server's failure", err)
	}
	before := read()
	if before == 0 {
		t.Fatal("the first Get did not reach the server")
	}
	if _, _, err := r.Get(ctx, "k"); !errors.Is(err, decide.ErrCacheSkipped) {
		t.Errorf("Get in the cooldown: %v", err)
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, decide.ErrCacheSkipped) {
		t.Errorf("Set in the cooldown: %v", err)
	}
	if _, err := r.SetNX(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, decide.ErrCacheSkipped) {
		t.Errorf("SetNX in the cooldown: %v", err)
	}
	if read() != before {
		t.Errorf("the server got %d more bytes in the cooldown", read()-before)
	}
	time.Sleep(400 * time.Millisecond)
	if _, _, err := r.Get(ctx, "k"); err == nil || errors.Is(err, decide.ErrCacheSkipped) || read() == before {
		t.Errorf("after the cooldown: %v, server bytes %d -> %d", err, before, read())
	}
}

// A miss (redis.Nil) and a caller that gives up are no failure of the
// server: no cooldown.
func TestRedisMissesStartNoCooldown(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	if _, ok, err := r.Get(ctx, "absent"); ok || err != nil {
		t.Fatalf("miss: %v %v", ok, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.Get(gone, "absent"); err == nil {
		t.Fatal("a cancelled Get succeeded")
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Errorf("Set after a miss and a cancelled Get: %v", err)
	}
}
