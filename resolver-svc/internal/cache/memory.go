// Package cache implements the decision cache (decide.Cache) twice: Memory,
// an in-process LRU with a TTL per item (the default), and Redis, shared by
// several resolvers (used when REDIS_HOST is set). Both pass the same
// conformance suite, cache/cachetest.
//
// Keys are built by the consumer and never hold a secret; values are opaque
// bytes. Every Set has a positive TTL.
package cache

import (
	"container/list"
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// ErrNoTTL is returned by Set and SetNX for a TTL that is not positive:
// nothing is stored forever.
var ErrNoTTL = errors.New("cache: a positive TTL is required")

const shards = 16

// Memory is a bounded in-process cache: an LRU list per shard, each item
// with its own expiry, checked on read. It starts no goroutine: expired
// items are dropped when read, or evicted as least recently used.
type Memory struct {
	seed   maphash.Seed
	max    int // per shard
	shards [shards]memShard
}

type memShard struct {
	mu    sync.Mutex
	items map[string]*list.Element
	lru   list.List // front: most recently used
}

type memItem struct {
	key     string
	value   []byte
	expires int64 // UnixNano
}

// NewMemory returns a cache holding at most about maxEntries items
// (rounded up to a multiple of 16; at least 16).
func NewMemory(maxEntries int) *Memory {
	per := (maxEntries + shards - 1) / shards
	if per < 1 {
		per = 1
	}
	m := &Memory{seed: maphash.MakeSeed(), max: per}
	for i := range m.shards {
		m.shards[i].items = map[string]*list.Element{}
	}
	return m
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%shards]
}

// Get returns a copy of the value stored under key.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	s := m.shard(key)
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[key]
	if !ok {
		return nil, false, nil
	}
	it := el.Value.(*memItem)
	if now >= it.expires {
		s.remove(el)
		return nil, false, nil
	}
	s.lru.MoveToFront(el)
	return append([]byte(nil), it.value...), true, nil
}

// Set stores a copy of value under key for ttl.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrNoTTL
	}
	s := m.shard(key)
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, value, now+int64(ttl), m.max)
	return nil
}

// SetNX stores value under key for ttl if key is absent (or expired) and
// reports whether it did.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrNoTTL
	}
	s := m.shard(key)
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[key]; ok && now < el.Value.(*memItem).expires {
		return false, nil
	}
	s.put(key, value, now+int64(ttl), m.max)
	return true, nil
}

// Len returns the number of items held, expired ones included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

// put stores an item; called with mu held.
func (s *memShard) put(key string, value []byte, expires int64, max int) {
	v := append([]byte(nil), value...)
	if el, ok := s.items[key]; ok {
		it := el.Value.(*memItem)
		it.value, it.expires = v, expires
		s.lru.MoveToFront(el)
		return
	}
	for len(s.items) >= max {
		// Evict the least recently used item; expired ones at the back go
		// first anyway.
		s.remove(s.lru.Back())
	}
	s.items[key] = s.lru.PushFront(&memItem{key: key, value: v, expires: expires})
}

func (s *memShard) remove(el *list.Element) {
	s.lru.Remove(el)
	delete(s.items, el.Value.(*memItem).key)
}

var _ decide.Cache = (*Memory)(nil)
