package fetch

import (
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"
)

// maxFileMarks caps the URLs whose file failed that health remembers;
// past it, some are forgotten (the order is only a hint).
const maxFileMarks = 10000

// health remembers recent failures for every request of a Fetcher, so that
// a request tries the URLs that are likely to work first. It tells two
// kinds apart:
//
//   - A failure of the host: one that another attempt may mend
//     (isTemporary), such as no connection, a reset, a stall, 408, 429,
//     5xx, a transient FTP reply. Every URL on that host goes to the end.
//   - A failure of one file at a URL: not found, or bytes that fail their
//     digest or size. It says nothing of the files beside it, so only that
//     URL goes to the end, for the next request of the same file.
//
// A success at a URL clears both marks of that URL.
type health struct {
	cooldown time.Duration
	mu       sync.Mutex
	hosts    map[string]time.Time // hostKey → time of the host's last failure
	files    map[string]time.Time // URL → time its file last failed there
}

func newHealth(cooldown time.Duration) *health {
	return &health{cooldown: cooldown, hosts: make(map[string]time.Time), files: make(map[string]time.Time)}
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
		if len(h.hosts) > 0 {
			delete(h.hosts, hostKey(u))
		}
		if len(h.files) > 0 {
			delete(h.files, u.String())
		}
		h.mu.Unlock()
	case isFinal(err):
	case isTemporary(err, &temp):
		key := hostKey(u)
		h.mu.Lock()
		h.hosts[key] = time.Now()
		h.mu.Unlock()
	case isMismatch(err) || errors.Is(err, ErrNotFound):
		h.mu.Lock()
		if len(h.files) >= maxFileMarks {
			h.forget()
		}
		h.files[u.String()] = time.Now()
		h.mu.Unlock()
	}
}

// forget removes the file marks older than the cool-down and, if that is
// not enough, others, until a quarter of the room is free, so that a run
// of marks pays for one sweep of the map per maxFileMarks/4 of them, not
// one each; h.mu is held.
func (h *health) forget() {
	now := time.Now()
	for k, t := range h.files {
		if now.Sub(t) > h.cooldown {
			delete(h.files, k)
		}
	}
	for k := range h.files {
		if len(h.files) <= maxFileMarks*3/4 {
			break
		}
		delete(h.files, k)
	}
}

// order returns urls with the ones that failed within the cool-down, by
// their host or their file, moved to the end, those that failed longest
// ago first; the others keep their order.
func (h *health) order(urls []*url.URL) []*url.URL {
	if len(urls) < 2 || h.cooldown < 0 {
		return urls
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hosts) == 0 && len(h.files) == 0 {
		return urls
	}
	type ranked struct {
		u     *url.URL
		since time.Time // zero: no failure within the cool-down
	}
	now := time.Now()
	out := make([]ranked, len(urls))
	cooling := false
	// since returns the time of the failure of key in marks within the
	// cool-down, or zero, forgetting one that is older.
	since := func(marks map[string]time.Time, key string) time.Time {
		t, ok := marks[key]
		switch {
		case !ok:
		case now.Sub(t) > h.cooldown:
			delete(marks, key)
		default:
			return t
		}
		return time.Time{}
	}
	for i, u := range urls {
		out[i].u = u
		if t := since(h.hosts, hostKey(u)); !t.IsZero() {
			out[i].since, cooling = t, true
		}
		if len(h.files) == 0 {
			continue
		}
		if t := since(h.files, u.String()); t.After(out[i].since) {
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
