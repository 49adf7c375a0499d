//go:build !unix

package fetch

import "os"

// canLock says whether lockFile tells live files from leftovers: not on
// this system, where no leftover is ever removed.
const canLock = false

// lockFile reports true: this system has no flock.
func lockFile(f *os.File) bool { return true }
