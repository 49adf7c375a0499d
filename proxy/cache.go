package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/partname"
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
// record of its headers (and, with [CacheOptions.Verify], its sha256).
// Paths that end in "/" (folder listings) are passed through and not kept.
//
// # Freshness
//
// The Cache is a shared cache by RFC 9111. Every header field of a kept
// response is stored and sent again (but those of the connection), with
// Age computed (section 4.2.3). A kept response is served
// without asking the upstream while it is fresh: for the s-maxage or
// max-age of its Cache-Control, else until its Expires, else, for a status
// that is heuristically cacheable (RFC 9110 section 15.1), for 10% of the
// time since its Last-Modified, at most a day but at least
// [CacheOptions.MaxAge] ([DefaultMaxAge]), or else for MaxAge; "no-cache" makes it stale at
// once, and "no-store", "private" or "Vary: *" keep it out of the cache.
// Any status with explicit freshness is kept (a 404 with max-age, say). The
// request's Cache-Control is honoured (no-cache, max-age, min-fresh,
// max-stale, only-if-cached, no-store), and Pragma: no-cache; a response
// to a request with Authorization is kept and reused only when it says
// public, s-maxage or must-revalidate; Vary is honoured with the header
// fields sent upstream, each variant kept apart. The header sent
// upstream holds the client's fields but for those of the connection,
// Range, the conditions, Cache-Control, Pragma, User-Agent and
// Accept-Encoding, so that clients share downloads. Other methods than GET
// and HEAD are passed to the upstream, with the client's fields only (not
// [CacheOptions.Header]), and an unsafe one that succeeds makes the kept
// response of its path stale. Files named by their content never change and
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
// refreshes its record (every field it sends) and the kept bytes are
// served; any other answer replaces it, streamed to every client that asks
// meanwhile. When the upstream cannot be asked (unreachable, 5xx), the
// stale copy is served and the failure logged, rather than an error,
// unless it said must-revalidate, proxy-revalidate, s-maxage or no-cache
// (which metadata names override).
//
// # Redirects
//
// Every status of the upstream is passed to the client, with its body. A
// redirect is judged on itself, before it is followed: one whose target is
// inside the upstream base (or a mirror's) is passed to the client, with
// its status and its Location rewritten to the proxy's path of the target
// (so "/dir" to "/dir/" works whatever "/dir/" answers), and kept by the
// same rules as any response. A redirect that leaves the bases (to a CDN)
// is followed, and the file it ends at is kept under the requested path.
//
// # What a client can trust
//
// A client never receives a cut or corrupt file that looks complete: when
// a download fails after bytes were sent, the response is broken off, not
// ended. A file is kept only once its size was checked (and the digest
// that a by-hash path names), and only when its length was announced
// (Content-Length) or its transfer said it ended (FTP): a body that simply
// stopped is served but not kept. With [CacheOptions.Verify], its sha256
// is computed as it is written, and checked again on every hit of the
// whole file.
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
	records      records // parsed once
	paths        paths   // the URL and place of each path, derived once
	st           *Streamer
	client       *http.Client // passes the other methods upstream
	stats        cacheStats
	access       *slog.Logger
	log          *slog.Logger
	unlock       func()

	mu         sync.RWMutex // read locked by the requests that enter
	closed     bool
	inFlight   sync.WaitGroup // the handlers running
	refreshing sync.WaitGroup // the background revalidations
	full       diskFull       // misses are passed through meanwhile
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

	// Verify records the sha256 of each file kept, computed as it is
	// written, and checks it each time the file is read from disk to be
	// served whole: a copy damaged on disk is then removed, its response
	// broken off (or, for a small file, which is read whole before a byte
	// is sent, answered as a miss), and the next request downloads it
	// again. A file kept without Verify has no sha256 recorded: with
	// Verify it is downloaded again when it is next asked for. It costs a
	// read of the file through the CPU on each hit, where hits are
	// otherwise sent by the kernel (sendfile).
	//
	// A small file (at most 32 KiB) is read once, on its first hit, and
	// held in memory with its parsed record (32 MiB in all): its next hits
	// are answered from there, checked once when read, for as long as the
	// record's file is the one read.
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

	// Client sends upstream the requests of other methods than GET and
	// HEAD, which are passed through; it does not follow redirects. nil
	// means one like http.DefaultClient.
	Client *http.Client

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
	c.client = &http.Client{}
	if opts.Client != nil {
		*c.client = *opts.Client
	}
	c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if opts.MaxRequests > 0 {
		c.slots = make(chan struct{}, opts.MaxRequests)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.kept = newKeptFiles(opts.MaxBytes, c.log)
	c.kept.removed = c.records.drop // the record parsed, and any bytes held
	c.kept.scan(opts.Dir)
	c.st = NewStreamer(f, StreamerOptions{Dir: opts.Dir, OnComplete: c.keep, OnError: func(r *http.Request, res fetch.Result) {
		if ex, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
			ex.err = res.Err
		}
		c.fullDisk(res.Err)
		switch err := res.Err; {
		case errors.Is(err, errClientGone), errors.Is(err, context.Canceled), errors.Is(err, errClosed), errors.Is(err, fetch.ErrInvalidRequest):
		default:
			c.stats.upstreamErrors.Add(1)
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

// isTemporary reports whether name is that of a temporary file, which only
// a download in flight uses: a partial download, a record being written, a
// spill file. Those in the directory when a Cache starts were left by one
// that did not stop cleanly. The names a download gives its own files are
// told apart by [partname.Own].
func isTemporary(name string) bool {
	return partname.Own(name) || strings.HasPrefix(name, spillPrefix)
}

// Close cancels the downloads in flight, so that the responses waiting for
// them are broken off, waits for the requests being served to end, and
// unlocks the directory. Requests that come after Close get 503.
func (c *Cache) Close() error {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()

	c.st.Close()
	c.inFlight.Wait()
	c.refreshing.Wait()
	if !closed {
		c.unlock()
	}
	return nil
}

// enter counts a handler in, unless the Cache is closed.
func (c *Cache) enter() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.inFlight.Add(1)
	return true
}

// exchange is what the Cache notes of one request as it serves it, for
// the access log and the metrics.
type exchange struct {
	cache string // hit, revalidated, stale, miss or pass
	err   error  // why the request failed
}

// exchangeKey is the context key of the *exchange of a request, for the
// Streamer's hooks.
type exchangeKey struct{}

// exchangeOf returns the exchange of r, or a new one when r has none (a
// background revalidation).
func exchangeOf(r *http.Request) *exchange {
	if ex, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return ex
	}
	return &exchange{}
}

// ServeHTTP answers the requests for the files below the upstream base. It
// answers 400, before any contact with the upstream, to a path that is not
// plainly below the base (a "." or ".." segment, an empty segment, an
// encoded slash or backslash, a backslash, a ";" or a NUL), 404 to a
// folder of an FTP upstream (listings are not served), 503 after Close or
// over MaxRequests, 504 to a request with "Cache-Control: only-if-cached"
// that the directory cannot answer. GET and HEAD are answered from the
// directory or from the upstream as described for [Cache]; other methods
// are passed to the upstream (405 for an FTP upstream), and when the
// upstream accepts an unsafe one, the kept response of the path is
// forgotten (RFC 9111 section 4.4).
func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer c.inFlight.Done()
	c.stats.clients.Add(1)
	defer c.stats.clients.Add(-1)
	start := time.Now()
	lw := &loggedWriter{ResponseWriter: w, timeout: c.writeTimeout}
	ex := &exchange{cache: "pass"}
	// The Streamer's hooks find ex in the context of r; a hit does not
	// need it there.
	withExchange := func(r *http.Request) *http.Request {
		return r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
	}
	defer func() {
		e := recover()
		if ex.err == nil && lw.err != nil {
			ex.err = lw.err
		}
		c.stats.served(ex.cache, lw.bytes)
		if c.access != nil {
			attrs := [...]slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()),
				slog.Int("status", lw.status), slog.Int64("bytes", lw.bytes),
				slog.Duration("duration", time.Since(start).Round(time.Microsecond)), slog.String("cache", ex.cache), {}, {}}
			n := 6
			if e != nil {
				attrs[n] = slog.Bool("aborted", true)
				n++
			}
			if ex.err != nil {
				attrs[n] = slog.Any("err", ex.err)
				n++
			}
			// To the handler, as Logger.LogAttrs would, but without
			// the caller's frame, which a request line does not need.
			if h := c.access.Handler(); h.Enabled(context.Background(), slog.LevelInfo) {
				line := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				line.AddAttrs(attrs[:n]...)
				h.Handle(context.Background(), line)
			}
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
			ex.err = errors.New("too many requests in flight")
			lw.Header().Set("Retry-After", "1")
			http.Error(lw, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	rel, err := relPath(r.URL)
	if err != nil {
		ex.err = err
		http.Error(lw, "bad path", http.StatusBadRequest)
		return
	}
	ftp := c.bases[0].Scheme == "ftp" || c.bases[0].Scheme == "ftps"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if ftp {
			lw.Header().Set("Allow", "GET, HEAD")
			http.Error(lw, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c.passOther(lw, r, rel, ex)
		return
	}
	if rel == "" || strings.HasSuffix(rel, "/") {
		if ftp {
			ex.err = errors.New("no folder listings from an FTP upstream")
			http.Error(lw, "not found", http.StatusNotFound)
			return
		}
		c.st.Serve(lw, withExchange(r), c.request(r, rel, mirror.Join(c.bases[0], rel), c.upstreamHeader(r.Header)))
		return
	}
	rawURL, file := c.where(rel)
	// The header sent upstream, made when a hit needs it (Vary) or for
	// the request upstream.
	var upstream http.Header
	sent := func() http.Header {
		if upstream == nil {
			upstream = c.upstreamHeader(r.Header)
		}
		return upstream
	}
	rcc := requestCacheControl(r.Header)
	rec, ok := c.records.read(file, rawURL)
	if ok && len(rec.Index) > 0 {
		file = c.variantPath(rawURL, rec.Index, sent())
		rec, ok = c.records.read(file, rawURL)
	}
	// A file kept without Verify has no sha256 to check: with Verify, it
	// is downloaded again.
	ok = ok && (!rec.varies() || rec.matches(sent())) && authorizedReuse(rec, r.Header) && (!c.verify || rec.SHA256 != "")
	how := reuseRevalidate
	if ok {
		switch how = c.reuse(rec, rel, rcc, time.Now()); how {
		case reuseFresh:
			if c.serveKept(lw, r, file, rec, "hit", ex) {
				return
			}
		case reuseStale:
			if c.serveKept(lw, r, file, rec, "stale", ex) {
				return
			}
		case reuseStaleRefresh:
			if c.serveKept(lw, r, file, rec, "stale", ex) {
				c.refresh(r, rel, file, rec, c.request(r, rel, rawURL, sent()))
				return
			}
		}
	}
	r = withExchange(r)
	req := c.request(r, rel, rawURL, sent())
	if !ok {
		// Nothing kept answers: the client's own conditions go upstream,
		// and the upstream's 304 to it.
		for _, k := range []string{"If-None-Match", "If-Modified-Since"} {
			if vs, found := r.Header[k]; found {
				req.Header = req.Header.Clone()
				req.Header[k] = vs
			}
		}
	} else if how == reuseRevalidate && !rcc.onlyIfCached {
		r = c.conditional(&req, r, rel, file, rec, rec.Header.Get("Etag"), rec.Header.Get("Last-Modified"))
	}
	if rcc.onlyIfCached {
		ex.err = errors.New("only-if-cached: nothing kept to answer with")
		http.Error(lw, "not cached", http.StatusGatewayTimeout)
		return
	}
	if r.Method == http.MethodGet && r.ProtoAtLeast(1, 1) && c.full.full() {
		ex.cache = "pass" // the disk is full: not kept
		c.passThrough(lw, r, req, &ex.err)
		return
	}
	ex.cache = "miss"
	req.Path = c.landingPath(req)
	c.st.Serve(lw, r, req)
}

// Ways to reuse a kept response, from [Cache.reuse].
const (
	reuseRevalidate   = iota // ask the upstream first
	reuseFresh               // serve it: it is fresh
	reuseStale               // serve it: stale, but the request allows it
	reuseStaleRefresh        // serve it, and revalidate it meanwhile (stale-while-revalidate)
)

// reuse returns whether the kept response that rec describes, of the file
// at rel, may answer a request that says rcc, at now (RFC 9111 sections 4.2
// and 5.2.1).
func (c *Cache) reuse(rec *record, rel string, rcc cacheControl, now time.Time) int {
	if immutableName(rel) {
		return reuseFresh
	}
	cc := rec.cacheControl()
	if cc.noCache || rcc.noCache {
		return reuseRevalidate
	}
	age, life := rec.age(now), rec.lifetime(rel, c.maxAge)
	switch {
	case rcc.maxAge >= 0 && age > rcc.maxAge:
		return reuseRevalidate
	case age < life && (rcc.minFresh < 0 || life-age >= rcc.minFresh):
		return reuseFresh
	case age < life, cc.mustRevalidate, isMetadata(rel):
		return reuseRevalidate
	case rcc.maxStaleAny, rcc.maxStale >= 0 && age-life <= rcc.maxStale:
		return reuseStale
	case cc.staleWhileRevalidate >= 0 && age-life < cc.staleWhileRevalidate:
		return reuseStaleRefresh
	}
	return reuseRevalidate
}

// refresh revalidates the kept response that rec describes in the
// background, after r was answered with it (RFC 5861): req is the download
// of r, shared with any client that asks meanwhile. Close waits for it.
func (c *Cache) refresh(r *http.Request, rel, file string, rec *record, req fetch.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	br, err := http.NewRequestWithContext(context.Background(), http.MethodGet, r.URL.String(), nil)
	if err != nil {
		return
	}
	br.Header = r.Header.Clone()
	for _, k := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since"} {
		br.Header.Del(k)
	}
	br = c.conditional(&req, br, rel, file, rec, rec.Header.Get("Etag"), rec.Header.Get("Last-Modified"))
	req.Path = c.landingPath(req)
	c.refreshing.Go(func() {
		defer func() {
			if e := recover(); e != nil && e != http.ErrAbortHandler {
				panic(e)
			}
		}()
		c.st.Serve(discard{header: http.Header{}}, br, req)
	})
}

// discard is the ResponseWriter of a background revalidation: the response
// is kept, and sent to nobody.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// authorizedReuse reports whether the kept response that rec describes may
// answer a request with header h: one with Authorization only when the
// response said it may (public, s-maxage, must-revalidate; RFC 9111
// section 3.5).
func authorizedReuse(rec *record, h http.Header) bool {
	if h.Get("Authorization") == "" {
		return true
	}
	cc := parseCacheControl(rec.Header.Values("Cache-Control"))
	return cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate
}

// errNotModified and errUpstreamStatus end a revalidation whose response
// came: the kept copy is current, or the upstream failed.
var (
	errNotModified    = errors.New("not modified")
	errUpstreamStatus = errors.New("upstream failed")
)

// conditional turns req, the download of the file that rec describes, into
// its revalidation (RFC 9111 section 4.3): a conditional request when rec
// has a validator, which every client that asks meanwhile shares. A 304 refreshes the record, and
// each client is served the kept copy; a new response replaces it; when the
// upstream cannot be asked or fails (5xx), the stale copy is served, unless
// the response said must-revalidate, proxy-revalidate, s-maxage or no-cache
// (but for repository metadata).
// It returns r with the fallback that serves the kept copy.
func (c *Cache) conditional(req *fetch.Request, r *http.Request, rel, file string, rec *record, etag, lastMod string) *http.Request {
	h := req.Header.Clone()
	if etag != "" {
		h.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		h.Set("If-Modified-Since", lastMod)
	}
	req.Header = h
	p := req.Tag.(*pending)
	cc := parseCacheControl(rec.Header.Values("Cache-Control"))
	// A stale copy may answer for a failing upstream (RFC 9111 section
	// 4.2.4) unless the response forbade it; repository metadata, which
	// the Cache itself revalidates on every request, always may.
	staleOnError := isMetadata(rel) || !cc.mustRevalidate && !cc.noCache && cc.sMaxAge < 0
	onResponse := req.OnResponse
	req.OnResponse = func(resp fetch.Response) error {
		c.stats.revalidations.Add(1)
		switch {
		case resp.Status == http.StatusNotModified:
			next := *rec
			next.Header = rec.Header.Clone()
			next.update(resp.Header, p.requested, time.Now())
			if err := next.write(file); err != nil {
				c.log.Error("cannot refresh the record of a file", "url", rec.URL, "err", err)
			}
			return errNotModified
		case resp.Status >= 500 && staleOnError:
			return fmt.Errorf("%w: status %d", errUpstreamStatus, resp.Status)
		case r.Method == http.MethodHead && resp.Status == rec.Status && sameResponse(rec, resp):
			// A HEAD that the upstream answered whole, of the same
			// response: its fields update the kept ones (RFC 9111
			// section 4.3.5).
			next := *rec
			next.Header = rec.Header.Clone()
			next.update(resp.Header, p.requested, time.Now())
			if err := next.write(file); err != nil {
				c.log.Error("cannot refresh the record of a file", "url", rec.URL, "err", err)
			}
		}
		return onResponse(resp)
	}
	fallback := func(w http.ResponseWriter, r *http.Request, err error) bool {
		switch {
		case errors.Is(err, errNotModified):
			if now, ok := c.records.read(file, rec.URL); ok {
				rec = now
			}
			return c.serveKept(w, r, file, rec, "revalidated", exchangeOf(r))
		case errors.Is(err, context.Canceled), errors.Is(err, errClosed), errors.Is(err, fetch.ErrNotFound):
			return false
		case !staleOnError:
			return false
		}
		var se *fetch.StatusError
		if errors.As(err, &se) && se.Code < 500 {
			return false
		}
		c.log.Warn("upstream failed; serving a stale copy", "url", rec.URL, "err", err)
		ex := exchangeOf(r)
		ex.err = err
		return c.serveKept(w, r, file, rec, "stale", ex)
	}
	return r.WithContext(context.WithValue(r.Context(), fallbackKey{}, fallback))
}

// sameResponse reports whether resp, an answer to a HEAD, is of the
// response that rec describes (RFC 9111 section 4.3.5): the same strong
// ETag, or without ETags the same Last-Modified, or without either the same
// length.
func sameResponse(rec *record, resp fetch.Response) bool {
	etag, got := rec.Header.Get("Etag"), resp.Header.Get("Etag")
	lm, gotLM := rec.Header.Get("Last-Modified"), resp.Header.Get("Last-Modified")
	switch {
	case etag != "" || got != "":
		return etag == got && !strings.HasPrefix(etag, "W/")
	case lm != "" || gotLM != "":
		return lm == gotLM
	}
	return resp.Size == rec.Size
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
	for rest := rel; ; {
		seg, after, more := strings.Cut(rest, "/")
		switch {
		case seg == "." || seg == "..":
			return "", fmt.Errorf("%q segment in the path", seg)
		case seg == "" && more:
			return "", errors.New("empty segment in the path")
		}
		if !more {
			return rel, nil
		}
		rest = after
	}
}

// pending is what the Cache knows of a download in flight, in its
// Request's Tag: when its request was sent, what status it got, and what
// its client's request said of storing.
type pending struct {
	requested time.Time
	status    int
	noStore   bool // the client's request said no-store
	client    http.Header
}

// notForwarded are the request fields of a client that the Cache does not
// send upstream: those of the connection, those the Cache itself decides
// (conditions, ranges, cache directives), and those that differ from
// client to client without changing the file (User-Agent,
// Accept-Encoding: the file is asked for without content coding), so that
// clients share one download.
var notForwarded = fieldSet(hopByHop, []string{
	"Host", "Content-Length", "Expect",
	"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
	"Cache-Control", "Pragma", "User-Agent", "Accept-Encoding",
})

// upstreamHeader returns the header sent upstream for a client's request
// with header h: the Cache's own Header, and the client's fields but those
// notForwarded, hop-by-hop or that Connection names.
func (c *Cache) upstreamHeader(h http.Header) http.Header {
	out := c.header.Clone()
	if out == nil {
		out = http.Header{}
	}
	for k, vs := range endToEnd(h, notForwarded) {
		if _, own := c.header[k]; !own {
			out[k] = vs
		}
	}
	return out
}

// request returns the Request that downloads rawURL, the upstream's URL
// of the path rel below its base, for r, with header sent upstream: from
// the upstream, then the mirrors, with a redirect that stays inside them
// and the upstream's other answers (see [Cache]) passed to the client.
func (c *Cache) request(r *http.Request, rel, rawURL string, header http.Header) fetch.Request {
	p := &pending{requested: time.Now(), noStore: requestCacheControl(r.Header).noStore, client: r.Header}
	// The sha256 of a kept file is recorded for Verify alone.
	req := fetch.Request{URL: rawURL, Header: header, Tag: p, SkipSHA256: !c.verify}
	for _, m := range c.bases[1:] {
		req.Mirrors = append(req.Mirrors, mirror.Join(m, rel))
	}
	_, _, byHash := digestName(rel)
	if byHash {
		alg, digest, _ := digestName(rel)
		req.Digests = map[string]string{alg: digest}
	}
	req.PassResponse = func(resp fetch.Response) bool {
		if _, ok := c.redirectTarget(resp); ok {
			return true
		}
		if resp.Header.Get("Location") != "" && resp.Status >= 300 && resp.Status < 400 {
			return false // a redirect that leaves the bases: followed
		}
		// By-hash files are the file or nothing; with mirrors, a failure
		// lets the next one be tried.
		return !byHash && (len(c.bases) == 1 || resp.Status < 400)
	}
	req.OnResponse = func(resp fetch.Response) error {
		p.status = resp.Status
		if target, ok := c.redirectTarget(resp); ok {
			resp.Header.Set("Location", mountPoint(r)+"/"+target)
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

// redirectTarget returns the place below a base, escaped and with its
// query, that resp redirects to, if it is a redirect that stays inside the
// upstream or a mirror.
func (c *Cache) redirectTarget(resp fetch.Response) (string, bool) {
	loc := resp.Header.Get("Location")
	if resp.Status < 300 || resp.Status >= 400 || loc == "" {
		return "", false
	}
	from, err := url.Parse(resp.URL)
	if err != nil {
		return "", false
	}
	to, err := from.Parse(loc)
	if err != nil {
		return "", false
	}
	return c.below(to)
}

// below returns the place of u below a base, escaped and with its query,
// if it is inside the upstream or a mirror.
func (c *Cache) below(u *url.URL) (string, bool) {
	target := withoutUser(u.String())
	for _, b := range c.bases {
		if rest, ok := strings.CutPrefix(target, withoutUser(b.String())); ok {
			return rest, true
		}
	}
	return "", false
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

// variantPath returns where the response to a request for rawURL with
// header h is kept when the responses of rawURL vary on fields (RFC 9111
// section 4.1): one place per secondary key, so that each variant is kept.
func (c *Cache) variantPath(rawURL string, fields []string, h http.Header) string {
	var b strings.Builder
	b.WriteString(rawURL + "\nvary")
	for _, f := range slices.Sorted(slices.Values(fields)) {
		b.WriteString("\n" + f + ": " + varyValue(h, f))
	}
	return c.cachePath(b.String())
}

// landingPath returns where req downloads its file before [Cache.place]
// moves it where it is kept: one place per URL and header sent upstream,
// so that downloads that do not share (other fields, another variant)
// never write over each other, and a kept file is replaced only once the
// new one is complete.
func (c *Cache) landingPath(req fetch.Request) string {
	var b strings.Builder
	b.WriteString(req.URL + "\ndownload")
	for _, k := range slices.Sorted(maps.Keys(req.Header)) {
		for _, v := range req.Header[k] {
			b.WriteString("\n" + k + ": " + v)
		}
	}
	return c.cachePath(b.String())
}

// placeOf returns where the response that res downloaded is kept: the
// URL's own place, or with Vary its variant's; own is the URL's place.
func (c *Cache) placeOf(res fetch.Result) (want, own string, fields []string) {
	own = c.cachePath(res.Request.URL)
	fields = varyFields(res.Header)
	if len(fields) == 0 {
		return own, own, nil
	}
	return c.variantPath(res.Request.URL, fields, res.Request.Header), own, fields
}

// place moves the file that res downloaded to where its response is kept
// ([Cache.placeOf]), with Vary recording an index of the fields in the
// URL's own place. It returns the place.
func (c *Cache) place(res fetch.Result) (string, error) {
	file := res.Request.Path
	want, own, fields := c.placeOf(res)
	if want == file {
		return file, nil
	}
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(file, want); err != nil {
		return "", err
	}
	c.kept.forget(file)
	os.Remove(file + recordSuffix)
	if want != own {
		c.forget(own)
		if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
			return "", err
		}
		index := &record{Version: recordVersion, URL: fetch.RedactURL(res.Request.URL), Header: http.Header{}, Index: fields}
		if err := index.write(own); err != nil {
			return "", err
		}
	}
	return want, nil
}

// keep records the response that res downloaded to its Path, or removes it
// when it is not to be kept. It is the Streamer's OnComplete.
func (c *Cache) keep(res fetch.Result) error {
	file := res.Request.Path
	if file == "" {
		return nil
	}
	defer c.stats.fromUpstream.Add(res.Size) // once the record is written
	p, _ := res.Request.Tag.(*pending)
	status := http.StatusOK
	if p != nil && p.status != 0 {
		status = p.status
	}
	why := ""
	switch u, _ := url.Parse(res.URL); {
	case p != nil && p.noStore:
		why = "the request said no-store"
	case !storableResponse(status, res.Header, res.Request.Header):
		why = "not storable (no-store, private, Vary: *, Authorization, status)"
	case c.maxSize > 0 && res.Size > c.maxSize:
		why = "larger than the maximum size"
	case u != nil && (u.Scheme == "http" || u.Scheme == "https") && bodyAllowed(status) && res.Header.Get("Content-Length") == "":
		why = "length not announced"
	}
	if why != "" {
		// The response replaces any kept one, and is not kept.
		c.forget(file)
		want, _, _ := c.placeOf(res)
		c.forget(want)
		c.log.Debug("file not kept", "url", res.URL, "why", why)
		return nil
	}
	requested := time.Now()
	if p != nil {
		requested = p.requested
	}
	placed, err := c.place(res)
	if err == nil {
		file = placed
		err = newRecord(res, status, requested, time.Now()).write(file)
	}
	if err != nil {
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
	c.records.drop(file)
}
