package fetch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

// On Linux the bytes of a download to Path go to an unnamed file in
// Path's folder (O_TMPFILE), and linkat gives it the name Path once they
// are verified: the file appears at Path whole, in one step, as a
// temporary file renamed over Path would, without making, locking,
// checking and renaming a second name. A download that fails leaves
// nothing behind, also when the process is killed: an unnamed file goes
// with its last descriptor. With [Options.KeepPartial], the file takes
// the name of the partial file when its guard is written.

const folderFlags = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_CLOEXEC

const (
	oTmpfile        = 0x400000 | syscall.O_DIRECTORY // O_TMPFILE, the same on every Linux port of Go
	atSymlinkFollow = 0x400
)

// canUnnamed reports whether unnamed files can be named: linkat reaches
// them through /proc/self/fd.
func canUnnamed() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// folder is the folder of Path, opened once for a download. Names in it
// are reached through its descriptor in one step, and stay in it: a
// symbolic link put in place of a folder on the way, once it is open,
// cannot lead a write elsewhere.
type folder struct {
	dir *os.File
}

// openFolder opens dir, a folder of p.
func openFolder(p place, dir string) (*folder, error) {
	f, err := p.openDir(dir, syscall.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return &folder{dir: f}, nil
}

// makeFolder opens dir, a folder of p, and makes it and the folders on
// its way where they are missing. Below a Root whose folder p holds open,
// it takes a few system calls where os.Root walks the path, opening and
// closing each folder, for each of the open, make and open again: one
// openat2 with RESOLVE_BENEATH for a folder that exists (the kernel, as
// os.Root, lets no path or symbolic link lead out of the Root); for a
// missing one, openat2 of its nearest folder that exists, then mkdirat and
// openat without following a link for each new folder, so that nothing put
// in place of a new folder meanwhile is followed. Anything else (no Root,
// openat2 refused, a name taken by something that is not a folder) goes
// the way of os.Root, whose errors name what is wrong.
func makeFolder(p place, dir string) (*folder, error) {
	if fo := makeFolderBeneath(p, dir); fo != nil {
		return fo, nil
	}
	fo, err := openFolder(p, dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err = p.mkdirAll(dir, 0o755); err == nil {
			fo, err = openFolder(p, dir)
		}
	}
	return fo, err
}

// makeFolderBeneath is makeFolder's way through openat2, or nil.
func makeFolderBeneath(p place, dir string) *folder {
	rootfd := p.beneath()
	if rootfd < 0 {
		return nil
	}
	dir = filepath.Clean(dir)
	// The nearest folder that exists: dir itself, usually.
	have, missing := dir, []string(nil)
	fd, err := openBeneath(rootfd, have, folderFlags)
	for err == syscall.ENOENT && have != "." {
		missing = append(missing, filepath.Base(have))
		have = filepath.Dir(have)
		fd, err = openBeneath(rootfd, have, folderFlags)
	}
	if err != nil {
		return nil
	}
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		err := ignoringEINTR(func() error { return syscall.Mkdirat(fd, name, 0o755) })
		if err != nil && err != syscall.EEXIST {
			closeFd(fd)
			return nil
		}
		var next int
		err = ignoringEINTR(func() (err error) {
			next, err = syscall.Openat(fd, name, folderFlags|syscall.O_NOFOLLOW, 0)
			return err
		})
		closeFd(fd)
		if err != nil {
			return nil
		}
		fd = next
	}
	return &folder{dir: os.NewFile(uintptr(fd), dir)}
}

func (fo *folder) close() error { return fo.dir.Close() }

// create makes an unnamed file in the folder, with the mode of any new
// file (0666 less the umask), that errors call name: the path it is to
// have, so that a write that fails (a full disk) names the file, not
// the folder. It fails where the file system has no unnamed files.
func (fo *folder) create(name string) (*os.File, error) {
	for {
		fd, err := syscall.Openat(int(fo.dir.Fd()), ".", oTmpfile|syscall.O_RDWR|syscall.O_CLOEXEC, 0o666)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: fo.dir.Name(), Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// link gives f, an unnamed file of the folder, the name name in it. It
// fails with an error matching [fs.ErrExist] when the name is taken.
func (fo *folder) link(f *os.File, name string) error {
	from, err := syscall.BytePtrFromString("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return err
	}
	to, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	for {
		// from is absolute: the first descriptor is not used.
		_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, fo.dir.Fd(), uintptr(unsafe.Pointer(from)),
			fo.dir.Fd(), uintptr(unsafe.Pointer(to)), atSymlinkFollow, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: name, Err: e}
	}
}

// rename renames from to to, both names in the folder.
func (fo *folder) rename(from, to string) error {
	fd := int(fo.dir.Fd())
	if err := ignoringEINTR(func() error { return syscall.Renameat(fd, from, fd, to) }); err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}

// remove removes name, a file in the folder.
func (fo *folder) remove(name string) error {
	fd := int(fo.dir.Fd())
	if err := ignoringEINTR(func() error { return syscall.Unlinkat(fd, name) }); err != nil {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}

func ignoringEINTR(call func() error) error {
	for {
		if err := call(); err != syscall.EINTR {
			return err
		}
	}
}
