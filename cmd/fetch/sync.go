package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
)

// maxShownErrors caps the bad manifest lines printed.
const maxShownErrors = 20

// runSync mirrors the Pulp file repository of a manifest into a folder.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg config
	operands, err := cfg.parse(cfg.flags(false), args)
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
		return usageError(stdout, stderr, err)
	}
	cfg.loginURL(manifest)
	dir := operands[1]
	root, err := makeRoot(dir)
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitFailed
	}
	mirrors := make([]*url.URL, len(cfg.mirrors))
	for i, m := range cfg.mirrors {
		u, _ := absoluteURL(m) // checked by parse
		cfg.loginURL(u)
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
	s := &syncer{manifest: manifest, mirrors: mirrors, dir: dir, root: root, header: cfg.header}

	// The manifest goes to a temporary file beside where it will be kept.
	tmp, err := createPartial(filepath.Join(dir, name))
	if err != nil {
		rep.fail(manifest.Redacted(), err)
		rep.finish(nil)
		return exitFailed
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	_, err = f.Fetch(runCtx, fetch.Request{URL: manifest.String(), Mirrors: s.mirrorsOf(name), Writer: tmp, Header: cfg.header.Clone()})
	if err == nil {
		err = s.check(tmp, rep)
	}
	if err != nil {
		if runCtx.Err() == nil {
			rep.fail(manifest.Redacted(), err)
		}
		rep.finish(stopReason(ctx, runCtx, cfg.timeout))
		return exitStatus(ctx, true)
	}

	download(runCtx, f, rep, false, func(send func(fetch.Request) bool) {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			rep.fail(manifest.Redacted(), err)
			return
		}
		lines(tmp, func(n int, line string) bool {
			e, ok, _ := parseManifestLine(line) // checked before
			if !ok {
				return true
			}
			return sendUnlessInPlace(runCtx, rep, s.request(e), e.Path, send)
		})
	})

	// Keep the manifest once every file it names is in place.
	if rep.failed.Load() == 0 && runCtx.Err() == nil {
		err := tmp.Close()
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, name))
		}
		if err != nil {
			rep.fail(manifest.Redacted(), err)
		}
	}
	rep.finish(stopReason(ctx, runCtx, cfg.timeout))
	return exitStatus(ctx, rep.failed.Load() > 0 || runCtx.Err() != nil)
}

// manifestURL returns the URL of the manifest that arg names: a URL, or a
// local path. A URL ending in "/" names the PULP_MANIFEST in it.
func manifestURL(arg string) (*url.URL, error) {
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
	if strings.HasSuffix(u.Path, "/") {
		u.Path += "PULP_MANIFEST"
		u.RawPath = ""
	}
	return u, nil
}

// createPartial creates a temporary file beside path, named as the
// library names its own (so that a look for "*.part" finds it), with the
// mode of any new file (0666 less the umask), unlike os.CreateTemp.
func createPartial(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for {
		name := filepath.Join(dir, "."+base+"."+strconv.FormatUint(rand.Uint64(), 36)+fetch.PartialSuffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
}

// syncer holds what the files of a sync share.
type syncer struct {
	manifest *url.URL
	mirrors  []*url.URL // each ending in "/"
	dir      string     // as given
	root     string     // dir's real path
	header   http.Header
}

// check reads the manifest in r and prints every line that is malformed or
// names a path outside the folder; it fails if there is any.
func (s *syncer) check(r io.ReadSeeker, rep *report) error {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	bad, files, bytes := 0, int64(0), int64(0)
	report := func(n int, err error) {
		bad++
		if bad <= maxShownErrors {
			rep.printf("%s line %d: %v\n", s.manifest.Redacted(), n, err)
		}
	}
	err := lines(r, func(n int, line string) bool {
		e, ok, err := parseManifestLine(line)
		switch {
		case err != nil:
			report(n, err)
		case ok:
			if err := checkInside(s.root, e.Path); err != nil {
				report(n, fmt.Errorf("path %q escapes the directory: %v", e.Path, err))
			}
			files++
			bytes += e.Size
		}
		return true
	})
	switch {
	case err != nil:
		return err
	case bad > maxShownErrors:
		return fmt.Errorf("manifest refused: %d bad lines (the first %d shown above)", bad, maxShownErrors)
	case bad > 0:
		return fmt.Errorf("manifest refused: %d bad %s", bad, plural(bad, "line", "lines"))
	}
	rep.plan(files, bytes)
	return nil
}

// request returns the request for the file of e.
func (s *syncer) request(e manifestEntry) fetch.Request {
	return fetch.Request{
		URL:     s.manifest.ResolveReference(&url.URL{Path: e.Path}).String(),
		Mirrors: s.mirrorsOf(e.Path),
		Path:    filepath.Join(s.dir, filepath.FromSlash(e.Path)),
		Size:    e.Size,
		Digests: map[string]string{"sha256": e.SHA256},
		Header:  s.header.Clone(),
	}
}

// mirrorsOf returns the URLs of the relative path p on each mirror.
func (s *syncer) mirrorsOf(p string) []string {
	urls := make([]string, len(s.mirrors))
	for i, m := range s.mirrors {
		urls[i] = m.ResolveReference(&url.URL{Path: p}).String()
	}
	return urls
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
