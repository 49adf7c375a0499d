package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/proxy"
)

const proxyUsage = `Usage:
  fetch proxy -upstream URL -cache DIR [flags]
  fetch proxy -metalink URL -cache DIR [flags]
  fetch proxy -mirrorlist URL -cache DIR [flags]

Serves the files below URL over HTTP: a request for /PATH gets URL/PATH
(the query of the request is dropped). A file is downloaded once, however many
clients ask for it at the same time, and streamed to them as it arrives; once
the download is complete (its size checked, and the digest that the name of
a by-hash path gives; with -verify, its sha256 computed as it arrived), the
file is kept in DIR and served from there while it is fresh. Paths that end in "/" (folder
listings) are passed through and not kept.

The proxy is a shared HTTP cache (RFC 9111): every header field of a kept
response is sent again, with Age; freshness follows the upstream's
Cache-Control and Expires, else 10% of the time since Last-Modified (at most a
day, at least -max-age), else -max-age; the client's Cache-Control, Pragma, Vary and
Authorization are honoured; every status is passed through, and kept when
its freshness allows; other methods than GET and HEAD go to the upstream with
the client's headers only (never -H or the password of URL), and an unsafe
one makes the kept response of its path stale. Repository metadata is
revalidated on every request, whatever the upstream says: PULP_MANIFEST,
repomd.xml(.asc/.key), Release, Release.gpg, InRelease, Index, Packages*,
Sources*, Contents-*, Translation-*, Components-*, icons-* (outside by-hash/),
MODULE/@v/list, MODULE/@latest, APKINDEX.tar.gz, index.yaml, and every path
below a "simple" folder (PEP 503). Files named by their content are never asked
for again: by-hash/SHA256/HEX and by-hash/SHA512/HEX (checked against that
digest), and MODULE/@v/VERSION.info, .mod and .zip. A stale file is
revalidated with one conditional request (If-None-Match, If-Modified-Since) for
all the clients asking meanwhile: 304 serves the kept copy, a new file replaces
it. When the upstream cannot be reached or answers 5xx, the stale copy is
served (unless it said must-revalidate) and a line logged to standard error.

A redirect that stays below URL (or a mirror) is passed to the client, with
its status and Location rewritten to the proxy's path. A redirect that leaves
them (a CDN) is followed, and the file it ends at is kept under the requested
path.

A client never receives a cut or corrupt file that looks complete: when a
download fails after bytes were sent, the response is broken off, not ended.
A body of unknown length (no Content-Length) is served but not kept. Request
paths with a "." or ".." segment, an empty segment, an encoded slash or
backslash, a backslash or a ";" get 400 without any contact with URL.

DIR holds one file and one ".json" record per path, under names derived from
the path; remove DIR, or any file in it, to forget files (a removed DIR is
made again). One proxy at a time may use a DIR: a second one exits with an
error. Temporary files left in DIR by a proxy that was killed are removed at
start.

On SIGINT or SIGTERM the proxy stops taking connections, lets the responses in
flight finish for up to -grace, then breaks off those left and stops their
downloads; no temporary file is left behind. A second signal ends it at once.
It logs a line to standard output for each request: method, path, status,
bytes sent, duration, cache=hit (fresh, from DIR), revalidated (304, from
DIR), stale (from DIR, the upstream failing), miss (from URL) or pass (not
kept), and err= the cause of a failure.

Flags:
  -upstream URL   base URL of the files (http, https, ftp or ftps)
  -cache DIR      directory that keeps the files (made if missing)
  -listen ADDR    address to listen on (default "localhost:8080"; port 0
                  picks a free port, shown on standard error)
  -metrics ADDR   serve Prometheus metrics at http://ADDR/metrics, on a
                  listener of their own: requests and bytes sent by cache
                  status, bytes from the upstream, revalidations, upstream
                  errors, evictions, files and bytes kept, clients served
  -mirror BASE    another base that serves the same files, tried when URL
                  fails (repeatable)
  -metalink URL   take the mirrors from the Metalink document at URL (3.0, as
                  Fedora's MirrorManager serves it, or 4): each URL of its
                  files without the file's name (without repodata/repomd.xml
                  for MirrorManager's) is a base, tried in the document's
                  order (preference, or priority) before the -upstream URL,
                  which is the first of them when not given. The document is
                  loaded again after an hour; a load that fails keeps the
                  mirrors loaded before
  -mirrorlist URL the same, from a mirrorlist file: one base URL a line,
                  "#" comments
  -max-age D      how long a file whose response says nothing of its
                  freshness is served before it is revalidated (default 1m;
                  0: revalidate on every request)
  -cache-max SIZE when the kept files pass SIZE in all, remove the least
                  recently used, never one being served (default: no limit)
  -max-size SIZE  keep no file larger than SIZE (bytes, or with K, M, G, T:
                  powers of 1024); larger ones are served, not kept
                  (default: no limit)
  -verify         record the sha256 of each file kept, and check it each
                  time it is read to be served whole (a damaged copy is
                  removed and downloaded again; one kept without -verify
                  is downloaded again); without it nothing is hashed but
                  by-hash files, and hits are sent by the kernel (a file
                  of at most 32 KiB is held in memory once hit, 32 MiB in
                  all, and sent from there)
  -write-timeout D
                  disconnect a client that accepts no byte for D (default
                  1m; 0: never)
  -max-conns N    requests served at once; more get 503 (default 1000; 0:
                  no limit)
  -grace D        how long responses in flight may take to finish on
                  shutdown (default 30s)
  -j N            downloads at once, in all (default 10)
  -per-host N     downloads at once from one host (default 6)
  -retries N      extra attempts after a transient failure (default 3; 0: none);
                  an attempt cut after 64 KiB or more uses up none
  -stall D        give up an attempt that receives no byte for D (default 30s)
  and, to talk to the upstream, the flags that "fetch -h" describes:
  -cacert, -insecure, -cert, -key, -ftp-tls, -H, -user-agent, -netrc,
  -netrc-file, -allow-insecure-redirect and -limit-rate

Exit status: 0 after a shutdown in which every response finished, 1 when
the proxy could not serve (a DIR in use, an address taken) or responses had
to be broken off, 2 for a usage error.

Example:
  fetch proxy -listen :8080 -upstream https://fixtures.pulpproject.org/ -cache /var/cache/fetch
`

// maxHeaderBytes bounds the request line and headers a client of the proxy
// may send: apt, dnf, pip and go send well under 4 KiB, and a token or a
// few ranges fit in this many with room to spare, where net/http's default
// (1 MiB) lets each request hand the server a megabyte to parse (Range
// headers of thousands of ranges, for one). Over it, the client gets 431.
const maxHeaderBytes = 64 << 10

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

	opts, closeOpts := pc.options()
	defer closeOpts()
	// The Streamer gives every download a Writer (its spill file), so no
	// download of the proxy keeps partial bytes; the Cache removes those a
	// crash left.
	opts.KeepPartial = false
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	pc.warn(stderr)
	if pc.listURL != nil {
		// The mirrors of a list or Metalink: a List, loaded by a Fetcher
		// of its own that shares the Limiter, resolves every download
		// and loads the document again as it ages.
		loader := fetch.New(opts)
		defer loader.Close()
		if base == nil {
			bases, _, err := mirror.Load(ctx, loader, pc.listURL.String())
			if err != nil {
				fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
				return exitFailed
			}
			base, _ = url.Parse(bases[0]) // a URL the document named
		}
		opts.Resolver = mirror.NewList(base.String(), pc.listURL.String(), mirror.Options{Loader: loader, Logger: opts.Logger})
	}
	f := fetch.New(opts)
	defer f.Close()
	maxAge := pc.maxAge
	if maxAge == 0 {
		maxAge = -1 // revalidate every time
	}
	pass := passClient(opts.TLSConfig)
	defer pass.CloseIdleConnections()
	// The access log is written in blocks, not a write a request.
	access := newBufferedWriter(stdout, accessFlush)
	defer access.Close()
	cache, err := proxy.NewCache(f, proxy.CacheOptions{
		Upstream:     base,
		Mirrors:      mirrors,
		Header:       pc.header,
		Dir:          pc.cache,
		MaxAge:       maxAge,
		MaxSize:      int64(pc.maxSize),
		MaxBytes:     int64(pc.cacheMax),
		Verify:       pc.verify,
		WriteTimeout: pc.writeTimeout,
		MaxRequests:  pc.maxConns,
		Client:       pass,
		AccessLog:    slog.New(slog.NewTextHandler(access, nil)),
		ErrorLog:     slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
		return exitFailed
	}
	defer cache.Close()
	ln, err := net.Listen("tcp", pc.listen)
	if err != nil {
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
		return exitFailed
	}
	srv := &http.Server{
		Handler:           cache,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(stderr, "fetch proxy: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "fetch proxy: serving %s at http://%s/ (cache %s)\n", base.Redacted(), ln.Addr(), pc.cache)
	if pc.metrics != "" {
		mln, err := net.Listen("tcp", pc.metrics)
		if err != nil {
			fmt.Fprintf(stderr, "fetch proxy: -metrics: %v\n", err)
			srv.Close()
			<-served
			return exitFailed
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(newCacheCollector(cache))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
		fmt.Fprintf(stderr, "fetch proxy: metrics at http://%s/metrics\n", mln.Addr())
	}

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "fetch proxy: %v\n", err)
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
		srv.Close()
	}
	<-served
	cache.Close() // ends the downloads left, and waits for their responses
	fmt.Fprintln(stderr, "fetch proxy: stopped")
	return code
}

// passClient returns the client that passes the requests of other methods
// than GET and HEAD upstream, trusting what the Fetcher trusts (-cacert,
// -cert, -insecure).
func passClient(cfg *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		t.TLSClientConfig = cfg.Clone()
	}
	return &http.Client{Transport: t}
}

// proxyConfig holds the flags of "fetch proxy".
type proxyConfig struct {
	config               // -mirror, -j, -per-host, -retries, -stall
	listen               string
	metrics              string
	upstream             string
	cache                string
	listURL              *url.URL // of -metalink or -mirrorlist; nil: none
	metalink, mirrorlist string
	grace                time.Duration

	maxAge       time.Duration
	maxSize      sizeFlag
	cacheMax     sizeFlag
	verify       bool
	writeTimeout time.Duration
	maxConns     int
}

// sizeFlag is a size in bytes, given as a number with an optional K, M, G
// or T (powers of 1024).
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	num, unit := v, ""
	if n := len(v); n > 0 && strings.ContainsRune("kKmMgGtT", rune(v[n-1])) {
		num, unit = v[:n-1], strings.ToLower(v[n-1:])
	}
	mult := map[string]int64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return errors.New("want a size such as 512M or 20G")
	}
	*s = sizeFlag(n * mult)
	return nil
}

// parse parses args and checks the values; it returns the upstream base
// and the mirror bases, each with a path that ends in "/".
func (pc *proxyConfig) parse(args []string) (base *url.URL, mirrors []*url.URL, err error) {
	fs := flag.NewFlagSet("fetch proxy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&pc.listen, "listen", "localhost:8080", "")
	fs.StringVar(&pc.metrics, "metrics", "", "")
	fs.StringVar(&pc.upstream, "upstream", "", "")
	fs.StringVar(&pc.cache, "cache", "", "")
	fs.StringVar(&pc.metalink, "metalink", "", "")
	fs.StringVar(&pc.mirrorlist, "mirrorlist", "", "")
	fs.DurationVar(&pc.grace, "grace", 30*time.Second, "")
	fs.DurationVar(&pc.maxAge, "max-age", proxy.DefaultMaxAge, "")
	fs.Var(&pc.maxSize, "max-size", "")
	fs.Var(&pc.cacheMax, "cache-max", "")
	fs.BoolVar(&pc.verify, "verify", false, "")
	fs.DurationVar(&pc.writeTimeout, "write-timeout", time.Minute, "")
	fs.IntVar(&pc.maxConns, "max-conns", 1000, "")
	pc.defineTransfer(fs)
	pc.netConfig.define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, nil, fmt.Errorf("unexpected operand %q", fs.Arg(0))
	case pc.metalink != "" && pc.mirrorlist != "":
		return nil, nil, errors.New("-metalink and -mirrorlist: give one")
	case pc.upstream == "" && pc.metalink == "" && pc.mirrorlist == "":
		return nil, nil, errors.New("-upstream URL (or -metalink URL, or -mirrorlist URL) is required")
	case pc.cache == "":
		return nil, nil, errors.New("-cache DIR is required")
	case pc.grace < 0:
		return nil, nil, fmt.Errorf("-grace %v: want 0 or more", pc.grace)
	case pc.maxAge < 0:
		return nil, nil, fmt.Errorf("-max-age %v: want 0 or more", pc.maxAge)
	case pc.writeTimeout < 0:
		return nil, nil, fmt.Errorf("-write-timeout %v: want 0 or more", pc.writeTimeout)
	case pc.maxConns < 0:
		return nil, nil, fmt.Errorf("-max-conns %d: want 0 or more", pc.maxConns)
	}
	if err := pc.checkTransfer(); err != nil {
		return nil, nil, err
	}
	if err := pc.netConfig.check(); err != nil {
		return nil, nil, err
	}
	for name, list := range map[string]string{"-metalink": pc.metalink, "-mirrorlist": pc.mirrorlist} {
		if list == "" {
			continue
		}
		if pc.listURL, err = proxyURL(name, list); err != nil {
			return nil, nil, err
		}
		pc.loginURL(pc.listURL)
	}
	if pc.upstream != "" {
		if base, err = proxyBase("-upstream", pc.upstream); err != nil {
			return nil, nil, err
		}
		pc.loginURL(base)
	}
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

// proxyURL parses the URL s given to flag name.
func proxyURL(name, s string) (*url.URL, error) {
	u, err := absoluteURL(s)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", name, redact(s), err)
	}
	switch u.Scheme {
	case "http", "https", "ftp", "ftps":
	default:
		return nil, fmt.Errorf("%s %s: want an http, https, ftp or ftps URL", name, u.Redacted())
	}
	return u, nil
}

// proxyBase parses the base URL s given to flag name.
func proxyBase(name, s string) (*url.URL, error) {
	u, err := proxyURL(name, s)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// accessFlush is how long a line of the access log may wait in memory.
const accessFlush = 200 * time.Millisecond

// bufferedWriter gathers what is written to it and writes it to w when
// its buffer is full, every period, and on Close. Its lock is held for a
// copy into memory, and for the write to w when the buffer is full or the
// period is up.
type bufferedWriter struct {
	mu   sync.Mutex
	b    *bufio.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

func newBufferedWriter(w io.Writer, period time.Duration) *bufferedWriter {
	bw := &bufferedWriter{b: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	bw.wg.Add(1)
	go func() {
		defer bw.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-bw.done:
				return
			case <-t.C:
				bw.mu.Lock()
				bw.b.Flush()
				bw.mu.Unlock()
			}
		}
	}()
	return bw
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// Close writes what is left and stops the periodic writes.
func (w *bufferedWriter) Close() error {
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Flush()
}

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
