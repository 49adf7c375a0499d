package repo

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// readable are the suffixes of the compressed files that Decompress
// reads, the cheapest to read first (Go's xz and bzip2 readers are some
// ten times slower than its gzip and zstd ones); unreadable, those of
// compressed files that repositories list and Decompress cannot read
// (zchunk's .zck among them), which are mirrored all the same.
var (
	readable   = []string{".zst", ".gz", ".xz", ".bz2"}
	unreadable = []string{".lzma", ".lz4", ".lz", ".zck"}
)

// Compression returns the compression suffix of name (".xz"; "" when
// its suffix is none that repositories use) and how costly it is to read
// with Decompress: 0 for none, 1 for the cheapest, and more for the
// slower ones; -1 for one that Decompress cannot read.
func Compression(name string) (suffix string, cost int) {
	ext := path.Ext(name)
	if i := slices.Index(readable, ext); i >= 0 {
		return ext, i + 1
	}
	if slices.Contains(unreadable, ext) {
		return ext, -1
	}
	return "", 0
}

// Decompress returns a reader of the decompressed bytes of r, a file
// whose name (its suffix: .xz, .bz2, .gz, .zst, or none) says how it is
// compressed. Reading more than max decompressed bytes (max < 0: no
// bound) fails with a [*FormatError]: a client gives the bound that the
// top file lists for the uncompressed file (Release's, repomd.xml's
// open-size), so that a small file cannot expand without end. A file that
// does not decompress fails with a [*FormatError] too. Close releases the
// decompressor, not r.
func Decompress(r io.Reader, name string, max int64) (io.ReadCloser, error) {
	if _, ok := r.(io.ByteReader); !ok {
		// The xz reader reads a byte at a time: a file read unbuffered
		// would cost a system call a byte.
		r = bufio.NewReaderSize(r, 64<<10)
	}
	var d io.Reader
	closer := func() {}
	var err error
	switch ext := path.Ext(name); ext {
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
		if slices.Contains(unreadable, ext) {
			return nil, fmt.Errorf("%s: %s compression is not supported", name, ext)
		}
		d = r
	}
	if err != nil {
		return nil, &FormatError{File: name, Err: err}
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
			return 0, &FormatError{File: b.name, Offset: b.read, Err: fmt.Errorf("decompressed to more than the %d bytes that its index gives", b.max)}
		}
		b.left -= int64(n)
	}
	if err != nil && err != io.EOF && b.compressed {
		if _, ok := err.(*FormatError); !ok {
			err = &FormatError{File: b.name, Offset: b.read, Err: err}
		}
	}
	return n, err
}

func (b *bounded) Close() error {
	b.close()
	return nil
}
