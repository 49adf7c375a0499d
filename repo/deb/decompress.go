package deb

import (
	"io"
	"path"
	"strings"

	"github.com/fetchkit/fetch/repo"
)

// compressions are the suffixes of the compressed indexes that Decompress
// reads, in the order an index is read from when Release lists several:
// the order of apt's Acquire::CompressionTypes::Order, the uncompressed
// file last.
var compressions = []string{".xz", ".bz2", ".gz", ".zst", ""}

// otherCompressions are suffixes of compressed indexes that a Release may
// list and Decompress cannot read; they are mirrored all the same.
var otherCompressions = []string{".lzma", ".lz4", ".lz"}

// splitCompression returns p without its compression suffix, and the
// suffix ("" for an uncompressed file).
func splitCompression(p string) (base, suffix string) {
	ext := path.Ext(p)
	for _, c := range append(compressions[:len(compressions)-1:len(compressions)-1], otherCompressions...) {
		if ext == c {
			return strings.TrimSuffix(p, ext), ext
		}
	}
	return p, ""
}

// Decompress is [repo.Decompress]: the bound is the size that Release
// lists for the uncompressed file.
func Decompress(r io.Reader, name string, max int64) (io.ReadCloser, error) {
	return repo.Decompress(r, name, max)
}
