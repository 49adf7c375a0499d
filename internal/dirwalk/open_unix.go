//go:build unix

package dirwalk

import (
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/fetchkit/fetch/internal/regular"
)

// open opens the folder dir below root, without waiting should it have
// become a FIFO, as a descriptor of its own: its ReadDir takes each
// entry's type from the folder, where that of a File opened below a Root
// would stat every entry.
func open(root *os.Root, dir string) (*os.File, error) {
	rooted, err := root.OpenFile(dir, os.O_RDONLY|regular.NoBlock, 0)
	if err != nil {
		return nil, err
	}
	defer rooted.Close()
	fd, err := syscall.Dup(int(rooted.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), rooted.Name()), nil
}

// openIn opens name, a folder in the folder parent open below root, in
// one system call rather than a walk from root: through parent's
// descriptor, not following a symbolic link put in its place.
func openIn(_ *os.Root, parent *os.File, name string) (*os.File, error) {
	base := path.Base(name)
	for {
		fd, err := syscall.Openat(int(parent.Fd()), base,
			syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|regular.NoBlock, 0)
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), filepath.Join(parent.Name(), base)), nil
		case syscall.EINTR:
			continue
		}
		return nil, &os.PathError{Op: "openat", Path: name, Err: err}
	}
}
