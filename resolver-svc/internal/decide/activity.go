package decide

import (
	"context"
	"sync"
	"time"
)

// activity sends POST /sandbox/{id}/last-activity after forward decisions,
// at most once per interval per sandbox, asynchronously and with a bound
// on the updates in flight (extra ones are dropped: the next decision after
// the interval sends one). The interval is kept twice: in this process
// (no goroutine, no cache call for the common case) and in the shared
// cache with SetNX, so that several resolvers share it. An update that
// fails holds off the next attempt only for a ninth of the interval (5 s of
// Daytona's 45): Daytona's proxy caches an update only once it succeeded,
// so that the next request tries again.
//
// Daytona's proxy also repeats the update every 50 s while a request or
// websocket stays open; the resolver cannot see a request's lifetime: the
// plugin reports an open WebSocket every activityRepeat (Decider.Touch,
// plugin.ActivityPath).
type activity struct {
	d        *Decider
	interval time.Duration
	sem      chan struct{}

	mu     sync.Mutex
	recent map[string]time.Time // sandbox → last attempt
	closed bool
	wg     sync.WaitGroup
}

// maxRecent bounds the in-process debounce map.
const maxRecent = 100_000

func newActivity(d *Decider, interval time.Duration, concurrency int) *activity {
	return &activity{
		d:        d,
		interval: interval,
		sem:      make(chan struct{}, concurrency),
		recent:   map[string]time.Time{},
	}
}

// touch schedules an update for the sandbox unless one was attempted in
// the last interval.
func (a *activity) touch(id string) {
	if a.interval <= 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if t, ok := a.recent[id]; ok && now.Sub(t) < a.interval {
		a.mu.Unlock()
		return
	}
	select {
	case a.sem <- struct{}{}:
	default:
		a.mu.Unlock()
		a.d.obs.Activity("dropped")
		return
	}
	if len(a.recent) >= maxRecent {
		a.prune(now)
	}
	a.recent[id] = now
	a.wg.Add(1)
	a.mu.Unlock()

	go func() {
		defer func() {
			<-a.sem
			a.wg.Done()
		}()
		a.send(id)
	}()
}

// send claims the update in the shared cache for the retry window, sends
// it, and on success extends the claim to the whole interval; a failed
// update frees this process's debounce after the retry window too.
func (a *activity) send(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), a.d.cfg.LookupTimeout)
	defer cancel()
	retry := a.retry()
	first, err := a.d.cache.SetNX(ctx, keyActivity+id, []byte(valueTrue), retry)
	if err != nil {
		// Without the shared debounce, this process's own still holds.
		a.d.obs.CacheResult(kindActivity, "error")
	} else if !first {
		a.d.obs.CacheResult(kindActivity, "hit")
		// Another resolver sent it, or is sending it: its claim lasts the
		// interval if it succeeded, the retry window if not. Look again
		// after the retry window, so that an update that failed there is
		// retried here too.
		a.due(id, retry)
		return
	}
	if err := a.d.api.UpdateLastActivity(ctx, id); err != nil {
		a.d.obs.Activity("failed")
		a.d.log.Warn("last-activity update failed", "sandbox", id, "err", err)
		a.due(id, retry)
		return
	}
	a.d.obs.Activity("sent")
	if first {
		if err := a.d.cache.Set(ctx, keyActivity+id, []byte(valueTrue), a.interval); err != nil {
			a.d.obs.CacheResult(kindActivity, "error")
		}
	}
}

// due makes the sandbox's next update due after d instead of the interval.
func (a *activity) due(id string, d time.Duration) {
	a.mu.Lock()
	if _, ok := a.recent[id]; ok {
		a.recent[id] = time.Now().Add(d - a.interval)
	}
	a.mu.Unlock()
}

// retry is how long a failed update holds off the next attempt, and how
// long a resolver's claim on an update in flight lasts.
func (a *activity) retry() time.Duration {
	return a.interval / 9
}

// prune drops expired entries; if all are fresh it clears the map (the
// shared cache still debounces). Called with mu held.
func (a *activity) prune(now time.Time) {
	for k, t := range a.recent {
		if now.Sub(t) >= a.interval {
			delete(a.recent, k)
		}
	}
	if len(a.recent) >= maxRecent {
		clear(a.recent)
	}
}

func (a *activity) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.wg.Wait()
}
