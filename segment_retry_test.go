package fetch_test

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestSegmentsThrottled: range requests of a segmented download that are
// answered 429, or 503 with Retry-After, are retried as the first request
// would be: they use up no retry (each connection is refused twice, with
// one retry allowed), they close the host for the Retry-After to every
// connection, and they lower the host's allowance in the Limiter. The file
// arrives and verifies.
func TestSegmentsThrottled(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1<<20, 28), ETag: `"t"`}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			const refused = 6 // the first range requests, refused
			var (
				mu     sync.Mutex
				ranges int       // range requests received
				first  time.Time // when the first of them came
				early  []int     // later ones that came before its Retry-After passed
				once   sync.Once
			)
			// The first response waits until the range requests after the
			// refusals came, so that the other connections fetch the spans.
			// That takes a second for each run of refusals, and a
			// connection that comes late to a run starts a run of its own:
			// up to six on a loaded machine. So the wait lasts as long as
			// the test may (fetchtest.Context).
			late := make(chan struct{})
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") == "" {
					o.Serve(slowResponse{ResponseWriter: w, r: r, gate: late, wait: time.Minute}, r, d, -1)
					return
				}
				mu.Lock()
				ranges++
				k := ranges
				if k == 1 {
					first = time.Now()
				} else if k > 3 && time.Since(first) < time.Second {
					// Ranges 1 to 3 are the first of the three other
					// connections; any later one follows a refusal.
					early = append(early, k)
				}
				mu.Unlock()
				if k <= refused {
					fetchtest.Status(w, code, "1")
					return
				}
				once.Do(func() { close(late) })
				o.Serve(w, r, d, -1)
			})
			// Each run of refusals halves the host's allowance; six runs
			// leave 128 at 2: one slot for the first response, which holds
			// its slot while it waits, and one for the range requests.
			l := fetch.NewLimiter(128, 128)
			opts := segmentOptions(4)
			opts.Retries = 1
			opts.Limiter = l
			f := fetchtest.Fetcher(t, opts)
			path := filepath.Join(t.TempDir(), "file")
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path, Digests: fetchtest.Digests(d.Body)})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, path), d.Body) {
				t.Errorf("file differs from the served one")
			}
			mu.Lock()
			defer mu.Unlock()
			if ranges <= refused {
				t.Errorf("range requests: got %d; want more than the %d refused", ranges, refused)
			}
			if res.Attempts <= refused {
				t.Errorf("Attempts: got %d; want more than %d", res.Attempts, refused)
			}
			if len(early) > 0 {
				t.Errorf("range requests %v came within the Retry-After (1s) of the first refusal", early)
			}
			u, _ := url.Parse(o.URL)
			if got := l.Allowed(net.JoinHostPort(u.Hostname(), u.Port())); got >= l.PerHost() {
				t.Errorf("Allowed after %d refusals: got %d; want less than PerHost, %d", refused, got, l.PerHost())
			}
		})
	}
}
