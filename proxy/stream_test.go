package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// streamFixture is an upstream server, a Streamer that downloads from it,
// and a front server whose handler serves through the Streamer.
type streamFixture struct {
	*front
	up    *httptest.Server
	gets  atomic.Int64 // GET requests the upstream received
	st    *proxy.Streamer
	spill string // the Streamer's directory

	mu       sync.Mutex
	errs     []error        // errors returned by Serve
	failures []fetch.Result // given to OnError
}

// failed returns the Results given to OnError so far.
func (fx *streamFixture) failed() []fetch.Result {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return slices.Clone(fx.failures)
}

// frontOptions shape the front server of a streamFixture.
type frontOptions struct {
	// request returns the Request that serves r; nil: upstream's r.URL.Path.
	request func(upstream string, r *http.Request) fetch.Request
	// served, if set, is called once Serve returned or panicked.
	served func(r *http.Request)
	// http2 makes the front server speak HTTP/2, over TLS.
	http2 bool
	// onComplete is the Streamer's OnComplete.
	onComplete func(fetch.Result) error
}

// newStreamFixture serves upstream through a Streamer.
func newStreamFixture(t *testing.T, upstream http.HandlerFunc, opts frontOptions) *streamFixture {
	t.Helper()
	fx := &streamFixture{spill: t.TempDir()}
	fx.up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			fx.gets.Add(1)
		}
		upstream(w, r)
	}))
	t.Cleanup(fx.up.Close)
	f := fetch.New(fetch.Options{Retries: -1})
	t.Cleanup(func() { f.Close() })
	fx.st = proxy.NewStreamer(f, proxy.StreamerOptions{Dir: fx.spill, OnComplete: opts.onComplete,
		OnError: func(r *http.Request, res fetch.Result) {
			fx.mu.Lock()
			fx.failures = append(fx.failures, res)
			fx.mu.Unlock()
		}})
	t.Cleanup(func() {
		fx.st.Close()
		if names := filesUnder(t, fx.spill); len(names) > 0 {
			t.Errorf("spill directory holds %v after Close; want nothing", names)
		}
	})
	if opts.request == nil {
		opts.request = func(upstream string, r *http.Request) fetch.Request {
			return fetch.Request{URL: upstream + r.URL.Path}
		}
	}
	upURL := fx.up.URL
	fx.front = startFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.served != nil {
			defer opts.served(r)
		}
		_, err := fx.st.Serve(w, r, opts.request(upURL, r))
		if err != nil {
			fx.mu.Lock()
			fx.errs = append(fx.errs, err)
			fx.mu.Unlock()
		}
	}), opts.http2)
	return fx
}

func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// servePayload answers every request with data, its length, an ETag and a
// Last-Modified date.
func servePayload(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-rpm")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

// serveHalfUntil answers with data's length and first half, and sends the
// rest once release is closed, unless the client went away.
func serveHalfUntil(data []byte, release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(data[len(data)/2:])
	}
}

func TestServeForwardsHeaders(t *testing.T) {
	data := fetchtest.Blob(10_000, 1)
	fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "connection-specific")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Set-Cookie", "session=upstream")
		h.Set("X-Custom", "kept")
		servePayload(data)(w, r)
	}, frontOptions{})
	resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("got status %d and %d bytes; want 200 and the %d bytes of the file", resp.StatusCode, len(body), len(data))
	}
	for name, want := range map[string]string{
		"Content-Length":     strconv.Itoa(len(data)),
		"Content-Type":       "application/x-rpm",
		"Etag":               `"v1"`,
		"Last-Modified":      "Mon, 02 Jan 2006 15:04:05 GMT",
		"Accept-Ranges":      "bytes",
		"X-Custom":           "kept",
		"X-Hop":              "",
		"Keep-Alive":         "",
		"Proxy-Authenticate": "",
		"Set-Cookie":         "session=upstream", // as a shared cache keeps it
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
}

func TestServeWithoutContentType(t *testing.T) {
	data := []byte("<html>not sniffed</html>")
	fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write(data)
	}, frontOptions{})
	resp := fx.get(t, http.MethodGet, "/f", nil)
	io.Copy(io.Discard, resp.Body)
	if got := resp.Header.Get("Content-Type"); got != "" {
		t.Errorf("Content-Type: got %q; want none, as upstream sent", got)
	}
}

func TestServeHead(t *testing.T) {
	data := fetchtest.Blob(100_000, 1)
	fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		servePayload(data)(w, r)
	}, frontOptions{})
	resp := fx.get(t, http.MethodHead, "/f.rpm", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 0 {
		t.Errorf("HEAD body: got %d bytes, error %v; want none", len(body), err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD status: got %d; want 200", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(data)); got != want {
		t.Errorf("HEAD Content-Length: got %q; want %q", got, want)
	}
	if got := resp.Header.Get("Etag"); got != `"v1"` {
		t.Errorf("HEAD ETag: got %q; want %q", got, `"v1"`)
	}
	if resp := fx.get(t, http.MethodHead, "/missing", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of a missing file: got status %d; want 404", resp.StatusCode)
	}
}

func TestServeRange(t *testing.T) {
	data := fetchtest.Blob(1000, 1)
	fx := newStreamFixture(t, servePayload(data), frontOptions{})
	for _, tc := range []struct {
		name, rng, ifRange string
		status             int
		contentRange       string
		body               []byte
	}{
		{"first bytes", "bytes=0-9", "", http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"open end", "bytes=990-", "", http.StatusPartialContent, "bytes 990-999/1000", data[990:]},
		{"suffix", "bytes=-5", "", http.StatusPartialContent, "bytes 995-999/1000", data[995:]},
		{"past the end", "bytes=500-2000", "", http.StatusPartialContent, "bytes 500-999/1000", data[500:]},
		{"largest last byte", "bytes=0-9223372036854775807", "", http.StatusPartialContent, "bytes 0-999/1000", data},
		{"one byte", "bytes=7-7", "", http.StatusPartialContent, "bytes 7-7/1000", data[7:8]},
		{"unsatisfiable", "bytes=1000-", "", http.StatusRequestedRangeNotSatisfiable, "bytes */1000", nil},
		{"several ranges", "bytes=0-1,5-6", "", http.StatusOK, "", data},
		{"malformed", "bytes=x-y", "", http.StatusOK, "", data},
		{"if-range matches", "bytes=0-9", `"v1"`, http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"if-range date matches", "bytes=0-9", "Mon, 02 Jan 2006 15:04:05 GMT", http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"if-range stale", "bytes=0-9", `"v0"`, http.StatusOK, "", data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Range": {tc.rng}}
			if tc.ifRange != "" {
				h.Set("If-Range", tc.ifRange)
			}
			resp := fx.get(t, http.MethodGet, "/f.rpm", h)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range: got %q; want %q", got, tc.contentRange)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Errorf("body: got %d bytes; want bytes %d of the file", len(body), len(tc.body))
			}
		})
	}
}

func TestServeUpstreamFailure(t *testing.T) {
	goneURL := fetchtest.DeadURL(t)
	for _, tc := range []struct {
		name   string
		status int // upstream's; 0: unreachable
		want   int
		is     error
	}{
		{"not found", http.StatusNotFound, http.StatusNotFound, fetch.ErrNotFound},
		{"gone", http.StatusGone, http.StatusNotFound, fetch.ErrNotFound},
		{"server error", http.StatusInternalServerError, http.StatusBadGateway, nil},
		{"forbidden", http.StatusForbidden, http.StatusBadGateway, nil},
		{"unreachable", 0, http.StatusBadGateway, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts frontOptions
			if tc.status == 0 {
				opts.request = func(_ string, r *http.Request) fetch.Request { return fetch.Request{URL: goneURL + r.URL.Path} }
			}
			fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "upstream says no", tc.status)
			}, opts)
			resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.want)
			}
			if bytes.Contains(body, []byte("127.0.0.1")) || bytes.Contains(body, []byte("upstream says")) {
				t.Errorf("body %q tells of the upstream; want a short message", body)
			}
			fx.mu.Lock()
			defer fx.mu.Unlock()
			if len(fx.errs) != 1 {
				t.Fatalf("Serve returned %d errors; want 1", len(fx.errs))
			}
			if tc.is != nil && !errors.Is(fx.errs[0], tc.is) {
				t.Errorf("Serve returned %v; want an error matching %v", fx.errs[0], tc.is)
			}
		})
	}
}

// TestServeOnError checks the status of each failure that the client can
// cause, that Serve returns it, and that OnError gets it.
func TestServeOnError(t *testing.T) {
	data := fetchtest.Blob(1000, 1)
	for _, tc := range []struct {
		name, method, rng string
		digests           map[string]string
		status            int
		upstream          int64 // GET requests the upstream gets
	}{
		{"bad digest", http.MethodGet, "", map[string]string{"sha256": "not hex"}, http.StatusBadRequest, 0},
		{"unknown algorithm", http.MethodGet, "", map[string]string{"crc32": "00000000"}, http.StatusBadRequest, 0},
		{"method", http.MethodPost, "", nil, http.StatusMethodNotAllowed, 0},
		{"range past the end", http.MethodGet, "bytes=5000-", nil, http.StatusRequestedRangeNotSatisfiable, 1},
		{"head, range past the end", http.MethodHead, "bytes=5000-", nil, http.StatusRequestedRangeNotSatisfiable, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newStreamFixture(t, servePayload(data), frontOptions{request: func(upstream string, r *http.Request) fetch.Request {
				return fetch.Request{URL: upstream + r.URL.Path, Digests: tc.digests}
			}})
			h := http.Header{}
			if tc.rng != "" {
				h.Set("Range", tc.rng)
			}
			resp := fx.get(t, tc.method, "/f.rpm", h)
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.status)
			}
			fx.mu.Lock()
			errs := slices.Clone(fx.errs)
			fx.mu.Unlock()
			if len(errs) != 1 || !errors.Is(errs[0], fetch.ErrInvalidRequest) {
				t.Errorf("Serve returned %v; want one error matching ErrInvalidRequest", errs)
			}
			if f := fx.failed(); len(f) != 1 || !errors.Is(f[0].Err, fetch.ErrInvalidRequest) {
				t.Errorf("OnError got %v; want one Result whose Err matches ErrInvalidRequest", f)
			}
			if tc.method == http.MethodHead {
				return // a HEAD request may have reached the upstream
			}
			fx.st.Close() // the download for the others, if any, ends
			if got := fx.gets.Load(); got > tc.upstream {
				t.Errorf("upstream got %d GET requests; want at most %d", got, tc.upstream)
			}
		})
	}
}

func TestServeAbortsMidStream(t *testing.T) {
	data := fetchtest.Blob(200_000, 1)
	for _, tc := range []struct {
		name   string
		length bool
		http2  bool
	}{
		{"content length", true, false},
		{"chunked", false, false},
		{"http2 content length", true, true},
		{"http2 no length", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := make(chan struct{})
			fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				}
				w.Write(data[:len(data)/2])
				http.NewResponseController(w).Flush()
				<-cut // the client has bytes
				panic(http.ErrAbortHandler)
			}, frontOptions{http2: tc.http2})
			resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
			if tc.http2 && resp.ProtoMajor != 2 {
				t.Fatalf("got %s; want HTTP/2", resp.Proto)
			}
			first := make([]byte, 1)
			_, err := io.ReadFull(resp.Body, first)
			close(cut)
			if err != nil {
				t.Fatalf("first byte: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("got status %d and a clean end after %d bytes; want an error", resp.StatusCode, 1+len(body))
			}
			if len(body)+1 > len(data)/2 {
				t.Errorf("got %d bytes; want at most the %d that upstream sent", len(body), len(data)/2)
			}
			if f := fx.failed(); len(f) != 1 || f[0].Err == nil {
				t.Errorf("OnError got %v; want one Result with the cause", f)
			}
		})
	}
}

func TestServeDigestMismatch(t *testing.T) {
	t.Run("after the first byte", func(t *testing.T) {
		data := fetchtest.Blob(300_000, 1)
		cache := t.TempDir()
		tail := make(chan struct{})
		fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)-10])
			http.NewResponseController(w).Flush()
			<-tail // the client has bytes
			w.Write(data[len(data)-10:])
		}, frontOptions{request: func(upstream string, r *http.Request) fetch.Request {
			return fetch.Request{URL: upstream + r.URL.Path, Path: filepath.Join(cache, "f.rpm"),
				Digests: map[string]string{"sha256": fetchtest.SHA256([]byte("other"))}}
		}})
		resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
		_, err := io.ReadFull(resp.Body, make([]byte, 1))
		close(tail)
		if err != nil {
			t.Fatalf("first byte: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("got status %d and a clean end after %d bytes; want an error", resp.StatusCode, 1+len(body))
		}
		if 1+len(body) >= len(data) {
			t.Errorf("got %d bytes; want fewer than the %d of the corrupt file", 1+len(body), len(data))
		}
		var de *fetch.DigestError
		if f := fx.failed(); len(f) != 1 || !errors.As(f[0].Err, &de) {
			t.Errorf("OnError got %v; want one Result with a *fetch.DigestError", f)
		}
		fx.st.Close() // waits for the download to be over
		if names := filesUnder(t, cache); len(names) > 0 {
			t.Errorf("cache holds %v; want nothing", names)
		}
	})
	t.Run("one byte", func(t *testing.T) {
		// The only byte is the last: it is held back, and the failure
		// comes before the client was sent anything.
		cache := t.TempDir()
		fx := newStreamFixture(t, servePayload([]byte("x")), frontOptions{request: func(upstream string, r *http.Request) fetch.Request {
			return fetch.Request{URL: upstream + r.URL.Path, Path: filepath.Join(cache, "f.rpm"),
				Digests: map[string]string{"sha256": fetchtest.SHA256([]byte("y"))}}
		}})
		resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("status: got %d; want 502", resp.StatusCode)
		}
		fx.st.Close()
		if names := filesUnder(t, cache); len(names) > 0 {
			t.Errorf("cache holds %v; want nothing", names)
		}
	})
}

func TestServeStreamAndKeep(t *testing.T) {
	data := fetchtest.Blob(300_000, 1)
	path := filepath.Join(t.TempDir(), "f.rpm")
	fx := newStreamFixture(t, servePayload(data), frontOptions{request: func(upstream string, r *http.Request) fetch.Request {
		return fetch.Request{URL: upstream + r.URL.Path, Path: path, Digests: map[string]string{"sha256": fetchtest.SHA256(data)}}
	}})
	resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	kept, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(kept, data) {
		t.Errorf("kept %d bytes, error %v; want the %d bytes of the file", len(kept), err, len(data))
	}
}

func TestServeOnComplete(t *testing.T) {
	data := fetchtest.Blob(300_000, 1)
	t.Run("before the last byte", func(t *testing.T) {
		var calls atomic.Int64
		fx := newStreamFixture(t, servePayload(data), frontOptions{onComplete: func(res fetch.Result) error {
			if res.Err != nil || res.Size != int64(len(data)) || res.Digests["sha256"] != fetchtest.SHA256(data) {
				t.Errorf("OnComplete got size %d, sha256 %s, error %v; want the file's", res.Size, res.Digests["sha256"], res.Err)
			}
			calls.Add(1)
			return nil
		}})
		for range 2 {
			resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
			body, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(body, data) {
				t.Fatalf("got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
			}
			if got, want := calls.Load(), fx.gets.Load(); got != want {
				t.Errorf("OnComplete called %d times once the response ended, for %d downloads; want as many", got, want)
			}
		}
	})
	t.Run("error", func(t *testing.T) {
		fx := newStreamFixture(t, servePayload(data), frontOptions{onComplete: func(res fetch.Result) error {
			return errors.New("no room for the record")
		}})
		resp := fx.get(t, http.MethodGet, "/f.rpm", nil)
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && err == nil {
			t.Errorf("got a clean 200 with %d bytes; want an error", len(body))
		}
	})
}

func TestServeSharesOneDownload(t *testing.T) {
	const clients = 50
	data := fetchtest.Blob(1<<20, 1)
	digest := fetchtest.SHA256(data)
	for _, tc := range []struct {
		name    string
		request func(upstream string, r *http.Request) fetch.Request
	}{
		{"same URL", func(upstream string, r *http.Request) fetch.Request {
			return fetch.Request{URL: upstream + r.URL.Path}
		}},
		{"same sha256", func(upstream string, r *http.Request) fetch.Request {
			// Each client names another URL of the same bytes.
			return fetch.Request{URL: upstream + r.URL.Path + "?" + r.URL.RawQuery, Digests: map[string]string{"sha256": digest}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			fx := newStreamFixture(t, serveHalfUntil(data, release), frontOptions{request: tc.request})

			// The first client reads the half that upstream sent; the
			// others join once those bytes are in.
			first := fx.get(t, http.MethodGet, "/f.rpm?client=0", nil)
			head := make([]byte, len(data)/2)
			if _, err := io.ReadFull(first.Body, head); err != nil {
				t.Fatalf("first client: %v", err)
			}
			resps := make([]*http.Response, clients)
			resps[0] = first
			var joined sync.WaitGroup
			for i := 1; i < clients; i++ {
				joined.Go(func() {
					resp, err := fx.front.Client().Get(fmt.Sprintf("%s/f.rpm?client=%d", fx.front.URL, i))
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					resps[i] = resp
				})
			}
			joined.Wait() // each got its headers: it joined the download
			close(release)

			var read sync.WaitGroup
			for i, resp := range resps {
				if resp == nil {
					continue
				}
				read.Go(func() {
					defer resp.Body.Close()
					body, err := io.ReadAll(resp.Body)
					if i == 0 {
						body = append(head, body...)
					}
					if err != nil || !bytes.Equal(body, data) {
						t.Errorf("client %d: got %d bytes, error %v; want the %d bytes of the file", i, len(body), err, len(data))
					}
				})
			}
			read.Wait()
			if got := fx.gets.Load(); got != 1 {
				t.Errorf("upstream got %d GET requests; want 1", got)
			}
		})
	}
}

func TestServeLeaderLeaves(t *testing.T) {
	data := fetchtest.Blob(1<<20, 1)
	release := make(chan struct{})
	fx := newStreamFixture(t, serveHalfUntil(data, release), frontOptions{})
	leaderLeaves := fx.firstByte(t, "/f.rpm")
	other := fx.get(t, http.MethodGet, "/f.rpm", nil)
	leaderLeaves()
	close(release)
	body, err := io.ReadAll(other.Body)
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("the other client got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	if got := fx.gets.Load(); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
}

func TestServeClientGoneStopsDownload(t *testing.T) {
	data := fetchtest.Blob(1<<20, 1)
	stopped := make(chan struct{})
	cache := t.TempDir()
	fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:64<<10])
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // only a download that stops ends this
		close(stopped)
	}, frontOptions{request: func(upstream string, r *http.Request) fetch.Request {
		return fetch.Request{URL: upstream + r.URL.Path, Path: filepath.Join(cache, "f.rpm")}
	}})
	clientLeaves := fx.firstByte(t, "/f.rpm")
	clientLeaves()
	<-stopped
	fx.st.Close()
	if names := filesUnder(t, cache); len(names) > 0 {
		t.Errorf("cache holds %v; want nothing", names)
	}
}

func TestServeSlowClientBesideFastOne(t *testing.T) {
	const size = 24 << 20 // far more than the socket buffers of a client that does not read
	data := fetchtest.Blob(size, 1)
	slowDone := make(chan struct{})
	fx := newStreamFixture(t, servePayload(data), frontOptions{served: func(r *http.Request) {
		if r.URL.Query().Has("slow") {
			close(slowDone)
		}
	}})
	// The slow client has a small receive buffer and reads nothing yet.
	slowTransport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	defer slowTransport.CloseIdleConnections()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	slow, err := (&http.Client{Transport: slowTransport}).Get(fx.front.URL + "/big?slow")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	fast := fx.get(t, http.MethodGet, "/big", nil)
	h := sha256.New()
	if n, err := io.Copy(h, fast.Body); err != nil || n != size {
		t.Fatalf("fast client: got %d bytes, error %v; want %d", n, err, size)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), fetchtest.SHA256(data); got != want {
		t.Fatalf("fast client: got sha256 %s; want %s", got, want)
	}
	select {
	case <-slowDone:
		t.Fatal("the slow client's response ended before it read; the test needs a file larger than the socket buffers")
	default:
	}

	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if grown := int64(during.HeapAlloc) - int64(before.HeapAlloc); grown > size/4 {
		t.Errorf("heap grew by %d bytes while a client lags %d bytes behind; want the file kept on disk", grown, size)
	}

	h.Reset()
	if n, err := io.Copy(h, slow.Body); err != nil || n != size {
		t.Fatalf("slow client: got %d bytes, error %v; want %d", n, err, size)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), fetchtest.SHA256(data); got != want {
		t.Fatalf("slow client: got sha256 %s; want %s", got, want)
	}
	if got := fx.gets.Load(); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
}

func TestServeHTTP10UnknownSize(t *testing.T) {
	// An HTTP/1.0 client cannot tell a cut from the end of a body without
	// a length: it gets the file once verified, with its length.
	data := fetchtest.Blob(100_000, 1)
	fx := newStreamFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(data[:len(data)/2])
		http.NewResponseController(w).Flush() // no length: chunked
		w.Write(data[len(data)/2:])
	}, frontOptions{})
	conn, err := net.Dial("tcp", fx.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /f HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(data)); got != want {
		t.Errorf("Content-Length: got %q; want %q", got, want)
	}
}

func TestServeAfterClose(t *testing.T) {
	fx := newStreamFixture(t, servePayload([]byte("data")), frontOptions{})
	fx.st.Close()
	resp := fx.get(t, http.MethodGet, "/f", nil)
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status: got %d; want 503", resp.StatusCode)
	}
}

func TestServeEmptyFile(t *testing.T) {
	fx := newStreamFixture(t, servePayload(nil), frontOptions{})
	resp := fx.get(t, http.MethodGet, "/empty", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 0 || resp.StatusCode != http.StatusOK {
		t.Errorf("got status %d, %d bytes, error %v; want 200 and no bytes", resp.StatusCode, len(body), err)
	}
	if got := resp.Header.Get("Content-Length"); got != "0" {
		t.Errorf("Content-Length: got %q; want \"0\"", got)
	}
}

// BenchmarkStream compares a download straight from the upstream server
// with one through a Streamer, for a small file and a large one: ttfb-ns is
// the time to the first byte of the body, MB/s the throughput.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		data := fetchtest.Blob(size, 1)
		up := httptest.NewServer(servePayload(data))
		f := fetch.New(fetch.Options{})
		st := proxy.NewStreamer(f, proxy.StreamerOptions{Dir: b.TempDir()})
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st.Serve(w, r, fetch.Request{URL: up.URL + r.URL.Path})
		}))
		for _, bc := range []struct{ name, url string }{
			{"direct", up.URL + "/f"},
			{"streamer", front.URL + "/f"},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", bc.name, size>>10), func(b *testing.B) {
				benchmarkGet(b, bc.url, size, nil)
			})
		}
		front.Close()
		st.Close()
		f.Close()
		up.Close()
	}
}

// A handler that serves the files of an upstream server, keeps them in a
// cache folder, and downloads each once however many clients ask for it.
func ExampleStreamer() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the bytes of "+r.URL.Path)
	}))
	defer upstream.Close()
	cache, _ := os.MkdirTemp("", "cache")
	defer os.RemoveAll(cache)

	f := fetch.New(fetch.Options{})
	defer f.Close()
	st := proxy.NewStreamer(f, proxy.StreamerOptions{Dir: cache})
	defer st.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A real handler checks r.URL.Path before it names a file.
		st.Serve(w, r, fetch.Request{
			URL:  upstream.URL + r.URL.Path,
			Path: filepath.Join(cache, filepath.Base(r.URL.Path)),
		})
	}))
	defer front.Close()

	resp, err := http.Get(front.URL + "/pkg.rpm")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body), err)
	kept, err := os.ReadFile(filepath.Join(cache, "pkg.rpm"))
	fmt.Println(string(kept), err)
	// Output:
	// 200 OK the bytes of /pkg.rpm <nil>
	// the bytes of /pkg.rpm <nil>
}
