package plugin

import (
	"sync"
	"sync/atomic"
	"time"
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
	// setCookie: the decision is cached under a Cookie header as sent, and
	// cookies is that header without our cookies (nil: none left).
	setCookie bool
	cookies   []string
}

// decisionCache is a bounded TTL cache of forward decisions, keyed by the
// host (or toolbox sandbox) plus every credential the client presented.
// Reads are one compiled sync.Map call, which matters under Yaegi. When a
// store finds it full, it drops expired entries, and if that frees too
// little, live ones (as good as random) down to half the bound: a dropped
// decision costs one resolver call.
type decisionCache struct {
	m        sync.Map
	n        int64 // approximate number of entries
	limit    int64
	sweeping int32 // 1 while a full cache is being swept
}

// get returns the decision stored under key. It does not look at the
// clock: the sweeper removes expired decisions every SweepInterval, so a
// decision may be used up to that long past its TTL (ServeHTTP inlines this
// lookup; reading the clock per request is measurable under Yaegi).
func (c *decisionCache) get(key string) *decision {
	v, ok := c.m.Load(key)
	if !ok {
		return nil
	}
	return v.(*decision)
}

// SweepInterval is how often expired decisions are removed.
const SweepInterval = 500 * time.Millisecond

// removeExpired deletes the decisions that expired by now and returns how
// many are left. The count is kept by difference, never overwritten, so
// that stores racing with a sweep (a long one under Yaegi) stay counted.
func (c *decisionCache) removeExpired(now int64) int64 {
	var removed int64
	c.m.Range(func(k, v interface{}) bool {
		if v.(*decision).expires <= now && c.m.CompareAndDelete(k, v) {
			removed++
		}
		return true
	})
	return atomic.AddInt64(&c.n, -removed)
}

// put stores d. The store that finds the cache full sweeps it; stores
// racing with that sweep do not start their own (each would drop its own
// half, and together they would empty the cache). Replacing a decision
// does not count.
func (c *decisionCache) put(key string, d *decision, now int64) {
	if _, loaded := c.m.Swap(key, d); loaded {
		return
	}
	if atomic.AddInt64(&c.n, 1) > atomic.LoadInt64(&c.limit) && atomic.CompareAndSwapInt32(&c.sweeping, 0, 1) {
		c.sweep(now)
		atomic.StoreInt32(&c.sweeping, 0)
	}
}

func (c *decisionCache) sweep(now int64) {
	live := c.removeExpired(now)
	// Still more than three quarters full: drop live decisions down to half
	// the bound. sync.Map ranges in hash order, so the ones dropped are as
	// good as random.
	limit := atomic.LoadInt64(&c.limit)
	if live >= limit*3/4 {
		drop := live - limit/2
		var dropped int64
		c.m.Range(func(k, v interface{}) bool {
			if dropped >= drop {
				return false
			}
			if c.m.CompareAndDelete(k, v) {
				dropped++
			}
			return true
		})
		atomic.AddInt64(&c.n, -dropped)
	}
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
	sweeperOnce.Do(func() { go sweep() })
	return c
}

var sweeperOnce sync.Once

// sweep removes expired decisions from every cache, forever: one goroutine
// for the process, started by the first cache (the caches themselves live
// as long as the process, across Traefik's configuration rebuilds).
func sweep() {
	for {
		time.Sleep(SweepInterval)
		cachesMu.Lock()
		all := make([]*decisionCache, 0, len(caches))
		for _, c := range caches {
			all = append(all, c)
		}
		cachesMu.Unlock()
		now := time.Now().UnixNano()
		for _, c := range all {
			c.removeExpired(now)
		}
	}
}
