package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/lines"
	"github.com/fetchkit/fetch/mirror"
)

// maxShownErrors caps the bad manifest lines printed.
const maxShownErrors = 20

// runSync mirrors the Pulp file repository of a manifest into a folder.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg config
	operands, err := cfg.parse(cfg.flags(false), args)
	if err == nil && cfg.version {
		printVersion(stdout)
		return exitOK
	}
	if err == nil && (cfg.metalink != "" || cfg.mirrorlist != "") {
		err = errors.New("sync: -metalink and -mirrorlist need a repository format that names its top file (rpm-md)")
	}
	if err == nil && len(operands) != 2 {
		err = fmt.Errorf("sync: want MANIFEST and DIR, got %d operands", len(operands))
	}
	var manifest *url.URL
	if err == nil {
		manifest, err = manifestURL(operands[0])
	}
	var name string
	if err == nil {
		name, err = fileName(manifest)
	}
	if err != nil {
		return usageErrorOf("fetch sync", syncUsage, stdout, stderr, err)
	}
	cfg.loginURL(manifest)
	dir := operands[1]
	root, real, err := openDir(dir)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitFailed
	}
	defer root.Close()
	mirrors := make([]*url.URL, len(cfg.mirrors))
	for i, m := range cfg.mirrors {
		u, _ := absoluteURL(m) // checked by parse
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
			u.RawPath = ""
		}
		mirrors[i] = u
	}

	opts, closeOpts := cfg.options()
	defer closeOpts()
	for _, u := range append([]*url.URL{manifest}, mirrors...) {
		if u.Scheme == "file" {
			opts.FileRoots = append(opts.FileRoots, filepath.FromSlash(path.Dir(u.Path)))
		}
	}
	f := fetch.New(opts)
	defer f.Close()
	cfg.warn(stderr)
	runCtx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	rep := newReport(stderr, cfg.quiet, false)
	rep.received = func() int64 { return f.Stats().Bytes }
	s := &syncer{manifest: manifest, root: root, real: real, header: cfg.header,
		mirrors: mirror.Static{Base: manifest.ResolveReference(&url.URL{Path: "./"}).String(), Mirrors: cfg.mirrors}}

	// The manifest goes to a temporary file beside where it will be kept.
	tmp, tmpName, err := fetch.CreateTemp(root, name)
	if err != nil {
		rep.fail(manifest.Redacted(), err)
		rep.finish(nil)
		return exitFailed
	}
	defer func() {
		tmp.Close()
		root.Remove(tmpName)
	}()
	check := &manifestCheck{s: s, rep: rep, max: cfg.maxManifest}
	if !cfg.noResume {
		check.partials = map[string]bool{}
	}
	sniff := &manifestSniff{}
	_, err = f.Fetch(runCtx, fetch.Request{
		URL: manifest.String(), Mirrors: s.mirrors.URLs(s.urlOf(name)), Header: cfg.header.Clone(),
		Writer:     io.MultiWriter(sniff, check, tmp),
		OnResponse: func(resp fetch.Response) error { sniff.url = resp.URL; return nil },
	})
	if err == nil {
		err = check.finish()
	}
	if err != nil {
		var html *notManifestError
		switch {
		case runCtx.Err() != nil:
		case errors.As(err, &html):
			rep.fail(html.url, html)
		default:
			rep.fail(manifest.Redacted(), err)
		}
		rep.finish(stopReason(ctx, runCtx, cfg.timeout))
		return exitStatus(ctx, true)
	}
	// Partial files that no file of the manifest resumes go, as do
	// leftovers of runs that were killed.
	s.removeLeftovers(rep, check.keep)

	download(runCtx, f, rep, false, func(send func(fetch.Request) bool) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			rep.fail(manifest.Redacted(), err)
			return
		}
		lines.Scan(tmp, maxLine, func(n int, line string) bool {
			e, ok, _ := parseManifestLine(line) // checked before
			if !ok {
				return true
			}
			return sendChecked(rep, s.request(e), e.Path, send)
		})
	})

	// Keep the manifest once every file it names is in place.
	if rep.failed.Load() == 0 && runCtx.Err() == nil {
		// Renamed while open: its lock keeps other runs' sweeps away.
		if err := root.Rename(tmpName, name); err != nil {
			rep.fail(manifest.Redacted(), err)
		}
		// A completed run leaves no partial file in DIR.
		s.removeLeftovers(rep, nil)
	}
	rep.finish(stopReason(ctx, runCtx, cfg.timeout))
	return exitStatus(ctx, rep.failed.Load() > 0 || runCtx.Err() != nil)
}

// manifestURL returns the URL of the manifest that arg names: a URL, or a
// local path. A URL ending in "/" names the PULP_MANIFEST in it.
func manifestURL(arg string) (*url.URL, error) {
	u, err := documentURL(arg)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(u.Path, "/") {
		u.Path += "PULP_MANIFEST"
		u.RawPath = ""
	}
	return u, nil
}

// documentURL returns the URL of the document that arg names: a URL, or a
// local path.
func documentURL(arg string) (*url.URL, error) {
	u, err := url.Parse(arg)
	if err != nil && strings.Contains(arg, "://") {
		return nil, fmt.Errorf("%s: %v", redact(arg), errors.Unwrap(err)) // the *url.Error repeats arg
	}
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // "C:" is a drive letter
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, err
		}
		u = &url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
	} else if _, err := absoluteURL(arg); err != nil {
		return nil, fmt.Errorf("%s: %v", redact(arg), err)
	}
	return u, nil
}

// removeLeftovers removes the temporary and partial files in DIR that no
// running fetch holds, but those that keep reports true for.
func (s *syncer) removeLeftovers(rep *report, keep func(name string) bool) {
	if _, err := fetch.RemoveLeftovers(s.root, keep); err != nil {
		rep.printf("fetch: removing partial files left in DIR: %v\n", err)
	}
}

// syncer holds what the files of a sync share.
type syncer struct {
	manifest *url.URL
	mirrors  mirror.Static // the manifest's directory on each -mirror
	root     *os.Root      // DIR
	real     string        // DIR's real path
	header   http.Header   // of -H
}

// A manifestCheck checks a manifest line by line as it is written to it,
// and fails as soon as the manifest is refused: more than maxShownErrors
// bad lines, a line longer than maxLine, or more than max bytes in all.
// Lines that are malformed or name a path outside the folder are printed.
type manifestCheck struct {
	s   *syncer
	rep *report
	max int64

	// The partial files of the files of the manifest (slash-separated,
	// relative to DIR), to tell them from leftovers (keep); nil: none is
	// kept.
	partials map[string]bool

	size         int64  // bytes written
	line         []byte // the line being written, up to its end
	n            int    // lines seen
	bad          int
	files, bytes int64
	inside       insideCache
}

func (c *manifestCheck) Write(p []byte) (int, error) {
	c.size += int64(len(p))
	if c.size > c.max {
		return 0, fmt.Errorf("manifest refused: larger than %d bytes (-max-manifest)", c.max)
	}
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.line = append(c.line, rest...)
			if len(c.line) > maxLine {
				return 0, fmt.Errorf("manifest refused: line %d: longer than %d bytes", c.n+1, maxLine)
			}
			break
		}
		c.line = append(c.line, rest[:i]...)
		rest = rest[i+1:]
		if err := c.check(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// check checks the line written, and starts the next one.
func (c *manifestCheck) check() error {
	c.n++
	line := strings.TrimSuffix(string(c.line), "\r")
	c.line = c.line[:0]
	if c.n == 1 {
		line = strings.TrimPrefix(line, "\ufeff")
	}
	if len(line) > maxLine {
		return fmt.Errorf("manifest refused: line %d: longer than %d bytes", c.n, maxLine)
	}
	e, ok, err := parseManifestLine(line)
	switch {
	case err != nil:
	case ok:
		if ierr := c.inside.check(c.s.real, e.Path); ierr != nil {
			err = fmt.Errorf("path %q escapes the directory: %v", e.Path, ierr)
		}
		c.files++
		c.bytes += e.Size
		c.add(e.Path)
	}
	if err != nil {
		c.bad++
		if c.bad > maxShownErrors {
			return fmt.Errorf("manifest refused: more than %d bad lines (the first %d shown above)", maxShownErrors, maxShownErrors)
		}
		c.rep.printf("%s line %d: %v\n", c.s.manifest.Redacted(), c.n, err)
	}
	return nil
}

// keep reports whether name (slash-separated, relative to DIR) is the
// partial file of a file of the manifest.
func (c *manifestCheck) keep(name string) bool { return c.partials[name] }

// add records the partial file of the manifest's file p (slash-separated),
// when partial files are kept.
func (c *manifestCheck) add(p string) {
	if c.partials != nil {
		c.partials[filepath.ToSlash(fetch.PartialPath(filepath.FromSlash(p)))] = true
	}
}

// finish checks the last line, if it has no line end, and fails if any
// line was bad. Otherwise it plans the files of the run in rep.
func (c *manifestCheck) finish() error {
	if len(c.line) > 0 {
		if err := c.check(); err != nil {
			return err
		}
	}
	if c.bad > 0 {
		return fmt.Errorf("manifest refused: %d bad %s", c.bad, plural(c.bad, "line", "lines"))
	}
	c.rep.plan(c.files, c.bytes)
	return nil
}

// request returns the request for the file of e.
func (s *syncer) request(e manifestEntry) fetch.Request {
	u := s.urlOf(e.Path)
	return fetch.Request{
		URL:       u,
		Mirrors:   s.mirrors.URLs(u),
		Root:      s.root,
		Path:      filepath.FromSlash(e.Path),
		Size:      e.Size,
		SizeKnown: true,
		Digests:   map[string]string{"sha256": e.SHA256},
		Header:    s.header.Clone(),
	}
}

// urlOf returns the URL of the slash-separated path p relative to the
// manifest.
func (s *syncer) urlOf(p string) string {
	return s.manifest.ResolveReference(&url.URL{Path: p}).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// manifestSniff refuses a manifest that starts as an HTML page does: the
// listing of a folder, often what a URL without its PULP_MANIFEST leads
// to.
type manifestSniff struct {
	url     string // of the response, set by OnResponse
	checked bool
}

func (m *manifestSniff) Write(p []byte) (int, error) {
	if !m.checked {
		head := bytes.TrimLeft(bytes.TrimPrefix(p, []byte("\ufeff")), " \t\r\n")
		if len(head) == 0 {
			return len(p), nil
		}
		m.checked = true
		if head[0] == '<' {
			return 0, &notManifestError{url: m.url}
		}
	}
	return len(p), nil
}

// notManifestError reports that the manifest at url is an HTML page.
type notManifestError struct{ url string }

func (e *notManifestError) Error() string {
	return fmt.Sprintf("not a manifest but an HTML page; did you mean %s?", manifestGuess(e.url))
}

// manifestGuess returns the URL of the PULP_MANIFEST that the URL of a
// page, such as a folder's listing, probably meant.
func manifestGuess(page string) string {
	u, err := url.Parse(page)
	if err != nil {
		return page
	}
	u.RawQuery, u.Fragment = "", ""
	switch last := path.Base(u.Path); {
	case strings.HasSuffix(u.Path, "/"):
	case strings.Contains(last, "."): // index.html
		u.Path = path.Dir(u.Path) + "/"
	default:
		u.Path += "/"
	}
	u.Path += "PULP_MANIFEST"
	u.RawPath = ""
	return u.Redacted()
}
