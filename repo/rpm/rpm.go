// Package rpm reads rpm-md repositories, those that dnf and yum read:
// repodata/repomd.xml, which lists the data files (primary, filelists,
// other, updateinfo, comps, modules, in whatever compression) with their
// sizes and checksums, and primary, which lists the packages.
//
// [Format] is the repository as a [repo.Format]; [ReadRepomd] and
// [PackageReader] are its parsers, which read an [io.Reader] and never
// touch the network. primary is read as a stream, one <package> at a
// time, so that a repository of any size takes the same memory.
package rpm

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/repo"
)

// The files of an rpm-md repository's top, relative to its root.
const (
	RepomdPath    = "repodata/repomd.xml"
	SignaturePath = "repodata/repomd.xml.asc"
	KeyPath       = "repodata/repomd.xml.key"
)

// MaxRepomd caps the size of repomd.xml and of its signature and key: a
// server cannot make a sync hold more in memory.
const MaxRepomd = 16 << 20

// Format is an rpm-md repository as a [repo.Format]. Open reads
// repodata/repomd.xml, then repomd.xml.asc and repomd.xml.key when the
// server has them; with a [repo.Verifier], repomd.xml.asc must be there
// and verify. The metadata are the data files that repomd.xml lists; the
// packages, those of its primary. They are published as dnf needs: the
// data files (whose names carry their checksums), then the key and the
// signature, then repomd.xml.
//
// The zero Format is ready to use.
type Format struct{}

// Open implements [repo.Format].
func (Format) Open(ctx context.Context, src *repo.Source) (repo.Index, error) {
	top := repo.Entry{Path: RepomdPath, Size: -1}
	file := mirror.Join(src.URL(), RepomdPath)
	if _, err := src.Fetch(ctx, top, &capped{max: MaxRepomd, what: file}); err != nil {
		return nil, err
	}
	signed := false
	for _, name := range []string{SignaturePath, KeyPath} {
		_, err := src.Fetch(ctx, repo.Entry{Path: name, Size: -1}, &capped{max: MaxRepomd, what: name})
		switch {
		case err == nil:
			signed = signed || name == SignaturePath
		case !errors.Is(err, fetch.ErrNotFound):
			return nil, err
		}
	}
	switch {
	case signed:
		if err := src.Verify(RepomdPath, SignaturePath); err != nil {
			return nil, err
		}
	case src.Verifier() != nil:
		return nil, fmt.Errorf("%s: %w: the repository has no %s", file, repo.ErrSignature, SignaturePath)
	}
	f, err := src.Open(RepomdPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	md, err := ReadRepomd(f, file)
	if err != nil {
		return nil, err
	}
	ix := &index{src: src, file: file}
	for _, d := range md.Data {
		if err := src.CheckPath(d.Path); err != nil {
			return nil, &repo.FormatError{File: file, Line: d.Line, Err: err}
		}
		if d.URL, err = resolveBase(src.URL(), d.Base, d.Path); err != nil {
			return nil, &repo.FormatError{File: file, Line: d.Line, Err: err}
		}
		ix.data = append(ix.data, d.Entry)
		if d.Type == "primary" {
			ix.primary = d
		}
	}
	if ix.primary.Path == "" {
		return nil, &repo.FormatError{File: file, Err: errors.New(`no <data type="primary">`)}
	}
	return ix, nil
}

// resolveBase returns the URL that an xml:base makes of href: "" when
// there is no base, so that the file comes from below the repository's
// URL; the base is resolved against the repository's URL.
func resolveBase(root *url.URL, base, href string) (string, error) {
	if base == "" {
		return "", nil
	}
	u, err := root.Parse(base)
	if err != nil {
		return "", fmt.Errorf("xml:base %q: %v", base, err)
	}
	switch u.Scheme {
	case "http", "https", "ftp", "ftps", "file":
	default:
		return "", fmt.Errorf("xml:base %q: not a URL fetch can download from", base)
	}
	return mirror.Join(u, href), nil
}

// index is what a repomd.xml gives.
type index struct {
	src     *repo.Source
	file    string // repomd.xml's URL, for errors
	data    []repo.Entry
	primary Data
}

func (ix *index) Metadata() []repo.Entry { return ix.data }

// InTree reports whether p is a package file: an .rpm outside repodata/.
func (ix *index) InTree(p string) bool {
	return strings.HasSuffix(p, ".rpm") && !strings.HasPrefix(p, "repodata/")
}

func (ix *index) Packages(stage fs.FS) repo.Packages {
	return repo.NewPackages(func(yield func(repo.Entry) bool) error {
		f, err := stage.Open(ix.primary.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		d, err := repo.Decompress(f, ix.primary.Path, ix.primary.OpenSize)
		if err != nil {
			return err
		}
		defer d.Close()
		pr := NewPackageReader(d, ix.primary.Path, ix.src.URL())
		for {
			e, err := pr.Next()
			if err == io.EOF {
				return nil
			}
			if err == nil {
				if cerr := ix.src.CheckPath(e.Path); cerr != nil {
					err = pr.errorf("%v", cerr)
				}
			}
			if err != nil {
				return err
			}
			if !yield(e) {
				return nil
			}
		}
	})
}

// A capped writer fails once more than max bytes were written to it: the
// bound of a file whose size nothing gives.
type capped struct {
	max, n int64
	what   string
}

func (c *capped) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n > c.max {
		return 0, fmt.Errorf("%s: larger than %d bytes", c.what, c.max)
	}
	return len(p), nil
}

// Data is one data file that repomd.xml lists.
type Data struct {
	repo.Entry        // Path is its location href; Size -1 when not given
	Type       string // primary, filelists, other, updateinfo, group, modules, primary_zck...
	Base       string // its location's xml:base, "" for none
	OpenSize   int64  // the decompressed size; -1 when not given
	Line       int    // of its <data> in repomd.xml
}

// Repomd is what repomd.xml says.
type Repomd struct {
	Revision string
	Data     []Data
}

// ReadRepomd reads repomd.xml from r; file names it in errors, each a
// [*repo.FormatError] with a line.
func ReadRepomd(r io.Reader, file string) (*Repomd, error) {
	dec := xml.NewDecoder(r)
	md := &Repomd{}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		line, col := dec.InputPos()
		if err != nil {
			return nil, xmlError(file, line, col, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "revision":
			if err := dec.DecodeElement(&md.Revision, &se); err != nil {
				return nil, xmlError(file, line, col, err)
			}
		case "data":
			var x dataXML // fresh for each element: no field of the one before
			if err := dec.DecodeElement(&x, &se); err != nil {
				return nil, xmlError(file, line, col, err)
			}
			d, err := x.data()
			if err != nil {
				return nil, &repo.FormatError{File: file, Line: line, Err: err}
			}
			if seen[d.Path] {
				return nil, &repo.FormatError{File: file, Line: line, Err: fmt.Errorf("%s listed twice", d.Path)}
			}
			seen[d.Path] = true
			d.Line = line
			md.Data = append(md.Data, d)
		}
	}
	if len(md.Data) == 0 {
		return nil, &repo.FormatError{File: file, Err: errors.New("no <data> element: not a repomd.xml")}
	}
	return md, nil
}

// dataXML is a <data> element of repomd.xml.
type dataXML struct {
	Type     string      `xml:"type,attr"`
	Checksum checksumXML `xml:"checksum"`
	Location locationXML `xml:"location"`
	Size     string      `xml:"size"`
	OpenSize string      `xml:"open-size"`
}

type checksumXML struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

// locationXML is a <location>; encoding/xml names the "xml:" prefix of
// xml:base by its namespace.
type locationXML struct {
	Href string `xml:"href,attr"`
	Base string `xml:"http://www.w3.org/XML/1998/namespace base,attr"`
}

func (x *dataXML) data() (Data, error) {
	d := Data{Type: x.Type, Base: x.Location.Base}
	var err error
	if d.Entry, err = entry(x.Location.Href, x.Size, x.Checksum); err != nil {
		return Data{}, fmt.Errorf("data %q: %v", x.Type, err)
	}
	d.Metadata = true
	d.OpenSize = -1
	if x.OpenSize != "" {
		if d.OpenSize, err = strconv.ParseInt(strings.TrimSpace(x.OpenSize), 10, 64); err != nil || d.OpenSize < 0 {
			return Data{}, fmt.Errorf("data %q: open-size %q: want a number of bytes", x.Type, x.OpenSize)
		}
	}
	return d, nil
}

// entry returns the Entry of a file at href, of size (a number of bytes,
// or "" for unknown) and checksum: the checks that repomd.xml's data and
// primary's packages share.
func entry(href, size string, sum checksumXML) (repo.Entry, error) {
	if err := relpath.Check(href); err != nil {
		return repo.Entry{}, fmt.Errorf("location href %q: %v", href, err)
	}
	e := repo.Entry{Path: href, Size: -1}
	if size != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(size), 10, 64)
		if err != nil || n < 0 {
			return repo.Entry{}, fmt.Errorf("size %q: want a number of bytes", size)
		}
		e.Size = n
	}
	alg := strings.ToLower(sum.Type)
	if alg == "sha" { // yum's old name of sha1
		alg = "sha1"
	}
	hex := strings.ToLower(strings.TrimSpace(sum.Value))
	if n := fetch.DigestSize(alg); n == 0 || !hexdigest.Valid(hex, 2*n) {
		return repo.Entry{}, fmt.Errorf("checksum type %q %q: want the hex digest of md5, sha1, sha224, sha256, sha384 or sha512", sum.Type, sum.Value)
	}
	e.Digests = map[string]string{alg: hex}
	return e, nil
}

// xmlError returns err, an error of the XML decoder at line and col of
// file, as a FormatError: that of the decompression beneath, if it is one.
func xmlError(file string, line, col int, err error) error {
	var fe *repo.FormatError
	if errors.As(err, &fe) {
		return fe
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		line, col = se.Line, 0
		err = errors.New(se.Msg)
	}
	return &repo.FormatError{File: file, Line: line, Column: col, Err: err}
}
