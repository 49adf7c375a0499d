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
// link on the way to one leads elsewhere. Writes go through an os.Root
// all the same, which no link leads out of; the check refuses a list
// before anything is written. It looks at the folders of one path after
// another as lists and manifests give them, so it remembers what it found
// for the last one: the nearest folder that existed, found inside Root,
// and the folders below it, on the way to the path's folder, that did not
// exist yet. A path that reaches one of those costs the look at its own
// folders below it: none for a file beside the last, one for a file in a
// new folder beside the last's (a mirror's pool/main/p/pkg/), rather than
// a look at every folder up to Root and the resolution of every link on
// the way.
type Inside struct {
	// Root is the folder: absolute, with its own symbolic links resolved.
	Root string
	base string // the nearest existing folder of the last path found inside, slash-separated, "." for Root
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
	// The nearest folder that exists, or that the last path found: those
	// below it are made as plain folders.
	base := dir
	for !c.known(base) && base != "." {
		name := filepath.Join(c.Root, filepath.FromSlash(base))
		_, err := os.Lstat(name)
		if err == nil {
			if err := c.resolvesInside(name); err != nil {
				return err
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		base = path.Dir(base)
	}
	if !c.known(base) {
		c.base = base
	}
	c.dir = dir
	return nil
}

// known reports whether the folder f is on the way from the last path's
// nearest existing folder to its folder.
func (c *Inside) known(f string) bool {
	return c.dir != "" && below(f, c.base) && below(c.dir, f)
}

// below reports whether the slash-separated folder f is dir or below it.
func below(f, dir string) bool {
	return f == dir || dir == "." || strings.HasPrefix(f, dir+"/")
}

// resolvesInside checks that the existing folder name, with its symbolic
// links resolved, is Root or below it.
func (c *Inside) resolvesInside(name string) error {
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	if real != c.Root && !strings.HasPrefix(real, c.Root+string(filepath.Separator)) {
		return fmt.Errorf("%s leads to %s, outside %s", name, real, c.Root)
	}
	return nil
}
