package deb

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/repo"
)

// A PackageReader reads the packages that a Packages or Sources index
// names, one at a time, as [repo.Entry]s: it keeps one paragraph, never
// the index.
type PackageReader struct {
	cr      *Reader
	sources bool
	queue   []repo.Entry // the files of a Sources paragraph not yet returned
}

// NewPackages returns a reader of the packages of a Packages index
// (decompressed), that errors call file. Each package's Filename,
// relative to the archive's root, is checked as any path from outside (a
// flat repository's leading "./" taken off); its Size and SHA256 (SHA512
// when the index has only that) are what the download is checked
// against.
func NewPackages(r io.Reader, file string) *PackageReader {
	return &PackageReader{cr: NewReader(r, file)}
}

// NewSources returns a reader of the files of the source packages of a
// Sources index (decompressed): each file of Checksums-Sha256 (or
// Checksums-Sha512), below the paragraph's Directory.
func NewSources(r io.Reader, file string) *PackageReader {
	return &PackageReader{cr: NewReader(r, file), sources: true}
}

// Next returns the next package, or io.EOF after the last one. A package
// without Filename, Size or a SHA256 or SHA512, or whose path leaves the
// archive, gives a [*repo.FormatError] at its line.
func (pr *PackageReader) Next() (repo.Entry, error) {
	for len(pr.queue) == 0 {
		p, err := pr.cr.Next()
		if err != nil {
			return repo.Entry{}, err
		}
		if pr.sources {
			pr.queue, err = pr.sourceFiles(p)
		} else {
			var e repo.Entry
			e, err = pr.binary(p)
			pr.queue = append(pr.queue, e)
		}
		if err != nil {
			pr.queue = nil
			pr.cr.err = err
			return repo.Entry{}, err
		}
	}
	e := pr.queue[0]
	pr.queue = pr.queue[1:]
	return e, nil
}

// binary reads the package of a Packages paragraph.
func (pr *PackageReader) binary(p *Paragraph) (repo.Entry, error) {
	file := pr.cr.File
	e := repo.Entry{Name: p.Value("Package"), Version: p.Value("Version"), Arch: p.Value("Architecture")}
	name, ok := p.Field("Filename")
	if !ok {
		return e, &repo.FormatError{File: file, Line: p.Line, Err: fmt.Errorf("package %s has no Filename", e.Name)}
	}
	var err error
	if e.Path, err = packagePath(name.Value); err != nil {
		return e, fieldError(file, name, "%q: %v", name.Value, err)
	}
	size, ok := p.Field("Size")
	if !ok {
		return e, &repo.FormatError{File: file, Line: p.Line, Err: fmt.Errorf("package %s has no Size", e.Name)}
	}
	if e.Size, err = strconv.ParseInt(size.Value, 10, 64); err != nil || e.Size < 0 {
		return e, fieldError(file, size, "%q is not a size", size.Value)
	}
	for _, h := range []struct{ field, digest string }{{"SHA256", "sha256"}, {"SHA512", "sha512"}} {
		if f, ok := p.Field(h.field); ok {
			sum := strings.ToLower(f.Value)
			if !isHex(sum) {
				return e, fieldError(file, f, "%q is not hex", f.Value)
			}
			e.Digests = map[string]string{h.digest: sum}
			return e, nil
		}
	}
	return e, &repo.FormatError{File: file, Line: p.Line, Err: fmt.Errorf("package %s has no SHA256 nor SHA512", e.Name)}
}

// sourceFiles reads the files of a Sources paragraph.
func (pr *PackageReader) sourceFiles(p *Paragraph) ([]repo.Entry, error) {
	file := pr.cr.File
	name, version := p.Value("Package"), p.Value("Version")
	dirField, ok := p.Field("Directory")
	if !ok {
		return nil, &repo.FormatError{File: file, Line: p.Line, Err: fmt.Errorf("source %s has no Directory", name)}
	}
	for _, h := range []struct{ field, digest string }{{"Checksums-Sha256", "sha256"}, {"Checksums-Sha512", "sha512"}} {
		f, ok := p.Field(h.field)
		if !ok {
			continue
		}
		lines, err := checksumLines(file, f)
		if err != nil {
			return nil, err
		}
		var out []repo.Entry
		for _, l := range lines {
			at, sum, size := l.at, l.sum, l.size
			if strings.Contains(l.name, "/") {
				return nil, fieldError(file, at, "file name %q has a slash", l.name)
			}
			full := dirField.Value + "/" + l.name // not path.Join, which would hide a ".."
			p, err := packagePath(full)
			if err != nil {
				return nil, fieldError(file, at, "%q: %v", full, err)
			}
			out = append(out, repo.Entry{Path: p, Size: size, Digests: map[string]string{h.digest: sum}, Name: name, Version: version, Arch: "source"})
		}
		if len(out) == 0 {
			return nil, fieldError(file, f, "no file")
		}
		return out, nil
	}
	return nil, &repo.FormatError{File: file, Line: p.Line, Err: fmt.Errorf("source %s has no Checksums-Sha256 nor Checksums-Sha512", name)}
}

// packagePath returns the path of a package as an index gives it, checked
// as any path from outside: a flat repository's "./" taken off first.
func packagePath(p string) (string, error) {
	p = strings.TrimPrefix(p, "./")
	if err := relpath.Check(p); err != nil {
		return "", err
	}
	return p, nil
}
