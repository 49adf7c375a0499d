//go:build unix

package fetch

import (
	"os"
	"syscall"
)

// canLock says whether lockFile tells live files from leftovers.
const canLock = true

// lockFile takes an exclusive lock (flock) on f without waiting, and
// reports whether it got it. The lock lasts until f is closed, also when
// the process ends in any way, kill -9 included.
func lockFile(f *os.File) bool {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}

// unrooted returns a descriptor of the folder f, opened below a Root, as
// a File of its own, closed by the caller: its ReadDir takes each entry's
// type from the folder, where f's would stat every entry.
func unrooted(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
