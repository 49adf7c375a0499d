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
