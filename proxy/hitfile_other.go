//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package proxy

import "os"

// hitFile is a kept file open to answer one hit.
type hitFile = os.File

// openHit opens a kept file to serve it, by the rule of openKept, and
// returns it with its size.
func openHit(name string) (*hitFile, int64, error) {
	f, fi, err := openKeptStat(name)
	if err != nil {
		return nil, 0, err
	}
	return f, fi.Size(), nil
}
