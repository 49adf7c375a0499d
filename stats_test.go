package fetch_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/google/go-cmp/cmp"
)

func TestStats(t *testing.T) {
	content := genFiles(1, 10000)["/f/00000"]
	release := make(chan struct{})
	s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Write(content)
		case "/slow": // half the file, then wait
			w.Header().Set("Content-Length", "10000")
			w.Write(content[:5000])
			w.(http.Flusher).Flush()
			select {
			case <-release:
				w.Write(content[5000:])
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	})
	f := fetchtest.Fetcher(t, fetch.Options{Retries: -1}, s)
	if got := f.Stats(); got != (fetch.Stats{}) {
		t.Errorf("a new Fetcher's Stats: %+v; want zero", got)
	}
	ctx := fetchtest.Context(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f.Fetch(ctx, fetch.Request{URL: s.URL + "/file"})
	f.Fetch(ctx, fetch.Request{URL: s.URL + "/file", Path: filepath.Join(dir, "out")})
	f.Fetch(ctx, fetch.Request{URL: s.URL + "/missing"})
	f.Fetch(ctx, fetch.Request{URL: s.URL + "/file", Path: in, Digests: fetchtest.Digests(content), CheckExisting: true})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	f.Fetch(cancelled, fetch.Request{URL: s.URL + "/file"})
	want := fetch.Stats{Done: 2, Skipped: 1, Failed: 1, Cancelled: 1, Bytes: 20000}
	if diff := cmp.Diff(want, f.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}

	// A transfer in flight counts, and so do its bytes so far.
	done := make(chan error, 1)
	go func() {
		_, err := f.Fetch(ctx, fetch.Request{URL: s.URL + "/slow"})
		done <- err
	}()
	for f.Stats().Bytes < 25000 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	want.InFlight, want.Bytes = 1, 25000
	if diff := cmp.Diff(want, f.Stats()); diff != "" {
		t.Errorf("Stats mid-transfer (-want +got):\n%s", diff)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want.InFlight, want.Done, want.Bytes = 0, 3, 30000
	if diff := cmp.Diff(want, f.Stats()); diff != "" {
		t.Errorf("Stats at the end (-want +got):\n%s", diff)
	}
}

// TestStatsFetchAllCancelled checks that FetchAll's requests waiting for a
// slot when ctx ends count as cancelled.
func TestStatsFetchAllCancelled(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(2, 2)}, s)
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	reqs := make(chan fetch.Request, 5)
	for range 5 {
		reqs <- fetch.Request{URL: s.URL}
	}
	close(reqs)
	results := f.FetchAll(ctx, reqs)
	for s.Hits.Load() < 2 || len(reqs) > 0 {
		time.Sleep(time.Millisecond)
	}
	if got := f.Stats().InFlight; got != 2 {
		t.Errorf("InFlight %d; want 2", got)
	}
	cancel()
	n := 0
	for range results {
		n++
	}
	if want := (fetch.Stats{Cancelled: 5}); f.Stats() != want || n != 5 {
		t.Errorf("%d Results, Stats %+v; want 5, %+v", n, f.Stats(), want)
	}
}
