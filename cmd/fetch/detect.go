package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/pulp"
	"github.com/fetchkit/fetch/repo/rpm"
)

// Repository formats, as -format names them.
const (
	formatPulp = "pulp"
	formatRPM  = "rpm"
	formatDeb  = "deb"
)

// formats are the values of -format.
var formats = []string{formatPulp, formatRPM, formatDeb}

// A target is the repository that fetch sync mirrors.
type target struct {
	format string   // one of formats
	root   *url.URL // the repository's folder, ending in "/"
	name   string   // of a Pulp repository: its manifest's name
}

// repoFormat returns the repo.Format of t, as cfg configures it.
func (t target) repoFormat(cfg *config) repo.Format {
	switch t.format {
	case formatRPM:
		return rpm.Format{}
	case formatDeb:
		return cfg.deb.format()
	}
	return pulp.Format{Name: t.name, MaxSize: cfg.maxManifest}
}

// top returns the path of t's top file below its root.
func (t target) top() string {
	switch t.format {
	case formatRPM:
		return rpm.RepomdPath
	}
	return t.name
}

// where returns the URL that names t in messages: its top file's,
// redacted.
func (t target) where() string {
	if t.format == formatDeb { // a root, several distributions
		return redact(t.root.String())
	}
	return redact(mirror.Join(t.root, t.top()))
}

// sourceURL returns the URL that the operand arg of fetch sync names: a
// URL, or a local path as a file URL (a folder's ending in "/").
func sourceURL(arg string) (*url.URL, error) {
	u, err := url.Parse(arg)
	if err != nil && strings.Contains(arg, "://") {
		return nil, fmt.Errorf("%s: %v", redact(arg), errors.Unwrap(err)) // the *url.Error repeats arg
	}
	if err == nil && u.Scheme != "" && len(u.Scheme) > 1 { // "C:" is a drive letter
		if _, err := absoluteURL(arg); err != nil {
			return nil, fmt.Errorf("%s: %v", redact(arg), err)
		}
		return u, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return nil, err
	}
	u = &url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		u.Path += "/"
	}
	return u, nil
}

// folder returns u as a folder: with a "/" at the end of its path.
func folder(u *url.URL) *url.URL {
	f := *u
	if !strings.HasSuffix(f.Path, "/") {
		f.Path += "/"
		f.RawPath = ""
	}
	f.RawQuery, f.Fragment = "", ""
	return &f
}

// pulpTarget returns the Pulp repository whose manifest is at u, or in
// the folder u when it ends in "/".
func pulpTarget(u *url.URL) (target, error) {
	if strings.HasSuffix(u.Path, "/") {
		return target{format: formatPulp, root: u, name: pulp.Manifest}, nil
	}
	name, err := fileName(u)
	if err != nil {
		return target{}, err
	}
	return target{format: formatPulp, root: u.ResolveReference(&url.URL{Path: "./"}), name: name}, nil
}

// A prober reports whether a file exists at a URL: a found file is true,
// a missing one false, any other failure an error.
type prober func(ctx context.Context, u string) (bool, error)

// detect finds the repository that u names, with -format when given (a
// Debian archive's root has no file to find it by: -dist gives -format
// deb): a
// URL (or folder) whose last element is PULP_MANIFEST, or a folder that
// has one, is a Pulp repository; a folder with repodata/repomd.xml is
// rpm-md; any other file is a Pulp manifest. A folder that is neither
// gets an error that says what was tried.
func detect(ctx context.Context, u *url.URL, format string, exists prober) (target, error) {
	switch format {
	case formatPulp:
		return pulpTarget(u)
	case formatRPM:
		return target{format: formatRPM, root: folder(u)}, nil
	case formatDeb:
		return target{format: formatDeb, root: folder(u)}, nil
	}
	if path.Base(u.Path) == pulp.Manifest {
		return pulpTarget(u)
	}
	dir := folder(u)
	var tried []string
	try := func(format, name string) (bool, error) {
		found, err := exists(ctx, mirror.Join(dir, name))
		if err != nil {
			return false, err
		}
		if !found {
			tried = append(tried, fmt.Sprintf("%s (%s: not found)", format, redact(mirror.Join(dir, name))))
		}
		return found, nil
	}
	if strings.HasSuffix(u.Path, "/") {
		if found, err := try("a Pulp repository", pulp.Manifest); err != nil || found {
			return target{format: formatPulp, root: dir, name: pulp.Manifest}, err
		}
	}
	if found, err := try("an rpm-md repository", rpm.RepomdPath); err != nil || found {
		return target{format: formatRPM, root: dir}, err
	}
	if !strings.HasSuffix(u.Path, "/") {
		return pulpTarget(u) // a manifest of another name, as before there were formats
	}
	return target{}, fmt.Errorf("%s: no repository found: tried %s; a Debian archive needs -dist, and -format %s forces a format",
		redact(u.String()), strings.Join(tried, ", "), strings.Join(formats, "|"))
}

// probeLocal is the prober of file URLs: it looks at the file system.
func probeLocal(_ context.Context, u string) (bool, error) {
	p, err := url.Parse(u)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(filepath.FromSlash(p.Path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return fi.Mode().IsRegular(), nil
}

// errFound ends a probe at the server's first answer.
var errFound = errors.New("found")

// probeWith returns the prober that asks f, with the headers and
// credentials of prepare: a response is a file found, and ends the
// transfer before its first byte.
func probeWith(f *fetch.Fetcher, prepare func(*fetch.Request)) prober {
	return func(ctx context.Context, u string) (bool, error) {
		req := fetch.Request{URL: u, OnResponse: func(fetch.Response) error { return errFound }}
		prepare(&req)
		req.Mirrors = nil
		_, err := f.Fetch(ctx, req)
		switch {
		case errors.Is(err, errFound):
			return true, nil
		case errors.Is(err, fetch.ErrNotFound):
			return false, nil
		}
		return false, err
	}
}
