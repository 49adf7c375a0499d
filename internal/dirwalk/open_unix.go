//go:build unix

package dirwalk

import (
	"os"
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
