// Package regular holds the rule for opening a file that a program expects
// to be a regular file of its own but did not just make (a partial file, a
// guard, a file in place, a kept file of the proxy's cache, a record):
// open it without waiting, and use it only when the open descriptor is a
// regular file. A FIFO planted under its name would otherwise block an
// open, a read, or a write past every cancellation, or pass the bytes
// through and be renamed into place as the file.
package regular

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotRegular says that a name where a regular file was expected holds
// something else: a FIFO, a device, a socket, a folder.
var ErrNotRegular = errors.New("not a regular file")

// Check returns f when it is a regular file. Otherwise it closes f and
// returns an error that names it and matches ErrNotRegular (or that of
// its Stat).
func Check(f *os.File) (*os.File, error) {
	f, _, err := CheckStat(f)
	return f, err
}

// CheckStat is Check that also returns what it found of the file, for a
// caller that needs its size or time without asking again.
func CheckStat(f *os.File) (*os.File, fs.FileInfo, error) {
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		return f, fi, nil
	}
	f.Close()
	if err == nil {
		err = fmt.Errorf("%s: %w (%v)", f.Name(), ErrNotRegular, fi.Mode().Type())
	}
	return nil, nil, err
}
