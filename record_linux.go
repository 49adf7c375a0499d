package fetch

import (
	"io/fs"
	"os"
	"syscall"
	"unsafe"
)

// recordName is the extended attribute that holds a file's record.
const recordName = "user.fetch.verified"

// readRecord returns the bytes of the record of the open file fd.
func readRecord(fd uintptr) ([]byte, error) {
	name, err := syscall.BytePtrFromString(recordName)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, maxRecord)
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_FGETXATTR, fd, uintptr(unsafe.Pointer(name)),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
		switch e {
		case 0:
			return buf[:n], nil
		case syscall.EINTR:
			continue
		}
		return nil, e // ENODATA: none; ERANGE: longer than any record
	}
}

// writeRecord sets the record of f to b.
func writeRecord(f *os.File, b []byte) error {
	name, err := syscall.BytePtrFromString(recordName)
	if err != nil {
		return err
	}
	return ignoringEINTR(func() error {
		_, _, e := syscall.Syscall6(syscall.SYS_FSETXATTR, f.Fd(), uintptr(unsafe.Pointer(name)),
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
