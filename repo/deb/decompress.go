package deb

import (
	"path"
	"slices"
	"strings"
)

// compressions are the suffixes of the indexes that [repo.Decompress] reads, in
// the order an index is read from when Release lists it in several: the
// cheapest to decompress first (Go's xz and bzip2 readers are some ten
// times slower than its gzip and zstd ones).
var compressions = []string{"", ".zst", ".gz", ".xz", ".bz2"}

// otherCompressions are suffixes of compressed indexes that a Release may
// list and [repo.Decompress] cannot read; they are mirrored all the same.
var otherCompressions = []string{".lzma", ".lz4", ".lz"}

// splitCompression returns p without its compression suffix, and the
// suffix ("" for an uncompressed file).
func splitCompression(p string) (base, suffix string) {
	ext := path.Ext(p)
	if ext != "" && (slices.Contains(compressions, ext) || slices.Contains(otherCompressions, ext)) {
		return strings.TrimSuffix(p, ext), ext
	}
	return p, ""
}
