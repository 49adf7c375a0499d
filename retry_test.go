package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// A link that cuts every connection after a few hundred KiB: each attempt
// resumes where the last one stopped, and none of them uses up a retry.
func TestProgressKeepsRetrying(t *testing.T) {
	t.Parallel()
	const cut = 3 * fetch.MinProgress
	body := fetchtest.Blob(10*cut+1234, 16)
	d := fetchtest.Doc{Body: body, ETag: `"v1"`}
	wantAttempts := 11
	for _, kind := range []string{"http", "https"} {
		for _, sink := range sinks {
			t.Run(kind+"/"+sink, func(t *testing.T) {
				t.Parallel()
				s := func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, cut) }
				var o *fetchtest.Server
				if kind == "http" {
					o = fetchtest.Start(t, fetchtest.HTTP, s)
				} else {
					o = fetchtest.Start(t, fetchtest.H2, s)
				}
				f := fetchtest.Fetcher(t, fetch.Options{Retries: 1}, o)
				req, got := request(t, o.URL+"/file", sink)
				req.Size = int64(len(body))
				res, err := f.Fetch(fetchtest.Context(t), req)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if !bytes.Equal(got(), body) {
					t.Errorf("got %d bytes; want the %d served", len(got()), len(body))
				}
				if res.Attempts != wantAttempts {
					t.Errorf("got %d attempts; want %d", res.Attempts, wantAttempts)
				}
				for n := 1; n <= wantAttempts; n++ {
					want := ""
					if n > 1 {
						want = fmt.Sprintf("bytes=%d-", (n-1)*cut)
					}
					if got := o.Header(n).Get("Range"); got != want {
						t.Errorf("request %d: got Range %q; want %q", n, got, want)
					}
				}
			})
		}
	}
}

// The same over FTP: each RETR starts at the REST offset where the last
// data connection ended.
func TestProgressKeepsRetryingFTP(t *testing.T) {
	t.Parallel()
	const cut = 2 * fetch.MinProgress
	content := fetchtest.Blob(6*cut+77, 17)
	s := (&rawFTPD{file: content, mdtm: func(int) string { return "20260102030405" }, offsets: make(chan int64, 20),
		retr: func(n int) (int64, string, bool) {
			if end := int64(n * cut); end < int64(len(content)) {
				return end, "426 connection cut", false
			}
			return -1, "226 done", false
		}}).start(t)
	f := fetchtest.Fetcher(t, fetch.Options{Retries: 1})
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "file")
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/file", Path: path, Writer: &buf, Digests: fetchtest.Digests(content)})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), content) || !bytes.Equal(readFile(t, path), content) {
		t.Errorf("got %d bytes in the Writer, %d in the file; want %d", buf.Len(), len(readFile(t, path)), len(content))
	}
	var offsets, want []int64
	for len(s.offsets) > 0 {
		offsets = append(offsets, <-s.offsets)
	}
	for n := range 7 {
		want = append(want, int64(n*cut))
	}
	if fmt.Sprint(offsets) != fmt.Sprint(want) || res.Attempts != len(want) {
		t.Errorf("got %d attempts, RETR at offsets %v; want %v", res.Attempts, offsets, want)
	}
}

// The ceilings: a server that sends a few bytes on each connection makes
// no progress and runs out of retries; one that sends more runs into
// MaxAttempts; Retries negative makes one attempt whatever it delivered.
func TestProgressCeiling(t *testing.T) {
	t.Parallel()
	body := fetchtest.Blob(64*fetch.MinProgress, 18)
	d := fetchtest.Doc{Body: body, ETag: `"v1"`}
	for _, tc := range []struct {
		name     string
		cut      int
		opts     fetch.Options
		attempts int
	}{
		{"one byte a connection", 1, fetch.Options{}, 1 + fetch.DefaultRetries},
		{"MinProgress-1 a connection", fetch.MinProgress - 1, fetch.Options{}, 1 + fetch.DefaultRetries},
		{"MinProgress a connection, MaxAttempts 5", fetch.MinProgress, fetch.Options{MaxAttempts: 5}, 5},
		{"no retries", 8 * fetch.MinProgress, fetch.Options{Retries: -1}, 1},
	} {
		for _, sink := range sinks {
			t.Run(tc.name+"/"+sink, func(t *testing.T) {
				t.Parallel()
				o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, tc.cut) })
				f := fetchtest.Fetcher(t, tc.opts)
				req, got := request(t, o.URL+"/file", sink)
				res, err := f.Fetch(fetchtest.Context(t), req)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("got error %v; want io.ErrUnexpectedEOF", err)
				}
				if res.Attempts != tc.attempts || int(o.Hits.Load()) != tc.attempts {
					t.Errorf("got %d attempts (server saw %d); want %d", res.Attempts, o.Hits.Load(), tc.attempts)
				}
				if sink != "path" && !bytes.Equal(got(), body[:len(got())]) {
					t.Errorf("the Writer got bytes other than those served, in %d bytes", len(got()))
				}
				if req.Path != "" && readFile(t, req.Path) != nil {
					t.Errorf("a file was left at Path")
				}
			})
		}
	}
}

// logRecorder is a slog.Handler that keeps the records it is given.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// lines returns the attributes of each record with message msg, by key.
func (h *logRecorder) lines(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		attrs := map[string]any{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

// TestRetryLogNamesCause: the log line of a retry carries the error of the
// attempt that failed, so that an operator sees why.
func TestRetryLogNamesCause(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(5000, 40), ETag: `"c"`}
	for _, tc := range []struct {
		name  string
		fault func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request)
		cause func(error) bool
	}{
		{"500", func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 500, "") },
			func(err error) bool {
				var se *fetch.StatusError
				return errors.As(err, &se) && se.Code == 500
			}},
		{"reset", func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { o.Reset(r) },
			func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"stall", func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { o.Stall(w, r, d, 1000) },
			func(err error) bool { return errors.Is(err, fetch.ErrStalled) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					tc.fault(o, w, r)
					return
				}
				o.Serve(w, r, d, -1)
			})
			log := &logRecorder{}
			f := fetchtest.Fetcher(t, fetch.Options{Logger: slog.New(log), StallTimeout: 300 * time.Millisecond})
			if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Writer: io.Discard}); err != nil {
				t.Fatal(err)
			}
			lines := log.lines("fetch: retrying")
			if len(lines) != 1 {
				t.Fatalf("retry lines: got %d; want 1", len(lines))
			}
			err, _ := lines[0]["err"].(error)
			if err == nil || !tc.cause(err) {
				t.Errorf("retry line: err=%v; want the %s that caused it", lines[0]["err"], tc.name)
			}
		})
	}
}
