package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/partname"
	"github.com/fetchkit/fetch/internal/regular"
	"github.com/fetchkit/fetch/mirror"
)

// DefaultMaxAge is how long a response that says nothing of its freshness
// is served from the cache before it is revalidated.
const DefaultMaxAge = time.Minute

// Cache is a pull-through cache of the files below an upstream base URL:
// an http.Handler that answers a request for /PATH with the file at
// base/PATH (the query of the request is dropped). A file is downloaded
// once, however many clients ask for it at the same time, and streamed to
// them as it arrives, through a [Streamer]; once the download is complete
// and its size checked, the file is kept in the cache directory with a
// record of its headers and sha256. Paths that end in "/" (folder listings) are passed
// through and not kept.
//
// # Freshness
//
// A kept file is served without asking the upstream while it is fresh, in
// the manner of RFC 9111 for a shared cache: for the s-maxage or max-age
// of its Cache-Control, else until its Expires, else for
// [CacheOptions.MaxAge] ([DefaultMaxAge]); "immutable" keeps it fresh for
// good, "no-cache" makes it stale at once, and "no-store" or "private"
// keeps it out of the cache. Files named by their content never change and
// are never asked for again: Debian's by-hash/SHA256/HEX and
// by-hash/SHA512/HEX (checked against that digest as they download) and the
// Go module proxy's MODULE/@v/VERSION.info, .mod and .zip. Files whose
// names are repository metadata, which change under their names, are stale
// at once whatever the upstream says, so that every request revalidates
// them:
//
//   - PULP_MANIFEST (Pulp);
//   - repomd.xml, repomd.xml.asc, repomd.xml.key (RPM repodata/);
//   - Release, Release.gpg, InRelease, Index, and Packages*, Sources*,
//     Contents-*, Translation-*, Components-*, icons-* outside by-hash/ (Debian);
//   - MODULE/@v/list and MODULE/@latest (the Go module proxy);
//   - APKINDEX.tar.gz (Alpine), index.yaml (Helm);
//   - any path below a "simple" folder (PEP 503 index pages).
//
// A stale file is revalidated with one conditional request (If-None-Match,
// If-Modified-Since) however many clients ask meanwhile. 304 Not Modified
// refreshes its record and the kept bytes are served; a new file (200)
// replaces it, downloaded once for every client that asks meanwhile; 404
// or 410 forgets it. When the upstream cannot be asked (unreachable, 5xx),
// the stale copy is served and the failure logged, rather than an error.
//
// # Redirects
//
// A redirect from the upstream that ends inside the upstream base (or a
// mirror's) is passed to the client, 302 Found, with its Location rewritten
// to the proxy's path of the target (so "/dir" to "/dir/" works), and
// nothing is kept for it. A redirect that leaves the bases (to a CDN) is
// followed, and the file it ends at is kept under the requested path, by
// the same rules as any other.
//
// # What a client can trust
//
// A client never receives a cut or corrupt file that looks complete: when
// a download fails after bytes were sent, the response is broken off, not
// ended. A file is kept only once its size was checked and its sha256
// computed as it was written (and checked against the name of a by-hash
// path), and only when its length was announced (Content-Length) or
// its transfer said it ended (FTP): a body that simply stopped is served
// but not kept. [CacheOptions.Verify] checks the sha256 again on every hit
// of the whole file.
//
// # The directory
//
// The directory holds one file and one ".json" record per path, under names
// derived from the path; removing the directory, or any file in it, forgets
// files. One Cache at a time may use a directory: NewCache locks it, and
// removes the temporary files that a Cache stopped by a crash left. When a
// write to it finds its disk full, the misses of the next minute are
// passed through to their clients, neither shared nor kept (logged once, to
// ErrorLog), rather than cut for want of space.
//
// A Cache is safe for concurrent use; Close it to stop its downloads and
// unlock the directory.
type Cache struct {
	f            *fetch.Fetcher
	bases        []*url.URL  // the upstream's, then the mirrors'
	header       http.Header // sent upstream with every request; read only
	dir          string
	maxAge       time.Duration // 0 or less: revalidate every time
	maxSize      int64
	verify       bool
	writeTimeout time.Duration
	slots        chan struct{} // one per request served; nil: no limit
	kept         *keptFiles
	st           *Streamer
	access       *slog.Logger
	log          *slog.Logger
	unlock       func()

	ctx    context.Context // of the revalidations; cancelled by Close
	stop   context.CancelFunc
	checks singleflight.Group // revalidations, by file
	full   diskFull           // misses are passed through meanwhile

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup // the handlers running
	checking sync.WaitGroup // the revalidations running
}

// CacheOptions configures a Cache. The zero value of each field but
// Upstream and Dir means its documented default.
type CacheOptions struct {
	// Upstream is the base URL of the files: a request for /PATH is
	// downloaded from Upstream's path joined with PATH. Required.
	Upstream *url.URL

	// Mirrors are other bases that serve the same files, tried in order
	// when Upstream fails.
	Mirrors []*url.URL

	// Header holds headers sent to the upstream (and the mirrors) with
	// every request, for HTTP: a token, for instance. The Cache does not
	// change it; the caller must not either once NewCache is called.
	Header http.Header

	// Dir is the directory that keeps the files and holds the spill files
	// of the downloads in flight. Required; it is made if missing.
	Dir string

	// MaxAge is how long a response without explicit freshness is served
	// before it is revalidated. 0 means DefaultMaxAge; a negative value
	// revalidates on every request.
	MaxAge time.Duration

	// MaxSize is the largest file that is kept, in bytes; a larger one is
	// served and then removed. 0 means no limit.
	MaxSize int64

	// MaxBytes bounds the total size of the kept files: when a new one
	// takes them past it, the least recently used are removed, never one
	// that is being served. Downloads in flight take space beyond it (their
	// spill and temporary files). 0 means no limit.
	MaxBytes int64

	// Verify checks the sha256 of a kept file each time it is served whole:
	// a copy damaged on disk is then removed, its response broken off, and
	// the next request downloads it again. It costs a read of the file
	// through the CPU on each hit, where hits are otherwise sent by the
	// kernel (sendfile).
	Verify bool

	// WriteTimeout is how long one write to a client may block: a client
	// that stops reading is disconnected after it, and the download it
	// alone was reading stops. Each write that makes progress starts it
	// anew. 0 means none.
	WriteTimeout time.Duration

	// MaxRequests caps the requests served at once; those over it are
	// answered 503 with Retry-After at once. 0 means no limit.
	MaxRequests int

	// AccessLog, if set, gets one line a request, at level Info: method,
	// path, status, bytes sent, duration, and cache= one of hit (fresh, from
	// Dir), revalidated (304 from the upstream, then from Dir), stale (from
	// Dir because the upstream could not be asked), miss (from the
	// upstream), pass (not kept: a folder, a refused request, a miss while
	// the disk is full), with the
	// cause of a failure as err.
	AccessLog *slog.Logger

	// ErrorLog gets the problems of the cache itself: a record that could
	// not be written, a kept copy found corrupt, a stale copy served. nil
	// means slog.Default().
	ErrorLog *slog.Logger
}

// NewCache returns a Cache that downloads with f into opts.Dir. It makes
// the directory when it is missing, and locks it: a second Cache on the
// same directory, in this process or another, gets an error. The Cache does
// not close f.
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
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	c := &Cache{f: f, bases: []*url.URL{dirURL(opts.Upstream)}, header: opts.Header, dir: opts.Dir, maxAge: opts.MaxAge, maxSize: opts.MaxSize,
		verify: opts.Verify, writeTimeout: opts.WriteTimeout, access: opts.AccessLog, log: opts.ErrorLog, unlock: unlock}
	for _, m := range opts.Mirrors {
		c.bases = append(c.bases, dirURL(m))
	}
	if c.maxAge == 0 {
		c.maxAge = DefaultMaxAge
	}
	if opts.MaxRequests > 0 {
		c.slots = make(chan struct{}, opts.MaxRequests)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.kept = newKeptFiles(opts.MaxBytes, c.log)
	c.kept.scan(opts.Dir)
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.st = NewStreamer(f, StreamerOptions{Dir: opts.Dir, OnComplete: c.keep, OnError: func(r *http.Request, res fetch.Result) {
		if cause, ok := r.Context().Value(causeKey{}).(*error); ok {
			*cause = res.Err
		}
		c.fullDisk(res.Err)
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

// isTemporary reports whether name is that of a temporary file, which only
// a download in flight uses: a partial download, a record being written, a
// spill file. Those in the directory when a Cache starts were left by one
// that did not stop cleanly.
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, partname.Suffix) || strings.HasPrefix(name, spillPrefix)
}

// Close cancels the downloads in flight, so that the responses waiting for
// them are broken off, waits for the requests being served to end, and
// unlocks the directory. Requests that come after Close get 503.
func (c *Cache) Close() error {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.st.Close()
	c.inFlight.Wait()
	c.checking.Wait()
	if !closed {
		c.unlock()
	}
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

// causeKey is the context key of the error of a request being served.
type causeKey struct{}

// ServeHTTP answers GET and HEAD requests for the files below the upstream
// base: from the directory when it holds the file, else from the upstream.
// It answers 400, before any contact with the upstream, to a path that is
// not plainly below the base (a "." or ".." segment, an empty segment, an
// encoded slash or backslash, a backslash, a ";" or a NUL), 404 to a
// folder of an FTP upstream (listings are not served), 405 to other
// methods, 503 after Close or over MaxRequests, a redirect as described
// for [Cache], and otherwise what [Streamer.Serve] answers.
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer c.inFlight.Done()
	start := time.Now()
	lw := &loggedWriter{ResponseWriter: w, timeout: c.writeTimeout}
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
			if served == nil && lw.err != nil {
				served = lw.err
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

	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		default:
			served = errors.New("too many requests in flight")
			lw.Header().Set("Retry-After", "1")
			http.Error(lw, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		lw.Header().Set("Allow", "GET, HEAD")
		http.Error(lw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel, err := relPath(r.URL)
	if err != nil {
		served = err
		http.Error(lw, "bad path", http.StatusBadRequest)
		return
	}
	req := c.request(r, rel)
	if rel == "" || strings.HasSuffix(rel, "/") {
		if s := c.bases[0].Scheme; s == "ftp" || s == "ftps" {
			served = errors.New("no folder listings from an FTP upstream")
			http.Error(lw, "not found", http.StatusNotFound)
			return
		}
		c.st.Serve(lw, r, req)
		return
	}
	file := c.cachePath(req.URL)
	if rec, ok := readRecord(file, req.URL); ok {
		cache = "hit"
		kept := &servedRecord{record: rec}
		if !rec.fresh(rel, c.maxAge, time.Now()) {
			if kept, cache, ok = c.revalidate(r.Context(), file, req, rec); !ok {
				served = r.Context().Err()
				return // the client went away
			}
			if kept != nil {
				served = kept.err
			}
		}
		if kept != nil && c.serveKept(lw, r, file, kept, &served) {
			return
		}
	}
	if r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) && c.full.full() {
		cache = "pass" // the disk is full: not kept
		c.passThrough(lw, r, req, &served)
		return
	}
	cache = "miss"
	req.Path = file
	c.st.Serve(lw, r, req)
}

// relPath returns the path below the base that the request names, without
// its leading "/", or an error when it is not plainly below the base.
func relPath(u *url.URL) (string, error) {
	esc := strings.ToLower(u.EscapedPath())
	p := u.Path
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", errors.New("path does not start with /")
	case strings.Contains(esc, "%2f"), strings.Contains(esc, "%5c"):
		return "", errors.New("encoded slash in the path")
	case strings.ContainsAny(p, "\\;\x00"):
		return "", errors.New(`backslash, ";" or NUL in the path`)
	}
	rel := p[1:]
	segs := strings.Split(rel, "/")
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return "", fmt.Errorf("%q segment in the path", seg)
		case seg == "" && i < len(segs)-1:
			return "", errors.New("empty segment in the path")
		}
	}
	return rel, nil
}

// request returns the Request that downloads rel for r: from the upstream,
// then the mirrors, with a redirect that stays inside them sent to the
// client.
func (c *Cache) request(r *http.Request, rel string) fetch.Request {
	req := fetch.Request{URL: mirror.Join(c.bases[0], rel), Header: c.header}
	for _, m := range c.bases[1:] {
		req.Mirrors = append(req.Mirrors, mirror.Join(m, rel))
	}
	if alg, digest, ok := digestName(rel); ok {
		req.Digests = map[string]string{alg: digest}
	}
	req.OnResponse = func(resp fetch.Response) error {
		if target, ok := c.redirected(resp.URL, req); ok {
			return &Redirect{Code: http.StatusFound, Location: mountPoint(r) + "/" + target}
		}
		return nil
	}
	return req
}

// mountPoint returns the escaped path under which the server serves the
// Cache: "" at its root, the prefix an http.StripPrefix took away
// otherwise.
func mountPoint(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	prefix, ok := strings.CutSuffix(u.EscapedPath(), r.URL.EscapedPath())
	if !ok {
		return ""
	}
	return prefix
}

// redirected reports whether the response that came from final answered
// req from another place than its URLs, inside a base; target is then the
// place, below the base (escaped, with its query).
func (c *Cache) redirected(final string, req fetch.Request) (target string, ok bool) {
	final = withoutUser(final)
	for _, u := range append([]string{req.URL}, req.Mirrors...) {
		if withoutUser(u) == final {
			return "", false
		}
	}
	for _, b := range c.bases {
		if rest, ok := strings.CutPrefix(final, withoutUser(b.String())); ok {
			return rest, true
		}
	}
	return "", false // it left the bases: followed
}

// withoutUser returns rawURL without its user information.
func withoutUser(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.User = nil
	return u.String()
}

// cachePath returns where the file of rawURL is kept; its record is
// beside it, with recordSuffix. Names are derived from the URL so that no
// path can collide with another, with a record, or leave the directory.
func (c *Cache) cachePath(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	name := hex.EncodeToString(sum[:])
	return filepath.Join(c.dir, name[:2], name)
}

// keep records the file that res downloaded to its Path, or removes it
// when it is not to be kept. It is the Streamer's OnComplete.
func (c *Cache) keep(res fetch.Result) error {
	file := res.Request.Path
	if file == "" {
		return nil
	}
	why := ""
	switch u, _ := url.Parse(res.URL); {
	case !storable(res.Header):
		why = "no-store or private"
	case c.maxSize > 0 && res.Size > c.maxSize:
		why = "larger than the maximum size"
	case u != nil && (u.Scheme == "http" || u.Scheme == "https") && res.Header.Get("Content-Length") == "":
		why = "length not announced"
	}
	if why != "" {
		c.forget(file)
		c.log.Debug("file not kept", "url", res.URL, "why", why)
		return nil
	}
	if err := newRecord(res, time.Now()).write(file); err != nil {
		// The file is downloaded again next time; an older record must
		// not describe it meanwhile, nor its bytes stay uncounted.
		c.forget(file)
		c.fullDisk(err)
		c.log.Error("cannot keep the record of a file", "url", fetch.RedactURL(res.Request.URL), "err", err)
		return nil
	}
	c.kept.add(file, res.Size)
	return nil
}

// forget removes a kept file and its record.
func (c *Cache) forget(file string) {
	c.kept.forget(file)
	os.Remove(file + recordSuffix)
	os.Remove(file)
}

// revalidate asks the upstream whether the kept file that rec describes
// changed, once for every client that asks meanwhile. It returns the record
// to serve, or nil when the file is to be downloaded again, and what the
// access log says; ok is false when ctx ended first.
func (c *Cache) revalidate(ctx context.Context, file string, req fetch.Request, rec *record) (_ *servedRecord, cache string, ok bool) {
	ch := c.checks.DoChan(file, func() (any, error) {
		// The revalidation outlives a client that leaves; Close waits for it.
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return check{unavailable: errors.New("cache closed")}, nil
		}
		c.checking.Add(1)
		c.mu.Unlock()
		defer c.checking.Done()
		return c.check(file, req, rec), nil
	})
	select {
	case res := <-ch:
		v := res.Val.(check)
		switch {
		case v.notModified != nil:
			return &servedRecord{record: v.notModified}, "revalidated", true
		case v.unavailable != nil:
			c.log.Warn("upstream failed; serving a stale copy", "url", rec.URL, "err", v.unavailable)
			return &servedRecord{record: rec, err: v.unavailable}, "stale", true
		}
		return nil, "miss", true
	case <-ctx.Done():
		return nil, "", false
	}
}

// servedRecord is the record of a kept file about to be served, with the
// failure that made a stale copy served.
type servedRecord struct {
	*record
	err error
}

// check is the outcome of a revalidation: at most one is set; none means
// that the file is to be downloaded again.
type check struct {
	notModified *record // the refreshed record
	unavailable error   // the upstream could not say
}

// errNotModified and errChanged stop a revalidation once its response
// came.
var (
	errNotModified = errors.New("not modified")
	errChanged     = errors.New("changed")
)

// check asks the upstream whether the file that rec describes changed.
func (c *Cache) check(file string, req fetch.Request, rec *record) check {
	etag, lastMod := rec.Header.Get("Etag"), rec.Header.Get("Last-Modified")
	if etag == "" && lastMod == "" {
		return check{} // nothing to compare: download it again
	}
	h := c.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if etag != "" {
		h.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		h.Set("If-Modified-Since", lastMod)
	}
	var fresh http.Header
	creq := fetch.Request{URL: req.URL, Mirrors: req.Mirrors, Header: h, OnResponse: func(resp fetch.Response) error {
		if _, moved := c.redirected(resp.URL, req); !moved && sameFile(rec, resp) {
			// A server that ignores conditions (or FTP) sent the same file.
			fresh = resp.Header
			return errNotModified
		}
		return errChanged
	}}
	_, err := c.f.Fetch(c.ctx, creq)
	var se *fetch.StatusError
	switch {
	case errors.Is(err, errNotModified):
	case errors.As(err, &se) && se.Code == http.StatusNotModified && !se.FTP:
		fresh = se.Header
	case errors.Is(err, errChanged):
		return check{}
	case errors.Is(err, fetch.ErrNotFound):
		c.forget(file)
		return check{}
	case errors.As(err, &se) && se.Code < 500:
		return check{} // the Streamer answers what the upstream says
	default:
		return check{unavailable: err}
	}
	next := *rec
	next.Header = rec.Header.Clone()
	next.update(fresh, time.Now())
	if err := next.write(file); err != nil {
		c.log.Error("cannot refresh the record of a file", "url", rec.URL, "err", err)
	}
	return check{notModified: &next}
}

// sameFile reports whether resp, a 200 to a conditional request, sends the
// file that rec describes: same strong ETag, or, without ETags, same
// Last-Modified and size.
func sameFile(rec *record, resp fetch.Response) bool {
	etag, got := rec.Header.Get("Etag"), resp.Header.Get("Etag")
	switch {
	case etag != "" || got != "":
		return etag == got && !strings.HasPrefix(etag, "W/")
	case rec.Header.Get("Last-Modified") == "":
		return false
	}
	return rec.Header.Get("Last-Modified") == resp.Header.Get("Last-Modified") && resp.Size == rec.Size
}

// serveKept answers r with the kept file that rec describes, and reports
// whether it did; a failure is set in *cause.
func (c *Cache) serveKept(w http.ResponseWriter, r *http.Request, file string, rec *servedRecord, cause *error) bool {
	defer c.kept.acquire(file)()
	f, err := openKept(file)
	if errors.Is(err, regular.ErrNotRegular) {
		c.forget(file) // not the Cache's: downloaded again
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != rec.Size {
		return false
	}
	if r = hitRange(w, r, rec.Size, rec.Header, cause); r == nil {
		return true
	}
	h := w.Header()
	for k, vs := range rec.Header {
		if k != "Date" { // Age is set below
			h[k] = vs
		}
	}
	date, err := http.ParseTime(rec.Header.Get("Date"))
	h.Set("Age", strconv.FormatInt(int64(rec.age(date, err == nil, time.Now())/time.Second), 10))
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server named no type: none is guessed
	}
	modTime, err := http.ParseTime(h.Get("Last-Modified"))
	if err == nil {
		h.Del("Last-Modified") // ServeContent sets it from modTime
	}
	var content io.ReadSeeker = f
	var vr *verifiedReader
	if c.verify {
		vr = &verifiedReader{f: f, size: rec.Size, want: rec.SHA256, h: sha256.New()}
		content = vr
	}
	lw := &lengthWriter{ResponseWriter: w, size: rec.Size}
	http.ServeContent(lw, r, "", modTime, content)
	if vr != nil && vr.corrupt {
		c.forget(file)
		*cause = fmt.Errorf("%w: sha256 %s; want %s", errCorrupt, vr.got, rec.SHA256)
		c.log.Error("kept copy is corrupt: removed", "url", rec.URL, "sha256", vr.got, "want", rec.SHA256)
		panic(http.ErrAbortHandler)
	}
	return true
}
