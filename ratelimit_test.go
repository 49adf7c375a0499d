package fetch_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestRateLimitShared checks that two Fetchers that share a RateLimit stay
// under it together, and that neither of two transfers starves the other.
func TestRateLimitShared(t *testing.T) {
	const size = 8 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	srv := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, _ *http.Request) {
		s.ServeAll(w, fetchtest.Doc{Body: body}, -1)
	})

	limit := fetch.NewRateLimit(8 << 20) // 16 MiB in all: about 2 s
	var got [2]atomic.Int64
	var first atomic.Int64 // the other's bytes when one of them finished
	first.Store(-1)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			f := fetch.New(fetch.Options{RateLimit: limit})
			defer f.Close()
			_, err := f.Fetch(context.Background(), fetch.Request{
				URL:      srv.URL + "/f" + strconv.Itoa(i),
				Writer:   io.Discard,
				Size:     size,
				Progress: func(written, total int64) { got[i].Store(written) },
			})
			if err != nil {
				t.Error(err)
			}
			first.CompareAndSwap(-1, got[1-i].Load())
		})
	}
	wg.Wait()
	if elapsed := time.Since(start); elapsed < 1500*time.Millisecond {
		t.Errorf("16 MiB under a shared 8 MiB/s took %v; want at least 1.5s", elapsed)
	}
	// Both ask for tokens in turn: when one ends, the other is near its
	// end too, far from starved.
	if other := first.Load(); other < size/4 {
		t.Errorf("when one transfer ended the other had %d bytes of %d; want at least a quarter", other, size)
	}
}

func TestNewRateLimit(t *testing.T) {
	for _, tc := range []struct {
		rate  int64
		burst int
	}{
		{100, 100}, {4000, 512}, {100_000, 10_000}, {10 << 20, 64 << 10},
	} {
		l := fetch.NewRateLimit(tc.rate)
		if l.Rate() != tc.rate || l.Burst() != tc.burst {
			t.Errorf("NewRateLimit(%d): rate %d, burst %d; want %d, %d", tc.rate, l.Rate(), l.Burst(), tc.rate, tc.burst)
		}
	}
}

// BenchmarkRateLimit measures how close 8 transfers that share a RateLimit
// of 8 MiB/s come to it: the metric "of-limit" is the rate achieved over
// the rate allowed.
func BenchmarkRateLimit(b *testing.B) {
	const size, transfers, limit = 2 << 20, 8, 8 << 20
	body := bytes.Repeat([]byte("x"), size)
	srv := fetchtest.Start(b, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, _ *http.Request) {
		s.ServeAll(w, fetchtest.Doc{Body: body}, -1)
	})
	f := fetch.New(fetch.Options{RateLimit: fetch.NewRateLimit(limit)})
	defer f.Close()
	start := time.Now()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range transfers {
			wg.Go(func() {
				if _, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/" + strconv.Itoa(i), Writer: io.Discard, Size: size}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	rate := float64(b.N*size*transfers) / time.Since(start).Seconds()
	b.ReportMetric(rate/limit, "of-limit")
}
