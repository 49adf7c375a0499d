package dirwalk

import (
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/fetchkit/fetch/internal/regular"
)

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
