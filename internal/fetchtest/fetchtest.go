// Package fetchtest holds what the module's tests share: one scripted test
// server, the files it serves, pseudo-random payloads, digests, and a
// Fetcher and a context that end with the test.
package fetchtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/partname"
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
// headers and arrival time of each request and counts the body bytes it
// served.
//
// A script misbehaves with the Server's methods: [Server.Serve] (ranges,
// conditional requests, a cut after n bytes), [Server.ServeAll] (ranges
// ignored), [Server.Stall], [Server.Reset] and [Server.Hangup] (the
// connection broken or closed), and [Status] (an error status, with
// Retry-After). What net/http logs about the clients it breaks is
// discarded.
type Server struct {
	*httptest.Server
	Opened  atomic.Int64 // connections accepted
	Open    atomic.Int64 // connections open now
	MaxOpen atomic.Int64 // most connections open at once
	Hits    atomic.Int64 // requests received
	Served  atomic.Int64 // body bytes written by Serve, ServeAll and Stall

	quit chan struct{} // closed at the end of the test: stalled handlers return

	mu       sync.Mutex
	requests []request // in the order they came
}

// request is what a Server keeps of a request.
type request struct {
	header  http.Header
	arrived time.Time
}

// connKey is the context key of the connection a request came on.
type connKey struct{}

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
		s.requests = append(s.requests, request{header: r.Header.Clone(), arrived: time.Now()})
		n := len(s.requests)
		s.mu.Unlock()
		script(s, n, w, r)
	}))
	s.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
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
	if n < 1 || n > len(s.requests) {
		return nil
	}
	return s.requests[n-1].header
}

// Arrived returns the time request n (1 for the first) came, or the zero
// time.
func (s *Server) Arrived(n int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.requests) {
		return time.Time{}
	}
	return s.requests[n-1].arrived
}

// Doc is a file a Server serves: its bytes and validators.
type Doc struct {
	Body []byte
	ETag string    // sent as ETag when set
	Mod  time.Time // sent as Last-Modified when not zero
	// NoLength makes ServeAll and Stall send no Content-Length: over
	// HTTP/1.1 the body is chunked, and a cut one lacks its last chunk.
	NoLength bool
}

// header sets the headers of d's validators and, unless d.NoLength,
// its Content-Length.
func (d Doc) header(w http.ResponseWriter) {
	if d.ETag != "" {
		w.Header().Set("Etag", d.ETag)
	}
	if !d.Mod.IsZero() {
		w.Header().Set("Last-Modified", d.Mod.UTC().Format(http.TimeFormat))
	}
	if !d.NoLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
	}
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
	d.header(w)
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
		d.header(w)
		s.Served.Add(int64(n))
		w.Write(d.Body[:n])
		http.NewResponseController(w).Flush()
	}
	s.Wait(r)
}

// Wait returns when the client of r goes away or the test ends.
func (s *Server) Wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
}

// Reset breaks the connection r came on with a TCP reset, as a server
// that crashes; over HTTP/2 every stream on it breaks.
func (s *Server) Reset(r *http.Request) {
	c := tcpConn(r)
	c.SetLinger(0)
	c.Close()
}

// Hangup closes the connection r came on cleanly, as a server that stops
// early.
func (s *Server) Hangup(r *http.Request) { tcpConn(r).Close() }

// tcpConn returns the TCP connection that r came on.
func tcpConn(r *http.Request) *net.TCPConn {
	c := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	return c.(*net.TCPConn)
}

// Certificate returns httptest's certificate for 127.0.0.1, which a
// Server of kind HTTPS or H2 presents, and a pool of roots that trusts
// it: for the other servers of a test (FTPS).
func Certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	return s.TLS.Certificates[0], s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
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

// Blob returns n pseudo-random bytes, the same for the same n and seed:
// the payload of every test, made fast enough for many MiB under -race.
func Blob(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(n))
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
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

// WriteTree writes files, named by slash path, below root, making the
// directories they need.
func WriteTree(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Partials returns the temporary and partial files of downloads below dir
// (named with the suffix [partname.Suffix]), failing the test when dir
// cannot be walked.
func Partials(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, partname.Suffix) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
