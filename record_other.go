//go:build !linux

package fetch

import (
	"errors"
	"io/fs"
	"os"
)

// Elsewhere than on Linux files have no record: every file in place is
// hashed.

func readRecord(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }
func writeRecord(*os.File, []byte) error      { return errors.ErrUnsupported }
func inodeOf(fs.FileInfo) uint64              { return 0 }
