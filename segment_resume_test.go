package fetch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// rangedBytes returns the bytes that requests from, from+1, ... of o asked
// for, the whole file of size for a request without a Range, and how many
// asked for no range.
func rangedBytes(t *testing.T, o *segmentOrigin, from int, size int64) (sum int64, whole int) {
	t.Helper()
	for n := from; o.Header(n) != nil; n++ {
		r := o.Header(n).Get("Range")
		if r == "" {
			sum, whole = sum+size, whole+1
			continue
		}
		first, last, _ := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
		a, err := strconv.ParseInt(first, 10, 64)
		b, err2 := strconv.ParseInt(last, 10, 64)
		if last == "" {
			b, err2 = size-1, nil
		}
		if err != nil || err2 != nil {
			t.Fatalf("request %d: Range %q", n, r)
		}
		sum += b - a + 1
	}
	return sum, whole
}

// quiet waits until o serves no request, so that its counters stand still.
func quiet(t *testing.T, o *segmentOrigin) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); o.inflight.Load() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server still serves requests after 10s")
		}
	}
}

// TestSegmentsResume: with KeepPartial, a segmented download that is
// cancelled half way keeps its spans, and the next run (another Fetcher,
// as in another process) asks the server for the missing bytes only,
// under the validator (and the digest), on several connections or on one,
// and delivers the verified file. A
// file that changed upstream is fetched whole, from its new version.
func TestSegmentsResume(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	old := fetchtest.Doc{Body: fetchtest.Blob(size, 29), ETag: `"1"`}
	changed := fetchtest.Doc{Body: fetchtest.Blob(size, 30), ETag: `"2"`}
	for _, tc := range []struct {
		name    string
		digests bool
		then    fetchtest.Doc // served in the second run
		one     bool          // the second run has Segments 0: one connection
	}{
		{name: "validator", then: old},
		{name: "one connection", then: old, one: true},
		{name: "validator and digest", digests: true, then: old},
		{name: "changed", then: changed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var current atomic.Pointer[fetchtest.Doc]
			current.Store(&old)
			o := startSegmentOrigin(t, "http1", func(int) fetchtest.Doc { return *current.Load() }, nil)
			opts := segmentOptions(4)
			opts.KeepPartial = true
			dir := t.TempDir()
			req := fetch.Request{URL: o.URL + "/file", Path: filepath.Join(dir, "file")}
			if tc.digests {
				req.Digests = fetchtest.Digests(old.Body)
			}

			ctx, cancel := context.WithCancel(fetchtest.Context(t))
			var once sync.Once
			first := req
			first.Progress = func(written, total int64) {
				if written > total/2 {
					once.Do(cancel)
				}
			}
			res, err := fetchtest.Fetcher(t, opts).Fetch(ctx, first)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: got %v; want context.Canceled", err)
			}
			if res.Partial <= size/2 {
				t.Fatalf("first run: Partial %d; want more than half of %d", res.Partial, size)
			}
			if o.ranges.Load() == 0 {
				t.Fatalf("first run: no range request; want a segmented download")
			}
			quiet(t, o)
			kept, from, served := res.Partial, int(o.Hits.Load())+1, o.Served.Load()

			current.Store(&tc.then)
			if tc.one {
				opts.Segments = 0
			}
			res, err = fetchtest.Fetcher(t, opts).Fetch(fetchtest.Context(t), req)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if !bytes.Equal(readFile(t, req.Path), tc.then.Body) {
				t.Errorf("file differs from the one served in the second run")
			}
			onlyFiles(t, dir, "file")
			quiet(t, o)
			asked, whole := rangedBytes(t, o, from, size)
			t.Logf("kept %d of %d; the second run asked for %d bytes in %d requests", kept, size, asked, int(o.Hits.Load())+1-from)
			if got := o.Header(from).Get("If-Range"); got != old.ETag {
				t.Errorf("second run, first request: If-Range %q; want %q", got, old.ETag)
			}
			if tc.then.ETag != old.ETag {
				return
			}
			if whole > 0 {
				t.Errorf("second run: %d requests without a Range; want none", whole)
			}
			if got, want := o.Served.Load()-served, size-kept; got != want || asked != want {
				t.Errorf("second run: served %d bytes, asked for %d; want the %d missing", got, asked, want)
			}
		})
	}
}

// TestSegmentsResumeAfterKill: a segmented download with KeepPartial
// writes the guard of its spans as it goes, so that the files left by a
// process killed outright resume. The test copies the partial file and
// its guard while the server holds every connection, as a kill -9 would
// leave them, and a second run beside the copy asks only for the bytes
// that the guard does not name.
func TestSegmentsResumeAfterKill(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	d := fetchtest.Doc{Body: fetchtest.Blob(size, 31), ETag: `"k"`}
	var budget atomic.Int64 // bytes the range requests may still be sent
	budget.Store(1 << 20)
	o := startSegmentOrigin(t, "http1", func(int) fetchtest.Doc { return d }, func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
		o.Serve(budgetWriter{ResponseWriter: w, r: r, o: o, left: &budget}, r, d, -1)
		return true
	})
	opts := segmentOptions(4)
	opts.KeepPartial = true
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		fetchtest.Fetcher(t, opts).Fetch(ctx, fetch.Request{URL: o.URL + "/file", Path: path})
	}()
	t.Cleanup(func() { cancel(); <-done })

	// Once the guard names half a MiB, the files are copied, guard first.
	guardName := fetch.PartialPath(path) + ".guard"
	var guard, partial []byte
	var covered int64
	for deadline := time.Now().Add(10 * time.Second); covered < 512<<10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the guard names %d bytes; want half a MiB", covered)
		}
		guard, _ = os.ReadFile(guardName)
		var g struct {
			Spans [][2]int64 `json:"spans"`
		}
		if json.Unmarshal(guard, &g) != nil {
			continue
		}
		covered = 0
		for _, sp := range g.Spans {
			covered += sp[1] - sp[0]
		}
	}
	partial, err := os.ReadFile(fetch.PartialPath(path))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done

	dir2 := t.TempDir()
	path2 := filepath.Join(dir2, "file")
	if err := os.WriteFile(fetch.PartialPath(path2), partial, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fetch.PartialPath(path2)+".guard", guard, 0o666); err != nil {
		t.Fatal(err)
	}
	quiet(t, o)
	budget.Store(1 << 40)
	from := int(o.Hits.Load()) + 1
	if _, err := fetchtest.Fetcher(t, opts).Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path2}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path2), d.Body) {
		t.Errorf("file differs from the served one")
	}
	onlyFiles(t, dir2, "file")
	asked, whole := rangedBytes(t, o, from, size)
	if whole > 0 || asked != size-covered {
		t.Errorf("second run: asked for %d bytes (%d requests without a Range); want the %d missing", asked, whole, size-covered)
	}
}

// budgetWriter writes a body while the shared budget lasts, then holds
// the connection until the client goes away.
type budgetWriter struct {
	http.ResponseWriter
	r    *http.Request
	o    *fetchtest.Server
	left *atomic.Int64
}

func (b budgetWriter) Write(p []byte) (int, error) {
	n := int64(len(p))
	for {
		left := b.left.Load()
		n = min(n, left)
		if b.left.CompareAndSwap(left, left-n) {
			break
		}
		n = int64(len(p))
	}
	b.ResponseWriter.Write(p[:n])
	if n < int64(len(p)) {
		http.NewResponseController(b.ResponseWriter).Flush()
		b.o.Wait(b.r)
		return int(n), fetchtest.ErrCut
	}
	return len(p), nil
}

func (b budgetWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
