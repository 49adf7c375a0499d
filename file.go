package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	return openFile(ctx, req, f)
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
