package fetch

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Default limits, used for zero arguments of NewLimiter and a nil
// [Options.Limiter]: Pulp's 10 concurrent downloads, and a browser's 6
// connections to one host.
const (
	DefaultMaxTransfers = 10
	DefaultPerHost      = 6
)

// Limiter caps transfers in flight: at most max in all, and at most perHost
// to any one host (host and port). Each transfer holds one connection, so
// the Limiter also caps connections: a Fetcher's own HTTP client and FTP
// pool keep no more than perHost connections to a host.
//
// The cap of a host adapts to how the host copes, as TCP's window does
// (additive increase, multiplicative decrease): each 429 or 503 answer
// from a host halves the transfers it is allowed at once (down to 1) and
// closes it to new transfers for a while, a wait shared by every request
// to the host (its Retry-After, else a backoff that doubles with each
// such answer in a row); each run of successes as long as its allowance
// raises the allowance by one, back up to perHost. Answers that come
// while the host is closed count once.
//
// One Limiter may be shared by several Fetchers (an importer's and a
// streamer's) so that together they stay under it. It is safe for
// concurrent use.
type Limiter struct {
	max     int
	perHost int
	total   chan struct{}

	mu    sync.Mutex
	hosts map[string]*hostSlots
}

// hostSlots is the state of one host. Its fields are guarded by
// Limiter.mu.
type hostSlots struct {
	allowed int             // transfers allowed at once now: 1 to perHost
	held    int             // slots held
	queue   []chan struct{} // waiters for a slot, first come first served
	users   int             // holders and waiters

	closedUntil time.Time // no transfer starts before then
	strikes     int       // congestion answers in a row
	successes   int       // since allowed last changed
}

// NewLimiter returns a Limiter for max transfers in all and perHost to one
// host. Zero (or negative) means the default: DefaultMaxTransfers and
// DefaultPerHost. A perHost above max is lowered to max.
func NewLimiter(max, perHost int) *Limiter {
	if max <= 0 {
		max = DefaultMaxTransfers
	}
	if perHost <= 0 {
		perHost = DefaultPerHost
	}
	perHost = min(perHost, max)
	return &Limiter{
		max:     max,
		perHost: perHost,
		total:   make(chan struct{}, max),
		hosts:   make(map[string]*hostSlots),
	}
}

// Max returns the cap on transfers in all.
func (l *Limiter) Max() int { return l.max }

// PerHost returns the cap on transfers to one host.
func (l *Limiter) PerHost() int { return l.perHost }

// Allowed returns the transfers allowed at once to host now: PerHost,
// or less while the host answers 429 or 503.
func (l *Limiter) Allowed(host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[host]; h != nil {
		return h.allowed
	}
	return l.perHost
}

// Acquire waits for a slot to host, for the host to be open (see
// Limiter), and for a slot in all, in that order, so that transfers
// waiting for a busy host do not hold slots that others could use. It
// returns a func that gives both back, to be called exactly once, or ctx's
// error if ctx is done first.
func (l *Limiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	h, err := l.acquire(ctx, host)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(host, h) }) }, nil
}

// acquire is Acquire, for a caller that gives the slots back with
// release(host, h), once, where h is the state of host that it returns.
func (l *Limiter) acquire(ctx context.Context, host string) (*hostSlots, error) {
	h := l.join(host)
	if err := l.takeHost(ctx, h); err != nil {
		l.leave(host, h)
		return nil, err
	}
	if err := l.waitOpen(ctx, h); err != nil {
		l.giveHost(host, h)
		return nil, err
	}
	select {
	case l.total <- struct{}{}:
	case <-ctx.Done():
		l.giveHost(host, h)
		return nil, ctx.Err()
	}
	return h, nil
}

// release gives back the slots that acquire took.
func (l *Limiter) release(host string, h *hostSlots) {
	<-l.total
	l.giveHost(host, h)
}

// takeHost waits for a slot of h.
func (l *Limiter) takeHost(ctx context.Context, h *hostSlots) error {
	l.mu.Lock()
	if h.held < h.allowed && len(h.queue) == 0 {
		h.held++
		l.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	h.queue = append(h.queue, ready)
	l.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(h.queue, ready); i >= 0 {
		h.queue = slices.Delete(h.queue, i, i+1)
	} else {
		// The slot came as ctx ended: pass it on.
		h.held--
		l.grant(h)
	}
	return ctx.Err()
}

// waitOpen waits until h takes new transfers.
func (l *Limiter) waitOpen(ctx context.Context, h *hostSlots) error {
	for {
		l.mu.Lock()
		wait := time.Until(h.closedUntil)
		l.mu.Unlock()
		if wait <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// grant gives free slots of h to its first waiters. l.mu is held.
func (l *Limiter) grant(h *hostSlots) {
	for h.held < h.allowed && len(h.queue) > 0 {
		h.held++
		close(h.queue[0])
		h.queue = h.queue[1:]
	}
}

// giveHost gives back a slot of h, and leaves it.
func (l *Limiter) giveHost(host string, h *hostSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.held--
	l.grant(h)
	h.users--
	l.forget(host, h)
}

func (l *Limiter) join(host string) *hostSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.entry(host)
	h.users++
	return h
}

// entry returns the state of host, made if missing. l.mu is held.
func (l *Limiter) entry(host string) *hostSlots {
	h := l.hosts[host]
	if h == nil {
		h = &hostSlots{allowed: l.perHost}
		l.hosts[host] = h
	}
	return h
}

func (l *Limiter) leave(host string, h *hostSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.users--
	l.forget(host, h)
}

// forget drops the state of host when nothing is left to remember: no
// user, the whole allowance, open. l.mu is held.
func (l *Limiter) forget(host string, h *hostSlots) {
	if h.users == 0 && h.allowed == l.perHost && !time.Now().Before(h.closedUntil) && l.hosts[host] == h {
		delete(l.hosts, host)
	}
}

// congested records a 429 or 503 answer from host: unless the host is
// closed already, it halves the host's allowance and closes it for
// wait(n), n being the answers of this kind in a row (1, 2, ...). It
// returns when the host opens again.
func (l *Limiter) congested(host string, wait func(n int) time.Duration) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.entry(host)
	now := time.Now()
	if now.Before(h.closedUntil) {
		return h.closedUntil // the same episode
	}
	h.strikes++
	h.allowed = max(1, h.allowed/2)
	h.successes = 0
	h.closedUntil = now.Add(wait(h.strikes))
	return h.closedUntil
}

// succeeded records a transfer from host that succeeded: after as many
// successes in a row as the host's allowance, the allowance grows by one,
// up to perHost.
func (l *Limiter) succeeded(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		return
	}
	h.strikes = 0
	if h.allowed < l.perHost {
		if h.successes++; h.successes >= h.allowed {
			h.allowed++
			h.successes = 0
			l.grant(h)
		}
	}
	l.forget(host, h)
}
