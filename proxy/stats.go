package proxy

import "sync/atomic"

// CacheStats is a snapshot of the counters of a [Cache], since it was made
// (but for the gauges: Files, Bytes and Clients).
type CacheStats struct {
	// Requests counts the requests answered, by what the access log says
	// of them: "hit", "revalidated", "stale", "miss" or "pass".
	Requests map[string]int64
	// Sent counts the bytes of the bodies sent to clients, by the same
	// names: those of hit, revalidated and stale came from the directory.
	Sent map[string]int64
	// FromUpstream counts the bytes downloaded from the upstream (and the
	// mirrors) into the directory, and passed through.
	FromUpstream int64
	// Revalidations counts the conditional requests answered by the
	// upstream.
	Revalidations int64
	// UpstreamErrors counts the failures of the upstream that made a stale
	// copy served or a request fail: unreachable, 5xx.
	UpstreamErrors int64
	// Evictions counts the kept files removed to stay under
	// [CacheOptions.MaxBytes].
	Evictions int64
	// Files and Bytes are the kept files now, and their size.
	Files, Bytes int64
	// Clients is the number of requests being served now.
	Clients int64
}

// cacheStatuses are what the access log says of a request, as
// CacheStats counts them.
var cacheStatuses = [...]string{"hit", "revalidated", "stale", "miss", "pass"}

// cacheStats holds the counters of a Cache; it is safe for concurrent use,
// and counts a request without a lock.
type cacheStats struct {
	revalidations, upstreamErrors, fromUpstream, clients atomic.Int64

	requests, sent [len(cacheStatuses)]atomic.Int64 // by cacheStatuses
}

// served counts a request answered, as cache says, with n bytes sent.
func (s *cacheStats) served(cache string, n int64) {
	for i, name := range cacheStatuses {
		if name == cache {
			s.sent[i].Add(n) // first: a request counted has its bytes counted
			s.requests[i].Add(1)
			return
		}
	}
}

// Stats returns a snapshot of the counters of c. It is safe to call at any
// time, also during Close.
func (c *Cache) Stats() CacheStats {
	st := CacheStats{Requests: map[string]int64{}, Sent: map[string]int64{},
		FromUpstream: c.stats.fromUpstream.Load(), Revalidations: c.stats.revalidations.Load(),
		UpstreamErrors: c.stats.upstreamErrors.Load(), Clients: c.stats.clients.Load()}
	for i, name := range cacheStatuses {
		if n := c.stats.requests[i].Load(); n > 0 {
			st.Requests[name], st.Sent[name] = n, c.stats.sent[i].Load()
		}
	}
	st.Files, st.Bytes, st.Evictions = c.kept.counts()
	return st
}
