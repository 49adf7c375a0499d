package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// OpenReaderAt opens the file of size bytes in r, last modified at
// modTime, as a Protocol's Open answers req: it is the common case of a
// Protocol whose bytes are at hand. It follows the contract of Protocol:
// the body starts at req.Offset, or at 0 when req.Validator no longer
// matches modTime or the offset is past the end; it ends after req.Length
// bytes when that is set; [Response.Size] is size; the Header holds
// Content-Length (the length of the body), Accept-Ranges and, unless
// modTime is zero, Last-Modified, the validator of a later resume. The body
// stops with ctx's error when ctx is done. Closing it does not close r.
func OpenReaderAt(ctx context.Context, req *OpenRequest, r io.ReaderAt, size int64, modTime time.Time) (*Response, io.ReadCloser, error) {
	resp, body := openReaderAt(ctx, req, r, size, modTime, nil)
	return resp, body, nil
}

// openReaderAt is OpenReaderAt with the closer of the body's source.
func openReaderAt(ctx context.Context, req *OpenRequest, r io.ReaderAt, size int64, modTime time.Time, closer io.Closer) (*Response, io.ReadCloser) {
	h := http.Header{}
	lastModified := ""
	if !modTime.IsZero() {
		lastModified = modTime.UTC().Format(http.TimeFormat)
		h.Set("Last-Modified", lastModified)
	}
	offset, n := req.Offset, size-req.Offset
	if offset < 0 || offset > size || req.Validator != "" && req.Validator != lastModified {
		offset, n = 0, size // the file changed, or no such offset: send it whole
	}
	if offset == req.Offset && req.Length > 0 {
		n = min(n, req.Length)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	resp := &Response{URL: req.URL.Redacted(), Status: http.StatusOK, Header: h, Size: size, Offset: offset}
	if offset > 0 {
		resp.Status = http.StatusPartialContent
	}
	return resp, &sectionBody{ctx: ctx, r: io.NewSectionReader(r, offset, n), closer: closer}
}

// sectionBody reads a section of a file until ctx is done.
type sectionBody struct {
	ctx    context.Context
	r      *io.SectionReader
	closer io.Closer
}

func (b *sectionBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

func (b *sectionBody) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// FSProtocol returns a Protocol that serves the files of fsys. The name of
// the file of a URL is its host and path joined, cleaned, without a leading
// "/": scheme://repo/a/b.txt names "repo/a/b.txt", scheme:///a/b.txt
// names "a/b.txt". A missing file gives an error matching [ErrNotFound]; a
// directory, or a name that fs.ValidPath refuses, [ErrInvalidRequest]. The
// files' modification times are the validators of resumes. Files that
// implement io.ReaderAt (those of os.DirFS and fstest.MapFS do) are read
// where asked; others are read from their start and the bytes before the
// offset skipped.
func FSProtocol(fsys fs.FS) Protocol { return fsProtocol{fsys} }

type fsProtocol struct{ fsys fs.FS }

func (p fsProtocol) Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error) {
	u := req.URL.Redacted()
	name := strings.TrimPrefix(path.Clean("/"+req.URL.Host+"/"+req.URL.Path), "/")
	if !fs.ValidPath(name) || name == "." {
		return nil, nil, fmt.Errorf("%w: %s: no file name", ErrInvalidRequest, u)
	}
	f, err := p.fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w", u, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", u, err)
	}
	return openFile(ctx, req, f)
}

// openFile answers req with f, a file just opened, as a Protocol's Open
// does: the body closes f, and so does a failure. A file that is not
// regular gives [ErrInvalidRequest].
func openFile(ctx context.Context, req *OpenRequest, f fs.File) (*Response, io.ReadCloser, error) {
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrInvalidRequest)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", req.URL.Redacted(), err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		ra = &forwardReaderAt{r: f}
	}
	resp, body := openReaderAt(ctx, req, ra, fi.Size(), fi.ModTime(), f)
	return resp, body, nil
}

// forwardReaderAt reads a reader at increasing offsets, skipping the bytes
// between them: enough for the one section that a body reads.
type forwardReaderAt struct {
	r   io.Reader
	pos int64
}

func (f *forwardReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.pos {
		return 0, fmt.Errorf("read at %d after %d: %w", off, f.pos, errors.ErrUnsupported)
	}
	if off > f.pos {
		n, err := io.CopyN(io.Discard, f.r, off-f.pos)
		f.pos += n
		if err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(f.r, p)
	f.pos += int64(n)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
