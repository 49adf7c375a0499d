package fetch

import (
	"io/fs"
	"os"

	"github.com/fetchkit/fetch/internal/regular"
)

// place is where a request's files are made: below a Root, through which
// no symbolic link can lead a write outside it, or the file system at
// large when root is nil. Names are relative to root, or plain paths.
type place struct {
	root *os.Root
	dir  *rootDir // if not nil, holds a descriptor of root's folder (root_linux.go)
}

// errNotRegular says that a name where a download expects a regular file
// of its own (a partial file, a guard, a temporary file, a file in place)
// holds something else: such a thing is never read or written.
var errNotRegular = regular.ErrNotRegular

// openFile opens name, a regular file (or none yet, with os.O_CREATE), by
// the rule of internal/regular: without waiting, and only when the open
// descriptor is a regular file; otherwise it fails with an error matching
// errNotRegular.
func (p place) openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	f, _, err := p.openFileStat(name, flag, perm)
	return f, err
}

// openFileStat is openFile that also returns what the check found of the
// file.
func (p place) openFileStat(name string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	f, err := p.open(name, flag|regular.NoBlock, perm)
	if err != nil {
		return nil, nil, err
	}
	return regular.CheckStat(f)
}

// openDir opens name, a folder, for its names (flag adds to O_RDONLY).
func (p place) openDir(name string, flag int) (*os.File, error) {
	return p.open(name, os.O_RDONLY|flag|regular.NoBlock, 0)
}

func (p place) open(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if f, err, ok := p.openBeneath(name, flag, perm); ok {
		return f, err
	}
	if p.root != nil {
		return p.root.OpenFile(name, flag, perm)
	}
	return os.OpenFile(name, flag, perm)
}

func (p place) mkdirAll(name string, perm fs.FileMode) error {
	if p.root != nil {
		return p.root.MkdirAll(name, perm)
	}
	return os.MkdirAll(name, perm)
}

func (p place) rename(oldname, newname string) error {
	if p.root != nil {
		return p.root.Rename(oldname, newname)
	}
	return os.Rename(oldname, newname)
}

func (p place) remove(name string) error {
	if p.root != nil {
		return p.root.Remove(name)
	}
	return os.Remove(name)
}

func (p place) stat(name string) (fs.FileInfo, error) {
	if p.root != nil {
		return p.root.Stat(name)
	}
	return os.Stat(name)
}

func (p place) lstat(name string) (fs.FileInfo, error) {
	if fi, err, ok := p.lstatBeneath(name); ok {
		return fi, err
	}
	if p.root != nil {
		return p.root.Lstat(name)
	}
	return os.Lstat(name)
}

// readNames returns the names in the folder name, unsorted. Unlike
// ReadDir below a Root, which looks at every entry, it reads the folder
// only.
func (p place) readNames(name string) ([]string, error) {
	if name == "" {
		name = "."
	}
	f, err := p.openDir(name, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
