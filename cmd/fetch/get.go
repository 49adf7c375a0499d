package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/lines"
	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/mirror"
)

// runGet downloads the URLs given as operands and those of the -i list.
func runGet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg config
	urls, err := cfg.parse(cfg.flags(true), args)
	if err == nil && cfg.version {
		printVersion(stdout)
		return exitOK
	}
	if err == nil && len(urls) == 0 && cfg.list == "" && cfg.metalink == "" {
		err = errors.New("no URL to fetch")
	}
	var metalink *url.URL
	if err == nil && cfg.metalink != "" {
		if metalink, err = sourceURL(cfg.metalink); err != nil {
			err = fmt.Errorf("-metalink %v", err)
		}
	}
	if err == nil && cfg.base != "" && len(cfg.mirrors) == 0 {
		err = errors.New("-base without -mirror")
	}
	for _, u := range urls {
		if _, uerr := absoluteURL(u); err == nil && uerr != nil {
			err = fmt.Errorf("%s: %v", redact(u), uerr)
		}
	}
	if err != nil {
		return usageError(stdout, stderr, err)
	}

	// Two downloads that would write one file are refused before any
	// starts: which of them would stay would depend on timing.
	claimed := claims{}
	for _, u := range urls {
		if err := claimed.claim(listEntry{URL: u}, redact(u)); err != nil {
			return usageError(stdout, stderr, err)
		}
	}
	var list io.Reader
	listName := cfg.list
	switch cfg.list {
	case "":
	case "-":
		list, listName = stdin, "stdin"
	default:
		f, err := os.Open(cfg.list)
		if err != nil {
			return usageError(stdout, stderr, err)
		}
		defer f.Close()
		if err := claimed.claimList(f, listName); err != nil {
			return usageError(stdout, stderr, err)
		}
		list = f
	}
	root, real, err := openDir(cfg.out)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitFailed
	}
	defer root.Close()
	if cfg.base != "" && !strings.HasSuffix(cfg.base, "/") {
		cfg.base += "/"
	}

	opts, closeOpts := cfg.options()
	defer closeOpts()
	opts.FileRoots = []string{"/"} // the user names the files: any they can read
	f := fetch.New(opts)
	defer f.Close()
	cfg.warn(stderr)
	runCtx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	rep := newReport(stderr, cfg.quiet, cfg.list == "-" && isTerminal(stdin))
	rep.received = func() int64 { return f.Stats().Bytes }

	// A Metalink's files, as aria2c -M takes them: each under its name,
	// from its URLs in their order, checked against its size and hashes.
	// A document that cannot be read downloads nothing.
	var metaFiles []listEntry
	if metalink != nil {
		cfg.loginURL(metalink)
		ml, err := mirror.LoadMetalink(runCtx, f, metalink.String())
		if err == nil {
			if metaFiles, err = metalinkEntries(ml, metalink, claimed); err != nil {
				err = fmt.Errorf("metalink %s: %w", metalink.Redacted(), err)
			}
		}
		if err != nil {
			rep.fail("-metalink", err)
			rep.finish(stopReason(ctx, runCtx, cfg.timeout))
			return exitStatus(ctx, true)
		}
	}

	// queue sends the request for e.
	inside := relpath.Inside{Root: real}
	queue := func(where string, e listEntry, send func(fetch.Request) bool) bool {
		req, name, err := getRequest(&cfg, root, &inside, e)
		if err != nil {
			rep.fail(where, err)
			return true
		}
		return sendChecked(rep, req, name, send)
	}
	// The files in place: their leftovers of earlier runs go at the end.
	var inPlace []string
	rep.onResult = func(res fetch.Result) {
		if res.Err == nil && res.Request.Path != "" {
			inPlace = append(inPlace, res.Request.Path)
		}
	}
	download(runCtx, f, rep, cfg.list == "-", func(send func(fetch.Request) bool) {
		for _, u := range urls {
			if !queue(u, listEntry{URL: u}, send) {
				return
			}
		}
		for _, e := range metaFiles {
			if !queue(e.Out, e, send) {
				return
			}
		}
		if list == nil {
			return
		}
		err := lines.Scan(list, maxLine, func(n int, line string) bool {
			where := fmt.Sprintf("%s:%d", listName, n)
			e, ok, err := parseListLine(line)
			switch {
			case err != nil:
				rep.fail(where, err)
				return true
			case !ok:
				return true
			}
			if cfg.list == "-" {
				// Read as it comes: a line that writes the file of an
				// earlier one fails.
				if err := claimed.claim(e, where); err != nil {
					rep.fail(where, err)
					return true
				}
			}
			return queue(where, e, send)
		})
		if err != nil && runCtx.Err() == nil {
			rep.fail(listName, err)
		}
	})
	if _, err := fetch.RemoveLeftoversOf(root, inPlace); err != nil {
		rep.printf("fetch: removing partial files left in %s: %v\n", cfg.out, err)
	}
	rep.finish(stopReason(ctx, runCtx, cfg.timeout))
	return exitStatus(ctx, rep.failed.Load() > 0 || runCtx.Err() != nil)
}

// metalinkEntries returns the files of the Metalink ml, loaded from doc, as
// entries of a list, claiming their names in claimed. A file without a
// URL, or whose name another download writes, fails the document.
func metalinkEntries(ml *mirror.Metalink, doc *url.URL, claimed claims) ([]listEntry, error) {
	entries := make([]listEntry, 0, len(ml.Files))
	for _, file := range ml.Files {
		if len(file.URLs) == 0 {
			return nil, fmt.Errorf("%w: file %q: no URL that fetch can open", mirror.ErrMalformed, file.Name)
		}
		e := listEntry{URL: file.URLs[0], Mirrors: slices.Clone(file.URLs[1:]), Out: file.Name,
			Size: file.Size, SizeSet: file.Size > 0, Digests: file.Digests}
		if err := claimed.claim(e, doc.Redacted()+" file "+strconv.Quote(file.Name)); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// getRequest returns the request for e, and the name of its file below
// -o DIR, which is root, whose real path inside checks against.
func getRequest(cfg *config, root *os.Root, inside *relpath.Inside, e listEntry) (fetch.Request, string, error) {
	name, err := entryName(e)
	if err != nil {
		return fetch.Request{}, "", err
	}
	if err := inside.Check(name); err != nil {
		return fetch.Request{}, "", fmt.Errorf("out %q: %v", name, err)
	}
	req := fetch.Request{
		URL:       e.URL,
		Mirrors:   append(e.Mirrors, mirror.Static{Base: cfg.base, Mirrors: cfg.mirrors}.URLs(e.URL)...),
		Root:      root,
		Path:      filepath.FromSlash(name),
		Size:      e.Size,
		SizeKnown: e.SizeSet,
		Digests:   e.Digests,
	}
	cfg.request(&req)
	return req, name, nil
}

// entryName returns the name of the file of e below -o DIR: its out=, or
// the last segment of its URL's path.
func entryName(e listEntry) (string, error) {
	u, err := absoluteURL(e.URL)
	if err != nil {
		return "", err
	}
	if e.Out != "" {
		return e.Out, nil
	}
	return fileName(u)
}

// download fetches the requests that feed sends, counting them in rep,
// until feed has returned and every transfer is done, or ctx is done. When
// blocking, feed may be blocked reading input that ctx cannot interrupt (a
// terminal): download then does not wait for it once ctx is done; it ends
// when its read returns.
func download(ctx context.Context, f *fetch.Fetcher, rep *report, blocking bool, feed func(send func(fetch.Request) bool)) {
	// Buffered, so that feed reads its list ahead of the transfers rather
	// than in step with each request FetchAll takes: when most files are
	// in place and trusted, that step was what a run waited on.
	reqs := make(chan fetch.Request, 256)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		defer close(reqs)
		feed(func(req fetch.Request) bool {
			select {
			case reqs <- req:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	for res := range f.FetchAll(ctx, reqs) {
		rep.result(ctx, res)
		if rep.onResult != nil {
			rep.onResult(res)
		}
	}
	if ctx.Err() == nil || !blocking {
		<-fed
	}
}

// openDir makes the folder dir and opens it as the Root of the files of a
// run; real is its absolute path, with symbolic links resolved.
func openDir(dir string) (root *os.Root, real string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(abs)
	}
	if err == nil {
		root, err = os.OpenRoot(real)
	}
	return root, real, err
}

// errTimeout is the cause of the end of a run that -timeout stopped.
var errTimeout = errors.New("timed out")

// withTimeout returns ctx with the deadline of -timeout d, if not 0.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, errTimeout)
}

// stopReason says why a run stopped early, or returns nil if it did not:
// ctx is the context given to run, runCtx the run's own.
func stopReason(ctx, runCtx context.Context, timeout time.Duration) error {
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case runCtx.Err() != nil:
		return fmt.Errorf("timed out after %v", timeout)
	}
	return nil
}

// sendChecked sends req, named name in rep, asking the Fetcher to keep
// its file if it is in place already (Request.CheckExisting) when req has
// digests to check it against.
func sendChecked(rep *report, req fetch.Request, name string, send func(fetch.Request) bool) bool {
	req.CheckExisting = len(req.Digests) > 0
	rep.request(&req, name)
	return send(req)
}

// claims records, by name below -o DIR, where each download of a run
// comes from: a URL, or a list's line.
type claims map[string]string

// claim records the file of e, from where, and fails if another download
// writes it. An entry whose name cannot be found is let through: its
// download reports that.
func (c claims) claim(e listEntry, where string) error {
	name := e.Out
	if name == "" {
		var err error
		if name, err = entryName(e); err != nil {
			return nil
		}
	}
	key := path.Clean(name)
	if first, ok := c[key]; ok {
		return fmt.Errorf("%s and %s would both write %s (give one another name with out= in a list)", first, where, name)
	}
	c[key] = where
	return nil
}

// claimList claims the files of every line of the list in f, named name,
// and rewinds f.
func (c claims) claimList(f *os.File, name string) error {
	var cerr error
	// A read error is reported when the list is read again.
	lines.Scan(f, maxLine, func(n int, line string) bool {
		e, ok, err := parseListLine(line)
		if err == nil && ok {
			cerr = c.claim(e, fmt.Sprintf("%s:%d", name, n))
		}
		return cerr == nil
	})
	if cerr != nil {
		return cerr
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}
