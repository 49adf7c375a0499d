package fetch

import (
	"context"

	"golang.org/x/time/rate"
)

// RateLimit caps the bytes per second that transfers receive, all of them
// together: those of one Fetcher ([Options.RateLimit]), or of several
// Fetchers that share it, as they may share a Limiter. It is safe for
// concurrent use.
//
// Transfers take their bytes from one token bucket, in the order they ask,
// and read at most Burst bytes at a time, so that a fast transfer cannot
// keep a slow one waiting: each gets its share of the rate. The bucket
// holds a tenth of a second of the rate (Burst), so that a run starts at
// once and a pause does not let a flood through after it.
type RateLimit struct {
	lim *rate.Limiter
}

// NewRateLimit returns a RateLimit of bytesPerSecond. It panics if
// bytesPerSecond is not positive: a nil *RateLimit means no limit.
func NewRateLimit(bytesPerSecond int64) *RateLimit {
	if bytesPerSecond <= 0 {
		panic("fetch: NewRateLimit: bytesPerSecond must be positive")
	}
	burst := bytesPerSecond / 10
	switch {
	case burst < 512:
		burst = min(512, bytesPerSecond)
	case burst > 64<<10:
		burst = 64 << 10
	}
	return &RateLimit{lim: rate.NewLimiter(rate.Limit(bytesPerSecond), int(burst))}
}

// Rate returns the bytes per second that r allows.
func (r *RateLimit) Rate() int64 { return int64(r.lim.Limit()) }

// Burst returns the most bytes a transfer reads at once under r.
func (r *RateLimit) Burst() int { return r.lim.Burst() }

// chunk returns buf cut to what one read may bring under r (nil: no limit).
func (r *RateLimit) chunk(buf []byte) []byte {
	if r == nil {
		return buf
	}
	return buf[:min(len(buf), r.lim.Burst())]
}

// wait waits until n bytes that were read may be used, or ctx is done.
func (r *RateLimit) wait(ctx context.Context, n int) error {
	if r == nil || n == 0 {
		return nil
	}
	if err := r.lim.WaitN(ctx, n); err != nil {
		// WaitN fails at once when ctx's deadline comes before the
		// bytes may: wait for the deadline, as a transfer would.
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
