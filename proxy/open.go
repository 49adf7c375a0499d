package proxy

import (
	"io"
	"io/fs"
	"os"

	"github.com/fetchkit/fetch/internal/regular"
)

// openKept opens a file of the cache directory that the Cache did not
// just make (a kept file, a record) for reading, by the rule of
// internal/regular: without waiting, and only when the open descriptor is
// a regular file, so that a FIFO or device put in the directory is never
// read (the error then matches regular.ErrNotRegular).
func openKept(name string) (*os.File, error) {
	f, _, err := openKeptStat(name)
	return f, err
}

// openKeptStat is openKept that also returns what it found of the file.
func openKeptStat(name string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|regular.NoBlock, 0)
	if err != nil {
		return nil, nil, err
	}
	return regular.CheckStat(f)
}

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
