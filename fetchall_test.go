package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// gauge counts requests in flight and keeps the most seen at once.
type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) enter() int64 {
	n := g.now.Add(1)
	for m := g.peak.Load(); n > m && !g.peak.CompareAndSwap(m, n); m = g.peak.Load() {
	}
	return n
}

func (g *gauge) leave() { g.now.Add(-1) }

// TestFetchAllNoHeadOfLineBlocking sends 30 requests to host A, then 30 to
// host B, through NewLimiter(10, 6). Every request is held at its server
// until A has 6 requests in flight and B 4 at once: requests to B must
// start while A is at its cap, with the remaining 4 transfer slots.
func TestFetchAllNoHeadOfLineBlocking(t *testing.T) {
	var a, b, all gauge
	busy := make(chan struct{})
	var once sync.Once
	var timedOut atomic.Bool
	hold := func(g *gauge) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.enter()
			all.enter()
			defer g.leave()
			defer all.leave()
			if a.now.Load() >= 6 && b.now.Load() >= 4 {
				once.Do(func() { close(busy) })
			}
			select {
			case <-busy:
			case <-time.After(10 * time.Second): // a failure, not a wait
				timedOut.Store(true)
			case <-r.Context().Done():
			}
			time.Sleep(5 * time.Millisecond) // a throttled server
			w.Write([]byte("ok"))
		})
	}
	sa := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(hold(&a)))
	sb := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(hold(&b)))
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(10, 6)})

	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for _, s := range []*fetchtest.Server{sa, sb} {
			for i := range 30 {
				reqs <- fetch.Request{URL: fmt.Sprintf("%s/%d", s.URL, i)}
			}
		}
	}()
	n := 0
	for r := range f.FetchAll(fetchtest.Context(t), reqs) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Request.URL, r.Err)
		}
		n++
	}
	if n != 60 {
		t.Errorf("got %d results; want 60", n)
	}
	if timedOut.Load() {
		t.Fatalf("requests to B did not start while A was at its cap: at most %d to A and %d to B at once", a.peak.Load(), b.peak.Load())
	}
	if a.peak.Load() != 6 || b.peak.Load() < 4 || all.peak.Load() > 10 {
		t.Errorf("at most %d requests to A, %d to B, %d in all at once; want 6, at least 4, at most 10",
			a.peak.Load(), b.peak.Load(), all.peak.Load())
	}
}

// TestFetchAllResultsAfterCancel cancels a FetchAll whose transfers are in
// flight and whose other requests wait for their host: every request taken
// gets a Result matching context.Canceled, and a consumer that stops
// reading finds them all in the channel, nothing blocked.
func TestFetchAllResultsAfterCancel(t *testing.T) {
	for _, read := range []bool{true, false} {
		t.Run(fmt.Sprintf("read=%v", read), func(t *testing.T) {
			var inFlight gauge
			s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
				inFlight.enter()
				defer inFlight.leave()
				s.Stall(w, r, fetchtest.Doc{Body: make([]byte, 100)}, 7)
			})
			f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(4, 2)}, s)
			ctx, cancel := context.WithCancel(fetchtest.Context(t))
			defer cancel()
			reqs := make(chan fetch.Request)
			var sent atomic.Int64
			var producer sync.WaitGroup
			producer.Go(func() {
				defer close(reqs)
				for i := range 1000 {
					select {
					case reqs <- fetch.Request{URL: fmt.Sprintf("%s/%d", s.URL, i), Tag: i}:
						sent.Add(1)
					case <-ctx.Done():
						return
					}
				}
			})
			results := f.FetchAll(ctx, reqs)
			// Two transfers run (the host's cap); the requests taken
			// after them wait for the host.
			for inFlight.now.Load() < 2 || sent.Load() < 3 {
				time.Sleep(time.Millisecond)
			}
			cancel()
			producer.Wait()
			taken := int(sent.Load())
			if !read {
				// Nothing reads: every Result must fit in the channel.
				for end := time.Now().Add(10 * time.Second); len(results) < taken && time.Now().Before(end); {
					time.Sleep(time.Millisecond)
				}
				if n := len(results); n < taken {
					t.Errorf("%d Results in the channel of a consumer that stopped reading; want all %d", n, taken)
				}
			}
			seen := map[any]bool{}
			for r := range results {
				if !errors.Is(r.Err, context.Canceled) {
					t.Errorf("%s: %v; want context.Canceled", r.Request.URL, r.Err)
				}
				seen[r.Request.Tag] = true
			}
			if len(seen) != taken {
				t.Errorf("got Results for %d requests; want one for each of the %d taken", len(seen), taken)
			}
			if taken > 4*5 {
				t.Errorf("FetchAll took %d requests with a limit of 4; want at most 20", taken)
			}
		})
	}
}

// BenchmarkFetchAllHostOrder runs 30 requests to host A and 30 to host B,
// each served in 50ms, through NewLimiter(10, 6): grouped (all of A, then
// all of B) and interleaved. Without head-of-line blocking both take about
// 60/10 × 50ms.
func BenchmarkFetchAllHostOrder(b *testing.B) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte("ok"))
	})
	sa := fetchtest.Start(b, fetchtest.HTTP, fetchtest.Handler(slow))
	sb := fetchtest.Start(b, fetchtest.HTTP, fetchtest.Handler(slow))
	f := fetchtest.Fetcher(b, fetch.Options{Limiter: fetch.NewLimiter(10, 6)})
	orders := map[string]func(i int) *fetchtest.Server{
		"grouped":     func(i int) *fetchtest.Server { return []*fetchtest.Server{sa, sb}[i/30] },
		"interleaved": func(i int) *fetchtest.Server { return []*fetchtest.Server{sa, sb}[i%2] },
	}
	for _, name := range []string{"grouped", "interleaved"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				reqs := make(chan fetch.Request)
				go func() {
					defer close(reqs)
					for i := range 60 {
						reqs <- fetch.Request{URL: fmt.Sprintf("%s/%d", orders[name](i).URL, i)}
					}
				}()
				for r := range f.FetchAll(context.Background(), reqs) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
		})
	}
}

// TestFetchAllWorkers runs 100 requests through NewLimiter(3, 3): while
// FetchAll runs, at most 3 of its goroutines run transfers, whatever the
// number of requests.
func TestFetchAllWorkers(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})))
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(3, 3)})
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for i := range 100 {
			reqs <- fetch.Request{URL: fmt.Sprintf("%s/%d", s.URL, i), Writer: io.Discard}
		}
	}()
	n, most := 0, 0
	for r := range f.FetchAll(fetchtest.Context(t), reqs) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Request.URL, r.Err)
		}
		n++
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 2)
		most = max(most, strings.Count(b.String(), ".(*scheduler).worker("))
	}
	if n != 100 {
		t.Errorf("got %d results; want 100", n)
	}
	if most == 0 || most > 3 {
		t.Errorf("%d goroutines ran transfers at once; want 1 to 3", most)
	}
}
