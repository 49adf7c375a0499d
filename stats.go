package fetch

import (
	"context"
	"errors"
	"sync/atomic"
)

// Stats is a snapshot of what a Fetcher has done since New: see
// [Fetcher.Stats]. It counts every request, whether Fetch or FetchAll made
// it; a Fetcher shared by several users counts them all.
type Stats struct {
	// InFlight counts the requests started and not yet ended.
	InFlight int64
	// Done counts the requests that ended with success: downloaded and
	// verified.
	Done int64
	// Skipped counts the requests that ended without a transfer, their
	// file being in place ([Request.CheckExisting]). They are not in Done.
	Skipped int64
	// Failed counts the requests that ended with an error other than
	// their context's end.
	Failed int64
	// Cancelled counts the requests cut short by the end of their context
	// (an error matching context.Canceled or context.DeadlineExceeded),
	// with the requests that FetchAll held waiting for a slot then.
	Cancelled int64
	// Bytes counts the bytes received from servers and delivered to the
	// sinks, by the requests ended and those in flight. A transfer that
	// starts again from zero counts its bytes again; a file found in place
	// counts none.
	Bytes int64
}

// Stats returns what f has done so far: cheap enough to call for every
// line of a progress display. Each count is exact, but they are read one
// after another while requests go on: a request that ends meanwhile may be
// missing from both InFlight and the count it moves to.
func (f *Fetcher) Stats() Stats {
	s := &f.stats
	return Stats{
		Done:      s.done.Load(),
		Skipped:   s.skipped.Load(),
		Failed:    s.failed.Load(),
		Cancelled: s.cancelled.Load(),
		InFlight:  s.inFlight.Load(),
		Bytes:     s.bytes.Load(),
	}
}

// stats holds the counts of Stats.
type stats struct {
	inFlight, done, skipped, failed, cancelled, bytes atomic.Int64
}

// ended counts res, the Result of a request that was in flight.
func (s *stats) ended(res *Result) {
	s.count(res)
	s.inFlight.Add(-1)
}

// count counts res in the count of its outcome.
func (s *stats) count(res *Result) {
	switch {
	case res.Skipped:
		s.skipped.Add(1)
	case res.Err == nil:
		s.done.Add(1)
	case errors.Is(res.Err, context.Canceled), errors.Is(res.Err, context.DeadlineExceeded):
		s.cancelled.Add(1)
	default:
		s.failed.Add(1)
	}
}
