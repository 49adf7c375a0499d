package proxy

import (
	"strings"
	"sync"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
)

// maxRecords bounds the records that a Cache keeps parsed in memory.
const maxRecords = 16384

// A small kept file (at most maxBodySize bytes) is held in memory with its
// record once served, up to maxBodies bytes in all: a hit on it is then
// answered with no open, stat, read or close of the file.
const (
	maxBodySize = 32 << 10
	maxBodies   = 32 << 20
)

// records holds the records read from the directory, each parsed once and
// served from memory for as long as its file is the one it was read from:
// the same file (device and inode), size and modification time, checked
// with one stat a request. A record is never changed in place (a refreshed
// one is written to a new file and renamed over the old), so a file changed
// or removed is read again, or found missing, on the next request. A record
// held here is shared by the requests: it is read only.
//
// The bytes of a small kept file are held with its record ([records.body]),
// read from the file while that record was the one held, and dropped with
// it. A kept file is replaced just before its record is (see [Cache.keep]),
// and removed just after (see [Cache.forget], [keptFiles.evict]): a hit
// that finds the same record file finds the same kept file, and may be
// answered with the bytes held.
type records struct {
	mu     sync.RWMutex
	m      map[string]parsedRecord // by file
	bodies int64                   // bytes held in the bodies of m
}

// parsedRecord is a record as parsed, with what its file was then and
// the URL it was checked against, and the bytes of its kept file once read.
type parsedRecord struct {
	rec  *record
	id   fileID
	url  string
	body []byte // nil: not held
}

// read returns the record of file, which must be that of rawURL (as
// readRecord), from memory when its file has not changed.
func (rs *records) read(file, rawURL string) (*record, bool) {
	id, err := lstatID(file + recordSuffix)
	if err != nil || !id.regular {
		rs.drop(file)
		return readRecord(file, rawURL) // says why, as before: a FIFO is not read
	}
	rs.mu.RLock()
	p, ok := rs.m[file]
	rs.mu.RUnlock()
	if ok && p.id.same(id) {
		if rawURL == p.url || p.rec.URL == fetch.RedactURL(rawURL) {
			return p.rec, true
		}
		return nil, false
	}
	rec, ok := readRecord(file, rawURL)
	if !ok {
		rs.drop(file)
		return nil, false
	}
	// What was read is of the file stat'ed only when that file is still
	// there afterwards: else it is not remembered.
	if now, err := lstatID(file + recordSuffix); err == nil && id.same(now) {
		rs.mu.Lock()
		rs.put(file, parsedRecord{rec: rec, id: id, url: rawURL})
		rs.mu.Unlock()
	}
	return rec, true
}

// put holds p as the record of file, dropping one at random when there
// are maxRecords; rs.mu is held.
func (rs *records) put(file string, p parsedRecord) {
	if old, ok := putBounded(&rs.m, file, p); ok {
		rs.bodies -= int64(len(old.body))
	}
	rs.bodies += int64(len(p.body))
}

// drop forgets the record of file.
func (rs *records) drop(file string) {
	rs.mu.RLock()
	_, ok := rs.m[file]
	rs.mu.RUnlock()
	if ok {
		rs.mu.Lock()
		if p, ok := rs.m[file]; ok {
			rs.bodies -= int64(len(p.body))
			delete(rs.m, file)
		}
		rs.mu.Unlock()
	}
}

// body returns the bytes of the kept file that rec, held as the record of
// file, describes; nil when they are not held.
func (rs *records) body(file string, rec *record) []byte {
	rs.mu.RLock()
	p := rs.m[file]
	rs.mu.RUnlock()
	if p.rec != rec {
		return nil
	}
	return p.body
}

// room reports whether the bytes of a kept file of size bytes would be
// held by holdBody.
func (rs *records) room(size int64) bool {
	if size > maxBodySize {
		return false // a large file: no lock taken
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.bodies+size <= maxBodies
}

// holdBody holds b as the bytes of the kept file that rec, held as the
// record of file, describes: read from that file after rec was.
func (rs *records) holdBody(file string, rec *record, b []byte) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if p, ok := rs.m[file]; ok && p.rec == rec && p.body == nil && rs.bodies+int64(len(b)) <= maxBodies {
		p.body = b
		rs.put(file, p)
	}
}

// paths holds the upstream URL and the kept file's place of each path
// below the base asked for lately, which each request would otherwise
// derive anew (a URL joined and escaped, a sha256): at most maxRecords,
// one dropped at random beyond.
type paths struct {
	mu sync.RWMutex
	m  map[string]pathPlace // by path below the base
}

// pathPlace is the upstream URL of a path, and where its file is kept.
type pathPlace struct{ url, file string }

// where returns the upstream URL of rel, a path below the base, and where
// its file is kept ([Cache.cachePath]).
func (c *Cache) where(rel string) (rawURL, file string) {
	ps := &c.paths
	ps.mu.RLock()
	p, ok := ps.m[rel]
	ps.mu.RUnlock()
	if ok {
		return p.url, p.file
	}
	p.url = mirror.Join(c.bases[0], rel)
	p.file = c.cachePath(p.url)
	ps.mu.Lock()
	putBounded(&ps.m, strings.Clone(rel), p)
	ps.mu.Unlock()
	return p.url, p.file
}

// putBounded sets m[k] to v, making m first if need be, and room by
// dropping one other entry at random when m holds maxRecords; it returns
// the entry that v replaced or that made room, if any.
func putBounded[V any](m *map[string]V, k string, v V) (gone V, ok bool) {
	if *m == nil {
		*m = make(map[string]V)
	}
	if gone, ok = (*m)[k]; !ok && len(*m) >= maxRecords {
		for other, old := range *m {
			gone, ok = old, true
			delete(*m, other)
			break
		}
	}
	(*m)[k] = v
	return gone, ok
}
