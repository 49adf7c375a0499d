package fetch_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// segmentOrigin serves one file in ranges, slowly enough that segments
// overlap, and counts the requests it is serving at once. Its first
// request that asks for no range waits (up to a few seconds) until a range
// request came, so that a segmented download always runs in segments.
type segmentOrigin struct {
	*fetchtest.Server
	ranges   atomic.Int64 // range requests received
	inflight atomic.Int64
	most     atomic.Int64 // most requests served at once
	ranged   chan struct{}
	once     sync.Once
}

// startSegmentOrigin starts a segmentOrigin over HTTP/1.1 or (proto "h2")
// HTTP/2. d returns the file for request n (1 for the first); fault, when
// not nil, may answer range request k (1 for the first) itself and
// returns whether it did.
func startSegmentOrigin(t *testing.T, proto string, d func(n int) fetchtest.Doc, fault func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool) *segmentOrigin {
	t.Helper()
	so := &segmentOrigin{ranged: make(chan struct{})}
	kind := fetchtest.HTTP
	if proto == "h2" {
		kind = fetchtest.H2
	}
	so.Server = fetchtest.Start(t, kind, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		in := so.inflight.Add(1)
		defer so.inflight.Add(-1)
		for m := so.most.Load(); in > m && !so.most.CompareAndSwap(m, in); m = so.most.Load() {
		}
		if r.Header.Get("Range") != "" {
			k := int(so.ranges.Add(1))
			so.once.Do(func() { close(so.ranged) })
			if fault != nil && fault(o, k, w, r) {
				return
			}
			o.Serve(slowResponse{ResponseWriter: w}, r, d(n), -1)
			return
		}
		o.Serve(slowResponse{ResponseWriter: w, r: r, gate: so.ranged}, r, d(n), -1)
	})
	return so
}

// slowResponse pauses before each write of a body. With a gate, it sends
// the header and then waits for the gate to close (for wait at most; 0:
// 5s).
type slowResponse struct {
	http.ResponseWriter
	r    *http.Request
	gate chan struct{}
	wait time.Duration
}

func (s slowResponse) WriteHeader(code int) {
	s.ResponseWriter.WriteHeader(code)
	if s.gate == nil {
		return
	}
	http.NewResponseController(s.ResponseWriter).Flush()
	select {
	case <-s.gate:
	case <-time.After(cmp.Or(s.wait, 5*time.Second)):
	case <-s.r.Context().Done():
	}
}

func (s slowResponse) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.ResponseWriter.Write(p)
}

func (s slowResponse) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// segmentOptions are the options of a segmented download of small files.
func segmentOptions(segments int) fetch.Options {
	return fetch.Options{Segments: segments, MinSegmentSize: 32 << 10, Retries: 3}
}

// TestSegmentsKeepPerHostCap: a download in 8 segments under a limit of 2
// connections a host never has more than 2 requests or connections open
// at the server, and delivers the file.
func TestSegmentsKeepPerHostCap(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1<<20, 21), ETag: `"s"`}
	for _, proto := range []string{"http1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			o := startSegmentOrigin(t, proto, func(int) fetchtest.Doc { return d }, nil)
			opts := segmentOptions(8)
			opts.Limiter = fetch.NewLimiter(8, 2)
			// Counted at the client: a segment whose range another takes
			// over is cancelled there at once, while its handler may run on
			// a little at the server.
			tr := o.Client().Transport.(*http.Transport).Clone()
			conns := &connCounter{}
			tr.DialContext = conns.dial
			reqs := &requestCounter{base: tr}
			opts.Client = &http.Client{Transport: reqs}
			f := fetchtest.Fetcher(t, opts)
			path := filepath.Join(t.TempDir(), "file")
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, path), d.Body) {
				t.Errorf("file differs from the served one")
			}
			if res.Digests["sha256"] != fetchtest.Digests(d.Body)["sha256"] {
				t.Errorf("Result.Digests: got %v; want %v", res.Digests, fetchtest.Digests(d.Body))
			}
			if got := o.ranges.Load(); got == 0 {
				t.Errorf("range requests: got 0; want some")
			}
			if got := reqs.most.Load(); got > 2 {
				t.Errorf("requests at once: got %d; want at most 2", got)
			}
			if got := conns.maxOpen.Load(); got > 2 {
				t.Errorf("connections at once: got %d; want at most 2", got)
			}
		})
	}
}

// requestCounter is a RoundTripper that counts the requests in flight at
// once, from the request to the close of its body.
type requestCounter struct {
	base           http.RoundTripper
	inflight, most atomic.Int64
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.inflight.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		c.inflight.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, close: func() { c.inflight.Add(-1) }}
	return resp, nil
}

// TestSegmentFaults: segmented downloads meet resets, stalls, cut bodies,
// wrong bytes and a file that changes between segments: the result is the
// verified file or a typed error, and never a partial file at Path.
func TestSegmentFaults(t *testing.T) {
	t.Parallel()
	const size = 512 << 10
	old := fetchtest.Doc{Body: fetchtest.Blob(size, 22), ETag: `"1"`}
	changed := fetchtest.Doc{Body: fetchtest.Blob(size, 23), ETag: `"2"`}
	wrong := fetchtest.Doc{Body: bytes.Clone(old.Body), ETag: old.ETag}
	wrong.Body[size-100] ^= 1
	for _, tc := range []struct {
		name    string
		doc     func(n int) fetchtest.Doc
		fault   func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool
		digests bool
		want    []byte               // the file, or nil
		wantErr func(err error) bool // when want is nil
	}{
		{name: "reset", doc: func(int) fetchtest.Doc { return old }, want: old.Body,
			fault: func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
				if k <= 2 {
					breakConn(w, r)
					return true
				}
				return false
			}},
		{name: "truncated", doc: func(int) fetchtest.Doc { return old }, want: old.Body, digests: true,
			fault: func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
				if k <= 3 {
					o.Serve(w, r, old, 5000)
					return true
				}
				return false
			}},
		{name: "stall", doc: func(int) fetchtest.Doc { return old }, want: old.Body,
			fault: func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
				if k == 1 {
					o.Serve(stallingResponse{w, r, o, 1000}, r, old, -1)
					return true
				}
				return false
			}},
		// Every range request gets one byte: no connection makes
		// progress, and the download fails within the retries.
		{name: "one byte a range", doc: func(int) fetchtest.Doc { return old },
			fault: func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
				o.Serve(w, r, old, 1)
				return true
			},
			// A cut body over HTTP/1.1, a reset stream over HTTP/2;
			// not the test's deadline.
			wantErr: func(err error) bool { return err != nil && !errors.Is(err, context.DeadlineExceeded) }},
		{name: "ranges ignored", doc: func(int) fetchtest.Doc { return old }, want: old.Body,
			fault: func(o *fetchtest.Server, k int, w http.ResponseWriter, r *http.Request) bool {
				o.ServeAll(w, old, -1)
				return true
			}},
		{name: "wrong bytes", doc: func(int) fetchtest.Doc { return wrong }, digests: true,
			wantErr: func(err error) bool { var de *fetch.DigestError; return errors.As(err, &de) }},
		{name: "changed between segments", want: changed.Body, doc: func(n int) fetchtest.Doc {
			if n == 1 {
				return old
			}
			return changed
		}},
		{name: "changed, with the old digest", digests: true, doc: func(n int) fetchtest.Doc {
			if n == 1 {
				return old
			}
			return changed
		}, wantErr: func(err error) bool { var de *fetch.DigestError; return errors.As(err, &de) }},
	} {
		for _, proto := range []string{"http1", "h2"} {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				o := startSegmentOrigin(t, proto, tc.doc, tc.fault)
				opts := segmentOptions(4)
				opts.StallTimeout = 300 * time.Millisecond
				f := fetchtest.Fetcher(t, opts, o.Server)
				dir := t.TempDir()
				req := fetch.Request{URL: o.URL + "/file", Path: filepath.Join(dir, "file")}
				if tc.digests {
					req.Digests = fetchtest.Digests(old.Body)
				}
				_, err := f.Fetch(fetchtest.Context(t), req)
				noPartials(t, dir)
				if o.ranges.Load() == 0 {
					t.Errorf("range requests: got 0; want some")
				}
				if tc.want == nil {
					if err == nil || !tc.wantErr(err) {
						t.Fatalf("got error %v; want a typed one", err)
					}
					if got := readFile(t, req.Path); got != nil {
						t.Errorf("a file is at Path after a failure")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readFile(t, req.Path), tc.want) {
					t.Errorf("file differs from the served one")
				}
			})
		}
	}
}

// breakConn breaks the connection of r: a TCP reset for HTTP/1.1, a
// stream reset for HTTP/2.
func breakConn(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// stallingResponse sends the first n bytes of a body, then nothing until
// the client goes away.
type stallingResponse struct {
	http.ResponseWriter
	r *http.Request
	s *fetchtest.Server
	n int
}

func (s stallingResponse) Write(p []byte) (int, error) {
	if len(p) > s.n {
		s.ResponseWriter.Write(p[:s.n])
		http.NewResponseController(s.ResponseWriter).Flush()
		s.s.Wait(s.r)
		return s.n, fetchtest.ErrCut
	}
	return s.ResponseWriter.Write(p)
}

// TestSegmentsFromMirrors: with an expected digest, segments come from the
// mirrors too, and a mirror that fails leaves its spans to the others.
func TestSegmentsFromMirrors(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(512<<10, 24), ETag: `"m"`}
	o := startSegmentOrigin(t, "http1", func(int) fetchtest.Doc { return d }, nil)
	mirror := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		o.Serve(w, r, fetchtest.Doc{Body: d.Body, ETag: `"other"`}, -1)
	})
	broken := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	f := fetchtest.Fetcher(t, segmentOptions(4))
	path := filepath.Join(t.TempDir(), "file")
	_, err := f.Fetch(fetchtest.Context(t), fetch.Request{
		URL: o.URL + "/file", Mirrors: []string{mirror.URL + "/file", broken.URL + "/file"},
		Path: path, Digests: fetchtest.Digests(d.Body),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path), d.Body) {
		t.Errorf("file differs from the served one")
	}
	if mirror.Hits.Load() == 0 {
		t.Errorf("mirror requests: got 0; want some")
	}
	if broken.Hits.Load() == 0 {
		t.Errorf("broken mirror requests: got 0; want some")
	}
}

// TestSegmentsFallBack: a download that cannot be split makes one request,
// whatever Segments says.
func TestSegmentsFallBack(t *testing.T) {
	t.Parallel()
	big := fetchtest.Doc{Body: fetchtest.Blob(512<<10, 25), ETag: `"f"`}
	for _, tc := range []struct {
		name   string
		serve  func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request)
		writer bool
		digest bool
	}{
		{name: "no ranges", digest: true, serve: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.ServeAll(w, big, -1)
		}},
		{name: "writer", writer: true, serve: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, big, -1)
		}},
		{name: "small file", serve: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, fetchtest.Doc{Body: big.Body[:50<<10], ETag: big.ETag}, -1)
		}},
		{name: "no guard", serve: func(o *fetchtest.Server, w http.ResponseWriter, r *http.Request) {
			o.Serve(w, r, fetchtest.Doc{Body: big.Body}, -1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { tc.serve(o, w, r) })
			f := fetchtest.Fetcher(t, segmentOptions(8))
			req := fetch.Request{URL: o.URL + "/file", Path: filepath.Join(t.TempDir(), "file")}
			var buf bytes.Buffer
			if tc.writer {
				req.Writer = &buf
			}
			if tc.digest {
				req.Digests = fetchtest.Digests(big.Body)
			}
			if _, err := f.Fetch(fetchtest.Context(t), req); err != nil {
				t.Fatal(err)
			}
			if got := o.Hits.Load(); got != 1 {
				t.Errorf("requests: got %d; want 1", got)
			}
		})
	}
}

// TestSegmentsCancelled: cancelling a segmented download stops every
// segment and leaves no file behind.
func TestSegmentsCancelled(t *testing.T) {
	t.Parallel()
	d := fetchtest.Doc{Body: fetchtest.Blob(1<<20, 26), ETag: `"c"`}
	o := startSegmentOrigin(t, "http1", func(int) fetchtest.Doc { return d }, nil)
	f := fetchtest.Fetcher(t, segmentOptions(4))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	var once sync.Once
	req := fetch.Request{URL: o.URL + "/file", Path: filepath.Join(dir, "file"), Progress: func(written, total int64) {
		if written > total/2 {
			once.Do(cancel)
		}
	}}
	_, err := f.Fetch(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	if o.ranges.Load() == 0 {
		t.Errorf("range requests: got 0; want some")
	}
	onlyFiles(t, dir)
}
