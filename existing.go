package fetch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
)

// inPlace reports whether the file at req.Path is the file that req
// describes: a regular file (not a symbolic link) of req.Size bytes, when
// the size is known, with every digest of req.Digests. A file whose record
// (record.go) still describes it is trusted without a read, unless
// req.HashExisting; any other is read once, into the sink's hashes, until
// ctx is done, and recorded when it matches. It returns the file's hex
// digests, nil when it is not in place; the sink then has written nothing.
func (f *Fetcher) inPlace(ctx context.Context, req Request, host string, s *sink, x *existing) (digests map[string]string, trusted bool, err error) {
	fi := s.found
	if fi == nil || !fi.Mode().IsRegular() || req.hasSize() && fi.Size() != req.Size {
		return nil, false, nil
	}
	// The check holds the slot that the transfer would: hashing files in
	// place is kept within the Limiter, like downloading them (host is
	// that of req.URL).
	slots, err := f.limiter.acquire(ctx, host)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", RedactURL(req.URL), err)
	}
	defer f.limiter.release(host, slots)
	if x == nil {
		file, err := s.place.openFile(req.Path, os.O_RDONLY, 0)
		if err != nil {
			return nil, false, nil
		}
		defer file.Close()
		fi, err := file.Stat()
		if err != nil || !fi.Mode().IsRegular() || req.hasSize() && fi.Size() != req.Size {
			return nil, false, nil
		}
		x = &existing{fd: -1, file: file, fi: fi}
	}
	before := x.fi
	if !req.HashExisting {
		if digests, ok := trustedRecord(x.descriptor(), req.Path, before, s.want); ok {
			s.written = before.Size()
			return digests, true, nil
		}
	}
	file := x.open()
	if f.onRead != nil {
		f.onRead(req.Path)
	}
	bp := f.buffers.Get().(*[]byte)
	defer f.buffers.Put(bp)
	err = s.hashFrom(ctx, file, *bp)
	if err != nil || req.hasSize() && s.written != req.Size || s.verify() != nil {
		for _, h := range s.hashes {
			h.Reset()
		}
		s.written = 0
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, false, fmt.Errorf("%s: %w", RedactURL(req.URL), ctxErr)
		}
		return nil, false, nil // a file that cannot be read is downloaded again
	}
	digests = s.digests()
	if after, err := file.Stat(); err == nil && sameVersion(before, after) {
		writeRecord(file, newRecord(req.Path, before, digests).marshal())
	}
	return digests, false, nil
}

// sameVersion reports whether a and b, two looks at one file, saw the
// same bytes as far as a stat can tell: the same size and modification
// time.
func sameVersion(a, b os.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// existing is a file in place, opened for its check: by a descriptor of
// its own (fd, by rootDir.openExisting) until it is read, or as a File.
type existing struct {
	fd   int // -1: file holds it
	file *os.File
	path string
	fi   fs.FileInfo // of the open file, a regular file
	st   statInfo    // fi, when the open's own fstat gave it
}

// descriptor returns the descriptor of x.
func (x *existing) descriptor() uintptr {
	if x.file != nil {
		return x.file.Fd()
	}
	return uintptr(x.fd)
}

// open returns x as a File, to be read.
func (x *existing) open() *os.File {
	if x.file == nil {
		x.file, x.fd = os.NewFile(uintptr(x.fd), x.path), -1
	}
	return x.file
}

// close closes x; x may be nil.
func (x *existing) close() {
	switch {
	case x == nil:
	case x.file != nil:
		x.file.Close()
	case x.fd >= 0:
		closeFd(x.fd)
	}
}

// info returns the FileInfo of x, nil when x is nil.
func (x *existing) info() fs.FileInfo {
	if x == nil {
		return nil
	}
	return x.fi
}
