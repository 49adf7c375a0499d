package fetch

import (
	"context"
	"fmt"
	"os"
)

// inPlace reports whether the file at req.Path is the file that req
// describes: a regular file (not a symbolic link) of req.Size bytes, when
// the size is known, with every digest of req.Digests. It reads the file once,
// into the sink's hashes, and stops when ctx is done. On success the sink
// holds the file's size and digests; otherwise its hashes are reset and it
// has written nothing.
func (f *Fetcher) inPlace(ctx context.Context, req Request, host string, s *sink) (bool, error) {
	fi := s.found
	if fi == nil || !fi.Mode().IsRegular() || req.hasSize() && fi.Size() != req.Size {
		return false, nil
	}
	// The check holds the slot that the transfer would: hashing files in
	// place is kept within the Limiter, like downloading them (host is
	// that of req.URL).
	release, err := f.limiter.Acquire(ctx, host)
	if err != nil {
		return false, fmt.Errorf("%s: %w", RedactURL(req.URL), err)
	}
	defer release()
	file, err := s.place.openFile(req.Path, os.O_RDONLY, 0)
	if err != nil {
		return false, nil
	}
	defer file.Close()
	bp := f.buffers.Get().(*[]byte)
	defer f.buffers.Put(bp)
	err = s.hashFrom(ctx, file, *bp)
	if err != nil || req.hasSize() && s.written != req.Size || s.verify() != nil {
		for _, h := range s.hashes {
			h.Reset()
		}
		s.written = 0
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, fmt.Errorf("%s: %w", RedactURL(req.URL), ctxErr)
		}
		return false, nil // a file that cannot be read is downloaded again
	}
	return true, nil
}
