package fetch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
// (context.Canceled). Once ctx is done FetchAll takes no more requests:
// the goroutine that sends them must select on ctx.Done() as it sends, or
// it waits for ever on its send, and closes reqs when it stops:
//
//	select {
//	case reqs <- req:
//	case <-ctx.Done():
//		return
//	}
//
// The returned channel is closed when reqs is closed, or ctx is done, and
// every request taken has its Result in it. Its buffer has room for the
// Result of every request taken and not yet read (FetchAll takes no request
// while it has not: a consumer that falls behind slows the intake, and
// FetchAll sees that it read again within 50ms), so a consumer may stop
// reading at any moment after cancelling ctx: no goroutine stays blocked.
func (f *Fetcher) FetchAll(ctx context.Context, reqs <-chan Request) <-chan Result {
	s := f.newScheduler(ctx)
	go s.run(reqs)
	return s.out
}

// Waits between looks at a consumer that has the Results of the whole
// window to read: the first, and the longest.
const (
	minLagPoll = time.Millisecond
	maxLagPoll = 50 * time.Millisecond
)

// scheduler runs the requests of one FetchAll. Only its run goroutine
// touches its fields; transfers report to it on done.
//
// The transfers run on up to max worker goroutines, started as needed and
// kept until run ends, so that a worker's stack, grown by the first
// download, serves the next ones.
type scheduler struct {
	f       *Fetcher
	ctx     context.Context
	out     chan Result
	done    chan string // the host of each transfer that ended
	work    chan job    // to the idle workers; closed when run ends
	workers sync.WaitGroup
	nworker int

	max        int
	maxWaiting int
	running    int
	hosts      map[string]int // transfers running, by host
	waiting    []job          // requests taken but not started, in the order taken

	lagWait  time.Duration // the current wait between looks at out; 0: out has room
	lagLooks atomic.Int64  // looks at out after a wait, for tests
}

func (f *Fetcher) newScheduler(ctx context.Context) *scheduler {
	max := f.limiter.Max()
	return &scheduler{
		f:          f,
		ctx:        ctx,
		out:        make(chan Result, max*(1+lookAhead)),
		done:       make(chan string, max),
		work:       make(chan job),
		max:        max,
		maxWaiting: max * lookAhead,
		hosts:      make(map[string]int),
	}
}

// job is a request taken: waiting, or sent to a worker.
type job struct {
	req    Request
	target target
}

// run takes requests from reqs and starts them until reqs is closed or ctx
// is done, then waits for the transfers and closes out.
//
// A Result is sent on out by the transfer's goroutine (or by run, for a
// waiting request when ctx is done), never blocking: run takes a request
// only while the requests running or waiting, with the Results in out's
// buffer, leave room for one more Result.
//
// When only the consumer can make that room, by reading a Result, nothing
// tells run that it did: a receive from a buffered channel wakes no one
// unless a sender is blocked on it, and a sender blocked on a full out
// would hold a Result beyond its buffer, which a consumer that stops
// reading after cancelling ctx would never free. So run looks at out
// again after a wait that doubles, from minLagPoll up to maxLagPoll, for
// as long as the consumer reads nothing.
func (s *scheduler) run(reqs <-chan Request) {
	defer close(s.out)
	defer s.workers.Wait()
	defer close(s.work)
	ctxDone := s.ctx.Done()
	look := time.NewTimer(time.Hour)
	look.Stop()
	defer look.Stop()
	armed := false
	for {
		if ctxDone != nil && s.ctx.Err() != nil {
			ctxDone, reqs = nil, nil
			s.cancelWaiting()
		}
		s.startWaiting()
		if reqs == nil && s.running == 0 && len(s.waiting) == 0 {
			return
		}
		in := reqs
		switch {
		case len(s.waiting) >= s.maxWaiting:
			in = nil // a transfer that ends makes room
		case s.running+len(s.waiting)+len(s.out) >= cap(s.out):
			in = nil // the consumer makes room
			if !armed {
				s.lagWait = min(max(2*s.lagWait, minLagPoll), maxLagPoll)
				look.Reset(s.lagWait)
				armed = true
			}
		default:
			s.lagWait = 0
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
		case <-look.C:
			armed = false
			s.lagLooks.Add(1)
		}
	}
}

// take starts req, or keeps it waiting if every slot is taken or its host
// is at its cap.
func (s *scheduler) take(req Request) {
	t := targetOf(req.URL)
	if s.running < s.max && s.hosts[t.host] < s.f.limiter.Allowed(t.host) {
		s.start(req, t)
		return
	}
	s.waiting = append(s.waiting, job{req, t})
}

// startWaiting starts waiting requests whose host has a free slot while
// there are transfer slots: first that of the host with the fewest
// transfers running, the oldest of them on a tie, so that the hosts share
// the slots.
func (s *scheduler) startWaiting() {
	for s.running < s.max {
		next := -1
		for i, w := range s.waiting {
			if i > 0 && w.target.host == s.waiting[i-1].target.host {
				continue // an older request of its host was looked at
			}
			if n := s.hosts[w.target.host]; n < s.f.limiter.Allowed(w.target.host) && (next < 0 || n < s.hosts[s.waiting[next].target.host]) {
				next = i
			}
		}
		if next < 0 {
			return
		}
		w := s.waiting[next]
		s.waiting = slices.Delete(s.waiting, next, next+1)
		s.start(w.req, w.target)
	}
}

// start runs req on a worker, which sends its Result: an idle one, or a
// new one while there are fewer than max. With max workers, one of them is
// between its last transfer's end and its next receive (start is called
// only while fewer than max transfers run), so the send waits for it only
// that long: a worker's sends on out and done never block.
func (s *scheduler) start(req Request, t target) {
	s.running++
	s.hosts[t.host]++
	j := job{req, t}
	select {
	case s.work <- j:
		return
	default:
	}
	if s.nworker < s.max {
		s.nworker++
		s.workers.Add(1)
		go s.worker(j)
		return
	}
	s.work <- j
}

// worker runs j, then the jobs it receives on work until work is closed.
func (s *scheduler) worker(j job) {
	defer s.workers.Done()
	var dir rootDir
	defer dir.close()
	for {
		s.out <- s.f.fetch(withPassResponse(s.ctx, j.req.PassResponse), j.req, j.target, &dir)
		s.done <- j.target.host
		var ok bool
		if j, ok = <-s.work; !ok {
			return
		}
	}
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
