package fetch

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// Below a Root, os.Root walks a path a folder at a time, opening and
// closing each; openat2 with RESOLVE_BENEATH finds the same file in one
// system call, the kernel letting no path or symbolic link lead out of
// the folder, as os.Root does. A place whose dir holds a descriptor of
// its Root's folder (FetchAll's workers keep one each) looks up names so;
// whatever openat2 refuses where os.Root might not (an absolute symbolic
// link below Root, a kernel without openat2) goes the way of os.Root.

// oPath is O_PATH, the same on every Linux port of Go: a descriptor that
// names a file without opening it (a FIFO, a device, a symbolic link).
const oPath = 0x200000

// beneath returns a descriptor of p's Root's folder, or -1.
func (p place) beneath() int {
	if p.root == nil || p.dir == nil {
		return -1
	}
	return p.dir.fdOf(p.root)
}

// beneath is how openat2 resolves a name below a Root's folder.
const beneath = resolveBeneath | resolveNoMagiclinks

// openBeneath opens name below the folder rootfd with flags in one system
// call, or fails with the errno of openat2.
func openBeneath(rootfd int, name string, flags int) (int, error) {
	return openat2(rootfd, name, flags, 0, beneath)
}

// openat2 opens name in the folder dirfd (atFdcwd: a plain path) with
// flags, and mode for a file it creates, resolved by resolve, in one
// system call, or fails with its errno.
func openat2(dirfd int, name string, flags int, mode uint32, resolve uint64) (int, error) {
	var buf [256]byte // the path as the system call takes it, when short
	var path *byte
	if len(name) < len(buf) && strings.IndexByte(name, 0) < 0 {
		copy(buf[:], name)
		path = &buf[0]
	} else {
		var err error
		if path, err = syscall.BytePtrFromString(name); err != nil {
			return -1, err
		}
	}
	how := openHow{flags: uint64(flags), mode: uint64(mode), resolve: resolve}
	for {
		fd, _, e := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		switch e {
		case 0:
			return int(fd), nil
		case syscall.EINTR:
			continue
		}
		return -1, e
	}
}

// openBeneath is place.open through openat2; ok is false when it cannot
// tell.
func (p place) openBeneath(name string, flag int, perm fs.FileMode) (f *os.File, err error, ok bool) {
	rootfd := p.beneath()
	if rootfd < 0 {
		return nil, nil, false
	}
	fd, err := openat2(rootfd, name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()), beneath)
	switch err {
	case nil:
		return os.NewFile(uintptr(fd), filepath.Join(p.root.Name(), name)), nil, true
	case syscall.ENOENT:
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}, true
	}
	return nil, nil, false
}

// lstatBeneath is place.lstat through openat2; ok is false when it cannot
// tell.
func (p place) lstatBeneath(name string) (fi fs.FileInfo, err error, ok bool) {
	rootfd := p.beneath()
	if rootfd < 0 {
		return nil, nil, false
	}
	fd, err := openBeneath(rootfd, name, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC)
	switch err {
	case nil:
	case syscall.ENOENT:
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}, true
	default:
		return nil, nil, false
	}
	// A File's Stat, for a FileInfo that os.SameFile compares.
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, false
	}
	return fi, nil, true
}
