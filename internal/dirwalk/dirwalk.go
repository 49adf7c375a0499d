// Package dirwalk walks a tree below an os.Root in memory that stays flat
// whatever a folder holds: fs.WalkDir reads each folder whole, and sorts
// it, before it calls back, which for a mirror's folder of 200,000
// packages is tens of MB.
package dirwalk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
)

// batch is how many entries of a folder are read at once.
const batch = 512

// Walk calls fn for every file and folder below root (not root itself),
// with its slash-separated name relative to root, as fs.WalkDir does, but
// in the order the folders list them, reading each folder a batch at a
// time. A folder is entered after fn returned nil for it; fs.SkipDir
// skips it (or, for a file, the rest of its folder). An error reading a
// folder is passed to fn with that folder's name and a nil entry; fn's
// error, other than SkipDir, ends the walk. Symbolic links are not
// followed, and no entry is statted: each entry's type is the one its
// folder gives. Files removed during the walk may or may not be seen.
func Walk(root *os.Root, fn fs.WalkDirFunc) error {
	f, err := open(root, ".")
	if err != nil {
		return fn(".", nil, err)
	}
	err = walk(root, f, ".", fn)
	if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

// walk walks the folder dir, open as f, which it closes.
func walk(root *os.Root, f *os.File, dir string, fn fs.WalkDirFunc) error {
	defer f.Close()
	for {
		entries, err := f.ReadDir(batch)
		for _, d := range entries {
			name := path.Join(dir, d.Name())
			ferr := fn(name, d, nil)
			switch {
			case ferr == fs.SkipDir && d.IsDir():
				continue
			case ferr == fs.SkipDir:
				return nil
			case ferr != nil:
				return ferr
			}
			if d.IsDir() {
				sub, err := openIn(root, f, name)
				if err != nil {
					err = fn(name, nil, err)
				} else {
					err = walk(root, sub, name, fn)
				}
				if err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fn(dir, nil, err)
		}
	}
}
