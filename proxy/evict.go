package proxy

import (
	"container/list"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// keptFiles knows the files kept in a cache directory, their sizes and
// their order of last use, and removes the least recently used ones when
// they grow past a maximum, never one being served.
type keptFiles struct {
	max     int64 // bytes; 0: no limit, nothing is removed
	log     *slog.Logger
	removed func(path string) // called for each file removed, if set

	mu        sync.Mutex
	total     int64
	evictions int64
	lru       *list.List               // of *keptFile, least recently used first
	files     map[string]*list.Element // by path
}

// keptFile is one kept file.
type keptFile struct {
	path  string
	size  int64
	inUse int // responses reading it
}

func newKeptFiles(max int64, log *slog.Logger) *keptFiles {
	return &keptFiles{max: max, log: log, lru: list.New(), files: map[string]*list.Element{}}
}

// scan walks dir once: it removes the temporary files ([isTemporary]) and
// the data files without their record, which nothing can serve; it orders
// the kept files by modification time.
func (k *keptFiles) scan(dir string) {
	type found struct {
		path string
		size int64
		mod  time.Time
	}
	var all []found
	records := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch name := d.Name(); {
		case isTemporary(name):
			if err := os.Remove(path); err != nil {
				k.log.Warn("cannot remove a temporary file", "file", path, "err", err)
			}
		case strings.HasSuffix(name, recordSuffix):
			records[path] = true
		case isKeptName(name):
			if fi, err := d.Info(); err == nil {
				all = append(all, found{path, fi.Size(), fi.ModTime()})
			}
		}
		return nil
	})
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, f := range all {
		if !records[f.path+recordSuffix] {
			os.Remove(f.path)
			continue
		}
		k.files[f.path] = k.lru.PushBack(&keptFile{path: f.path, size: f.size})
		k.total += f.size
	}
	k.evict()
}

// isKeptName reports whether name is that of a kept data file: 64 hex digits.
func isKeptName(name string) bool {
	return isLowerHex(name, 64)
}

// add notes that the file at path, of size bytes, is kept (anew), as the
// most recently used, and removes others if the total is now over max.
func (k *keptFiles) add(path string, size int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.files[path]; ok {
		kf := e.Value.(*keptFile)
		k.total += size - kf.size
		kf.size = size
		k.lru.MoveToBack(e)
	} else {
		k.files[path] = k.lru.PushBack(&keptFile{path: path, size: size})
		k.total += size
	}
	k.evict()
}

// forget notes that the file at path is no longer kept.
func (k *keptFiles) forget(path string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.files[path]; ok {
		k.total -= e.Value.(*keptFile).size
		k.lru.Remove(e)
		delete(k.files, path)
	}
}

// acquire marks the file at path in use, as the most recently used, and
// returns it for release, which ends its use; nil when it is not known,
// or when nothing is ever removed (no maximum): then neither use nor
// recency matters, and a hit takes no lock.
func (k *keptFiles) acquire(path string) *keptFile {
	if k.max <= 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.files[path]
	if !ok {
		return nil
	}
	kf := e.Value.(*keptFile)
	kf.inUse++
	k.lru.MoveToBack(e)
	return kf
}

// release ends a use of kf that acquire began.
func (k *keptFiles) release(kf *keptFile) {
	if kf == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	kf.inUse--
	k.evict()
}

// evict removes the least recently used files that are not in use until
// the total is at most max; k.mu is held.
func (k *keptFiles) evict() {
	if k.max <= 0 {
		return
	}
	for e := k.lru.Front(); e != nil && k.total > k.max; {
		next := e.Next()
		kf := e.Value.(*keptFile)
		if kf.inUse == 0 {
			// The record first: without it the file is never served.
			os.Remove(kf.path + recordSuffix)
			if err := os.Remove(kf.path); err != nil && !os.IsNotExist(err) {
				k.log.Warn("cannot remove a kept file", "file", kf.path, "err", err)
			}
			k.total -= kf.size
			k.evictions++
			k.lru.Remove(e)
			delete(k.files, kf.path)
			if k.removed != nil {
				k.removed(kf.path)
			}
			k.log.Debug("least recently used file removed", "file", kf.path, "size", kf.size)
		}
		e = next
	}
}

// counts returns the number of kept files, their total size, and how many
// were evicted.
func (k *keptFiles) counts() (files, bytes, evictions int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return int64(len(k.files)), k.total, k.evictions
}
