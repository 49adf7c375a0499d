//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package proxy

import (
	"errors"
	"os"
)

// hitFile is a kept file open to answer one hit.
type hitFile struct{ *os.File }

// openHit opens a kept file to serve it, by the rule of openKept, and
// returns it with its size.
func openHit(name string) (*hitFile, int64, error) {
	f, fi, err := openKeptStat(name)
	if err != nil {
		return nil, 0, err
	}
	return &hitFile{f}, fi.Size(), nil
}

// sent does nothing here: the os package keeps the file's offset.
func (f *hitFile) sent(int64) {}

// reopen fails here: a client of a download is sent its bytes through a
// buffer.
func reopen(*os.File) (*hitFile, error) { return nil, errors.ErrUnsupported }
