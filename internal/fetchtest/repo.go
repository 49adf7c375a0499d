package fetchtest

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Repo is a Server that serves files by URL path, which a test sets and
// changes while it runs: an upstream package repository, a mirror, the
// origin of a cache. It logs every request it answered.
type Repo struct {
	*Server
	// Rate caps each response's body at Rate bytes a second, sent in
	// pieces of at most 32 KiB; 0: no limit. A test may change it at any
	// time, also while a response is under way.
	Rate atomic.Int64

	mu    sync.Mutex
	files map[string]File
	asked []Asked
}

// File is what a Repo answers for one path: the Doc, and how.
type File struct {
	Doc
	// Header holds more headers, sent with the body (not with a Status
	// or a Redirect); the Doc's set theirs after it.
	Header http.Header
	// Ranges answers as [Server.Serve] does: Range, If-Range and
	// conditional requests honoured. Otherwise the body goes whole with
	// status 200, as [Server.ServeAll] sends it (without a length when
	// [Doc.NoLength] is set).
	Ranges bool
	// Status answers this status with its text and nothing else.
	Status int
	// Redirect answers 301 to this Location.
	Redirect string
	// Stall sends the length and the first half of the body, then
	// nothing, as [Server.Stall] does.
	Stall bool
}

// Ranged is a File that answers with ranges and a strong ETag, the start
// of its sha256.
func Ranged(body []byte) File {
	return File{Doc: Doc{Body: body, ETag: `"` + SHA256(body)[:16] + `"`}, Ranges: true}
}

// Asked is one request that a Repo answered.
type Asked struct {
	Method string
	Path   string // the URL's path
	Header http.Header
}

// StartRepo starts a Repo of kind (HTTP, HTTPS or H2) that serves files,
// by URL path ("/dir/name"); any other path is not found. It is closed at
// the end of the test.
func StartRepo(t testing.TB, kind string, files map[string]File) *Repo {
	t.Helper()
	r := &Repo{files: map[string]File{}}
	for path, f := range files {
		r.files[path] = f
	}
	r.Server = Start(t, kind, r.serve)
	return r
}

// ModTime is the modification time of the files the tests serve, a
// Last-Modified that lets a transfer resume.
var ModTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Files is a Script that serves fs by path as a Repo serves files with
// Ranges, no ETag and Last-Modified [ModTime]. A path not in fs is not
// found.
func Files(fs map[string][]byte) Script {
	r := &Repo{files: make(map[string]File, len(fs))}
	for path, b := range fs {
		r.files[path] = File{Doc: Doc{Body: b, Mod: ModTime}, Ranges: true}
	}
	return r.serve
}

// NewRepo starts an HTTP Repo serving files, by path, whole, each with an
// ETag (its length), a Last-Modified, a Content-Length and the
// Content-Type of an RPM package.
func NewRepo(t testing.TB, files map[string][]byte) *Repo {
	t.Helper()
	rpm := map[string]File{}
	for path, b := range files {
		rpm[path] = File{
			Doc:    Doc{Body: b, ETag: `"` + strconv.Itoa(len(b)) + `"`, Mod: time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)},
			Header: http.Header{"Content-Type": {"application/x-rpm"}},
		}
	}
	return StartRepo(t, HTTP, rpm)
}

// Set makes path answer f.
func (r *Repo) Set(path string, f File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[path] = f
}

// Remove makes path not found.
func (r *Repo) Remove(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.files, path)
}

// File returns what path answers, and whether it is set.
func (r *Repo) File(path string) (File, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.files[path]
	return f, ok
}

// Asked returns the requests answered so far, in the order they came.
func (r *Repo) Asked() []Asked {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Asked(nil), r.asked...)
}

// Gets returns the number of GET requests for path so far.
func (r *Repo) Gets(path string) int {
	n := 0
	for _, a := range r.Asked() {
		if a.Method == http.MethodGet && a.Path == path {
			n++
		}
	}
	return n
}

func (r *Repo) serve(s *Server, n int, w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.asked = append(r.asked, Asked{Method: req.Method, Path: req.URL.Path, Header: s.Header(n)})
	f, ok := r.files[req.URL.Path]
	r.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, req)
		return
	case f.Redirect != "":
		http.Redirect(w, req, f.Redirect, http.StatusMovedPermanently)
		return
	case f.Status != 0:
		Status(w, f.Status, "")
		return
	}
	for k, vs := range f.Header {
		w.Header()[k] = vs
	}
	w = &pacedWriter{ResponseWriter: w, rate: &r.Rate, done: req.Context().Done()}
	switch {
	case f.Stall:
		s.Stall(w, req, f.Doc, len(f.Body)/2)
	case f.Ranges:
		s.Serve(w, req, f.Doc, -1)
	default:
		s.ServeAll(w, f.Doc, -1)
	}
}

// pacedWriter writes a body at most at its rate, in pieces of at most
// 32 KiB, each flushed.
type pacedWriter struct {
	http.ResponseWriter
	rate *atomic.Int64
	done <-chan struct{} // the request's end
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		rate := w.rate.Load()
		if rate <= 0 {
			n, err := w.ResponseWriter.Write(p)
			return written + n, err
		}
		n := min(len(p), 32<<10)
		select {
		case <-w.done:
			return written, http.ErrAbortHandler
		case <-time.After(time.Duration(int64(n) * int64(time.Second) / rate)):
		}
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		http.NewResponseController(w.ResponseWriter).Flush()
		p = p[n:]
	}
	return written, nil
}

// Unwrap gives http.ResponseController the ResponseWriter beneath.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
