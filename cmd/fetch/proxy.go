package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/proxy"
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
  -retries N      extra attempts after a transient failure (default 3; 0: none);
                  an attempt cut after 64 KiB or more uses up none
  -stall D        give up an attempt that receives no byte for D (default 30s)

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

	opts := pc.options()
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	f := fetch.New(opts)
	defer f.Close()
	cache, err := proxy.NewCache(f, proxy.CacheOptions{
		Upstream:  base,
		Mirrors:   mirrors,
		Dir:       pc.cache,
		AccessLog: slog.New(slog.NewTextHandler(stdout, nil)),
		ErrorLog:  slog.New(slog.NewTextHandler(stderr, nil)),
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
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(stderr, "fetch proxy: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "fetch proxy: serving %s at http://%s/ (cache %s)\n", base.Redacted(), ln.Addr(), pc.cache)

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
	if base, err = proxyBase("-upstream", pc.upstream); err != nil {
		return nil, nil, err
	}
	for _, m := range pc.mirrors {
		u, err := proxyBase("-mirror", m)
		if err != nil {
			return nil, nil, err
		}
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
