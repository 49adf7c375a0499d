package proxy

import "syscall"

// fileID tells a file from another and from its former self: its device
// and inode, size and modification time.
type fileID struct {
	dev, ino    uint64
	size, mtime int64
	regular     bool
}

// lstatID returns the fileID of name, not following a symbolic link,
// without the allocations of os.Lstat.
func lstatID(name string) (fileID, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Lstat(name, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileID{}, err
		}
		break
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(),
		regular: st.Mode&syscall.S_IFMT == syscall.S_IFREG}, nil
}

// same reports whether id and other are the same file, unchanged.
func (id fileID) same(other fileID) bool { return id == other }
