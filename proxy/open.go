package proxy

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// openKept opens a file of the cache directory that the Cache did not
// just make (a kept file, a record) for reading: without waiting
// (noBlock), and only when the open descriptor is a regular file, so that
// a FIFO or device put in the directory is never read (the error then
// matches errNotRegular).
func openKept(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|noBlock, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: %w (%v)", name, errNotRegular, fi.Mode().Type())
		}
		return nil, err
	}
	return f, nil
}

// errNotRegular says that a name in the cache directory holds something
// else than a regular file: not the Cache's.
var errNotRegular = errors.New("not a regular file")

// readKept reads the whole of a file of the cache directory, opened by
// openKept.
func readKept(name string) ([]byte, error) {
	f, err := openKept(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
