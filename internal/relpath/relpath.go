// Package relpath holds the rule for relative paths that come from
// outside: Metalink file names, names in the command's lists and
// manifests, and those of repository indexes.
package relpath

import (
	"errors"
	"path"
	"path/filepath"
	"strings"

	"github.com/fetchkit/fetch/internal/partname"
)

// Check returns an error unless the slash-separated path p stays below the
// directory it is relative to, in its one clean spelling: not empty, not
// absolute, no "." or ".." element, no empty element, no backslash (a
// separator elsewhere), no NUL, and local on this system
// (filepath.IsLocal); and not a name that the tool gives its own files
// (partname.Check: the error then matches partname.ErrReserved), which
// the file would be taken for.
func Check(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.ContainsAny(p, "\\\x00"):
		return errors.New("path has a backslash or NUL")
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return errors.New(`path has a ".." element`)
		}
	}
	clean := path.Clean(p)
	if clean == "." {
		return errors.New("path names the directory itself")
	}
	if clean != p {
		return errors.New(`path is not clean (an empty or "." element, or a trailing "/")`)
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return errors.New("not a local path")
	}
	return partname.Check(p)
}
