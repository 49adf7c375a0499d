package deb

import (
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

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

// Decompress returns a reader of the decompressed bytes of r, a file
// whose name (its suffix: .xz, .bz2, .gz, .zst, or none) says how it is
// compressed. Reading more than max decompressed bytes (max < 0: no
// bound) fails with a [*repo.FormatError]: a client gives the bound that
// Release lists for the uncompressed file, so that a small file cannot
// expand without end. Close releases the decompressor, not r.
func Decompress(r io.Reader, name string, max int64) (io.ReadCloser, error) {
	var d io.Reader
	closer := func() {}
	var err error
	switch path.Ext(name) {
	case ".xz":
		d, err = xz.NewReader(r)
	case ".bz2":
		d = bzip2.NewReader(r)
	case ".gz":
		var z *gzip.Reader
		z, err = gzip.NewReader(r)
		if err == nil {
			d, closer = z, func() { z.Close() }
		}
	case ".zst":
		var z *zstd.Decoder
		z, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err == nil {
			d, closer = z, z.Close
		}
	default:
		if _, suffix := splitCompression(name); suffix != "" {
			return nil, fmt.Errorf("%s: %s compression is not supported", name, suffix)
		}
		d = r
	}
	if err != nil {
		return nil, &repo.FormatError{File: name, Err: err}
	}
	return &bounded{r: d, name: name, max: max, left: max, compressed: d != r, close: closer}, nil
}

// bounded reads at most max bytes of r, then fails.
type bounded struct {
	r          io.Reader
	name       string
	max, left  int64 // < 0: no bound
	read       int64
	compressed bool // r decompresses: its errors say the file is malformed
	close      func()
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.left >= 0 && int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.left >= 0 {
		if int64(n) > b.left {
			return 0, &repo.FormatError{File: b.name, Offset: b.read, Err: fmt.Errorf("decompressed to more than the %d bytes its Release gives", b.max)}
		}
		b.left -= int64(n)
	}
	if err != nil && err != io.EOF && b.compressed {
		if _, ok := err.(*repo.FormatError); !ok {
			err = &repo.FormatError{File: b.name, Offset: b.read, Err: err}
		}
	}
	return n, err
}

func (b *bounded) Close() error {
	b.close()
	return nil
}
