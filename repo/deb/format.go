package deb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/repo"
)

// DefaultMaxRelease is the largest InRelease, Release or Release.gpg that
// a Format reads when its MaxRelease is 0. Debian's largest are some
// hundreds of KiB.
const DefaultMaxRelease = 64 << 20

// Format is a Debian archive, or a flat repository, as a [repo.Format]:
// its top files are each distribution's InRelease, Release and
// Release.gpg; its metadata the indexes that Selection chooses (kept
// under by-hash/ too when Release says Acquire-By-Hash); its packages
// the files that those Packages (and, with Source, Sources) name, below
// pool/.
//
// A distribution's InRelease is read when the archive has one, else its
// Release and Release.gpg; with a [repo.Verifier] the signature must
// verify (Release.gpg too when the archive has both), before any index
// is fetched. Release and InRelease, when the archive has both, must say
// the same. A Release past its Valid-Until, or whose Date is older than
// the Date of the one the mirror has published, is refused with a
// [*StaleError] before any index is fetched. The metadata are published by-hash files first, then the
// indexes under their names, then Release.gpg, Release and, last,
// InRelease.
type Format struct {
	// Dists are the distributions, as a sources.list line names them:
	// "bookworm" is the folder dists/bookworm of the archive; a name that
	// ends with "/" is the folder of a flat repository ("./": the
	// archive's root).
	Dists []string
	Selection
	// MaxRelease caps the bytes of each top file; 0 means
	// DefaultMaxRelease.
	MaxRelease int64
	// AllowOlder accepts a Release older than the mirror's: to go back
	// to an earlier snapshot of an archive on purpose.
	AllowOlder bool
}

// A StaleError refuses a distribution's Release for its dates: past its
// Valid-Until (it matches [repo.ErrExpired]), or older than the Release
// that the mirror has published (it matches [repo.ErrOlder]). apt refuses
// an expired Release too; a mirror must not publish again an old,
// replayed signature, nor go back to an older state of the archive (a
// rollback, or an upstream mirror that is behind).
type StaleError struct {
	File string // the InRelease or Release refused
	// Date is the Release's Date.
	Date time.Time
	// ValidUntil is its Valid-Until, and Now the time it was checked at,
	// when it is refused as expired.
	ValidUntil, Now time.Time
	// Published is the Date of the mirror's Release, when it is refused
	// as older.
	Published time.Time
}

func (e *StaleError) Error() string {
	const layout = "2006-01-02 15:04:05 MST"
	if !e.ValidUntil.IsZero() {
		return fmt.Sprintf("%s: expired: valid until %s, now %s (a stale or replayed Release)",
			e.File, e.ValidUntil.UTC().Format(layout), e.Now.UTC().Format(layout))
	}
	return fmt.Sprintf("%s: dated %s, older than the mirror's of %s (a rollback, or an upstream that is behind)",
		e.File, e.Date.UTC().Format(layout), e.Published.UTC().Format(layout))
}

// Is reports that a StaleError matches [repo.ErrExpired] or
// [repo.ErrOlder], as it refuses the Release.
func (e *StaleError) Is(target error) bool {
	if !e.ValidUntil.IsZero() {
		return target == repo.ErrExpired
	}
	return target == repo.ErrOlder
}

// DistDir returns the folder, relative to the archive's root, of the
// distribution name as a sources.list line gives it ("bookworm" is
// "dists/bookworm", a flat repository's "./" is "", "sub/" is "sub"),
// and whether it is a flat repository.
func DistDir(name string) (dir string, flat bool, err error) {
	if strings.HasSuffix(name, "/") {
		dir = strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
		flat = true
	} else {
		dir = "dists/" + name
	}
	if dir == "" {
		return "", true, nil
	}
	if err := relpath.Check(dir); err != nil {
		return "", false, fmt.Errorf("distribution %q: %v", name, err)
	}
	return dir, flat, nil
}

// Open reads each distribution's top files and returns the indexes to
// mirror.
func (f Format) Open(ctx context.Context, src *repo.Source) (repo.Index, error) {
	if len(f.Dists) == 0 {
		return nil, errors.New("a Debian archive needs a distribution (-dist NAME, or -dist ./ for a flat repository)")
	}
	ix := &index{base: src.URL()}
	for _, name := range f.Dists {
		dir, flat, err := DistDir(name)
		if err != nil {
			return nil, err
		}
		rel, err := f.openDist(ctx, src, dir)
		if err != nil {
			return nil, err
		}
		files, err := rel.Select(dir, f.Selection)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, "Release"), err)
		}
		ix.dists = append(ix.dists, dist{dir: dir, flat: flat, rel: rel, files: files})
	}
	return ix, nil
}

// openDist fetches and checks the top files of the distribution at dir,
// and returns its Release.
func (f Format) openDist(ctx context.Context, src *repo.Source, dir string) (*Release, error) {
	max := f.maxRelease()
	top := func(name string) string { return path.Join(dir, name) }
	fetchTop := func(name string) (bool, error) {
		_, err := src.Fetch(ctx, repo.Entry{Path: top(name), Size: -1}, &capWriter{name: top(name), left: max})
		if errors.Is(err, fetch.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	// InRelease first: Sync publishes the top files in the reverse order,
	// InRelease last.
	var text []byte
	file := top("InRelease")
	inRelease, err := fetchTop("InRelease")
	if err != nil {
		return nil, err
	}
	if inRelease {
		if text, err = clearText(src, file); err != nil {
			return nil, err
		}
	}
	release, err := fetchTop("Release")
	if err != nil {
		return nil, err
	}
	if !release && !inRelease {
		return nil, fmt.Errorf("%s: neither InRelease nor Release at %s", dir, mirror.Join(src.URL(), top("")))
	}
	if release {
		signed, err := fetchTop("Release.gpg")
		switch {
		case err != nil:
			return nil, err
		case signed:
			if err := src.Verify(top("Release"), top("Release.gpg")); err != nil {
				return nil, err
			}
		case !inRelease && src.Verifier() != nil:
			return nil, fmt.Errorf("%s: %w: the archive has neither InRelease nor Release.gpg", top("Release"), repo.ErrSignature)
		}
		plain, err := fs.ReadFile(stageFS{src}, top("Release"))
		if err != nil {
			return nil, err
		}
		if !inRelease {
			text, file = plain, top("Release")
		} else if !sameText(plain, text) {
			return nil, fmt.Errorf("%s and InRelease differ: the archive changed during the sync? (try again)", top("Release"))
		}
	}
	rel, err := ParseRelease(bytes.NewReader(text), file)
	if err != nil {
		return nil, err
	}
	return rel, f.checkDates(publishedFS{src}, dir, file, rel)
}

// checkDates refuses rel, read from file, when it is past its
// Valid-Until, or, but with AllowOlder, older than the Release that the
// mirror (the folder mirrored into) has published at dir.
func (f Format) checkDates(mirror fs.FS, dir, file string, rel *Release) error {
	if now := time.Now(); !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return &StaleError{File: file, Date: rel.Dated, ValidUntil: rel.ValidUntil, Now: now}
	}
	if f.AllowOlder || rel.Dated.IsZero() {
		return nil
	}
	if published := publishedDate(mirror, dir, f.maxRelease()); rel.Dated.Before(published) {
		return &StaleError{File: file, Date: rel.Dated, Published: published}
	}
	return nil
}

// Fresh returns a [*StaleError] when inRelease, the InRelease of the
// distribution at dir, is past its Valid-Until or, but with AllowOlder,
// older than the one that mirror (the folder mirrored into) holds; a
// program that chooses among an archive's mirrors (fetch sync
// -mirrorlist) passes over such a one, as behind. It checks no signature;
// a file that is not a clear-signed Release gives a [*repo.FormatError].
func (f Format) Fresh(mirror fs.FS, dir string, inRelease []byte) error {
	file := path.Join(dir, "InRelease")
	b, _ := clearsign.Decode(inRelease)
	if b == nil {
		return &repo.FormatError{File: file, Err: errors.New("not a clear-signed message")}
	}
	rel, err := ParseRelease(bytes.NewReader(b.Plaintext), file)
	if err != nil {
		return err
	}
	return f.checkDates(mirror, dir, file, rel)
}

// publishedDate returns the Date of the Release that mirror holds at dir:
// its InRelease's, else its Release's; zero when it has none, or none
// that can be read (the run then publishes one).
func publishedDate(mirror fs.FS, dir string, max int64) time.Time {
	for _, name := range []string{"InRelease", "Release"} {
		file, err := mirror.Open(path.Join(dir, name))
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(file, max))
		file.Close()
		if err != nil {
			continue
		}
		if b, _ := clearsign.Decode(data); b != nil {
			data = b.Plaintext
		}
		if rel, err := ParseRelease(bytes.NewReader(data), name); err == nil {
			return rel.Dated
		}
	}
	return time.Time{}
}

// publishedFS is the mirror's folder, as the Source has it, as an fs.FS.
type publishedFS struct{ src *repo.Source }

func (p publishedFS) Open(name string) (fs.File, error) { return p.src.Published(name) }

func (f Format) maxRelease() int64 {
	if f.MaxRelease <= 0 {
		return DefaultMaxRelease
	}
	return f.MaxRelease
}

// clearText returns the signed text of the staged clear-signed file name,
// verified by the Source's Verifier; without one, unchecked, and the
// Source told so.
func clearText(src *repo.Source, name string) ([]byte, error) {
	r, err := src.Open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if v := src.Verifier(); v != nil {
		text, err := v.Clearsigned(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return text, nil
	}
	src.Unverified(name)
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	b, _ := clearsign.Decode(data)
	if b == nil || !bytes.HasPrefix(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, &repo.FormatError{File: name, Err: errors.New("not a clear-signed message")}
	}
	return append(b.Plaintext, '\n'), nil
}

// sameText reports whether a Release and the signed text of an InRelease
// say the same: equal but for white space at the ends of lines (which a
// clear signature drops) and blank lines at the end.
func sameText(release, signed []byte) bool {
	norm := func(b []byte) string {
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " \t\r")
		}
		return strings.TrimRight(strings.Join(lines, "\n"), "\n")
	}
	return norm(release) == norm(signed)
}

// stageFS is the Source's staging area as an fs.FS.
type stageFS struct{ src *repo.Source }

func (s stageFS) Open(name string) (fs.File, error) { return s.src.Open(name) }

// capWriter fails once more than left bytes are written: a top file
// larger than a Format reads is refused as it arrives.
type capWriter struct {
	name string
	left int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.left -= int64(len(p))
	if w.left < 0 {
		return 0, &repo.FormatError{File: w.name, Err: errors.New("larger than a Release may be")}
	}
	return len(p), nil
}

// dist is a distribution of an index.
type dist struct {
	dir   string // relative to the archive's root
	flat  bool
	rel   *Release
	files []IndexFile
}

// index is the Index of a Format: the indexes of its distributions.
type index struct {
	base  *url.URL
	dists []dist
}

// Metadata returns the by-hash copies of every index first, then the
// indexes under their names, fetched from by-hash/ too when the archive
// serves it, so that what is fetched is what Release names even when the
// archive publishes anew meanwhile.
func (ix *index) Metadata() []repo.Entry {
	var byHash, named []repo.Entry
	for _, d := range ix.dists {
		for _, f := range d.files {
			e := repo.Entry{Path: f.Path, Size: f.Size, Digests: map[string]string{f.Digest: f.Sum}, Metadata: true}
			if f.ByHash != "" {
				h := e
				h.Path = f.ByHash
				byHash = append(byHash, h)
				e.URL = ix.urlOf(f.ByHash)
			}
			named = append(named, e)
		}
	}
	return append(byHash, named...)
}

func (ix *index) urlOf(p string) string { return mirror.Join(ix.base, p) }

// InTree reports whether p is below pool/, or, in a flat repository,
// whether it is a package file outside dists/.
func (ix *index) InTree(p string) bool {
	if strings.HasPrefix(p, "pool/") {
		return true
	}
	for _, d := range ix.dists {
		if d.flat && !strings.HasPrefix(p, "dists/") && isPackageFile(p) {
			return true
		}
	}
	return false
}

// isPackageFile reports whether p names a binary or source package file.
func isPackageFile(p string) bool {
	name := path.Base(p)
	for _, s := range []string{".deb", ".udeb", ".ddeb", ".dsc", ".diff.gz"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return strings.Contains(name, ".tar.")
}

// Packages reads the packages of every Packages index chosen (and Sources
// with Selection.Source), one variant of each: of those that Release
// lists, the cheapest to read ([repo.Compression]). A package that two indexes name (an
// architecture-all package in binary-amd64 and binary-all, a pool shared
// by two distributions) is given once.
func (ix *index) Packages(stage fs.FS) repo.Packages {
	return repo.NewPackages(func(yield func(repo.Entry) bool) error {
		seen := map[uint64]bool{}
		for _, d := range ix.dists {
			for _, f := range readable(d.files) {
				stop, err := ix.read(stage, d, f, seen, yield)
				if err != nil || stop {
					return err
				}
			}
		}
		return nil
	})
}

// readable returns, for each folder with Packages or Sources in files, the
// one to read.
func readable(files []IndexFile) []IndexFile {
	var out []IndexFile
	for _, kind := range []string{"Packages", "Sources"} {
		var dirs []string
		best := map[string]IndexFile{}
		for _, f := range files {
			if f.Kind != kind {
				continue
			}
			dir := path.Dir(f.Path)
			old, ok := best[dir]
			if !ok {
				dirs = append(dirs, dir)
			}
			if !ok || rank(f.Path) < rank(old.Path) {
				best[dir] = f
			}
		}
		for _, dir := range dirs {
			out = append(out, best[dir])
		}
	}
	return out
}

// rank is the cost of reading p ([repo.Compression]); past every other
// for one that cannot be read.
func rank(p string) int {
	if _, cost := repo.Compression(p); cost >= 0 {
		return cost
	}
	return math.MaxInt
}

// read yields the packages of the index f of d, but those seen before; it
// reports whether yield asked to stop.
func (ix *index) read(stage fs.FS, d dist, f IndexFile, seen map[uint64]bool, yield func(repo.Entry) bool) (bool, error) {
	file, err := stage.Open(f.Path)
	if err != nil {
		return false, err
	}
	defer file.Close()
	// The bound: the size that Release gives for the uncompressed file,
	// else 64 times the compressed one.
	size := int64(-1)
	max := 64*f.Size + 64<<20
	base, _ := splitCompression(f.Path)
	if u, ok := d.rel.File(strings.TrimPrefix(strings.TrimPrefix(base, d.dir), "/")); ok {
		size, max = u.Size, u.Size
	}
	z, err := repo.Decompress(file, f.Path, max)
	if err != nil {
		return false, err
	}
	defer z.Close()
	counted := &countReader{r: z}
	var pr *PackageReader
	if f.Kind == "Sources" {
		pr = NewSources(counted, f.Path)
	} else {
		pr = NewPackages(counted, f.Path)
	}
	for {
		e, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
		h := fnv.New64a()
		io.WriteString(h, e.Path)
		if k := h.Sum64(); !seen[k] {
			seen[k] = true
			if !yield(e) {
				return true, nil
			}
		}
	}
	if size >= 0 && counted.n != size {
		return false, &repo.FormatError{File: f.Path, Err: fmt.Errorf("decompressed to %d bytes; Release gives %d for %s", counted.n, size, base)}
	}
	return false, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
