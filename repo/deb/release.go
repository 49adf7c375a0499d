package deb

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/fetchkit/fetch/repo"
)

// hashes are the checksum sections of a Release file, strongest last, and
// the names of [fetch.Request.Digests] and of by-hash folders they go by.
var hashes = []struct{ section, digest, byHash string }{
	{"MD5Sum", "md5", "MD5Sum"},
	{"SHA1", "sha1", "SHA1"},
	{"SHA256", "sha256", "SHA256"},
	{"SHA512", "sha512", "SHA512"},
}

// A Release is what a distribution's Release (or InRelease) file says.
type Release struct {
	Origin, Label, Suite, Codename, Version, Date string
	// Dated and ValidUntil are the times of the fields Date and
	// Valid-Until; zero when the Release has none.
	Dated, ValidUntil         time.Time
	Components, Architectures []string
	// AcquireByHash is true when the archive serves its indexes under
	// by-hash/ too ("Acquire-By-Hash: yes"), where a client fetches them.
	AcquireByHash bool
	// Files are the files that the checksum sections list, in the order
	// of their first mention, with their paths relative to the
	// distribution's folder and the digests of every section that names
	// them.
	Files []ReleaseFile
	index map[string]int
}

// A ReleaseFile is a file that a Release lists.
type ReleaseFile struct {
	Path    string // relative to the distribution's folder
	Size    int64
	Digests map[string]string // by the names of [fetch.Request.Digests]
	Line    int               // where the Release first lists it
}

// File returns the file at path (relative to the distribution's folder),
// and whether the Release lists it.
func (r *Release) File(path string) (ReleaseFile, bool) {
	i, ok := r.index[path]
	if !ok {
		return ReleaseFile{}, false
	}
	return r.Files[i], true
}

// ParseRelease reads a Release file, or the signed text of an InRelease,
// that errors call file. Every path it lists is checked as any path from
// outside; a file listed with two sizes, a section with a malformed line,
// or a Release that gives no SHA256 nor SHA512 for a file it lists (apt
// refuses such a file too) gives a [*repo.FormatError].
func ParseRelease(r io.Reader, file string) (*Release, error) {
	cr := NewReader(r, file)
	p, err := cr.Next()
	if err == io.EOF {
		return nil, &repo.FormatError{File: file, Err: fmt.Errorf("empty Release")}
	}
	if err != nil {
		return nil, err
	}
	if more, err := cr.Next(); err != io.EOF {
		if err == nil {
			err = &repo.FormatError{File: file, Line: more.Line, Err: fmt.Errorf("more than one paragraph")}
		}
		return nil, err
	}
	rel := &Release{
		Origin:        p.Value("Origin"),
		Label:         p.Value("Label"),
		Suite:         p.Value("Suite"),
		Codename:      p.Value("Codename"),
		Version:       p.Value("Version"),
		Date:          p.Value("Date"),
		Components:    strings.Fields(p.Value("Components")),
		Architectures: strings.Fields(p.Value("Architectures")),
		AcquireByHash: strings.EqualFold(p.Value("Acquire-By-Hash"), "yes"),
		index:         map[string]int{},
	}
	for _, d := range []struct {
		field string
		t     *time.Time
	}{{"Date", &rel.Dated}, {"Valid-Until", &rel.ValidUntil}} {
		f, ok := p.Field(d.field)
		if !ok {
			continue
		}
		if *d.t, err = parseDate(f.Value); err != nil {
			return nil, fieldError(file, f, "%v", err)
		}
	}
	for _, h := range hashes {
		f, ok := p.Field(h.section)
		if !ok {
			continue
		}
		lines, err := checksumLines(file, f)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			at, sum, size, path := l.at, l.sum, l.size, l.name
			if err := relpath.Check(path); err != nil {
				return nil, fieldError(file, at, "path %q: %v", path, err)
			}
			j, seen := rel.index[path]
			if !seen {
				j = len(rel.Files)
				rel.index[path] = j
				rel.Files = append(rel.Files, ReleaseFile{Path: path, Size: size, Digests: map[string]string{}, Line: at.Line})
			}
			rf := &rel.Files[j]
			if rf.Size != size {
				return nil, fieldError(file, at, "%s has size %d here, %d on line %d", path, size, rf.Size, rf.Line)
			}
			if old, dup := rf.Digests[h.digest]; dup && old != sum {
				return nil, fieldError(file, at, "%s listed twice with different digests", path)
			}
			rf.Digests[h.digest] = sum
		}
	}
	for _, f := range rel.Files {
		if f.Digests["sha256"] == "" && f.Digests["sha512"] == "" {
			return nil, &repo.FormatError{File: file, Line: f.Line, Err: fmt.Errorf("%s has no SHA256 nor SHA512 digest", f.Path)}
		}
	}
	return rel, nil
}

// dateLayouts are the forms of a Release's dates: RFC 1123, with the day
// in one or two digits, in UTC by its name or by a numeric offset.
var dateLayouts = []string{"Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST"}

// parseDate returns the time of a Release's Date or Valid-Until. A zone
// named otherwise than UTC or GMT is refused, as apt refuses it: Go would
// take it for UTC.
func parseDate(v string) (time.Time, error) {
	for i, layout := range dateLayouts {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if zone, _ := t.Zone(); i == 1 && zone != "UTC" && zone != "GMT" {
			return time.Time{}, fmt.Errorf("date %q: a zone other than UTC", v)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date %q is not as RFC 1123 writes it", v)
}

// strongest returns the digest that a file is checked against and fetched
// by hash with, as apt does: SHA512 when the Release gives it, else SHA256.
func strongest(f ReleaseFile) (digest, byHash, sum string) {
	for i := len(hashes) - 1; i >= 0; i-- {
		if s := f.Digests[hashes[i].digest]; s != "" {
			return hashes[i].digest, hashes[i].byHash, s
		}
	}
	return "", "", ""
}

// A checksumLine is a line of a checksum field (Release's SHA256,
// Sources' Checksums-Sha256): "digest size name".
type checksumLine struct {
	at   Field // the line, for errors
	sum  string
	size int64
	name string
}

// checksumLines returns the lines of the checksum field f of file.
func checksumLines(file string, f Field) ([]checksumLine, error) {
	var out []checksumLine
	for i, line := range strings.Split(f.Value, "\n") {
		if line == "" {
			continue
		}
		at := Field{Name: f.Name, Line: f.Line + i}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			return nil, fieldError(file, at, "%q is not: digest size name", line)
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fieldError(file, at, "size %q is not a number", parts[1])
		}
		sum := strings.ToLower(parts[0])
		if !isHex(sum) {
			return nil, fieldError(file, at, "digest %q is not hex", parts[0])
		}
		out = append(out, checksumLine{at: at, sum: sum, size: size, name: parts[2]})
	}
	return out, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
