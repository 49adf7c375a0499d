// Package fetchtest holds what the module's tests share: one scripted test
// server, the files it serves, pseudo-random payloads, digests, and a
// Fetcher and a context that end with the test.
package fetchtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
)

// Kinds of Server.
const (
	HTTP  = "http"  // plain HTTP/1.1
	HTTPS = "https" // HTTP/1.1 over TLS
	H2    = "h2"    // HTTP/2 over TLS
)

// Server is an httptest server whose handler is a script: it is told the
// number of the request (1 for the first), so it can fail, cut, stall or
// change the file on purpose. It counts what clients did to it, keeps the
// headers of each request and counts the body bytes it served.
type Server struct {
	*httptest.Server
	Opened  atomic.Int64 // connections accepted
	Open    atomic.Int64 // connections open now
	MaxOpen atomic.Int64 // most connections open at once
	Hits    atomic.Int64 // requests received
	Served  atomic.Int64 // body bytes written by Serve, ServeAll and Stall

	quit chan struct{} // closed at the end of the test: stalled handlers return

	mu      sync.Mutex
	headers []http.Header // headers of each request, in order
}

// Script answers request n (1 for the first) of a Server.
type Script func(s *Server, n int, w http.ResponseWriter, r *http.Request)

// Handler is a Script that hands every request to h.
func Handler(h http.Handler) Script {
	return func(_ *Server, _ int, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }
}

// Start starts a Server of kind (HTTP, HTTPS or H2) that runs script,
// closed at the end of the test.
func Start(t testing.TB, kind string, script Script) *Server {
	t.Helper()
	s := &Server{quit: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		n := len(s.headers)
		s.mu.Unlock()
		script(s, n, w, r)
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.Opened.Add(1)
			n := s.Open.Add(1)
			for m := s.MaxOpen.Load(); n > m && !s.MaxOpen.CompareAndSwap(m, n); m = s.MaxOpen.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			s.Open.Add(-1)
		}
	}
	switch kind {
	case HTTP:
		s.Start()
	case HTTPS:
		s.StartTLS()
	case H2:
		s.EnableHTTP2 = true
		s.StartTLS()
	default:
		t.Fatalf("fetchtest: unknown kind of server %q", kind)
	}
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.quit) }) // runs first: stalled handlers return
	return s
}

// Header returns the headers of request n (1 for the first), or nil.
func (s *Server) Header(n int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.headers) {
		return nil
	}
	return s.headers[n-1]
}

// Doc is a file a Server serves: its bytes and validators.
type Doc struct {
	Body []byte
	ETag string    // sent as ETag when set
	Mod  time.Time // sent as Last-Modified when not zero
}

// Serve sends d with http.ServeContent, which honours Range and If-Range,
// and breaks the connection after cut bytes of body (cut < 0: never).
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, d Doc, cut int) {
	if d.ETag != "" {
		w.Header().Set("Etag", d.ETag)
	}
	cw := &cutWriter{ResponseWriter: w, s: s, left: cut}
	http.ServeContent(cw, r, "", d.Mod, bytes.NewReader(d.Body))
	if cw.cut {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
}

// ServeAll sends d whole with status 200, ignoring any Range, and breaks
// the connection after cut bytes of body (cut < 0: never).
func (s *Server) ServeAll(w http.ResponseWriter, d Doc, cut int) {
	if d.ETag != "" {
		w.Header().Set("Etag", d.ETag)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
	cw := &cutWriter{ResponseWriter: w, s: s, left: cut}
	cw.Write(d.Body)
	if cw.cut {
		panic(http.ErrAbortHandler)
	}
}

// Stall sends the first n bytes of d (none when n is 0: not even the
// header) and then nothing, until the client goes away or the test ends.
func (s *Server) Stall(w http.ResponseWriter, r *http.Request, d Doc, n int) {
	if n > 0 {
		if d.ETag != "" {
			w.Header().Set("Etag", d.ETag)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
		s.Served.Add(int64(n))
		w.Write(d.Body[:n])
		http.NewResponseController(w).Flush()
	}
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
}

// Status answers code, with a Retry-After when retryAfter is not empty.
func Status(w http.ResponseWriter, code int, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	http.Error(w, http.StatusText(code), code)
}

// ErrCut is the error of a write that a Server cut on purpose.
var ErrCut = errors.New("connection cut on purpose")

// cutWriter counts the body bytes a Server serves and breaks the transfer
// after left bytes.
type cutWriter struct {
	http.ResponseWriter
	s    *Server
	left int // bytes still allowed; < 0: no limit
	cut  bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	cut := c.left >= 0 && len(p) >= c.left
	if cut {
		p = p[:c.left]
	}
	// Counted before the bytes leave, so that a client never has bytes
	// that the count lacks.
	c.s.Served.Add(int64(len(p)))
	n, err := c.ResponseWriter.Write(p)
	c.s.Served.Add(int64(n - len(p)))
	if c.left >= 0 {
		c.left -= n
	}
	if cut {
		http.NewResponseController(c.ResponseWriter).Flush()
		c.cut = true
		return n, ErrCut
	}
	return n, err
}

// Blob returns n pseudo-random bytes, the same for the same seed.
func Blob(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// SHA256 returns the hex sha256 digest of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Digests returns the [fetch.Request.Digests] that b satisfies.
func Digests(b []byte) map[string]string {
	return map[string]string{"sha256": SHA256(b)}
}

// Fetcher returns a Fetcher with tiny backoffs (unless opts sets them)
// that trusts the TLS server given, closed at the end of the test.
func Fetcher(t testing.TB, opts fetch.Options, tlsServer ...*Server) *fetch.Fetcher {
	t.Helper()
	if opts.BackoffBase == 0 {
		opts.BackoffBase = time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Millisecond
	}
	if opts.Client == nil && len(tlsServer) > 0 && tlsServer[0] != nil && tlsServer[0].TLS != nil {
		opts.Client = tlsServer[0].Client()
	}
	f := fetch.New(opts)
	t.Cleanup(func() {
		f.Close()
		if opts.Client != nil {
			opts.Client.CloseIdleConnections()
		}
	})
	return f
}

// Context returns a context that ends with the test, and at the latest
// after a minute, so that a bug makes a test fail rather than hang.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
