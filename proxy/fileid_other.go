//go:build !linux

package proxy

import (
	"io/fs"
	"os"
)

// fileID tells a file from another and from its former self: its
// identity, size and modification time.
type fileID struct {
	fi      fs.FileInfo
	regular bool
}

// lstatID returns the fileID of name, not following a symbolic link.
func lstatID(name string) (fileID, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return fileID{}, err
	}
	return fileID{fi: fi, regular: fi.Mode().IsRegular()}, nil
}

// same reports whether id and other are the same file, unchanged.
func (id fileID) same(other fileID) bool {
	return os.SameFile(id.fi, other.fi) && id.fi.Size() == other.fi.Size() && id.fi.ModTime().Equal(other.fi.ModTime())
}
