package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileProtocol opens file:// URLs, only below its roots.
type fileProtocol struct {
	roots []string // absolute, symbolic links resolved
}

func newFileProtocol(roots []string) *fileProtocol {
	p := &fileProtocol{}
	for _, r := range roots {
		if abs, err := filepath.Abs(r); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				abs = real
			}
			p.roots = append(p.roots, abs)
		}
	}
	return p
}

func (p *fileProtocol) Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error) {
	u := req.URL
	if u.Host != "" && u.Host != "localhost" {
		return nil, nil, fmt.Errorf("%w: %s: file URL names host %q", ErrInvalidRequest, u.Redacted(), u.Host)
	}
	name := filepath.FromSlash(u.Path)
	real, err := filepath.EvalSymlinks(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w", u.Redacted(), ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	if !p.allowed(real) {
		return nil, nil, fmt.Errorf("%w: %s is outside the allowed file roots", ErrInvalidRequest, u.Redacted())
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrInvalidRequest)
	}
	offset := req.Offset
	lastModified := ""
	if err == nil {
		lastModified = fi.ModTime().UTC().Format(http.TimeFormat)
		if req.Validator != "" && req.Validator != lastModified {
			offset = 0 // the file changed: send it whole
		}
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	h := http.Header{}
	h.Set("Content-Length", strconv.FormatInt(fi.Size()-offset, 10))
	h.Set("Last-Modified", lastModified)
	r := &Response{URL: u.Redacted(), Status: http.StatusOK, Header: h, Size: fi.Size(), Offset: offset}
	if offset > 0 {
		r.Status = http.StatusPartialContent
	}
	return r, &ctxReader{ctx: ctx, f: f}, nil
}

func (p *fileProtocol) allowed(path string) bool {
	for _, root := range p.roots {
		// A root that ends in a separator ("/") has it already.
		dir := strings.TrimSuffix(root, string(filepath.Separator)) + string(filepath.Separator)
		if path == root || strings.HasPrefix(path, dir) {
			return true
		}
	}
	return false
}

// ctxReader reads a file until ctx is done.
type ctxReader struct {
	ctx context.Context
	f   *os.File
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.Read(p)
}

func (r *ctxReader) Close() error { return r.f.Close() }
