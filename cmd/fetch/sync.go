package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/deb"
	"github.com/fetchkit/fetch/repo/pulp"
)

// runSync mirrors a repository into a folder: a loop over package repo,
// which reads the repository, stages and publishes its metadata.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg config
	operands, err := cfg.parse(cfg.flags(false), args)
	if err == nil && cfg.version {
		printVersion(stdout)
		return exitOK
	}
	// With -metalink or -mirrorlist, the document names the repository:
	// src is the document, and DIR the only operand.
	listed := cfg.metalink != "" || cfg.mirrorlist != ""
	switch {
	case err != nil:
	case cfg.metalink != "" && cfg.mirrorlist != "":
		err = errors.New("sync: -metalink and -mirrorlist: give one")
	case cfg.metalink != "" && cfg.format != "" && cfg.format != formatRPM:
		err = fmt.Errorf("sync: -metalink names the repomd.xml of an rpm-md repository, not -format %s", cfg.format)
	case listed && len(operands) != 1:
		err = fmt.Errorf("sync: with -metalink or -mirrorlist, want DIR only (the document names the repository), got %d operands", len(operands))
	case !listed && len(operands) != 2:
		err = fmt.Errorf("sync: want URL and DIR, got %d operands", len(operands))
	}
	var src *url.URL
	if err == nil {
		src, err = sourceURL(cmp.Or(cfg.metalink, cfg.mirrorlist, operands[0]))
	}
	var verifier repo.Verifier
	if err == nil && cfg.keyring != "" {
		verifier, err = readKeyring(cfg.keyring)
	}
	if err != nil {
		return usageErrorOf("fetch sync", syncUsage, stdout, stderr, err)
	}
	cfg.loginURL(src)
	root, _, err := openDir(operands[len(operands)-1])
	if err != nil {
		fmt.Fprintf(stderr, "fetch: %v\n", err)
		return exitFailed
	}
	defer root.Close()
	runCtx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()

	// A local repository is found before the Fetcher is made, which may
	// read its folder only.
	var repository target
	if src.Scheme == "file" && !listed {
		if repository, err = detect(runCtx, src, cfg.format, probeLocal); err != nil {
			fmt.Fprintf(stderr, "fetch: %s\n", escape(err.Error()))
			return exitFailed
		}
	}
	opts, closeOpts := cfg.options()
	defer closeOpts()
	// file:// URLs may read the repository's folder, and each mirror's.
	for _, m := range append([]string{src.ResolveReference(&url.URL{Path: "./"}).String()}, cfg.mirrors...) {
		if u, _ := url.Parse(m); u.Scheme == "file" { // checked by parse
			opts.FileRoots = append(opts.FileRoots, filepath.FromSlash(path.Clean(u.Path)))
		}
	}
	// The mirrors of -metalink or -mirrorlist: the document's, then
	// -mirror's, in a Pool that learns which to trust during the run.
	pool := mirror.NewPool(nil)
	if listed {
		opts.Resolver = pool
	}
	f := fetch.New(opts)
	defer f.Close()
	cfg.warn(stderr)
	rep := newReport(stderr, cfg.quiet, false)
	rep.received = func() int64 { return f.Stats().Bytes }
	var mirrors mirror.Static
	var listMirrors *syncMirrors
	prepare := func(req *fetch.Request) {
		req.Mirrors = mirrors.URLs(req.URL)
		req.Header = cfg.header.Clone()
		// Files in place are checked (CheckExisting); -verify reads them
		// even when a record says they are unchanged since verified.
		req.HashExisting = cfg.verify
		if listMirrors != nil {
			listMirrors.prepare(req)
		}
	}
	if listed {
		repository = target{format: cmp.Or(cfg.format, formatRPM), name: pulp.Manifest}
		top := repository.top()
		var dir string
		if repository.format == formatDeb {
			// Each mirror is asked for the first distribution's
			// InRelease, whose signature -keyring checks, and which must
			// be neither expired nor older than DIR's.
			dir, _, _ = deb.DistDir(cfg.deb.dists[0]) // checked by parse
			top = path.Join(dir, "InRelease")
		}
		listMirrors, err = loadMirrors(runCtx, f, pool, src, cfg.metalink != "", top, cfg.mirrors)
		if err == nil {
			if repository.format == formatDeb {
				listMirrors.verifier = verifier
				listMirrors.fresh = func(body []byte) error { return cfg.deb.format().Fresh(root.FS(), dir, body) }
			}
			repository.root, err = listMirrors.open(runCtx, f)
		}
		if err != nil {
			if runCtx.Err() == nil { // the error names each mirror dropped
				flagName := "-mirrorlist"
				if cfg.metalink != "" {
					flagName = "-metalink"
				}
				rep.fail(flagName, err)
			}
			rep.finish(stopReason(ctx, runCtx, cfg.timeout))
			return exitStatus(ctx, true)
		}
		rep.onResult = pool.Learn
	} else if src.Scheme != "file" {
		if repository, err = detect(runCtx, src, cfg.format, probeWith(f, prepare)); err != nil {
			if runCtx.Err() == nil {
				rep.fail(redact(src.String()), err)
			}
			rep.finish(stopReason(ctx, runCtx, cfg.timeout))
			return exitStatus(ctx, true)
		}
	}
	mirrors = mirror.Static{Base: repository.root.String(), Mirrors: cfg.mirrors}

	s := &repo.Sync{
		Fetcher:  f,
		Format:   repository.repoFormat(&cfg),
		URL:      repository.root,
		Root:     root,
		Verifier: verifier,
		Prepare:  prepare,
	}
	defer s.Close()
	where := repository.where()
	err = s.Open(runCtx)
	var plan *repo.Plan
	if err == nil {
		plan, err = s.Plan(runCtx)
	}
	if err != nil {
		if runCtx.Err() == nil {
			if listMirrors != nil {
				listMirrors.report(rep)
			}
			refuse(rep, where, err)
		}
		rep.finish(stopReason(ctx, runCtx, cfg.timeout))
		return exitStatus(ctx, true)
	}
	for _, name := range s.Unverified() {
		rep.printf("%s: mirrored unchecked: no -keyring to check it with\n", name)
	}
	rep.plan(plan.Files, plan.Bytes)
	// Partial files that no package resumes go, as do leftovers of runs
	// that were killed.
	keep := plan.Keep
	if cfg.noResume {
		keep = nil
	}
	removeLeftovers(rep, root, keep)

	pkgs := s.Packages()
	download(runCtx, f, rep, false, func(send func(fetch.Request) bool) {
		for e := range pkgs.All() {
			if !sendChecked(rep, s.Request(e), e.Path, send) {
				break
			}
		}
	})
	if err := pkgs.Err(); err != nil && runCtx.Err() == nil {
		rep.fail(where, err)
	}
	if listMirrors != nil {
		listMirrors.report(rep)
	}

	// Publish the metadata once every package they name is in place.
	if rep.failed.Load() == 0 && runCtx.Err() == nil {
		if err := s.Publish(); err != nil {
			rep.fail(where, err)
		} else if cfg.delete {
			files, bytes, err := s.Delete(runCtx)
			if err != nil {
				rep.fail(where, fmt.Errorf("-delete: %w", err))
			}
			rep.printf("deleted %d %s (%s) that the repository no longer names\n", files, plural(files, "file", "files"), formatBytes(bytes))
		}
		// A completed run leaves no partial file in DIR.
		removeLeftovers(rep, root, nil)
	} else if runCtx.Err() == nil {
		rep.printf("%s: not published: the mirror keeps the metadata of its last complete sync\n", where)
	}
	rep.finish(stopReason(ctx, runCtx, cfg.timeout))
	return exitStatus(ctx, rep.failed.Load() > 0 || runCtx.Err() != nil)
}

// readKeyring reads the OpenPGP keys of -keyring file.
func readKeyring(file string) (*repo.Keyring, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("-keyring: %v", err)
	}
	defer f.Close()
	k, err := repo.ReadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("-keyring %s: %v", file, err)
	}
	return k, nil
}

// refuse reports the error of a repository whose metadata were refused:
// each of the errors it joins on a line, a [*repo.FormatError] as "FILE
// line N: ...", and the last one as the failure of where.
func refuse(rep *report, where string, err error) {
	var html *pulp.NotManifestError
	if errors.As(err, &html) {
		rep.fail(html.URL, html)
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs[:len(errs)-1] {
		var fe *repo.FormatError
		if errors.As(e, &fe) && fe.Line > 0 {
			rep.printf("%s line %d: %v\n", fe.File, fe.Line, fe.Err)
			continue
		}
		rep.printf("%v\n", e)
	}
	rep.fail(where, errs[len(errs)-1])
}

// removeLeftovers removes the temporary and partial files in DIR that no
// running fetch holds, but those that keep reports true for.
func removeLeftovers(rep *report, root *os.Root, keep func(name string) bool) {
	if _, err := fetch.RemoveLeftovers(root, keep); err != nil {
		rep.printf("fetch: removing partial files left in DIR: %v\n", err)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
