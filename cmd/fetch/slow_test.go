package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowRepo serves files with ranges and a strong ETag, each body at most
// rate bytes a second, and counts the body bytes it sent.
type slowRepo struct {
	srv  *httptest.Server
	rate atomic.Int64 // bytes a second; 0: no limit
	sent atomic.Int64

	mu     sync.Mutex
	files  map[string][]byte
	ranges []string // the Range header of each request for a file, "" for none
}

func newSlowRepo(t *testing.T, rate int64, files map[string][]byte) *slowRepo {
	r := &slowRepo{files: files}
	r.rate.Store(rate)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *slowRepo) url(name string) string { return r.srv.URL + "/" + name }

// set serves body as name.
func (r *slowRepo) set(name string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[name] = body
}

func (r *slowRepo) serve(w http.ResponseWriter, req *http.Request) {
	name := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	body, ok := r.files[name]
	if name != "PULP_MANIFEST" {
		r.ranges = append(r.ranges, req.Header.Get("Range"))
	}
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Etag", `"`+sha256Hex(body)[:16]+`"`)
	http.ServeContent(&slowWriter{ResponseWriter: w, r: r, done: req.Context().Done()}, req, "", time.Time{}, bytes.NewReader(body))
}

// requests returns the Range headers of the requests for files so far.
func (r *slowRepo) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// slowWriter writes a body at its repo's rate, in pieces of at most
// 32 KiB, waiting after each the time that its rate gives.
type slowWriter struct {
	http.ResponseWriter
	r    *slowRepo
	done <-chan struct{}
}

func (w *slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 32<<10)
		if rate := w.r.rate.Load(); rate > 0 {
			select {
			case <-w.done:
				return written, http.ErrAbortHandler
			case <-time.After(time.Duration(int64(n) * int64(time.Second) / rate)):
			}
		}
		m, err := w.ResponseWriter.Write(p[:n])
		w.r.sent.Add(int64(m))
		written += m
		if err != nil {
			return written, err
		}
		w.ResponseWriter.(http.Flusher).Flush()
		p = p[n:]
	}
	return written, nil
}

// manifest returns the PULP_MANIFEST of files.
func manifest(files map[string][]byte) []byte {
	var b strings.Builder
	for name, body := range files {
		b.WriteString(manifestLine(name, body) + "\n")
	}
	return []byte(b.String())
}
