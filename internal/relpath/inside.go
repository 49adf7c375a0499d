package relpath

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Inside checks that files below a folder stay below it: that no symbolic
// link on the way to one leads elsewhere. It remembers the last folder it
// found inside Root, so that the files of one folder, which lists and
// manifests give one after another, cost one check between them rather
// than one each. Writes go through an os.Root all the same, which no link
// leads out of; the check refuses a list before anything is written.
type Inside struct {
	// Root is the folder: absolute, with its own symbolic links resolved.
	Root string
	dir  string // the folder of the last path found inside, "" for none
}

// Check returns an error unless the file rel (slash-separated, checked by
// [Check]) below c.Root would be written below c.Root. The file itself
// may be a symbolic link: a download replaces the link, not what it
// points to.
func (c *Inside) Check(rel string) error {
	dir := path.Dir(rel)
	if c.dir != "" && c.dir == dir {
		return nil
	}
	if err := checkInside(c.Root, rel); err != nil {
		return err
	}
	c.dir = dir
	return nil
}

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
