package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch"
)

// Cache is a pull-through cache of the files below an upstream base URL:
// an http.Handler that answers a request for /PATH with the file at
// base/PATH (the query of the request is dropped). A file is downloaded
// once, however many clients ask for it at the same time, and streamed to
// them as it arrives, through a [Streamer]; once the download is complete
// and checked, the file is kept in the cache directory, and served from
// there from then on, without asking the upstream again. Paths that end in
// "/" (folder listings) are passed through and not kept.
//
// A client never receives a cut or corrupt file that looks complete: when
// a download fails after bytes were sent, the response is broken off, not
// ended. A file served from the directory is checked against the sha256
// recorded when it was kept, as it is sent in whole; one that no longer
// matches is removed, its response broken off, and the next request
// downloads it again.
//
// The directory holds one file and one ".json" record per path, under names
// derived from the path; removing the directory, or any file in it, forgets
// files. A Cache is safe for concurrent use; Close it to stop its downloads.
type Cache struct {
	base    *url.URL
	mirrors []*url.URL
	dir     string
	st      *Streamer
	access  *slog.Logger
	log     *slog.Logger

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup // the handlers running
}

// CacheOptions configures a Cache.
type CacheOptions struct {
	// Upstream is the base URL of the files: a request for /PATH is
	// downloaded from Upstream's path joined with PATH. Required.
	Upstream *url.URL

	// Mirrors are other bases that serve the same files, tried in order
	// when Upstream fails.
	Mirrors []*url.URL

	// Dir is the directory that keeps the files and holds the spill files
	// of the downloads in flight. Required; it is made if missing.
	Dir string

	// AccessLog, if set, gets one line a request, at level Info: method,
	// path, status, bytes sent, duration, and cache=hit (from Dir), miss
	// (from the upstream) or pass (not kept), with the error, if any.
	AccessLog *slog.Logger

	// ErrorLog gets the problems of the cache itself: a record that could
	// not be written, a kept copy found corrupt. nil means slog.Default().
	ErrorLog *slog.Logger
}

// NewCache returns a Cache that downloads with f into opts.Dir. It makes
// the directory when it is missing. The Cache does not close f.
func NewCache(f *fetch.Fetcher, opts CacheOptions) (*Cache, error) {
	if opts.Upstream == nil || !opts.Upstream.IsAbs() {
		return nil, errors.New("proxy: CacheOptions.Upstream: want an absolute URL")
	}
	if opts.Dir == "" {
		return nil, errors.New("proxy: CacheOptions.Dir is empty")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cache{base: dirURL(opts.Upstream), dir: opts.Dir, access: opts.AccessLog, log: opts.ErrorLog}
	for _, m := range opts.Mirrors {
		c.mirrors = append(c.mirrors, dirURL(m))
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.st = NewStreamer(f, StreamerOptions{Dir: opts.Dir, OnComplete: func(res fetch.Result) error {
		if res.Request.Path != "" {
			if err := keepMeta(res); err != nil {
				// The file is downloaded again next time.
				c.log.Error("cannot keep the record of a file", "url", fetch.RedactURL(res.Request.URL), "err", err)
			}
		}
		return nil
	}, OnError: func(r *http.Request, res fetch.Result) {
		if cause, ok := r.Context().Value(causeKey{}).(*error); ok {
			*cause = res.Err
		}
	}})
	return c, nil
}

// dirURL returns a copy of u whose path ends in "/", without a fragment.
func dirURL(u *url.URL) *url.URL {
	d := *u
	if !strings.HasSuffix(d.Path, "/") {
		d.Path += "/"
		d.RawPath = ""
	}
	d.Fragment, d.RawFragment = "", ""
	return &d
}

// Close cancels the downloads in flight, so that the responses waiting for
// them are broken off, and waits for the requests being served to end.
// Requests that come after Close get 503.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.st.Close()
	c.inFlight.Wait()
	return nil
}

// enter counts a handler in, unless the Cache is closed.
func (c *Cache) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.inFlight.Add(1)
	return true
}

// ServeHTTP answers GET and HEAD requests for the files below the upstream
// base: from the directory when it holds the file, else from the upstream.
// It answers 400 to a path that leaves the base, 405 to other methods, 503
// after Close, and otherwise what [Streamer.Serve] answers.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer c.inFlight.Done()
	start := time.Now()
	lw := &loggedWriter{ResponseWriter: w}
	cache := "pass"
	var served error // why the request failed; set by the Streamer's OnError
	r = r.WithContext(context.WithValue(r.Context(), causeKey{}, &served))
	defer func() {
		e := recover()
		if c.access != nil {
			attrs := []any{"method", r.Method, "path", r.URL.EscapedPath(), "status", lw.status, "bytes", lw.bytes,
				"duration", time.Since(start).Round(time.Microsecond), "cache", cache}
			if e != nil {
				attrs = append(attrs, "aborted", true)
			}
			if served != nil {
				attrs = append(attrs, "err", served)
			}
			c.access.Info("request", attrs...)
		}
		if e != nil {
			panic(e)
		}
	}()

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		lw.Header().Set("Allow", "GET, HEAD")
		http.Error(lw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel, ok := relPath(r.URL.Path)
	if !ok {
		http.Error(lw, "bad path", http.StatusBadRequest)
		return
	}
	req := fetch.Request{URL: join(c.base, rel)}
	for _, m := range c.mirrors {
		req.Mirrors = append(req.Mirrors, join(m, rel))
	}
	if rel == "" || strings.HasSuffix(rel, "/") {
		c.st.Serve(lw, r, req)
		return
	}
	file := c.cachePath(req.URL)
	cache = "hit"
	if c.serveCached(lw, r, file, req.URL, &served) {
		return
	}
	cache = "miss"
	req.Path = file
	c.st.Serve(lw, r, req)
}

// causeKey is the context key of the error of a request served.
type causeKey struct{}

// relPath returns the path below the base that the request path p names,
// without its leading "/"; ok is false for a path that is not below it.
func relPath(p string) (rel string, ok bool) {
	if !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return "", false
	}
	rel = p[1:]
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	return rel, true
}

// join returns the URL of rel (a path, not escaped) below base.
func join(base *url.URL, rel string) string {
	u := *base
	u.Path += rel
	u.RawPath = ""
	return u.String()
}

// cachePath returns where the file of rawURL is kept; its record is
// beside it, with metaSuffix. Names are derived from the URL so that no
// path can collide with another, with a record, or leave the directory.
func (c *Cache) cachePath(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	name := hex.EncodeToString(sum[:])
	return filepath.Join(c.dir, name[:2], name)
}

// metaSuffix ends the name of the record of a kept file.
const metaSuffix = ".json"

// cacheMeta is the record kept beside a file in the cache.
type cacheMeta struct {
	URL    string      `json:"url"` // redacted
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`
	Header http.Header `json:"header"` // those of keptHeaders that the server sent
}

// keptHeaders are the response headers replayed from the cache.
var keptHeaders = []string{"Content-Type", "Content-Encoding", "Content-Language", "Content-Disposition", "Etag", "Last-Modified"}

// keepMeta writes the record of the file that res downloaded and kept.
func keepMeta(res fetch.Result) error {
	meta := res.Request.Path + metaSuffix
	m := cacheMeta{URL: fetch.RedactURL(res.Request.URL), Size: res.Size, SHA256: res.Digests["sha256"], Header: http.Header{}}
	for _, k := range keptHeaders {
		if vs := res.Header.Values(k); len(vs) > 0 {
			m.Header[k] = vs
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(meta), ".meta-*"+fetch.PartialSuffix)
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), meta)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// serveCached answers r from the cache if it holds the file, and reports
// whether it did.
func (c *Cache) serveCached(w http.ResponseWriter, r *http.Request, file, rawURL string, cause *error) bool {
	meta := file + metaSuffix
	b, err := os.ReadFile(meta)
	if err != nil {
		return false
	}
	var m cacheMeta
	if json.Unmarshal(b, &m) != nil || m.URL != fetch.RedactURL(rawURL) {
		return false
	}
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != m.Size {
		return false
	}
	h := w.Header()
	for k, vs := range m.Header {
		h[k] = vs
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server named no type: none is guessed
	}
	modTime, err := http.ParseTime(h.Get("Last-Modified"))
	if err == nil {
		h.Del("Last-Modified") // ServeContent sets it from modTime
	}
	vr := &verifiedReader{f: f, size: m.Size, want: m.SHA256, h: sha256.New()}
	http.ServeContent(w, r, "", modTime, vr)
	if vr.corrupt {
		os.Remove(meta)
		os.Remove(file)
		*cause = fmt.Errorf("%w: sha256 %s; want %s", errCorrupt, vr.got, m.SHA256)
		c.log.Error("cached copy is corrupt: removed", "url", m.URL, "sha256", vr.got, "want", m.SHA256)
		panic(http.ErrAbortHandler)
	}
	return true
}

// verifiedReader reads a cached file for http.ServeContent and checks its
// sha256 when it is read whole, from its start: the read that would reach
// the end fails instead when the digest is wrong, so the response is one
// short of its Content-Length and the client sees it cut.
type verifiedReader struct {
	f       *os.File
	size    int64
	want    string
	h       hash.Hash
	pos     int64 // offset of the next read
	hashed  int64 // bytes [0, hashed) went into h
	corrupt bool
	got     string
}

// errCorrupt is the error of a read that reached the end of a file whose
// digest is not the one recorded.
var errCorrupt = errors.New("cached file is corrupt")

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	if v.pos == v.hashed {
		v.h.Write(p[:n])
		v.hashed += int64(n)
		if n > 0 && v.hashed == v.size {
			if v.got = hex.EncodeToString(v.h.Sum(nil)); v.got != v.want {
				v.corrupt = true
				return 0, errCorrupt
			}
		}
	}
	v.pos += int64(n)
	return n, err
}

func (v *verifiedReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := v.f.Seek(offset, whence)
	if err == nil {
		v.pos = pos
	}
	return pos, err
}

// loggedWriter notes the status and the bytes of a response.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
