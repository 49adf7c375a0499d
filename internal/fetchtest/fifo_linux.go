package fetchtest

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// FIFO is a named pipe planted where a program expects a file of its own,
// with a read end held open that reads nothing: a write to it blocks once
// the pipe's buffer (64 KiB) is full.
type FIFO struct {
	Path string
	r    *os.File
}

// PlantFIFO makes a FIFO at path, or skips t where it cannot. The read end
// is closed when the test ends.
func PlantFIFO(t testing.TB, path string) *FIFO {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &FIFO{Path: path, r: r}
}

// Buffered returns how many bytes were written to the FIFO: those its
// buffer holds, as nothing reads them.
func (f *FIFO) Buffered() int {
	var n int32
	rc, err := f.r.SyscallConn()
	if err != nil {
		return 0
	}
	rc.Control(func(fd uintptr) {
		syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	return int(n)
}
