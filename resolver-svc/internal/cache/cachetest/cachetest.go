// Package cachetest is the conformance suite every decide.Cache
// implementation passes, and a helper that runs a real redis-server for
// tests (one per test package, started from TestMain).
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// Run runs the conformance suite. newCache returns an empty cache for one
// subtest (keys of different subtests never collide).
func Run(t *testing.T, newCache func(t *testing.T) decide.Cache) {
	ctx := context.Background()

	t.Run("miss", func(t *testing.T) {
		c := newCache(t)
		v, ok, err := c.Get(ctx, "absent")
		if err != nil || ok || v != nil {
			t.Fatalf("Get(absent) = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
	})

	t.Run("set then get", func(t *testing.T) {
		c := newCache(t)
		for _, v := range [][]byte{[]byte("1"), []byte(`{"id":"r1","url":"http://x"}`), {0, 255, '\n', 0}, {}} {
			key := fmt.Sprintf("k%x", v)
			if err := c.Set(ctx, key, v, time.Minute); err != nil {
				t.Fatalf("Set: %v", err)
			}
			got, ok, err := c.Get(ctx, key)
			if err != nil || !ok || !bytes.Equal(got, v) {
				t.Fatalf("Get = %q, %v, %v; want %q", got, ok, err, v)
			}
		}
	})

	t.Run("values are copies", func(t *testing.T) {
		c := newCache(t)
		v := []byte("abc")
		if err := c.Set(ctx, "k", v, time.Minute); err != nil {
			t.Fatal(err)
		}
		v[0] = 'X'
		got, _, _ := c.Get(ctx, "k")
		got[1] = 'Y'
		again, _, _ := c.Get(ctx, "k")
		if string(again) != "abc" {
			t.Fatalf("stored value changed to %q", again)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		c := newCache(t)
		_ = c.Set(ctx, "k", []byte("1"), time.Minute)
		_ = c.Set(ctx, "k", []byte("0"), time.Minute)
		if got, ok, _ := c.Get(ctx, "k"); !ok || string(got) != "0" {
			t.Fatalf("Get = %q, %v; want the newer value", got, ok)
		}
	})

	t.Run("ttl required", func(t *testing.T) {
		c := newCache(t)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := c.Set(ctx, "k", []byte("1"), ttl); err == nil {
				t.Fatalf("Set with ttl %v: no error", ttl)
			}
			if _, err := c.SetNX(ctx, "k", []byte("1"), ttl); err == nil {
				t.Fatalf("SetNX with ttl %v: no error", ttl)
			}
		}
		if _, ok, _ := c.Get(ctx, "k"); ok {
			t.Fatal("a value was stored without a TTL")
		}
	})

	t.Run("expiry", func(t *testing.T) {
		c := newCache(t)
		_ = c.Set(ctx, "short", []byte("1"), 80*time.Millisecond)
		_ = c.Set(ctx, "long", []byte("1"), time.Minute)
		if _, ok, _ := c.Get(ctx, "short"); !ok {
			t.Fatal("expired too early")
		}
		time.Sleep(200 * time.Millisecond)
		if _, ok, _ := c.Get(ctx, "short"); ok {
			t.Fatal("not expired after its TTL")
		}
		if _, ok, _ := c.Get(ctx, "long"); !ok {
			t.Fatal("the other key expired too")
		}
	})

	t.Run("setnx", func(t *testing.T) {
		c := newCache(t)
		if ok, err := c.SetNX(ctx, "once", []byte("a"), 80*time.Millisecond); !ok || err != nil {
			t.Fatalf("first SetNX = %v, %v", ok, err)
		}
		if ok, err := c.SetNX(ctx, "once", []byte("b"), time.Minute); ok || err != nil {
			t.Fatalf("second SetNX = %v, %v; want false", ok, err)
		}
		if got, _, _ := c.Get(ctx, "once"); string(got) != "a" {
			t.Fatalf("value = %q, want the first", got)
		}
		time.Sleep(200 * time.Millisecond)
		if ok, err := c.SetNX(ctx, "once", []byte("c"), time.Minute); !ok || err != nil {
			t.Fatalf("SetNX after expiry = %v, %v; want true", ok, err)
		}
	})

	t.Run("concurrent setnx has one winner", func(t *testing.T) {
		c := newCache(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				ok, err := c.SetNX(ctx, "race", []byte("1"), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners, want 1", wins.Load())
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		c := newCache(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					k := fmt.Sprintf("k%d", (g*7+i)%50)
					_ = c.Set(ctx, k, []byte(k), time.Minute)
					if v, ok, err := c.Get(ctx, k); err != nil || (ok && string(v) != k) {
						t.Errorf("Get(%s) = %q, %v, %v", k, v, ok, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}
