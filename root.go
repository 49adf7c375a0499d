package fetch

import (
	"io/fs"
	"os"
)

// place is where a request's files are made: below a Root, through which
// no symbolic link can lead a write outside it, or the file system at
// large when root is nil. Names are relative to root, or plain paths.
type place struct{ root *os.Root }

// openFile opens name, a regular file (or none yet), kept off the network
// poller (noPoll).
func (p place) openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	flag |= noPoll
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
	f, err := p.openFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
