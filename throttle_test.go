package fetch_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestThrottledNoRetriesUsed checks that 429 answers use up no retries: a
// file refused more times than the retries allow still arrives.
func TestThrottledNoRetriesUsed(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1000, 3)}
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2*(1+fetch.DefaultRetries) {
			fetchtest.Status(w, http.StatusTooManyRequests, "")
			return
		}
		o.Serve(w, r, d, -1)
	})
	f := fetchtest.Fetcher(t, fetch.Options{})
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Digests: fetchtest.Digests(d.Body)})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*(1+fetch.DefaultRetries) + 1; res.Attempts != want {
		t.Errorf("Attempts: got %d; want %d", res.Attempts, want)
	}
}

// TestThrottledBudget checks that a URL that answers 429 for ever fails
// once MaxThrottled has passed, with the 429, after more attempts than the
// retries allow.
func TestThrottledBudget(t *testing.T) {
	t.Parallel()
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		fetchtest.Status(w, http.StatusTooManyRequests, "")
	})
	f := fetchtest.Fetcher(t, fetch.Options{MaxThrottled: time.Second})
	start := time.Now()
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file"})
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Fatalf("error: got %v; want a StatusError 429", err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("gave up after %v; want at least MaxThrottled, 1s", elapsed)
	}
	if res.Attempts <= 1+fetch.DefaultRetries {
		t.Errorf("Attempts: got %d; want more than %d", res.Attempts, 1+fetch.DefaultRetries)
	}
}

// TestAdaptivePerHost checks that 429 and 503 answers halve the transfers
// allowed to a host, down to 1, and that successes bring them back to
// PerHost, one more for each run of successes as long as the allowance.
func TestAdaptivePerHost(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(100, 4)}
	var mu sync.Mutex
	refuse := map[string]int{"/a": 429, "/b": 503, "/c": 429, "/d": 503}
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := refuse[r.URL.Path]
		delete(refuse, r.URL.Path)
		mu.Unlock()
		if code != 0 {
			fetchtest.Status(w, code, "")
			return
		}
		o.Serve(w, r, d, -1)
	})
	u, _ := url.Parse(o.URL)
	host := net.JoinHostPort(u.Hostname(), u.Port())
	l := fetch.NewLimiter(10, 6)
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: l})
	get := func(path string) {
		t.Helper()
		if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + path}); err != nil {
			t.Fatal(err)
		}
	}
	// Each refusal halves the allowance (6, 3, 1, 1) and the success
	// that follows counts towards the next step up.
	for _, step := range []struct {
		path string
		want int
	}{{"/a", 3}, {"/b", 1}, {"/c", 1}, {"/d", 1}} {
		get(step.path)
		if got := l.Allowed(host); got != step.want && got != step.want+1 {
			t.Fatalf("after a refused %s: Allowed %d; want %d (or %d after its success)", step.path, got, step.want, step.want+1)
		}
	}
	for i := range 30 {
		get(fmt.Sprintf("/ok%d", i))
	}
	if got := l.Allowed(host); got != 6 {
		t.Errorf("after 30 successes: Allowed %d; want PerHost, 6", got)
	}
}
