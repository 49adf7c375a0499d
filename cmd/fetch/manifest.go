package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch/internal/partname"
	"github.com/fetchkit/fetch/internal/relpath"
)

// A manifestEntry is one file of a PULP_MANIFEST.
type manifestEntry struct {
	Path   string // relative, slash-separated, checked by relpath.Check
	SHA256 string // lower-case hex
	Size   int64
}

// parseManifestLine parses one line of a PULP_MANIFEST:
// "relative/path,sha256,size", spaces around each field ignored, as Pulp
// reads it. It reports ok false for a blank line or a "#" comment.
func parseManifestLine(line string) (e manifestEntry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return manifestEntry{}, false, nil
	}
	fields := strings.Split(line, ",")
	if len(fields) != 3 {
		return manifestEntry{}, false, fmt.Errorf("%d fields; want 3: relative/path,sha256,size", len(fields))
	}
	p := strings.TrimSpace(fields[0])
	digest := strings.TrimSpace(fields[1])
	size, serr := strconv.ParseInt(strings.TrimSpace(fields[2]), 10, 64)
	switch {
	case !isHex(digest, 64):
		return manifestEntry{}, false, fmt.Errorf("sha256 %q: want 64 hex digits", digest)
	case serr != nil || size < 0:
		return manifestEntry{}, false, fmt.Errorf("size %q: want a number of bytes", strings.TrimSpace(fields[2]))
	}
	if err := relpath.Check(p); errors.Is(err, partname.ErrReserved) {
		return manifestEntry{}, false, fmt.Errorf("path %q refused: %v", p, err)
	} else if err != nil {
		return manifestEntry{}, false, fmt.Errorf("path %q escapes the directory: %v", p, err)
	}
	return manifestEntry{Path: p, SHA256: strings.ToLower(digest), Size: size}, true, nil
}

// insideCache remembers the last folder that checkInside found inside its
// root, so that the files of one folder, which lists and manifests give one
// after another, cost one check between them rather than one each. Writes
// go through an os.Root all the same, which no link leads out of.
type insideCache struct{ root, dir string }

// check is checkInside(root, rel), skipped when rel's folder is the one
// checked last.
func (c *insideCache) check(root, rel string) error {
	dir := path.Dir(rel)
	if c.root == root && c.dir == dir {
		return nil
	}
	if err := checkInside(root, rel); err != nil {
		return err
	}
	c.root, c.dir = root, dir
	return nil
}

// checkInside checks that the file rel (slash-separated, checked by
// relpath.Check) below root would be written below root: that no symbolic link
// on the way leads elsewhere. root must be absolute, with its own symbolic
// links resolved. The file itself may be a symbolic link: a download
// replaces the link, not what it points to.
func checkInside(root, rel string) error {
	dir := filepath.Dir(filepath.Join(root, filepath.FromSlash(rel)))
	// The nearest folder that exists: those below it are made as plain
	// folders.
	for dir != root {
		if _, err := os.Lstat(dir); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		dir = filepath.Dir(dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return fmt.Errorf("%s leads to %s, outside %s", dir, real, root)
	}
	return nil
}
