package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

func TestNewLimiterDefaults(t *testing.T) {
	tests := []struct{ max, perHost, wantMax, wantPerHost int }{
		{0, 0, fetch.DefaultMaxTransfers, fetch.DefaultPerHost},
		{-1, -1, fetch.DefaultMaxTransfers, fetch.DefaultPerHost},
		{4, 0, 4, 4},
		{20, 3, 20, 3},
		{2, 8, 2, 2},
	}
	for _, tt := range tests {
		l := fetch.NewLimiter(tt.max, tt.perHost)
		if l.Max() != tt.wantMax || l.PerHost() != tt.wantPerHost {
			t.Errorf("NewLimiter(%d, %d): got max %d, perHost %d; want %d, %d",
				tt.max, tt.perHost, l.Max(), l.PerHost(), tt.wantMax, tt.wantPerHost)
		}
	}
}

// TestLimiterCaps runs goroutines that hold slots and records the most held
// at once, in all and per host.
func TestLimiterCaps(t *testing.T) {
	l := fetch.NewLimiter(5, 2)
	var (
		mu               sync.Mutex
		inAll, most      int
		inHost, mostHost = map[string]int{}, map[string]int{}
		wg               sync.WaitGroup
	)
	for i := range 200 {
		host := fmt.Sprintf("h%d:80", i%4)
		wg.Go(func() {
			release, err := l.Acquire(context.Background(), host)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inAll++
			inHost[host]++
			most = max(most, inAll)
			mostHost[host] = max(mostHost[host], inHost[host])
			mu.Unlock()
			mu.Lock()
			inAll--
			inHost[host]--
			mu.Unlock()
			release()
		})
	}
	wg.Wait()
	if most > 5 {
		t.Errorf("%d slots held at once; want at most 5", most)
	}
	for h, n := range mostHost {
		if n > 2 {
			t.Errorf("%d slots held at once for %s; want at most 2", n, h)
		}
	}
}

func TestLimiterAcquireCancelled(t *testing.T) {
	l := fetch.NewLimiter(1, 1)
	release, err := l.Acquire(context.Background(), "a:80")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx, "a:80"); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire on a busy host with a cancelled ctx: got %v; want context.Canceled", err)
	}
	if _, err := l.Acquire(ctx, "b:80"); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with no slot in all and a cancelled ctx: got %v; want context.Canceled", err)
	}
	release()
	release() // a second call does nothing
	r2, err := l.Acquire(context.Background(), "b:80")
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	r2()
}

// TestLimiterShared checks that two Fetchers sharing a Limiter stay under
// it together.
func TestLimiterShared(t *testing.T) {
	var inFlight, most atomic.Int64
	release := make(chan struct{})
	s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
	})
	l := fetch.NewLimiter(3, 3)
	importer := fetchtest.Fetcher(t, fetch.Options{Limiter: l}, s)
	streamer := fetchtest.Fetcher(t, fetch.Options{Limiter: l}, s)
	var wg sync.WaitGroup
	for i := range 12 {
		f := importer
		if i%2 == 1 {
			f = streamer
		}
		wg.Go(func() { f.Fetch(context.Background(), fetch.Request{URL: s.URL}) })
	}
	for s.Hits.Load() < 3 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if most.Load() > 3 {
		t.Errorf("%d transfers at once over a shared NewLimiter(3, 3); want at most 3", most.Load())
	}
	if s.Hits.Load() != 12 {
		t.Errorf("server saw %d requests; want 12", s.Hits.Load())
	}
}
