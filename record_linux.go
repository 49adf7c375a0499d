package fetch

import (
	"io/fs"
	"os"
	"syscall"
	"unsafe"
)

// recordName is the extended attribute that holds a file's record.
const recordName = "user.fetch.verified"

// recordNameZ is recordName as the system calls take it.
var recordNameZ = []byte(recordName + "\x00")

// readRecord reads the record of the open file fd into buf, of maxRecord
// bytes, and returns its length.
func readRecord(fd uintptr, buf []byte) (int, error) {
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_FGETXATTR, fd, uintptr(unsafe.Pointer(&recordNameZ[0])),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, e // ENODATA: none; ERANGE: longer than any record
	}
}

// writeRecord sets the record of f to b.
func writeRecord(f *os.File, b []byte) error {
	return ignoringEINTR(func() error {
		_, _, e := syscall.Syscall6(syscall.SYS_FSETXATTR, f.Fd(), uintptr(unsafe.Pointer(&recordNameZ[0])),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

// inodeOf returns the inode number of the file fi describes.
func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
