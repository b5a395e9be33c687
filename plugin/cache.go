package plugin

import (
	"sync"
	"sync/atomic"
)

// decision is a cached forward decision. Its header values are kept as
// ready-made one-element slices (capacity 1, so an append elsewhere copies)
// that ServeHTTP assigns without allocating.
type decision struct {
	runner     []string // runner id, for the runner header
	runnerAuth []string // "Bearer <runner key>"
	prefix     string   // upstream path prefix
	stripAuth  bool     // remove the client's Authorization header
	expires    int64    // unix nanoseconds
}

// decisionCache is a bounded TTL cache of forward decisions, keyed by the
// host (or toolbox sandbox) plus every credential the client presented.
// Reads are one compiled sync.Map call, which matters under Yaegi. When a
// store finds it full, it drops expired entries, and if that frees too
// little, everything: an emptied cache costs one resolver call per key.
type decisionCache struct {
	m     sync.Map
	n     int64 // approximate number of entries
	limit int64
}

func (c *decisionCache) get(key string, now int64) *decision {
	v, ok := c.m.Load(key)
	if !ok {
		return nil
	}
	d := v.(*decision)
	if d.expires <= now {
		return nil
	}
	return d
}

func (c *decisionCache) put(key string, d *decision, now int64) {
	if atomic.AddInt64(&c.n, 1) > atomic.LoadInt64(&c.limit) {
		c.sweep(now)
	}
	c.m.Store(key, d)
}

func (c *decisionCache) sweep(now int64) {
	var live int64
	c.m.Range(func(k, v interface{}) bool {
		if v.(*decision).expires <= now {
			c.m.Delete(k)
		} else {
			live++
		}
		return true
	})
	if live >= atomic.LoadInt64(&c.limit)*3/4 {
		c.m.Range(func(k, v interface{}) bool {
			c.m.Delete(k)
			return true
		})
		live = 0
	}
	atomic.StoreInt64(&c.n, live+1)
}

func (c *decisionCache) len() int {
	n := 0
	c.m.Range(func(k, v interface{}) bool {
		n++
		return true
	})
	return n
}

// Traefik calls New for every router that uses the middleware and again at
// every configuration rebuild. The caches live at package level, one per
// middleware name and resolver, so that they survive those rebuilds.
var (
	cachesMu sync.Mutex
	caches   = map[string]*decisionCache{}
)

func sharedCache(id string, limit int) *decisionCache {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	c := caches[id]
	if c == nil {
		c = &decisionCache{}
		caches[id] = c
	}
	atomic.StoreInt64(&c.limit, int64(limit))
	return c
}
