//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/fetchkit/fetch/internal/regular"
)

// hitFile is a kept file open to answer one hit: a bare descriptor, not an
// *os.File, which the os package would try to register with the network
// poller (an epoll_ctl that fails on a file) and give a finalizer. It is
// read by http.ServeContent, whose seeks it answers from memory (the size
// is known), and sent by net/http with sendfile, which takes any
// syscall.Conn: the response's header with one write, then the file with
// sendfile, the descriptor's offset where the seeks left it.
type hitFile struct {
	fd   int
	size int64
	pos  int64 // the offset that Seek set, for the next read or send
	at   int64 // the descriptor's own offset; -1 when unknown (after a send)
}

// openHit opens a kept file to serve it, by the rule of openKept (without
// waiting, and only a regular file: else the error matches
// regular.ErrNotRegular), and returns it with its size.
func openHit(name string) (*hitFile, int64, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC|regular.NoBlock, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, 0, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, 0, fmt.Errorf("%s: %w (mode %#o)", name, regular.ErrNotRegular, st.Mode&syscall.S_IFMT)
	}
	return &hitFile{fd: fd, size: st.Size}, st.Size, nil
}

// sync moves the descriptor's offset to pos, when it is elsewhere.
func (f *hitFile) sync() error {
	if f.at == f.pos {
		return nil
	}
	if _, err := syscall.Seek(f.fd, f.pos, io.SeekStart); err != nil {
		return err
	}
	f.at = f.pos
	return nil
}

// known learns the descriptor's offset after a send moved it.
func (f *hitFile) known() error {
	if f.at >= 0 {
		return nil
	}
	at, err := syscall.Seek(f.fd, 0, io.SeekCurrent)
	if err != nil {
		return err
	}
	f.at, f.pos = at, at
	return nil
}

func (f *hitFile) Read(p []byte) (int, error) {
	if err := f.known(); err != nil {
		return 0, err
	}
	if err := f.sync(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, p)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		f.pos += int64(n)
		f.at = f.pos
		switch {
		case err != nil:
			return n, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *hitFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		if err := f.known(); err != nil {
			return 0, err
		}
		offset += f.pos
	case io.SeekEnd:
		offset += f.size
	case io.SeekStart:
	default:
		return 0, errors.New("hitFile.Seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("hitFile.Seek: negative position")
	}
	f.pos = offset
	return offset, nil
}

// sent notes that the descriptor's offset is at, after a send that
// ended there.
func (f *hitFile) sent(at int64) { f.at, f.pos = at, at }

// SyscallConn gives net/http's sendfile the descriptor, its offset at pos.
func (f *hitFile) SyscallConn() (syscall.RawConn, error) { return hitConn{f}, nil }

func (f *hitFile) Close() error { return syscall.Close(f.fd) }

// hitConn is the syscall.RawConn of a hitFile.
type hitConn struct{ f *hitFile }

func (c hitConn) Control(fn func(fd uintptr)) error {
	fn(uintptr(c.f.fd))
	return nil
}

func (c hitConn) Read(fn func(fd uintptr) bool) error {
	if err := c.f.known(); err != nil {
		return err
	}
	if err := c.f.sync(); err != nil {
		return err
	}
	fn(uintptr(c.f.fd))
	c.f.at = -1 // moved by as much as was sent
	return nil
}

func (c hitConn) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

// reopen returns a descriptor of its own of the open file f, with its own
// offset, for sendfile: on Linux, through /proc/self/fd, which reaches a
// file removed from its folder too. Elsewhere it fails.
func reopen(f *os.File) (*hitFile, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.ErrUnsupported
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var name string
	if err := sc.Control(func(fd uintptr) { name = "/proc/self/fd/" + strconv.Itoa(int(fd)) }); err != nil {
		return nil, err
	}
	h, _, err := openHit(name)
	return h, err
}
