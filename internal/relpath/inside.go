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
// for the last one: the folders on the way from Root, or from the nearest
// symbolic link found to resolve inside Root, to the path's folder, each
// missing or a plain folder. A path that reaches one of those costs a look
// at each of its own folders below it: none for a file beside the last,
// one for a file in a folder beside the last's (a mirror's
// pool/main/p/pkg/), rather than a look at every folder up to Root and the
// resolution of every link on the way.
type Inside struct {
	// Root is the folder: absolute, with its own symbolic links resolved.
	Root string
	base string // where the way of the last path found inside starts: Root (".") or a link resolved inside
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
	// Up from dir to a folder the last path found, or Root: a folder that
	// is missing (made as a plain folder) or a plain folder leads nowhere
	// else; the nearest symbolic link (or anything else) is resolved, and
	// what is above it with it.
	base := dir
	for !c.known(base) && base != "." {
		name := filepath.Join(c.Root, filepath.FromSlash(base))
		fi, err := os.Lstat(name)
		if err == nil && !fi.IsDir() {
			if err := c.resolvesInside(name); err != nil {
				return err
			}
			break
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
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

// known reports whether the folder f is on the last path's way.
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
