// Package pulp reads Pulp file repositories: a PULP_MANIFEST whose lines
// are "relative/path,sha256,size", each naming a file below the
// manifest's folder. [Format] is the manifest as a [repo.Format].
package pulp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/lines"
	"github.com/fetchkit/fetch/internal/partname"
	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/repo"
)

// Manifest is the usual name of a Pulp file repository's manifest.
const Manifest = "PULP_MANIFEST"

// DefaultMaxSize is the largest manifest that a Format reads when its
// MaxSize is 0: room for about 400,000 files, and checked in well under a
// second when it never ends.
const DefaultMaxSize = 32 << 20

// MaxLine is the longest line a manifest may have.
const MaxLine = 64 << 10

// MaxBadLines is how many bad lines a manifest may have before it is
// refused at once; one is enough to refuse it at its end.
const MaxBadLines = 20

// Format is the PULP_MANIFEST of a Pulp file repository, as a
// [repo.Format]. Its top file is the manifest, its only metadata; its
// packages are the files the manifest lists, in its order. The manifest
// is checked as it arrives and refused whole, before any file is
// downloaded, when it has a bad line or grows past MaxSize.
type Format struct {
	// Name is the manifest's name in the repository's folder; "" means
	// [Manifest].
	Name string
	// MaxSize caps the manifest's size in bytes; 0 means DefaultMaxSize.
	MaxSize int64
}

// An Entry is one file of a manifest.
type Entry struct {
	Path   string // relative, slash-separated, checked by relpath.Check
	SHA256 string // lower-case hex
	Size   int64
}

// ParseLine parses one line of a PULP_MANIFEST: "relative/path,sha256,size",
// spaces around each field ignored, as Pulp reads it. It reports ok false
// for a blank line or a "#" comment.
func ParseLine(line string) (e Entry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return Entry{}, false, nil
	}
	if n := strings.Count(line, ",") + 1; n != 3 {
		return Entry{}, false, fmt.Errorf("%d fields; want 3: relative/path,sha256,size", n)
	}
	p, rest, _ := strings.Cut(line, ",")
	digest, sizeField, _ := strings.Cut(rest, ",")
	p, digest, sizeField = strings.TrimSpace(p), strings.TrimSpace(digest), strings.TrimSpace(sizeField)
	size, serr := strconv.ParseInt(sizeField, 10, 64)
	sum, hexOK := hexdigest.Lower(digest, 64)
	switch {
	case !hexOK:
		return Entry{}, false, fmt.Errorf("sha256 %q: want 64 hex digits", digest)
	case serr != nil || size < 0:
		return Entry{}, false, fmt.Errorf("size %q: want a number of bytes", sizeField)
	}
	if err := relpath.Check(p); errors.Is(err, partname.ErrReserved) {
		return Entry{}, false, fmt.Errorf("path %q refused: %v", p, err)
	} else if err != nil {
		return Entry{}, false, fmt.Errorf("path %q escapes the directory: %v", p, err)
	}
	return Entry{Path: p, SHA256: sum, Size: size}, true, nil
}

// repoEntry returns e as the repository's package.
func (e Entry) repoEntry() repo.Entry {
	return repo.Entry{Path: e.Path, Size: e.Size, Digests: map[string]string{"sha256": e.SHA256}}
}

func (f Format) name() string {
	if f.Name == "" {
		return Manifest
	}
	return f.Name
}

// Open fetches the manifest through src, checking each line as it
// arrives (its fields, and its path with [repo.Source.CheckPath]). A
// manifest with bad lines is refused: the error joins a
// [*repo.FormatError] for each (up to MaxBadLines), which names the
// manifest's URL and the line, and a last error that says why the
// manifest is refused. An HTML page is refused at its first byte with a
// [*NotManifestError].
func (f Format) Open(ctx context.Context, src *repo.Source) (repo.Index, error) {
	name := f.name()
	u := src.URL().ResolveReference(&url.URL{Path: name}).Redacted()
	max := f.MaxSize
	if max == 0 {
		max = DefaultMaxSize
	}
	c := &check{src: src, file: u, max: max}
	sniff := &sniff{}
	res, err := src.Fetch(ctx, repo.Entry{Path: name, Size: -1, Metadata: true}, io.MultiWriter(sniff, c))
	if err == nil {
		err = c.finish()
	}
	var html *NotManifestError
	switch {
	case errors.As(err, &html):
		html.URL = u
		if res.URL != "" { // the page a redirect led to
			html.URL = fetch.RedactURL(res.URL)
		}
		return nil, html
	case err != nil:
		return nil, errors.Join(append(c.bad, err)...)
	}
	return index{name: name, file: u, files: c.files, bytes: c.bytes}, nil
}

// index is what a checked manifest gives: a [repo.Counted].
type index struct {
	name         string // the manifest's path
	file         string // and its URL, redacted, for errors
	files, bytes int64  // the files it lists, and their bytes
}

func (ix index) Count() (files, bytes int64) { return ix.files, ix.bytes }

func (ix index) Metadata() []repo.Entry { return nil }

func (ix index) InTree(p string) bool { return p != ix.name }

func (ix index) Packages(stage fs.FS) repo.Packages {
	return repo.NewPackages(func(yield func(repo.Entry) bool) error {
		f, err := stage.Open(ix.name)
		if err != nil {
			return err
		}
		defer f.Close()
		var bad error
		err = lines.Scan(f, MaxLine, func(n int, line string) bool {
			e, ok, err := ParseLine(line)
			if err != nil { // checked as it arrived: the file changed since
				bad = &repo.FormatError{File: ix.file, Line: n, Err: err}
				return false
			}
			return !ok || yield(e.repoEntry())
		})
		if bad != nil {
			return bad
		}
		if err != nil {
			return &repo.FormatError{File: ix.file, Err: err}
		}
		return nil
	})
}

// A check checks a manifest line by line as it is written to it, and
// fails as soon as the manifest is refused: more than MaxBadLines bad
// lines, a line longer than MaxLine, or more than max bytes in all.
type check struct {
	src  *repo.Source
	file string // the manifest's URL, redacted
	max  int64

	size int64  // bytes written
	line []byte // the line being written, up to its end
	n    int    // lines seen
	bad  []error

	files, bytes int64 // the files of the good lines, and their bytes
}

func (c *check) Write(p []byte) (int, error) {
	c.size += int64(len(p))
	if c.size > c.max {
		return 0, fmt.Errorf("manifest refused: larger than %d bytes", c.max)
	}
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.line = append(c.line, rest...)
			if len(c.line) > MaxLine {
				return 0, fmt.Errorf("manifest refused: line %d: longer than %d bytes", c.n+1, MaxLine)
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
func (c *check) check() error {
	c.n++
	line := strings.TrimSuffix(string(c.line), "\r")
	c.line = c.line[:0]
	if c.n == 1 {
		line = strings.TrimPrefix(line, "\ufeff")
	}
	if len(line) > MaxLine {
		return fmt.Errorf("manifest refused: line %d: longer than %d bytes", c.n, MaxLine)
	}
	e, ok, err := ParseLine(line)
	if err == nil && ok {
		err = c.src.CheckPath(e.Path)
	}
	if err == nil && ok {
		c.files++
		c.bytes += e.Size
	}
	if err != nil {
		if len(c.bad) == MaxBadLines {
			return fmt.Errorf("manifest refused: more than %d bad lines (the first %d shown above)", MaxBadLines, MaxBadLines)
		}
		c.bad = append(c.bad, &repo.FormatError{File: c.file, Line: c.n, Err: err})
	}
	return nil
}

// finish checks the last line, if it has no line end, and fails if any
// line was bad.
func (c *check) finish() error {
	if len(c.line) > 0 {
		if err := c.check(); err != nil {
			return err
		}
	}
	if n := len(c.bad); n > 0 {
		return fmt.Errorf("manifest refused: %d bad %s", n, plural(n, "line", "lines"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sniff refuses a manifest that starts as an HTML page does: the listing
// of a folder, often what a URL without its PULP_MANIFEST leads to.
type sniff struct{ checked bool }

func (m *sniff) Write(p []byte) (int, error) {
	if !m.checked {
		head := bytes.TrimLeft(bytes.TrimPrefix(p, []byte("\ufeff")), " \t\r\n")
		if len(head) == 0 {
			return len(p), nil
		}
		m.checked = true
		if head[0] == '<' {
			return 0, &NotManifestError{}
		}
	}
	return len(p), nil
}

// A NotManifestError reports that a manifest is an HTML page, such as the
// listing of a folder.
type NotManifestError struct {
	URL string // the page's URL, redacted
}

func (e *NotManifestError) Error() string {
	return fmt.Sprintf("not a manifest but an HTML page; did you mean %s?", Guess(e.URL))
}

// Guess returns the URL of the PULP_MANIFEST that the URL of a page, such
// as a folder's listing, probably meant.
func Guess(page string) string {
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
	u.Path += Manifest
	u.RawPath = ""
	return u.Redacted()
}
