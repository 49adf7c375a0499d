package fetch

import (
	"net/url"
	"slices"
	"sync"
	"time"
)

// health remembers the hosts whose last attempt failed in a way that says
// something of the host (a network error, a stall, a 5xx, bytes that fail
// their digest or size: a stale mirror), for every request of a Fetcher, so
// that a request tries the healthy URLs first.
type health struct {
	cooldown time.Duration
	mu       sync.Mutex
	failed   map[string]time.Time // host → time of the last failure
}

func newHealth(cooldown time.Duration) *health {
	return &health{cooldown: cooldown, failed: make(map[string]time.Time)}
}

// record notes the outcome of an attempt at u.
func (h *health) record(u *url.URL, err error) {
	if h.cooldown < 0 {
		return
	}
	var temp *TemporaryError
	switch {
	case err == nil:
		h.mu.Lock()
		if len(h.failed) > 0 {
			delete(h.failed, hostKey(u))
		}
		h.mu.Unlock()
	case !isFinal(err) && (isTemporary(err, &temp) || isMismatch(err)):
		key := hostKey(u)
		h.mu.Lock()
		h.failed[key] = time.Now()
		h.mu.Unlock()
	}
}

// order returns urls with the ones on hosts that failed within the
// cool-down moved to the end, those that failed longest ago first; the
// others keep their order.
func (h *health) order(urls []*url.URL) []*url.URL {
	if len(urls) < 2 || h.cooldown < 0 {
		return urls
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failed) == 0 {
		return urls
	}
	type ranked struct {
		u     *url.URL
		since time.Time // zero: no failure within the cool-down
	}
	now := time.Now()
	out := make([]ranked, len(urls))
	cooling := false
	for i, u := range urls {
		out[i].u = u
		key := hostKey(u)
		t, ok := h.failed[key]
		switch {
		case !ok:
		case now.Sub(t) > h.cooldown:
			delete(h.failed, key)
		default:
			out[i].since, cooling = t, true
		}
	}
	if !cooling {
		return urls
	}
	slices.SortStableFunc(out, func(a, b ranked) int { return a.since.Compare(b.since) })
	ordered := make([]*url.URL, len(out))
	for i, r := range out {
		ordered[i] = r.u
	}
	return ordered
}
