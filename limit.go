package fetch

import (
	"context"
	"sync"
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

type hostSlots struct {
	slots chan struct{}
	users int // holders and waiters; the entry is dropped at zero
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

// Acquire waits for a slot to host and a slot in all, in that order, so that
// transfers waiting for a busy host do not hold slots that others could use.
// It returns a func that gives both back, to be called exactly once, or
// ctx's error if ctx is done first.
func (l *Limiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	h := l.join(host)
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		l.leave(host, h)
		return nil, ctx.Err()
	}
	select {
	case l.total <- struct{}{}:
	case <-ctx.Done():
		<-h.slots
		l.leave(host, h)
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.total
			<-h.slots
			l.leave(host, h)
		})
	}, nil
}

func (l *Limiter) join(host string) *hostSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		h = &hostSlots{slots: make(chan struct{}, l.perHost)}
		l.hosts[host] = h
	}
	h.users++
	return h
}

func (l *Limiter) leave(host string, h *hostSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.users--
	if h.users == 0 {
		delete(l.hosts, host)
	}
}
