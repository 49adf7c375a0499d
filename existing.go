package fetch

import (
	"context"
	"fmt"
	"os"
)

// inPlace reports whether the file at req.Path is the file that req
// describes: a regular file (not a symbolic link) of req.Size bytes, when
// the size is known, with every digest of req.Digests. A file whose record
// (record.go) still describes it is trusted without a read, unless
// req.HashExisting; any other is read once, into the sink's hashes, until
// ctx is done, and recorded when it matches. It returns the file's hex
// digests, nil when it is not in place; the sink then has written nothing.
func (f *Fetcher) inPlace(ctx context.Context, req Request, host string, s *sink) (digests map[string]string, trusted bool, err error) {
	fi := s.found
	if fi == nil || !fi.Mode().IsRegular() || req.hasSize() && fi.Size() != req.Size {
		return nil, false, nil
	}
	// The check holds the slot that the transfer would: hashing files in
	// place is kept within the Limiter, like downloading them (host is
	// that of req.URL).
	release, err := f.limiter.Acquire(ctx, host)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", RedactURL(req.URL), err)
	}
	defer release()
	file, err := s.place.openFile(req.Path, os.O_RDONLY, 0)
	if err != nil {
		return nil, false, nil
	}
	defer file.Close()
	before, err := file.Stat()
	if err != nil || !before.Mode().IsRegular() || req.hasSize() && before.Size() != req.Size {
		return nil, false, nil
	}
	if !req.HashExisting {
		if digests, ok := recorded(file).trusts(req.Path, before, s.want); ok {
			s.written = before.Size()
			return digests, true, nil
		}
	}
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
