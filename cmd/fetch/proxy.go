package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch"
)

const proxyUsage = `Usage:
  fetch proxy -upstream URL -cache DIR [flags]

Serves the files below URL over HTTP: a request for /PATH gets URL/PATH
(the query of the request is dropped). A file is downloaded once, however many
clients ask for it at the same time, and streamed to them as it arrives; once
the download is complete and checked, the file is kept in DIR, and served from
there from then on, without asking URL again. Paths that end in "/" (folder
listings) are passed through and not kept.

A client never receives a cut or corrupt file that looks complete: when a
download fails after bytes were sent, the response is broken off, not ended.
A file served from DIR is checked against the sha256 recorded when it was
kept, as it is sent in whole; one that no longer matches is removed, its
response broken off, and the next request downloads it again. Files in DIR are
never revalidated against URL: the proxy suits content that does not change
under its name (packages, images). DIR holds one file and one ".json" record
per path, under names derived from the path; remove DIR, or any file in it, to
forget files. One proxy at a time may use a DIR.

On SIGINT or SIGTERM the proxy stops taking connections, lets the responses in
flight finish for up to -grace, then breaks off those left and stops their
downloads; no temporary file is left behind. A second signal ends it at once.
It logs a line to standard output for each request: method, path, status,
bytes sent, duration, and cache=hit (from DIR), miss (from URL) or pass (not
kept).

Flags:
  -upstream URL   base URL of the files (http, https, ftp or ftps)
  -cache DIR      directory that keeps the files (made if missing)
  -listen ADDR    address to listen on (default "localhost:8080"; port 0
                  picks a free port, shown on standard error)
  -mirror BASE    another base that serves the same files, tried when URL
                  fails (repeatable)
  -grace D        how long responses in flight may take to finish on
                  shutdown (default 30s)
  -j N            downloads at once, in all (default 10)
  -per-host N     downloads at once from one host (default 6)
  -retries N      extra attempts after a transient failure (default 3; 0: none)
  -stall D        give up an attempt that receives no byte for D (default 30s)
  and the flags that say how to talk to the upstream, as "fetch -h" gives
  them: -cacert, -insecure, -cert, -key, -ftp-tls, -H, -user-agent, -netrc,
  -netrc-file, -allow-insecure-redirect

Exit status: 0 after a shutdown in which every response finished, 1 when
the proxy could not serve or responses had to be broken off, 2 for a usage
error.

Example:
  fetch proxy -listen :8080 -upstream https://fixtures.pulpproject.org/ -cache /var/cache/fetch
`

// runProxy runs "fetch proxy": a pull-through cache of the files below an
// upstream base URL, until ctx is cancelled.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	var pc proxyConfig
	base, mirrors, err := pc.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, proxyUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "fetch proxy: %v\nRun 'fetch proxy -h' for usage.\n", err)
		return exitUsage
	}

	if err := os.MkdirAll(pc.cache, 0o755); err != nil {
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
		return exitFailed
	}
	ln, err := net.Listen("tcp", pc.listen)
	if err != nil {
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
		return exitFailed
	}
	opts, closeOpts := pc.options()
	defer closeOpts()
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	f := fetch.New(opts)
	defer f.Close()
	pc.warn(stderr)
	st := fetch.NewStreamer(f, fetch.StreamerOptions{Dir: pc.cache, OnComplete: func(res fetch.Result) error {
		if res.Request.Path != "" {
			if err := keepMeta(res); err != nil {
				fmt.Fprintf(stderr, "fetch proxy: %v\n", err) // the file is downloaded again next time
			}
		}
		return nil
	}})
	defer st.Close()
	p := &proxy{
		base:    base,
		mirrors: mirrors,
		header:  pc.header,
		cache:   pc.cache,
		st:      st,
		log:     slog.New(slog.NewTextHandler(stdout, nil)),
		errs:    stderr,
	}
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(stderr, "fetch proxy: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "fetch proxy: serving %s at http://%s/ (cache %s)\n", base.Redacted(), ln.Addr(), pc.cache)

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
		p.stop()
		return exitFailed
	case <-ctx.Done():
	}
	fmt.Fprintf(stderr, "fetch proxy: shutting down; responses in flight have %v to finish\n", pc.grace)
	code := exitOK
	sctx, cancel := context.WithTimeout(context.Background(), pc.grace)
	err = srv.Shutdown(sctx)
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "fetch proxy: grace period over: breaking off the responses left")
		code = exitFailed
		st.Close() // ends the downloads, so the responses waiting for them end
		srv.Close()
	}
	<-served
	p.stop()
	fmt.Fprintln(stderr, "fetch proxy: stopped")
	return code
}

// proxyConfig holds the flags of "fetch proxy".
type proxyConfig struct {
	config   // -mirror, -j, -per-host, -retries, -stall
	listen   string
	upstream string
	cache    string
	grace    time.Duration
}

// parse parses args and checks the values; it returns the upstream base
// and the mirror bases, each with a path that ends in "/".
func (pc *proxyConfig) parse(args []string) (base *url.URL, mirrors []*url.URL, err error) {
	fs := flag.NewFlagSet("fetch proxy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&pc.listen, "listen", "localhost:8080", "")
	fs.StringVar(&pc.upstream, "upstream", "", "")
	fs.StringVar(&pc.cache, "cache", "", "")
	fs.DurationVar(&pc.grace, "grace", 30*time.Second, "")
	fs.Var(&pc.mirrors, "mirror", "")
	fs.IntVar(&pc.jobs, "j", fetch.DefaultMaxTransfers, "")
	fs.IntVar(&pc.perHost, "per-host", fetch.DefaultPerHost, "")
	fs.IntVar(&pc.retries, "retries", fetch.DefaultRetries, "")
	fs.DurationVar(&pc.stall, "stall", fetch.DefaultStallTimeout, "")
	pc.netConfig.define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, nil, fmt.Errorf("unexpected operand %q", fs.Arg(0))
	case pc.upstream == "":
		return nil, nil, errors.New("-upstream URL is required")
	case pc.cache == "":
		return nil, nil, errors.New("-cache DIR is required")
	case pc.grace < 0:
		return nil, nil, fmt.Errorf("-grace %v: want 0 or more", pc.grace)
	case pc.jobs < 1:
		return nil, nil, fmt.Errorf("-j %d: want at least 1", pc.jobs)
	case pc.perHost < 1:
		return nil, nil, fmt.Errorf("-per-host %d: want at least 1", pc.perHost)
	case pc.retries < 0:
		return nil, nil, fmt.Errorf("-retries %d: want 0 or more", pc.retries)
	case pc.stall <= 0:
		return nil, nil, fmt.Errorf("-stall %v: want a positive duration", pc.stall)
	}
	if err := pc.netConfig.check(); err != nil {
		return nil, nil, err
	}
	if base, err = proxyBase("-upstream", pc.upstream); err != nil {
		return nil, nil, err
	}
	pc.loginURL(base)
	for _, m := range pc.mirrors {
		u, err := proxyBase("-mirror", m)
		if err != nil {
			return nil, nil, err
		}
		pc.loginURL(u)
		mirrors = append(mirrors, u)
	}
	return base, mirrors, nil
}

// proxyBase parses the base URL s given to flag name.
func proxyBase(name, s string) (*url.URL, error) {
	u, err := absoluteURL(s)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", name, redact(s), err)
	}
	switch u.Scheme {
	case "http", "https", "ftp", "ftps":
	default:
		return nil, fmt.Errorf("%s %s: want an http, https, ftp or ftps URL", name, u.Redacted())
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// proxy is the handler of "fetch proxy".
type proxy struct {
	base    *url.URL
	mirrors []*url.URL
	header  http.Header // of -H
	cache   string
	st      *fetch.Streamer
	log     *slog.Logger // one line a request
	errs    io.Writer

	mu       sync.Mutex
	stopped  bool
	inFlight sync.WaitGroup // the handlers running
}

// enter counts a handler in, unless the proxy stopped.
func (p *proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.inFlight.Add(1)
	return true
}

// stop waits for the handlers running, and turns away any that start.
func (p *proxy) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.inFlight.Wait()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer p.inFlight.Done()
	start := time.Now()
	lw := &loggedWriter{ResponseWriter: w}
	cache := "pass"
	var served error
	defer func() {
		e := recover()
		attrs := []any{"method", r.Method, "path", r.URL.EscapedPath(), "status", lw.status, "bytes", lw.bytes,
			"duration", time.Since(start).Round(time.Microsecond), "cache", cache}
		if e != nil {
			attrs = append(attrs, "aborted", true)
		}
		if served != nil {
			attrs = append(attrs, "err", served)
		}
		p.log.Info("request", attrs...)
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
	req := fetch.Request{URL: join(p.base, rel), Header: p.header.Clone()}
	for _, m := range p.mirrors {
		req.Mirrors = append(req.Mirrors, join(m, rel))
	}
	if rel == "" || strings.HasSuffix(rel, "/") {
		_, served = p.st.Serve(lw, r, req)
		return
	}
	file := p.cachePath(req.URL)
	if p.serveCached(lw, r, file, req.URL) {
		cache = "hit"
		return
	}
	cache = "miss"
	req.Path = file
	_, served = p.st.Serve(lw, r, req)
}

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
func (p *proxy) cachePath(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	name := hex.EncodeToString(sum[:])
	return filepath.Join(p.cache, name[:2], name)
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
	m := cacheMeta{URL: redact(res.Request.URL), Size: res.Size, SHA256: res.Digests["sha256"], Header: http.Header{}}
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
func (p *proxy) serveCached(w http.ResponseWriter, r *http.Request, file, rawURL string) bool {
	meta := file + metaSuffix
	b, err := os.ReadFile(meta)
	if err != nil {
		return false
	}
	var m cacheMeta
	if json.Unmarshal(b, &m) != nil || m.URL != redact(rawURL) {
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
		fmt.Fprintf(p.errs, "fetch proxy: cached copy of %s is corrupt (sha256 %s; want %s): removed\n", m.URL, vr.got, m.SHA256)
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

// lockedWriter serializes the writes of the proxy's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}
