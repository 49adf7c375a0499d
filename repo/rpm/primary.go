package rpm

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/url"

	"github.com/fetchkit/fetch/repo"
)

// A PackageReader reads the packages of a primary.xml (decompressed) as a
// stream, one <package> element at a time, each decoded into a fresh
// value: none inherits a field of the one before.
type PackageReader struct {
	dec  *xml.Decoder
	file string
	root *url.URL
	line int // of the <package> read last
}

// NewPackageReader returns a PackageReader of r, the decompressed primary
// of the repository at root (an xml:base is resolved against it); file
// names primary in errors.
func NewPackageReader(r io.Reader, file string, root *url.URL) *PackageReader {
	return &PackageReader{dec: xml.NewDecoder(r), file: file, root: root}
}

// Next returns the next package: Path its location href, URL the href
// below its xml:base when it has one, Size its size package=, Digests
// its checksum, Name, Version (epoch:version-release) and Arch. It
// returns io.EOF after the last one, and a [*repo.FormatError] with a
// line for a package that cannot be read, whose href leaves the
// repository, or whose checksum is not one fetch knows.
func (pr *PackageReader) Next() (repo.Entry, error) {
	for {
		tok, err := pr.dec.Token()
		if err == io.EOF {
			return repo.Entry{}, io.EOF
		}
		line, col := pr.dec.InputPos()
		if err != nil {
			return repo.Entry{}, xmlError(pr.file, line, col, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "package" {
			continue
		}
		pr.line = line
		var p packageXML // fresh for each element: no field of the one before
		if err := pr.dec.DecodeElement(&p, &se); err != nil {
			return repo.Entry{}, xmlError(pr.file, line, col, err)
		}
		e, err := entry(p.Location.Href, p.Size.Package, p.Checksum)
		if err != nil {
			return repo.Entry{}, pr.errorf("package %q: %v", p.Name, err)
		}
		if e.URL, err = resolveBase(pr.root, p.Location.Base, e.Path); err != nil {
			return repo.Entry{}, pr.errorf("package %q: %v", p.Name, err)
		}
		e.Name, e.Arch = p.Name, p.Arch
		epoch := p.Version.Epoch
		if epoch == "" {
			epoch = "0"
		}
		e.Version = epoch + ":" + p.Version.Ver + "-" + p.Version.Rel
		return e, nil
	}
}

// errorf returns a FormatError at the package read last.
func (pr *PackageReader) errorf(format string, args ...any) error {
	return &repo.FormatError{File: pr.file, Line: pr.line, Err: fmt.Errorf(format, args...)}
}

// packageXML is what a <package> of primary.xml says that a mirror needs.
type packageXML struct {
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
	} `xml:"version"`
	Checksum checksumXML `xml:"checksum"`
	Size     struct {
		Package string `xml:"package,attr"`
	} `xml:"size"`
	Location locationXML `xml:"location"`
}
