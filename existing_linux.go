package fetch

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fetchkit/fetch/internal/regular"
)

// openat2(2) and its struct open_how (linux/openat2.h): one number on
// every architecture.
const (
	sysOpenat2          = 437
	resolveNoMagiclinks = 0x02
	resolveBeneath      = 0x08
	atFdcwd             = -100 // AT_FDCWD
)

type openHow struct{ flags, mode, resolve uint64 }

// rootDir holds a descriptor of the folder of the last Root that one
// goroutine, running requests one after another, looked below: FetchAll's
// workers keep one each, so that a file in place is opened in one system
// call, not a walk of os.Root that opens and closes each folder of its
// path again.
type rootDir struct {
	root *os.Root
	dir  *os.File
	fd   int
}

// fd returns a descriptor of root's folder, or -1.
func (d *rootDir) fdOf(root *os.Root) int {
	if d.root == root && d.dir != nil {
		return d.fd
	}
	d.close()
	dir, err := root.OpenFile(".", os.O_RDONLY|regular.NoBlock, 0)
	if err != nil {
		return -1
	}
	d.root, d.dir, d.fd = root, dir, -1
	if c, err := dir.SyscallConn(); err == nil {
		c.Control(func(fd uintptr) { d.fd = int(fd) })
	}
	return d.fd
}

func (d *rootDir) close() {
	if d.dir != nil {
		d.dir.Close()
	}
	*d = rootDir{}
}

// openExisting opens req.Path, the file in place of a request with
// CheckExisting, in one system call: openat2 below the folder of
// req.Root with RESOLVE_BENEATH, by which the kernel, as os.Root, lets no
// path or symbolic link lead out of it; not following a symbolic link
// at Path (a link is not a file in place); without waiting (a FIFO is
// not one either). It returns nil for anything but a regular file opened
// so, and for whatever openat2 refuses where os.Root might not (an
// absolute symbolic link below Root, a kernel without openat2): the
// request then looks at Path as any other, through its Root.
func (d *rootDir) openExisting(req Request) *existing {
	dirfd, resolve := atFdcwd, uint64(0) // a plain path
	if req.Root != nil {
		if d == nil {
			return nil
		}
		if dirfd = d.fdOf(req.Root); dirfd < 0 {
			return nil
		}
		resolve = beneath
	}
	fd, err := openat2(dirfd, req.Path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|regular.NoBlock, 0, resolve)
	if err != nil {
		return nil
	}
	x := &existing{fd: int(fd), path: req.Path}
	x.st.name = filepath.Base(req.Path)
	if ignoringEINTR(func() error { return syscall.Fstat(x.fd, &x.st.st) }) != nil ||
		x.st.st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		x.close()
		return nil
	}
	x.fi = &x.st
	return x
}

// closeFd closes a descriptor that no File holds.
func closeFd(fd int) { syscall.Close(fd) }

// statInfo is the FileInfo of a regular file, from its fstat.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (i *statInfo) Name() string       { return i.name }
func (i *statInfo) Size() int64        { return i.st.Size }
func (i *statInfo) Mode() fs.FileMode  { return fs.FileMode(i.st.Mode & 0o777) }
func (i *statInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *statInfo) IsDir() bool        { return false }
func (i *statInfo) Sys() any           { return &i.st }
