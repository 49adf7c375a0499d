package mirror

import (
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"

	"github.com/fetchkit/fetch"
)

// Match says which version of a [File] some bytes are.
type Match struct {
	// Alternate is 0 when the bytes are the file as the document describes
	// it, n when they are its nth alternate ([File.Alternates][n-1]).
	Alternate int
	// Digests are the hex digests of the bytes, of every algorithm that
	// the file or an alternate names.
	Digests map[string]string
}

// Digester is an io.Writer that hashes the bytes written to it with
// every algorithm that a [File] or its alternates name, to tell by
// [Digester.Match] which of them the bytes are. A Digester is not safe
// for concurrent use.
type Digester struct {
	file   *File
	hashes map[string]hash.Hash
	size   int64
}

// Digester returns a Digester for f.
func (f *File) Digester() *Digester {
	d := &Digester{file: f, hashes: map[string]hash.Hash{}}
	for _, v := range f.versions() {
		for alg := range v.Digests {
			if d.hashes[alg] == nil {
				d.hashes[alg] = fetch.NewHash(alg)
			}
		}
	}
	return d
}

// versions returns the file as the document describes it, then its
// alternates.
func (f *File) versions() []Alternate {
	return append([]Alternate{{Size: f.Size, Digests: f.Digests}}, f.Alternates...)
}

// Write hashes p; it never fails.
func (d *Digester) Write(p []byte) (int, error) {
	for _, h := range d.hashes {
		h.Write(p)
	}
	d.size += int64(len(p))
	return len(p), nil
}

// Match returns which version of the file the bytes written are: the
// first, the file itself before its alternates, whose size (when given)
// and every digest are those of the bytes. This accepts what librepo
// accepts for repomd.xml (the hashes of the file or of any alternate),
// but checks every hash a version gives, not only the strongest. A file
// that names no digest at all matches any bytes of its size. Bytes that
// match no version give a [*MismatchError].
func (d *Digester) Match() (Match, error) {
	got := make(map[string]string, len(d.hashes))
	for alg, h := range d.hashes {
		got[alg] = hex.EncodeToString(h.Sum(nil))
	}
	versions := d.file.versions()
	named := false
	for i, v := range versions {
		named = named || len(v.Digests) > 0
		if len(v.Digests) == 0 || (v.Size > 0 && v.Size != d.size) {
			continue
		}
		if matches(v.Digests, got) {
			return Match{Alternate: i, Digests: got}, nil
		}
	}
	if !named && (d.file.Size == 0 || d.file.Size == d.size) {
		return Match{Digests: got}, nil
	}
	return Match{}, &MismatchError{Name: d.file.Name, Size: d.size, Digests: got, Versions: len(versions)}
}

// matches reports whether every digest of want is in got, equal.
func matches(want, got map[string]string) bool {
	for alg, w := range want {
		if got[alg] != w {
			return false
		}
	}
	return true
}

// MismatchError reports bytes that are none of the versions of a file
// that a Metalink describes: a mirror that serves another repository, or
// one too far behind.
type MismatchError struct {
	Name     string            // the file's name in the document
	Size     int64             // of the bytes
	Digests  map[string]string // of the bytes
	Versions int               // the file and its alternates
}

func (e *MismatchError) Error() string {
	what := fmt.Sprintf("%d bytes", e.Size)
	algs := slices.Sorted(maps.Keys(e.Digests))
	if _, ok := e.Digests["sha256"]; ok {
		algs = []string{"sha256"}
	}
	if len(algs) > 0 {
		what += fmt.Sprintf(" of %s %s", algs[0], e.Digests[algs[0]])
	}
	others := ""
	switch {
	case e.Versions == 2:
		others = " nor its alternate"
	case e.Versions > 2:
		others = fmt.Sprintf(" nor any of its %d alternates", e.Versions-1)
	}
	return fmt.Sprintf("%s: %s, matching neither the file the Metalink describes%s", e.Name, what, others)
}
