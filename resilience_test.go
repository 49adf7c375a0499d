package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// readFile returns the contents of path, or nil if it does not exist.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

// dirNames returns the names in dir, sorted, but for those left out.
func dirNames(t testing.TB, dir string, leftOut ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if !slices.Contains(leftOut, e.Name()) {
			got = append(got, e.Name())
		}
	}
	return got
}

// onlyFiles fails t unless dir holds exactly the files named.
func onlyFiles(t testing.TB, dir string, names ...string) {
	t.Helper()
	if got := dirNames(t, dir); strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("files in %s: got %q; want %q", dir, got, names)
	}
}

func TestRetryThenSucceed(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(10<<10, 1), ETag: `"v1"`}
	fail := map[string]func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request){
		"500": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 500, "") },
		"502": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 502, "") },
		"503": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 503, "") },
		"408": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 408, "") },
		"429": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 429, "") },
		"reset before the header": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			panic(http.ErrAbortHandler)
		},
		"reset at the first byte": func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, d, 0)
		},
	}
	for name, failure := range fail {
		for _, failures := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s×%d", name, failures), func(t *testing.T) {
				t.Parallel()
				o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					if n <= failures {
						failure(o, w, r)
						return
					}
					o.Serve(w, r, d, -1)
				})
				f := fetchtest.Fetcher(t, fetch.Options{Retries: 3})
				dir := t.TempDir()
				path := filepath.Join(dir, "file")
				res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path, Digests: fetchtest.Digests(d.Body)})
				if err != nil {
					t.Fatal(err)
				}
				if res.Attempts != failures+1 {
					t.Errorf("Attempts: got %d; want %d", res.Attempts, failures+1)
				}
				if !bytes.Equal(readFile(t, path), d.Body) {
					t.Errorf("file differs from the served one")
				}
				onlyFiles(t, dir, "file")
			})
		}
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries, attempts int
	}{
		{retries: 0, attempts: 1 + fetch.DefaultRetries},
		{retries: -1, attempts: 1},
		{retries: 1, attempts: 2},
		{retries: 5, attempts: 6},
	} {
		t.Run(fmt.Sprint(tc.retries), func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 503, "") })
			f := fetchtest.Fetcher(t, fetch.Options{Retries: tc.retries})
			path := filepath.Join(t.TempDir(), "file")
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path})
			var se *fetch.StatusError
			if !errors.As(err, &se) || se.Code != 503 {
				t.Fatalf("error: got %v; want a StatusError 503", err)
			}
			if res.Attempts != tc.attempts || int(o.Hits.Load()) != tc.attempts {
				t.Errorf("attempts: got %d (server saw %d); want %d", res.Attempts, o.Hits.Load(), tc.attempts)
			}
			if readFile(t, path) != nil {
				t.Errorf("a file was left at %s", path)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1000, 2)}
	for _, tc := range []struct {
		name       string
		code       int
		retryAfter func() string
		cap        time.Duration
	}{
		// A backoff of up to an hour stands in for a Retry-After ignored:
		// the test would time out.
		{"429 seconds", 429, func() string { return "1" }, 0},
		{"503 seconds capped", 503, func() string { return "3600" }, 10 * time.Millisecond},
		{"429 date capped", 429, func() string { return time.Now().Add(time.Hour).UTC().Format(http.TimeFormat) }, 10 * time.Millisecond},
		{"503 date capped", 503, func() string { return time.Now().Add(time.Hour).UTC().Format(http.TimeFormat) }, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					fetchtest.Status(w, tc.code, tc.retryAfter())
					return
				}
				o.Serve(w, r, d, -1)
			})
			f := fetchtest.Fetcher(t, fetch.Options{BackoffBase: time.Hour, MaxBackoff: time.Hour, MaxRetryAfter: tc.cap})
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Digests: fetchtest.Digests(d.Body)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 2 {
				t.Errorf("Attempts: got %d; want 2", res.Attempts)
			}
		})
	}
}

// cancelOnRetry is a slog.Handler that calls cancel when the Fetcher
// logs that it waits to retry.
type cancelOnRetry struct {
	slog.Handler
	cancel context.CancelFunc
}

func (h cancelOnRetry) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnRetry) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.cancel()
	}
	return nil
}

func TestBackoffWaitCancelled(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"3600", ""} {
		t.Run("Retry-After "+retryAfter, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				fetchtest.Status(w, 503, retryAfter)
			})
			ctx, cancel := context.WithCancel(fetchtest.Context(t))
			defer cancel()
			f := fetchtest.Fetcher(t, fetch.Options{
				BackoffBase: time.Hour, MaxBackoff: time.Hour, MaxRetryAfter: time.Hour,
				Logger: slog.New(cancelOnRetry{slog.DiscardHandler, cancel}),
			})
			res, err := f.Fetch(ctx, fetch.Request{URL: o.URL + "/file"})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error: got %v; want context.Canceled", err)
			}
			if res.Attempts != 1 {
				t.Errorf("Attempts: got %d; want 1", res.Attempts)
			}
		})
	}
}

func TestClientErrorsNotRetried(t *testing.T) {
	t.Parallel()
	for _, code := range []int{400, 401, 403, 404, 405, 410, 451} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				fetchtest.Status(w, code, "1")
			})
			f := fetchtest.Fetcher(t, fetch.Options{Retries: 3})
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file"})
			var se *fetch.StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Errorf("error: got %v; want a StatusError %d", err, code)
			}
			if got, want := errors.Is(err, fetch.ErrNotFound), code == 404 || code == 410; got != want {
				t.Errorf("errors.Is(err, ErrNotFound): got %v; want %v", got, want)
			}
			if res.Attempts != 1 || o.Hits.Load() != 1 {
				t.Errorf("attempts: got %d (server saw %d); want 1", res.Attempts, o.Hits.Load())
			}
		})
	}
}

// sinks are the ways a test receives a download.
var sinks = []string{"path", "writer", "path+writer"}

// request returns a request for u into the sink named, and where to find
// what it received.
func request(t testing.TB, u, sink string) (fetch.Request, func() []byte) {
	var req fetch.Request
	req.URL = u
	var buf bytes.Buffer
	if strings.Contains(sink, "path") {
		req.Path = filepath.Join(t.TempDir(), "file")
	}
	if strings.Contains(sink, "writer") {
		req.Writer = &buf
	}
	return req, func() []byte {
		if req.Writer != nil {
			if req.Path != "" && !bytes.Equal(buf.Bytes(), readFile(t, req.Path)) && readFile(t, req.Path) != nil {
				t.Errorf("the file and the writer differ")
			}
			return buf.Bytes()
		}
		return readFile(t, req.Path)
	}
}

// checkCannotResume fails t unless a download into a Writer that could
// not go on ended as a streamer relies on: ErrCannotResume, the Writer
// given the bytes it got before (want) once, and no file at Path.
func checkCannotResume(t *testing.T, req fetch.Request, err error, got, want []byte) {
	t.Helper()
	if !errors.Is(err, fetch.ErrCannotResume) {
		t.Errorf("error: got %v; want ErrCannotResume", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("writer got %d bytes; want the first %d bytes once", len(got), len(want))
	}
	if req.Path != "" && readFile(t, req.Path) != nil {
		t.Errorf("a file was left at %s", req.Path)
	}
}

// TestResumeAfterReset cuts the connection at random bytes: the download
// goes on from where it broke, so the server sends each byte once.
func TestResumeAfterReset(t *testing.T) {
	t.Parallel()
	const size = 256 << 10
	mod := fetchtest.ModTime
	for _, guard := range []string{"etag", "last-modified", "weak etag and last-modified", "digest"} {
		for _, proto := range []string{"http1", "h2"} {
			for _, sink := range sinks {
				t.Run(guard+"/"+proto+"/"+sink, func(t *testing.T) {
					t.Parallel()
					d := fetchtest.Doc{Body: fetchtest.Blob(size, 3)}
					switch guard {
					case "etag":
						d.ETag = `"abc"`
					case "last-modified":
						d.Mod = mod
					case "weak etag and last-modified":
						d.ETag, d.Mod = `W/"abc"`, mod
					}
					// Up to three cuts at random bytes.
					seed := rand.Uint64()
					r := rand.New(rand.NewPCG(seed, 0))
					cuts := []int{1 + r.IntN(size-1), 1 + r.IntN(size-1), 1 + r.IntN(size-1)}
					slices.Sort(cuts)
					cuts = slices.Compact(cuts)
					t.Logf("seed %d: cuts at %v", seed, cuts)
					kind := fetchtest.HTTP
					if proto == "h2" {
						kind = fetchtest.H2
					}
					o := fetchtest.Start(t, kind, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
						cut := -1
						if n <= len(cuts) {
							cut = cuts[n-1] - int(o.Served.Load())
						}
						o.Serve(w, r, d, cut)
					})
					f := fetchtest.Fetcher(t, fetch.Options{Retries: 3}, o)
					req, got := request(t, o.URL+"/file", sink)
					req.Digests = fetchtest.Digests(d.Body)
					if guard != "digest" {
						req.Digests = nil
					}
					res, err := f.Fetch(fetchtest.Context(t), req)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got(), d.Body) {
						t.Errorf("received bytes differ from the file")
					}
					if res.Digests["sha256"] != fetchtest.Digests(d.Body)["sha256"] {
						t.Errorf("Result.Digests: got %v; want %v", res.Digests, fetchtest.Digests(d.Body))
					}
					if got := o.Served.Load(); got != size {
						t.Errorf("bytes served: got %d; want %d (each byte once)", got, size)
					}
					if res.Attempts != len(cuts)+1 {
						t.Errorf("Attempts: got %d; want %d", res.Attempts, len(cuts)+1)
					}
					for i, cut := range cuts {
						if got, want := o.Header(i+2).Get("Range"), fmt.Sprintf("bytes=%d-", cut); got != want {
							t.Errorf("request %d: Range: got %q; want %q", i+2, got, want)
						}
					}
				})
			}
		}
	}
}

// TestRestartWithoutGuard: a file that has neither validator nor expected
// digest cannot be resumed safely: a file restarts, a Writer fails.
func TestRestartWithoutGuard(t *testing.T) {
	t.Parallel()
	const size, cut = 64 << 10, 20000
	d := fetchtest.Doc{Body: fetchtest.Blob(size, 4)}
	for _, sink := range sinks {
		t.Run(sink, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					o.Serve(w, r, d, cut)
					return
				}
				o.Serve(w, r, d, -1)
			})
			f := fetchtest.Fetcher(t, fetch.Options{})
			req, got := request(t, o.URL+"/file", sink)
			res, err := f.Fetch(fetchtest.Context(t), req)
			if req.Writer == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got(), d.Body) {
					t.Errorf("file differs from the served one")
				}
				if o.Header(2).Get("Range") != "" {
					t.Errorf("second request: got Range %q; want none", o.Header(2).Get("Range"))
				}
				return
			}
			checkCannotResume(t, req, err, got(), d.Body[:cut])
			if res.Attempts != 1 {
				t.Errorf("Attempts: got %d; want 1", res.Attempts)
			}
		})
	}
}

// TestRangeAnsweredWith200: the server ignores Range and sends the whole
// file again. A file starts over; a Writer, which has the first bytes
// already, fails rather than get them twice.
func TestRangeAnsweredWith200(t *testing.T) {
	t.Parallel()
	const size, cut = 64 << 10, 30000
	d := fetchtest.Doc{Body: fetchtest.Blob(size, 5), ETag: `"same"`}
	for _, sink := range sinks {
		t.Run(sink, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					o.ServeAll(w, d, cut)
					return
				}
				o.ServeAll(w, d, -1)
			})
			f := fetchtest.Fetcher(t, fetch.Options{})
			req, got := request(t, o.URL+"/file", sink)
			req.Digests = fetchtest.Digests(d.Body)
			res, err := f.Fetch(fetchtest.Context(t), req)
			if got := o.Header(2).Get("Range"); got != fmt.Sprintf("bytes=%d-", cut) {
				t.Errorf("second request: Range: got %q; want bytes=%d-", got, cut)
			}
			if req.Writer == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got(), d.Body) {
					t.Errorf("file differs from the served one")
				}
				return
			}
			checkCannotResume(t, req, err, got(), d.Body[:cut])
			if res.Attempts != 2 {
				t.Errorf("Attempts: got %d; want 2", res.Attempts)
			}
		})
	}
}

// TestFileChangedBetweenAttempts: the second attempt finds another file
// under the URL. If-Range makes the server send the new file whole; a
// file starts over with it, a Writer fails cleanly.
func TestFileChangedBetweenAttempts(t *testing.T) {
	t.Parallel()
	const size, cut = 64 << 10, 10000
	old, mod := fetchtest.Blob(size, 6), fetchtest.ModTime
	for _, tc := range []struct {
		name          string
		before, after fetchtest.Doc
	}{
		{"etag", fetchtest.Doc{Body: old, ETag: `"1"`}, fetchtest.Doc{Body: fetchtest.Blob(size+10, 7), ETag: `"2"`}},
		{"last-modified", fetchtest.Doc{Body: old, Mod: mod}, fetchtest.Doc{Body: fetchtest.Blob(size-10, 7), Mod: mod.Add(time.Hour)}},
		{"same size", fetchtest.Doc{Body: old, ETag: `"1"`}, fetchtest.Doc{Body: fetchtest.Blob(size, 7), ETag: `"2"`}},
	} {
		for _, sink := range sinks {
			t.Run(tc.name+"/"+sink, func(t *testing.T) {
				t.Parallel()
				o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					if n == 1 {
						o.Serve(w, r, tc.before, cut)
						return
					}
					o.Serve(w, r, tc.after, -1)
				})
				f := fetchtest.Fetcher(t, fetch.Options{})
				req, got := request(t, o.URL+"/file", sink)
				res, err := f.Fetch(fetchtest.Context(t), req)
				if o.Header(2).Get("If-Range") == "" {
					t.Errorf("second request has no If-Range")
				}
				if req.Writer == nil {
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got(), tc.after.Body) {
						t.Errorf("file is not the new one")
					}
					return
				}
				checkCannotResume(t, req, err, got(), old[:cut])
				if res.Attempts != 2 {
					t.Errorf("Attempts: got %d; want 2", res.Attempts)
				}
			})
		}
	}
}

func TestStall(t *testing.T) {
	t.Parallel()
	const size = 64 << 10
	d := fetchtest.Doc{Body: fetchtest.Blob(size, 8), ETag: `"s"`}
	t.Run("forever before the header", func(t *testing.T) {
		t.Parallel()
		o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Stall(w, r, d, 0) })
		f := fetchtest.Fetcher(t, fetch.Options{Retries: 1, StallTimeout: 100 * time.Millisecond})
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Writer: new(bytes.Buffer)})
		if !errors.Is(err, fetch.ErrStalled) {
			t.Errorf("error: got %v; want ErrStalled", err)
		}
		if res.Attempts != 2 {
			t.Errorf("Attempts: got %d; want 2", res.Attempts)
		}
	})
	t.Run("forever in the body", func(t *testing.T) {
		t.Parallel()
		o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Stall(w, r, d, 1000) })
		f := fetchtest.Fetcher(t, fetch.Options{Retries: 2, StallTimeout: 100 * time.Millisecond})
		path := filepath.Join(t.TempDir(), "file")
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path})
		if !errors.Is(err, fetch.ErrStalled) {
			t.Errorf("error: got %v; want ErrStalled", err)
		}
		if res.Attempts != 3 {
			t.Errorf("Attempts: got %d; want 3", res.Attempts)
		}
		onlyFiles(t, filepath.Dir(path))
	})
	t.Run("once in the body", func(t *testing.T) {
		t.Parallel()
		o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				o.Stall(w, r, d, 5000)
				return
			}
			o.Serve(w, r, d, -1)
		})
		f := fetchtest.Fetcher(t, fetch.Options{StallTimeout: time.Second})
		var buf bytes.Buffer
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), d.Body) {
			t.Errorf("writer got other bytes than the file")
		}
		if res.Attempts != 2 || o.Served.Load() != size {
			t.Errorf("got %d attempts, %d bytes served; want 2 attempts, %d bytes", res.Attempts, o.Served.Load(), size)
		}
	})
	t.Run("redirects, each in time", func(t *testing.T) {
		t.Parallel()
		// Four redirects take longer than StallTimeout in all, each far
		// less: the server is never silent for StallTimeout.
		const stall, hop = time.Second, 300 * time.Millisecond
		o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
			if n > 4 {
				o.Serve(w, r, d, -1)
				return
			}
			select {
			case <-time.After(hop):
			case <-r.Context().Done():
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/file?%d", n), http.StatusFound)
		})
		f := fetchtest.Fetcher(t, fetch.Options{Retries: -1, StallTimeout: stall})
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Digests: fetchtest.Digests(d.Body)})
		if err != nil {
			t.Fatalf("got %v after %d requests; want the file", err, o.Hits.Load())
		}
		if res.Attempts != 1 {
			t.Errorf("Attempts: got %d; want 1", res.Attempts)
		}
	})
	t.Run("server never accepts", func(t *testing.T) {
		t.Parallel()
		// The kernel completes the handshake of a listener that never
		// accepts: the request is sent and no answer ever comes.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f := fetchtest.Fetcher(t, fetch.Options{Retries: -1, StallTimeout: 100 * time.Millisecond})
		_, err = f.Fetch(fetchtest.Context(t), fetch.Request{URL: "http://" + l.Addr().String() + "/file"})
		if !errors.Is(err, fetch.ErrStalled) {
			t.Errorf("error: got %v; want ErrStalled", err)
		}
	})
}

// slowWriter takes its time over its first Write, as a streamer's slow
// client does.
type slowWriter struct {
	bytes.Buffer
	delay time.Duration
	slept bool
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if !w.slept {
		time.Sleep(w.delay)
		w.slept = true
	}
	return w.Buffer.Write(p)
}

// TestSlowWriterIsNoStall: the time a Writer takes is not the server's:
// it does not count towards StallTimeout.
func TestSlowWriterIsNoStall(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1<<20, 9), ETag: `"w"`}
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, -1) })
	// The Writer takes twice the stall timeout, which leaves a loaded
	// machine half a second to deliver each read of a 1 MiB transfer.
	f := fetchtest.Fetcher(t, fetch.Options{StallTimeout: 500 * time.Millisecond})
	w := &slowWriter{delay: time.Second}
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts: got %d; want 1", res.Attempts)
	}
	if !bytes.Equal(w.Bytes(), d.Body) {
		t.Errorf("writer got other bytes than the file")
	}
}

func TestMirrorHealth(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(5000, 10)}
	for _, tc := range []struct {
		name     string
		cooldown time.Duration
		// attempts of the second request: 1 when it goes to the healthy
		// mirror first.
		secondAttempts int
	}{
		{"remembered", 0, 1},
		{"cool-down over", time.Nanosecond, 5},
		{"off", -1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			busy := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 503, "") })
			dead := fetchtest.DeadURL(t)
			healthy := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, -1) })
			f := fetchtest.Fetcher(t, fetch.Options{Retries: 1, MirrorCooldown: tc.cooldown})
			ctx := fetchtest.Context(t)
			for i, want := range []int{5, tc.secondAttempts} {
				file := fmt.Sprintf("/file%d", i)
				res, err := f.Fetch(ctx, fetch.Request{
					URL:     busy.URL + file,
					Mirrors: []string{dead + file, healthy.URL + file},
					Digests: fetchtest.Digests(d.Body),
				})
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if res.Attempts != want {
					t.Errorf("request %d: Attempts: got %d; want %d", i+1, res.Attempts, want)
				}
				if res.URL != healthy.URL+file {
					t.Errorf("request %d: URL: got %s; want %s", i+1, res.URL, healthy.URL+file)
				}
			}
			if got, want := busy.Hits.Load(), int64(2+(tc.secondAttempts-1)/2); got != want {
				t.Errorf("busy mirror hits: got %d; want %d", got, want)
			}
		})
	}
}

// TestResumeOnMirror: a transfer cut on one URL goes on at the next from
// the same byte when an expected digest guards it.
func TestResumeOnMirror(t *testing.T) {
	t.Parallel()
	const size, cut = 100 << 10, 40000
	d := fetchtest.Doc{Body: fetchtest.Blob(size, 11), ETag: `"m"`}
	for _, digest := range []bool{true, false} {
		for _, sink := range sinks {
			t.Run(fmt.Sprintf("digest=%v/%s", digest, sink), func(t *testing.T) {
				t.Parallel()
				first := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, cut) })
				second := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, -1) })
				f := fetchtest.Fetcher(t, fetch.Options{Retries: -1})
				req, got := request(t, first.URL+"/file", sink)
				req.Mirrors = []string{second.URL + "/file"}
				if digest {
					req.Digests = fetchtest.Digests(d.Body)
				}
				_, err := f.Fetch(fetchtest.Context(t), req)
				switch {
				case digest:
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got(), d.Body) {
						t.Errorf("received bytes differ from the file")
					}
					if r := second.Header(1).Get("Range"); r != fmt.Sprintf("bytes=%d-", cut) {
						t.Errorf("mirror: Range: got %q; want bytes=%d-", r, cut)
					}
					if r := second.Header(1).Get("If-Range"); r != "" {
						t.Errorf("mirror: got If-Range %q with another URL's validator; want none", r)
					}
				case req.Writer == nil:
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got(), d.Body) {
						t.Errorf("file differs from the served one")
					}
					if r := second.Header(1).Get("Range"); r != "" {
						t.Errorf("mirror: got Range %q; want none (nothing guards a resume)", r)
					}
				default:
					checkCannotResume(t, req, err, got(), d.Body[:cut])
				}
			})
		}
	}
}

// TestMismatchMovesToMirror: wrong bytes at one URL are not retried there;
// the next URL is tried from zero.
func TestMismatchMovesToMirror(t *testing.T) {
	t.Parallel()
	good := fetchtest.Blob(20000, 12)
	for _, tc := range []struct {
		name  string
		wrong []byte
		size  int64
	}{
		{"digest", fetchtest.Blob(20000, 13), 0},
		{"size", fetchtest.Blob(30000, 13), 20000},
		{"size and digest, cut at Size+1", fetchtest.Blob(30000, 13), 0},
	} {
		for _, sink := range []string{"path", "none"} {
			t.Run(tc.name+"/"+sink, func(t *testing.T) {
				t.Parallel()
				bad := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					o.Serve(w, r, fetchtest.Doc{Body: tc.wrong, ETag: `"x"`}, -1)
				})
				ok := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					o.Serve(w, r, fetchtest.Doc{Body: good, ETag: `"x"`}, -1)
				})
				f := fetchtest.Fetcher(t, fetch.Options{Retries: 3})
				req, got := request(t, bad.URL+"/file", sink)
				req.Mirrors, req.Size, req.Digests = []string{ok.URL + "/file"}, tc.size, fetchtest.Digests(good)
				res, err := f.Fetch(fetchtest.Context(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if req.Path != "" && !bytes.Equal(got(), good) {
					t.Errorf("file is not the good one")
				}
				if res.URL != ok.URL+"/file" || res.Attempts != 2 || bad.Hits.Load() != 1 {
					t.Errorf("got URL %s after %d attempts, %d at the bad URL; want %s after 2, 1 at the bad URL",
						res.URL, res.Attempts, bad.Hits.Load(), ok.URL+"/file")
				}
			})
		}
	}
}

// TestWriterMismatchEnds: a Writer that received a whole body that then
// failed its check cannot be given the bytes again: no mirror is tried.
// A size refused before the body is another matter.
func TestWriterMismatchEnds(t *testing.T) {
	t.Parallel()
	good := fetchtest.Blob(20000, 14)
	for _, tc := range []struct {
		name      string
		wrong     []byte
		size      int64
		recovered bool
	}{
		{"digest", fetchtest.Blob(20000, 15), 0, false},
		{"size known from Content-Length", fetchtest.Blob(30000, 15), 20000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				o.Serve(w, r, fetchtest.Doc{Body: tc.wrong}, -1)
			})
			ok := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				o.Serve(w, r, fetchtest.Doc{Body: good}, -1)
			})
			f := fetchtest.Fetcher(t, fetch.Options{})
			var buf bytes.Buffer
			_, err := f.Fetch(fetchtest.Context(t), fetch.Request{
				URL: bad.URL + "/file", Mirrors: []string{ok.URL + "/file"},
				Writer: &buf, Size: tc.size, Digests: fetchtest.Digests(good),
			})
			if tc.recovered {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), good) {
					t.Errorf("writer got other bytes than the good file")
				}
				return
			}
			var de *fetch.DigestError
			if !errors.As(err, &de) {
				t.Errorf("error: got %v; want a DigestError", err)
			}
			if ok.Hits.Load() != 0 {
				t.Errorf("mirror hits: got %d; want 0", ok.Hits.Load())
			}
			if !bytes.Equal(buf.Bytes(), tc.wrong) {
				t.Errorf("writer got %d bytes; want the %d bytes served once", buf.Len(), len(tc.wrong))
			}
		})
	}
}

// TestErrJoinsEveryURL: when every URL fails, the error holds the last
// error of each.
func TestErrJoinsEveryURL(t *testing.T) {
	t.Parallel()
	busy := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 503, "") })
	gone := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 404, "") })
	f := fetchtest.Fetcher(t, fetch.Options{Retries: 1})
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: busy.URL + "/a", Mirrors: []string{gone.URL + "/b"}})
	if err != res.Err {
		t.Errorf("Fetch returned %v; Result.Err is %v", err, res.Err)
	}
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.URL != busy.URL+"/a" {
		t.Errorf("errors.As(err, *StatusError): got %+v; want 503 from %s", se, busy.URL+"/a")
	}
	if !errors.Is(err, fetch.ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound): got false for %v", err)
	}
	if res.URL != gone.URL+"/b" || res.Attempts != 3 {
		t.Errorf("got URL %s after %d attempts; want %s after 3", res.URL, res.Attempts, gone.URL+"/b")
	}
}

// redirectTo answers with a redirect to target.
func redirectTo(target string) fetchtest.Script {
	return func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}
}

// TestCredentialsStayHome: a password or Authorization reaches the URL's
// own host only: not a redirect target or a mirror on another host (another
// port of the same address counts as another host).
func TestCredentialsStayHome(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1000, 16)}
	for _, via := range []string{"redirect", "mirror"} {
		for _, cred := range []string{"userinfo", "header"} {
			t.Run(via+"/"+cred, func(t *testing.T) {
				t.Parallel()
				other := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, -1) })
				home := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					switch {
					case r.URL.Path == "/same-host":
						o.Serve(w, r, d, -1)
					case via == "redirect" && r.URL.Path == "/elsewhere":
						http.Redirect(w, r, other.URL+"/file", http.StatusFound)
					case via == "redirect":
						http.Redirect(w, r, "/same-host", http.StatusFound)
					default:
						fetchtest.Status(w, 404, "")
					}
				})
				f := fetchtest.Fetcher(t, fetch.Options{})
				u := home.URL
				req := fetch.Request{Header: http.Header{}}
				if cred == "userinfo" {
					u = strings.Replace(u, "http://", "http://user:secret@", 1)
				} else {
					req.Header.Set("Authorization", "Bearer secret")
					req.Header.Set("Cookie", "session=secret")
				}
				req.URL = u + "/elsewhere"
				if via == "mirror" {
					req.Mirrors = []string{other.URL + "/file"}
				}
				if _, err := f.Fetch(fetchtest.Context(t), req); err != nil {
					t.Fatal(err)
				}
				if h := home.Header(1); h.Get("Authorization") == "" {
					t.Errorf("the URL's own host got no Authorization")
				}
				if h := other.Header(1); h.Get("Authorization") != "" || h.Get("Cookie") != "" {
					t.Errorf("another host got Authorization %q, Cookie %q; want none", h.Get("Authorization"), h.Get("Cookie"))
				}

				// Within the same host they are kept.
				req.URL = u + "/first"
				req.Mirrors = []string{u + "/same-host"}
				if _, err := f.Fetch(fetchtest.Context(t), req); err != nil {
					t.Fatal(err)
				}
				if h := home.Header(int(home.Hits.Load())); h.Get("Authorization") == "" {
					t.Errorf("same host, %s: got no Authorization; want it kept", via)
				}
			})
		}
	}
}

func TestInsecureRedirect(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1000, 17)}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allow), func(t *testing.T) {
			t.Parallel()
			plain := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, -1) })
			secure := fetchtest.Start(t, fetchtest.H2, redirectTo(plain.URL+"/file"))
			f := fetchtest.Fetcher(t, fetch.Options{Retries: 3, AllowInsecureRedirect: allow}, secure)
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: secure.URL + "/file", Digests: fetchtest.Digests(d.Body)})
			if allow {
				if err != nil {
					t.Fatal(err)
				}
				if res.URL != plain.URL+"/file" {
					t.Errorf("URL: got %s; want %s", res.URL, plain.URL+"/file")
				}
				return
			}
			if !errors.Is(err, fetch.ErrRedirect) {
				t.Errorf("error: got %v; want ErrRedirect", err)
			}
			if res.Attempts != 1 || plain.Hits.Load() != 0 {
				t.Errorf("got %d attempts, %d requests over http; want 1 attempt, none over http", res.Attempts, plain.Hits.Load())
			}
		})
	}
}

func TestRedirectLoop(t *testing.T) {
	t.Parallel()
	o := fetchtest.Start(t, fetchtest.HTTP, redirectTo("/loop"))
	f := fetchtest.Fetcher(t, fetch.Options{Retries: 3})
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/loop"})
	if !errors.Is(err, fetch.ErrRedirect) || !strings.Contains(err.Error(), o.URL+"/loop") {
		t.Errorf("error: got %v; want ErrRedirect naming %s", err, o.URL+"/loop")
	}
	if res.Attempts != 1 || o.Hits.Load() != 10 {
		t.Errorf("got %d attempts, %d requests; want 1 attempt, 10 requests", res.Attempts, o.Hits.Load())
	}
}

// TestBrokenAfterLastByte: a chunked body that breaks after its last byte
// but before its end is complete: the resume finds nothing left to send
// (416), and the download succeeds with the bytes it has.
func TestBrokenAfterLastByte(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(50000, 18), ETag: `"end"`}
	for _, sink := range sinks {
		t.Run(sink, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n > 1 {
					w.Header().Set("Etag", d.ETag)
					http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(d.Body)) // 416
					return
				}
				chunked := d
				chunked.NoLength = true
				o.ServeAll(w, chunked, len(d.Body)) // every byte, no last chunk
			})
			f := fetchtest.Fetcher(t, fetch.Options{})
			req, got := request(t, o.URL+"/file", sink)
			res, err := f.Fetch(fetchtest.Context(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got(), d.Body) {
				t.Errorf("received bytes differ from the file")
			}
			if res.Attempts != 2 || o.Served.Load() != int64(len(d.Body)) {
				t.Errorf("got %d attempts, %d bytes served; want 2, %d", res.Attempts, o.Served.Load(), len(d.Body))
			}
		})
	}
}

// TestStaleMirrorDemoted: a mirror that served other bytes than expected
// is tried last by the next requests for that file.
func TestStaleMirrorDemoted(t *testing.T) {
	t.Parallel()
	good := fetchtest.Blob(20000, 19)
	stale := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		o.Serve(w, r, fetchtest.Doc{Body: fetchtest.Blob(20000, 20)}, -1)
	})
	fresh := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		o.Serve(w, r, fetchtest.Doc{Body: good}, -1)
	})
	f := fetchtest.Fetcher(t, fetch.Options{})
	for i, want := range []int{2, 1, 1} {
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{
			URL: stale.URL + "/file", Mirrors: []string{fresh.URL + "/file"}, Digests: fetchtest.Digests(good),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Attempts != want {
			t.Errorf("request %d: Attempts: got %d; want %d", i+1, res.Attempts, want)
		}
	}
	if n := stale.Hits.Load(); n != 1 {
		t.Errorf("stale mirror hits: got %d; want 1", n)
	}
}

// TestCooldownCounts: what moves a host to the end of every request's list
// of URLs for MirrorCooldown is a failure of the host (no connection, a
// reset, a 5xx); a failure of one file there (a 404, bytes that fail their
// digest or size) moves on to the mirror the next request for that file
// only: the next request for another file still begins at the host.
func TestCooldownCounts(t *testing.T) {
	t.Parallel()
	good := map[string][]byte{"/file1": fetchtest.Blob(5000, 42), "/file2": fetchtest.Blob(6000, 43)}
	for _, tc := range []struct {
		name  string
		fault func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) // of /file1 at the primary
		dead  bool
		// where the second request, for /file2, is served from
		second string
	}{
		{name: "refused", dead: true, second: "mirror"},
		{name: "reset", fault: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { o.Reset(r) }, second: "mirror"},
		{name: "500", fault: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 500, "") }, second: "mirror"},
		{name: "404", fault: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, second: "primary"},
		{name: "digest", fault: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, fetchtest.Doc{Body: fetchtest.Blob(5000, 44)}, -1)
		}, second: "primary"},
		{name: "size", fault: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, fetchtest.Doc{Body: fetchtest.Blob(7000, 44)}, -1)
		}, second: "primary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var primary string
			if tc.dead {
				primary = fetchtest.DeadURL(t)
			} else {
				primary = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/file1" {
						tc.fault(o, w, r)
						return
					}
					o.Serve(w, r, fetchtest.Doc{Body: good[r.URL.Path]}, -1)
				}).URL
			}
			mirror := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				o.Serve(w, r, fetchtest.Doc{Body: good[r.URL.Path]}, -1)
			})
			f := fetchtest.Fetcher(t, fetch.Options{Retries: -1})
			ctx := fetchtest.Context(t)
			for i, file := range []string{"/file1", "/file2", "/file1"} {
				res, err := f.Fetch(ctx, fetch.Request{
					URL:     primary + file,
					Mirrors: []string{mirror.URL + file},
					Size:    int64(len(good[file])),
					Digests: fetchtest.Digests(good[file]),
				})
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if i == 0 {
					if res.URL != mirror.URL+file {
						t.Fatalf("request 1: URL: got %s; want the mirror's", res.URL)
					}
					continue
				}
				from := tc.second
				if i == 2 {
					from = "mirror" // the file failed at the primary
				}
				want := map[string]string{"primary": primary, "mirror": mirror.URL}[from] + file
				if res.URL != want || res.Attempts != 1 {
					t.Errorf("request %d: got %s after %d attempts; want %s (the %s) at the first", i+1, res.URL, res.Attempts, want, from)
				}
			}
		})
	}
}
