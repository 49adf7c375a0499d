package fetch

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// lookAhead is how many requests per transfer slot FetchAll holds waiting
// for a slot.
const lookAhead = 4

// FetchAll downloads the requests received from reqs, at most [Limiter.Max]
// at once and at most [Limiter.PerHost] to one host, and sends their Results
// in completion order.
//
// It holds at most 5×[Limiter.Max] requests at once, whatever their number:
// those running, and up to 4×[Limiter.Max] waiting for a slot. It takes a
// request from reqs only while it has room for one more, and starts it at
// once if a transfer slot is free and its host (that of its URL) has
// fewer transfers of this FetchAll than [Limiter.Allowed]; otherwise the
// request waits, holding no slot, and FetchAll takes the next one. When a
// slot frees, the waiting request that starts is one of the host with the
// fewest transfers running, the oldest of them on a tie. So requests to one
// host start in the order taken, a run of requests to one host does not
// keep the other hosts idle (unless it is longer than the look-ahead), and
// the hosts share the slots. Requests not taken stay in reqs.
//
// Every request taken gets its Result, also when ctx is done: a request cut
// short, or still waiting, then has an Err that matches ctx's error
// (context.Canceled). Once ctx is done FetchAll takes no more requests.
// The returned channel is closed when reqs is closed, or ctx is done, and
// every request taken has its Result in it. Its buffer has room for the
// Result of every request taken and not yet read (FetchAll takes no request
// while it has not: a consumer that falls behind slows the intake), so a
// consumer may stop reading at any moment after cancelling ctx: no
// goroutine stays blocked.
func (f *Fetcher) FetchAll(ctx context.Context, reqs <-chan Request) <-chan Result {
	max := f.limiter.Max()
	s := &scheduler{
		f:          f,
		ctx:        ctx,
		out:        make(chan Result, max*(1+lookAhead)),
		done:       make(chan string, max),
		max:        max,
		maxWaiting: max * lookAhead,
		hosts:      make(map[string]int),
	}
	go s.run(reqs)
	return s.out
}

// scheduler runs the requests of one FetchAll. Only its run goroutine
// touches its fields; transfers report to it on done.
type scheduler struct {
	f    *Fetcher
	ctx  context.Context
	out  chan Result
	done chan string // the host of each transfer that ended

	max        int
	maxWaiting int
	running    int
	hosts      map[string]int // transfers running, by host
	waiting    []waiting      // requests taken but not started, in the order taken
}

type waiting struct {
	req  Request
	host string
}

// run takes requests from reqs and starts them until reqs is closed or ctx
// is done, then waits for the transfers and closes out.
//
// A Result is sent on out by the transfer's goroutine (or by run, for a
// waiting request when ctx is done), never blocking: run takes a request
// only while the requests running or waiting, with the Results in out's
// buffer, leave room for one more Result.
func (s *scheduler) run(reqs <-chan Request) {
	defer close(s.out)
	ctxDone := s.ctx.Done()
	var poll *time.Timer
	for {
		if ctxDone != nil && s.ctx.Err() != nil {
			ctxDone, reqs = nil, nil
			s.cancelWaiting()
		}
		s.startWaiting()
		if reqs == nil && s.running == 0 && len(s.waiting) == 0 {
			if poll != nil {
				poll.Stop()
			}
			return
		}
		in := reqs
		var wake <-chan time.Time
		if len(s.waiting) >= s.maxWaiting {
			in = nil // a transfer that ends makes room
		} else if s.running+len(s.waiting)+len(s.out) >= cap(s.out) {
			// Only the consumer can make room, by reading a Result, and
			// nothing tells of that: look again in a moment.
			in = nil
			if poll == nil {
				poll = time.NewTimer(time.Millisecond)
			} else {
				poll.Reset(time.Millisecond)
			}
			wake = poll.C
		}
		select {
		case req, ok := <-in:
			if !ok {
				reqs = nil
				continue
			}
			s.take(req)
		case host := <-s.done:
			s.running--
			if s.hosts[host]--; s.hosts[host] == 0 {
				delete(s.hosts, host)
			}
		case <-ctxDone:
		case <-wake:
		}
	}
}

// take starts req, or keeps it waiting if every slot is taken or its host
// is at its cap.
func (s *scheduler) take(req Request) {
	host := ""
	if u, err := url.Parse(req.URL); err == nil {
		host = hostKey(u)
	}
	if s.running < s.max && s.hosts[host] < s.f.limiter.Allowed(host) {
		s.start(req, host)
		return
	}
	s.waiting = append(s.waiting, waiting{req, host})
}

// startWaiting starts waiting requests whose host has a free slot while
// there are transfer slots: first that of the host with the fewest
// transfers running, the oldest of them on a tie, so that the hosts share
// the slots.
func (s *scheduler) startWaiting() {
	for s.running < s.max {
		next := -1
		for i, w := range s.waiting {
			if n := s.hosts[w.host]; n < s.f.limiter.Allowed(w.host) && (next < 0 || n < s.hosts[s.waiting[next].host]) {
				next = i
			}
		}
		if next < 0 {
			return
		}
		w := s.waiting[next]
		s.waiting = slices.Delete(s.waiting, next, next+1)
		s.start(w.req, w.host)
	}
}

// start runs req on a goroutine of its own, which sends its Result.
func (s *scheduler) start(req Request, host string) {
	s.running++
	s.hosts[host]++
	go func() {
		s.out <- s.f.fetch(s.ctx, req)
		s.done <- host
	}()
}

// cancelWaiting gives each waiting request its Result: cancelled.
func (s *scheduler) cancelWaiting() {
	for _, w := range s.waiting {
		u := RedactURL(w.req.URL)
		res := Result{Request: w.req, URL: u, Err: fmt.Errorf("%s: %w", u, s.ctx.Err())}
		s.f.stats.count(&res)
		s.out <- res
	}
	s.waiting = nil
}
