package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/dirwalk"
	"github.com/fetchkit/fetch/internal/partname"
	"github.com/fetchkit/fetch/internal/relpath"
	"golang.org/x/sync/errgroup"
)

// StagingDir is the folder below a mirror's root where [Sync] stages the
// metadata of a run until it publishes them. Every path whose first
// element starts with ".fetch-" is the tool's own: no repository file may
// be kept there.
const StagingDir = partname.StagingPrefix + "staging"

// metadataJobs is how many metadata files a Sync fetches at once; the
// Fetcher's Limiter bounds them too.
const metadataJobs = 8

// A Fetcher downloads the files of a [Sync]. A [*fetch.Fetcher] is one.
type Fetcher interface {
	Fetch(ctx context.Context, req fetch.Request) (fetch.Result, error)
}

// A Sync mirrors a repository into a folder, consistent at every instant:
// a client reading the folder while a Sync runs finds either the metadata
// of the last run that completed, with every file it names, or the new
// metadata, with every file it names.
//
// A run goes: [Sync.Open] reads the top file (verified by Verifier, when
// set) and the metadata it lists into a staging area below Root; the
// caller downloads every package of [Sync.Packages], each with the request
// of [Sync.Request], to its final place (with [fetch.Fetcher.FetchAll], as
// the command does); once every one is in place, [Sync.Publish] moves the
// metadata into place, in the order the Format gives, and
// [Sync.Delete] may then remove the packages that the new metadata no
// longer names. [Sync.Close] removes the staging area. If any package
// fails, the caller does not publish: the old mirror stays whole, and the
// packages that arrived stay for the next run.
//
// The metadata that a run replaces stay until the next run publishes, so
// that a client that read the old top file a moment earlier still finds
// what it names.
//
// The fields are set before Open and not changed after. A Sync is not
// safe for concurrent use, but for Request.
type Sync struct {
	// Fetcher downloads the top file, the metadata and the packages.
	Fetcher Fetcher
	// Format reads the repository.
	Format Format
	// URL is the repository's root, a folder: the paths of its files are
	// relative to it.
	URL *url.URL
	// Root is the mirror's folder. Every file is made through it. The
	// caller opens it, and closes it after Close.
	Root *os.Root
	// Verifier checks the signatures of the top file. Nil means that they
	// are mirrored unchecked, and [Sync.Unverified] names them.
	Verifier Verifier
	// Prepare, if set, completes every request of the sync, of metadata
	// and packages alike, before it is sent: mirrors, headers,
	// credentials. It must be safe for concurrent use.
	Prepare func(req *fetch.Request)

	inside     relpath.Inside
	run        string   // the staging folder of this run, relative to Root
	lock       *os.File // held while the run goes on
	stage      *os.Root // run
	top        []Entry  // the files that Source.Fetch staged, in order
	unverified []string
	index      Index
	published  bool // the staged files are in place
}

// Open reads the repository's top file and the metadata it lists into
// the staging area, checked. An error means that the run cannot go on:
// nothing was published. Close must be called in any case.
func (s *Sync) Open(ctx context.Context) error {
	if s.Fetcher == nil || s.Format == nil || s.URL == nil || s.Root == nil {
		panic("fetch: repo.Sync used without Fetcher, Format, URL or Root")
	}
	real, err := filepath.EvalSymlinks(s.Root.Name())
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return err
	}
	s.inside = relpath.Inside{Root: real}
	if err := s.openStage(); err != nil {
		return fmt.Errorf("staging area: %w", err)
	}
	index, err := s.Format.Open(ctx, &Source{s: s})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(metadataJobs)
	// Files fetched from the same URL with the same digests (a Debian
	// index, kept under its name and under by-hash/) are fetched once,
	// and staged again as links.
	first := map[string]string{}
	var copies [][2]string // from, to
	for _, e := range index.Metadata() {
		if s.staged(e.Path) {
			continue
		}
		if err := s.checkPath(e.Path); err != nil {
			g.Wait()
			return err
		}
		key := e.Request(s.URL).URL + " " + fmt.Sprint(e.Digests)
		if p, ok := first[key]; ok && len(e.Digests) > 0 {
			copies = append(copies, [2]string{p, e.Path})
			continue
		}
		first[key] = e.Path
		g.Go(func() error { return s.fetchMetadata(gctx, e) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, c := range copies {
		if err := s.stageCopy(c[0], c[1]); err != nil {
			return err
		}
	}
	s.index = index
	return nil
}

// stageCopy stages the staged file from again at to: a hard link, or a
// copy where the file system has none.
func (s *Sync) stageCopy(from, to string) error {
	from, to = filepath.FromSlash(from), filepath.FromSlash(to)
	if err := s.stage.MkdirAll(filepath.Dir(to), 0o777); err != nil {
		return err
	}
	s.stage.Remove(to)
	if s.stage.Link(from, to) == nil {
		return nil
	}
	in, err := s.stage.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := s.stage.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// staged reports whether Source.Fetch staged the file p.
func (s *Sync) staged(p string) bool {
	return slices.ContainsFunc(s.top, func(e Entry) bool { return e.Path == p })
}

// checkPath checks that the slash-separated path p, from the repository,
// stays inside the mirror's folder.
func (s *Sync) checkPath(p string) error {
	err := relpath.Check(p)
	if err == nil {
		err = s.inside.Check(p)
	}
	if err != nil {
		return fmt.Errorf("path %q escapes the directory: %v", p, err)
	}
	return nil
}

// fetch downloads e into the staging area, with the bytes also written to
// w if not nil.
func (s *Sync) fetch(ctx context.Context, e Entry, w io.Writer) (fetch.Result, error) {
	req := s.request(e, path.Join(s.run, e.Path), false)
	req.Writer = w
	return s.Fetcher.Fetch(ctx, req)
}

// fetchMetadata stages the metadata file e: the published file of the
// same path when it has e's size and digests (a data file that did not
// change keeps its name), else a download. The published file is linked
// into the staging area and the request keeps it when it matches
// (CheckExisting); a download replaces the link by a rename, never
// writing to the published file.
func (s *Sync) fetchMetadata(ctx context.Context, e Entry) error {
	staged := path.Join(s.run, e.Path)
	req := s.request(e, staged, true)
	if req.CheckExisting {
		if fi, err := s.Root.Lstat(filepath.FromSlash(e.Path)); err == nil && fi.Mode().IsRegular() {
			s.Root.MkdirAll(filepath.FromSlash(path.Dir(staged)), 0o777)
			s.Root.Link(filepath.FromSlash(e.Path), filepath.FromSlash(staged)) // else downloaded
		}
	}
	_, err := s.Fetcher.Fetch(ctx, req)
	return err
}

// Request returns the request for the package e: from its URL, to its
// path below Root, with its size and digests, kept when it is already in
// place (CheckExisting, when e has digests), completed by Prepare. Every
// request of a sync is made here.
func (s *Sync) Request(e Entry) fetch.Request {
	return s.request(e, e.Path, true)
}

func (s *Sync) request(e Entry, p string, checkExisting bool) fetch.Request {
	req := e.Request(s.URL)
	req.Root = s.Root
	req.Path = filepath.FromSlash(p)
	req.CheckExisting = checkExisting && len(req.Digests) > 0
	if s.Prepare != nil {
		s.Prepare(&req)
	}
	return req
}

// Packages returns the packages that the staged metadata name (once
// published, the published ones), read as a stream. A package whose path would leave Root ends the stream with an
// error. Open must have succeeded.
func (s *Sync) Packages() Packages {
	if s.index == nil {
		panic("fetch: repo.Sync.Packages called before Open succeeded")
	}
	files := s.stage.FS()
	if s.published {
		files = s.Root.FS()
	}
	pkgs := s.index.Packages(files)
	return NewPackages(func(yield func(Entry) bool) error {
		for e := range pkgs.All() {
			if err := s.checkPath(e.Path); err != nil {
				return err
			}
			if !yield(e) {
				break
			}
		}
		return pkgs.Err()
	})
}

// A Plan is what a run is to download, as [Sync.Plan] counted it.
type Plan struct {
	Files, Bytes int64 // packages, and their bytes (those of known size)

	s        *Sync
	once     sync.Once
	partials *nameSet // made by the first Keep
}

// Keep reports whether the slash-separated name, relative to Root, is the
// partial file ([fetch.PartialPath]) of a package of the plan: the keep
// function of [fetch.RemoveLeftovers], which then removes only the partial
// files that no package resumes. The first call reads the packages again
// (a run that finds no partial file makes none), into a set that takes
// the same memory whatever their number: rarely, Keep is true for another
// partial file too, which the next run that completes removes. A name
// in a folder of the tool's own (partname.StagingPrefix), where no package
// is kept, such as the lock file of the run, is answered without the set.
// Keep may be called from several goroutines at once.
func (p *Plan) Keep(name string) bool {
	if first, _, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(first, partname.StagingPrefix) {
		return false
	}
	p.once.Do(func() {
		p.partials = newNameSet()
		pkgs := p.s.Packages()
		for e := range pkgs.All() {
			p.partials.Add(filepath.ToSlash(fetch.PartialPath(filepath.FromSlash(e.Path))))
		}
		// An error (pkgs.Err) stops the set short: the partial files
		// of the packages not read are removed, and downloaded again.
	})
	return p.partials.Has(name)
}

// Plan reads the packages once, before they are downloaded: it checks
// every path, so that a repository with one that would leave Root is
// refused before anything is downloaded, and counts the files and bytes.
// An index that did both as it was opened ([Counted]) is not read again.
func (s *Sync) Plan(ctx context.Context) (*Plan, error) {
	p := &Plan{s: s}
	if c, ok := s.index.(Counted); ok {
		p.Files, p.Bytes = c.Count()
		return p, ctx.Err()
	}
	pkgs := s.Packages()
	for e := range pkgs.All() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.Files++
		if e.Size > 0 {
			p.Bytes += e.Size
		}
	}
	if err := pkgs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Unverified returns the paths of the signature files that Open staged
// unchecked, for want of a Verifier.
func (s *Sync) Unverified() []string { return s.unverified }

// Publish moves the staged metadata into place: the files of
// [Index.Metadata] in their order, then the top files, the last one
// staged first, so that the top file that Open read first comes last. It
// then removes the metadata of the run before the last one that neither
// the last run's nor this one's name. Call it once every package is in
// place.
func (s *Sync) Publish() error {
	if s.index == nil {
		panic("fetch: repo.Sync.Publish called before Open succeeded")
	}
	order := publishOrder(s.index.Metadata(), s.top)
	for _, p := range order {
		if dir := path.Dir(p); dir != "." {
			if err := s.Root.MkdirAll(filepath.FromSlash(dir), 0o777); err != nil {
				return err
			}
		}
		if err := s.Root.Rename(filepath.FromSlash(path.Join(s.run, p)), filepath.FromSlash(p)); err != nil {
			return err
		}
	}
	s.published = true
	return s.rotate(order)
}

// publishOrder returns the paths of metadata and top in the order they
// are published: metadata in its order, then top from the last to the
// first, each path once, at its last place.
func publishOrder(metadata, top []Entry) []string {
	var order []string
	add := func(p string) {
		order = slices.DeleteFunc(order, func(q string) bool { return q == p })
		order = append(order, p)
	}
	for _, e := range metadata {
		add(e.Path)
	}
	for _, e := range slices.Backward(top) {
		add(e.Path)
	}
	return order
}

// Delete removes the files of the package tree ([Index.InTree]) that no
// package of the published metadata names, and returns how many and
// their bytes. It reads the packages again. Call it after Publish only.
// Hidden files and folders (names that start with ".") are left alone.
// Its memory does not grow with the packages: rarely (about one file in
// 200,000 with 200,000 packages), a file no package names is left too.
func (s *Sync) Delete(ctx context.Context) (files int, bytes int64, err error) {
	named := newNameSet()
	pkgs := s.Packages()
	for e := range pkgs.All() {
		named.Add(e.Path)
	}
	if err := pkgs.Err(); err != nil {
		return 0, 0, err
	}
	for _, e := range s.index.Metadata() {
		named.Add(e.Path)
	}
	for _, e := range s.top {
		named.Add(e.Path)
	}
	var errs []error
	err = dirwalk.Walk(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		switch {
		case strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular() || named.Has(p) || !s.index.InTree(p):
			return nil
		}
		fi, ierr := d.Info()
		if ierr == nil {
			ierr = s.Root.Remove(filepath.FromSlash(p))
		}
		if ierr != nil && !errors.Is(ierr, fs.ErrNotExist) {
			errs = append(errs, ierr)
			return nil
		}
		files++
		bytes += fi.Size()
		return nil
	})
	return files, bytes, errors.Join(append(errs, err)...)
}

// Close removes the staging area of the run, and the staging folder if
// no other run uses it. It releases nothing else: the caller closes Root.
func (s *Sync) Close() error {
	if s.run == "" {
		return nil
	}
	if s.stage != nil {
		s.stage.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	err := s.Root.RemoveAll(filepath.FromSlash(s.run))
	s.Root.Remove(StagingDir) // fails while it holds anything
	s.run = ""
	return err
}

// A Source is how a [Format] reads a repository's top files: each is
// fetched into the staging area, checked against what the Format knows of
// it, and read from there.
type Source struct{ s *Sync }

// URL returns the repository's root.
func (src *Source) URL() *url.URL { return src.s.URL }

// Fetch downloads the top file e (e.Path relative to the repository's
// root; its size and digests when the Format knows them) into the staging
// area, where the Format's Open and the Index read it, and from where
// [Sync.Publish] moves it into place. The bytes are also written to w as
// they arrive, when w is not nil: a Format checks a file while it streams,
// and refuses it with an error of w's Write, which ends the transfer. A
// file that the server does not have gives an error that matches
// [fetch.ErrNotFound]. The Result says which URL served it.
func (src *Source) Fetch(ctx context.Context, e Entry, w io.Writer) (fetch.Result, error) {
	if err := src.s.checkPath(e.Path); err != nil {
		return fetch.Result{}, err
	}
	e.Metadata = true
	res, err := src.s.fetch(ctx, e, w)
	if err != nil {
		return res, err
	}
	if !src.s.staged(e.Path) {
		src.s.top = append(src.s.top, e)
	}
	return res, nil
}

// Published opens the file name (slash-separated, as [Entry.Path]) as the
// mirror has published it, from the last run that completed: a Format
// compares the top file it fetched with it. A mirror without it gives an
// error that matches [fs.ErrNotExist].
func (src *Source) Published(name string) (fs.File, error) {
	if err := src.s.checkPath(name); err != nil {
		return nil, err
	}
	return src.s.Root.FS().Open(name)
}

// Open opens the staged file name (slash-separated, as [Entry.Path]).
func (src *Source) Open(name string) (fs.File, error) { return src.s.stage.FS().Open(name) }

// CheckPath returns an error unless the slash-separated path p, as a
// repository file gives it, stays below the mirror's folder: the rule of
// every path from outside, and no symbolic link in the folder that leads
// out of it. A Format checks the paths of its packages with it as it
// reads them, to refuse the file that names one, with its position.
func (src *Source) CheckPath(p string) error { return src.s.checkPath(p) }

// Verify checks the detached signature that the staged file signature
// makes over the staged file signed, with the Sync's Verifier. Without a
// Verifier it checks nothing, and [Sync.Unverified] names signature.
func (src *Source) Verify(signed, signature string) error {
	v := src.s.Verifier
	if v == nil {
		src.Unverified(signature)
		return nil
	}
	data, err := src.Open(signed)
	if err != nil {
		return err
	}
	defer data.Close()
	sig, err := src.Open(signature)
	if err != nil {
		return err
	}
	defer sig.Close()
	if err := v.Detached(data, sig); err != nil {
		return fmt.Errorf("%s: %w", signature, err)
	}
	return nil
}

// Verifier returns the Sync's Verifier, nil when signatures are mirrored
// unchecked; a Format that reads a clear-signed file calls it itself, and
// [Source.Unverified] when it is nil.
func (src *Source) Verifier() Verifier { return src.s.Verifier }

// Unverified records that the staged signature file name is mirrored
// unchecked; [Sync.Unverified] names it.
func (src *Source) Unverified(name string) {
	src.s.unverified = append(src.s.unverified, name)
}
