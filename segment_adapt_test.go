package fetch_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// shapedServer serves d with each response held to rate bytes a second
// (none: as fast as it goes), as a server that shapes each connection
// (nginx's limit_rate), and counts the requests it serves at once.
type shapedServer struct {
	*fetchtest.Server
	inflight, most atomic.Int64
}

func startShaped(t testing.TB, d fetchtest.Doc, rate int) *shapedServer {
	s := &shapedServer{}
	s.Server = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		in := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for m := s.most.Load(); in > m && !s.most.CompareAndSwap(m, in); m = s.most.Load() {
		}
		o.Serve(shapedResponse{ResponseWriter: w, rate: rate, start: time.Now(), sent: new(int64)}, r, d, -1)
	})
	return s
}

// shapedResponse writes a body no faster than rate bytes a second.
type shapedResponse struct {
	http.ResponseWriter
	rate  int
	start time.Time
	sent  *int64
}

func (s shapedResponse) Write(p []byte) (int, error) {
	if s.rate <= 0 {
		return s.ResponseWriter.Write(p)
	}
	for written := 0; written < len(p); {
		chunk := p[written:min(len(p), written+16<<10)]
		n, err := s.ResponseWriter.Write(chunk)
		written += n
		*s.sent += int64(n)
		if err != nil {
			return written, err
		}
		if due := s.start.Add(time.Duration(float64(*s.sent) / float64(s.rate) * float64(time.Second))); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
	}
	return len(p), nil
}

func (s shapedResponse) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// TestSegmentsAdapt: with AdaptSegments, a download from a server that
// shapes each connection delivers the verified file without passing
// Segments connections or the per-host cap.
func TestSegmentsAdapt(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(3<<20, 32), ETag: `"a"`}
	for _, perHost := range []int{8, 3} {
		t.Run(fmt.Sprint("per host ", perHost), func(t *testing.T) {
			t.Parallel()
			o := startShaped(t, d, 2<<20)
			opts := segmentOptions(6)
			opts.AdaptSegments = true
			opts.Limiter = fetch.NewLimiter(8, perHost)
			path := filepath.Join(t.TempDir(), "file")
			res, err := fetchtest.Fetcher(t, opts).Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, path), d.Body) {
				t.Errorf("file differs from the served one")
			}
			if res.Attempts < 2 {
				t.Errorf("Attempts: got %d; want a segmented download", res.Attempts)
			}
			if got := o.most.Load(); got > int64(min(6, perHost)) {
				t.Errorf("requests at once: got %d; want at most %d", got, min(6, perHost))
			}
		})
	}
}

// BenchmarkSegmentsAdapt downloads a file from a server that shapes each
// connection to 8 MiB/s, and from one that does not, with 1 and 8
// segments and with 8 adapted; it reports the most requests served at
// once.
func BenchmarkSegmentsAdapt(b *testing.B) {
	d := fetchtest.Doc{Body: fetchtest.Blob(48<<20, 33), ETag: `"b"`}
	for _, shaped := range []bool{true, false} {
		rate, name := 8<<20, "shaped"
		if !shaped {
			rate, name = 0, "unshaped"
		}
		for _, tc := range []struct {
			segments int
			adapt    bool
		}{{1, false}, {8, false}, {8, true}} {
			b.Run(fmt.Sprintf("%s/segments=%d/adapt=%v", name, tc.segments, tc.adapt), func(b *testing.B) {
				o := startShaped(b, d, rate)
				opts := fetch.Options{Segments: tc.segments, AdaptSegments: tc.adapt, Limiter: fetch.NewLimiter(8, 8)}
				f := fetchtest.Fetcher(b, opts)
				dir := b.TempDir()
				b.SetBytes(int64(len(d.Body)))
				for i := 0; b.Loop(); i++ {
					path := filepath.Join(dir, fmt.Sprint(i))
					if _, err := f.Fetch(fetchtest.Context(b), fetch.Request{URL: o.URL + "/file", Path: path}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(o.most.Load()), "conns")
			})
		}
	}
}
