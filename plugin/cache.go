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
	// connection is the Connection header of a forward with no other:
	// the runner's token (RunnerToken + id), nil in direct routing.
	connection []string
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
// Reads are one compiled sync.Map call, which matters under Yaegi.
//
// Every store is also recorded in an expiry index: buckets of
// SweepInterval by expiry time. The sweeper and a full cache visit only
// the buckets due, so their work is the number of decisions that leave,
// not the cache's size (under Yaegi a pass over 10,000 entries takes
// about 25 ms; every SweepInterval, that was 5 % of Traefik's core). A
// store that finds the cache full drops the decisions that expire
// soonest, a sixteenth of the bound at once: a dropped decision costs one
// resolver call.
type decisionCache struct {
	m     sync.Map
	n     int64 // entries; changed under mu, read atomically
	limit int64

	mu sync.Mutex
	// index holds the stores by bucket (expires / SweepInterval); a
	// record whose decision was replaced or dropped since is skipped.
	// first is at most the lowest bucket in it.
	index map[int64][]stored
	first int64
}

// stored is one store in the expiry index.
type stored struct {
	key string
	d   *decision
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
// many are left.
func (c *decisionCache) removeExpired(now int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expire(now)
}

// expire is removeExpired with c.mu held. The buckets before now's hold
// only expired decisions; now's is kept for its live ones.
func (c *decisionCache) expire(now int64) int64 {
	cur := now / int64(SweepInterval)
	for b := c.first; b <= cur && len(c.index) > 0; b++ {
		recs, ok := c.index[b]
		if !ok {
			continue
		}
		var live []stored
		for _, r := range recs {
			if r.d.expires > now {
				live = append(live, r)
			} else {
				c.remove(r)
			}
		}
		if live == nil {
			delete(c.index, b)
		} else {
			c.index[b] = live
		}
	}
	if cur > c.first {
		c.first = cur
	}
	return atomic.LoadInt64(&c.n)
}

// remove deletes r's decision unless it was replaced or removed since.
func (c *decisionCache) remove(r stored) {
	if c.m.CompareAndDelete(r.key, r.d) {
		atomic.AddInt64(&c.n, -1)
	}
}

// put stores d (d.expires set). Replacing a decision does not count.
func (c *decisionCache) put(key string, d *decision, now int64) {
	_, replaced := c.m.Swap(key, d)
	b := d.expires / int64(SweepInterval)
	c.mu.Lock()
	if c.index == nil {
		c.index = map[int64][]stored{}
	}
	if len(c.index) == 0 || b < c.first {
		c.first = b
	}
	c.index[b] = append(c.index[b], stored{key, d})
	if !replaced && atomic.AddInt64(&c.n, 1) > atomic.LoadInt64(&c.limit) {
		c.evict(now)
	}
	c.mu.Unlock()
}

// evict makes room in a full cache (c.mu held): the expired decisions go,
// then, while it is still full, the ones that expire soonest, down to
// fifteen sixteenths of the bound. It walks the buckets upwards from
// first, once: at most cacheMaxTTL / SweepInterval of them.
func (c *decisionCache) evict(now int64) {
	limit := atomic.LoadInt64(&c.limit)
	if c.expire(now) <= limit {
		return
	}
	keep := limit - limit/16
	b := c.first
	for ; atomic.LoadInt64(&c.n) > keep && len(c.index) > 0; b++ {
		recs, ok := c.index[b]
		if !ok {
			continue
		}
		i := 0
		for i < len(recs) && atomic.LoadInt64(&c.n) > keep {
			c.remove(recs[i])
			i++
		}
		if i < len(recs) {
			c.index[b] = recs[i:]
			break
		}
		delete(c.index, b)
	}
	c.first = b
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
