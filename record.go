package fetch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
)

// A record is what fetch knows of a file it verified: its size,
// modification time and inode when it was verified, the path it was
// verified at, and its digests. [Request.CheckExisting] trusts a file
// whose record still describes it, at the cost of a stat, and reads the
// others.
//
// The record lives with the file, in its extended attribute
// user.fetch.verified (record_linux.go), as librepo keeps its checksums in
// user.librepo.checksum.*: it is written on the temporary file before the
// file takes the name Path, so that a file appears at Path with its record
// or without one, and it follows the inode, so that several processes
// writing into one folder cannot mix their records. Where the file system
// has no extended attributes, or elsewhere than on Linux, there is no
// record, and every file in place is read and hashed.
//
// A record that does not parse, that describes another size,
// modification time or inode, or that was written for another path, is
// ignored: the file is hashed, and its record written again when it
// matches. A file changed with its modification time set back, and its
// size kept, deceives the record, as it deceives rsync and make; so does a
// change of the same size within the file system's timestamp granularity
// of fetch's write. [Request.HashExisting] reads every file.
type record struct {
	size  int64
	mtime int64                         // nanoseconds since 1970
	inode uint64                        // 0 where the platform has none
	path  [8]byte                       // the start of the SHA-256 of the path
	sums  [len(recordAlgorithms)][]byte // by algorithm, as recordAlgorithms numbers them; nil: none
}

// recordVersion starts every record; a record of another version is
// ignored.
const recordVersion = 1

// recordAlgorithms numbers the digests of a record.
var recordAlgorithms = [...]string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}

// recordSHA256 is the number of sha256 in recordAlgorithms.
const recordSHA256 = 3

// recordIndex returns the number of algorithm in recordAlgorithms, or -1.
func recordIndex(algorithm string) int {
	for i, name := range recordAlgorithms {
		if name == algorithm {
			return i
		}
	}
	return -1
}

// maxRecord bounds a record: every digest, and the numbers at their
// longest.
const maxRecord = 1 + 3*binary.MaxVarintLen64 + 8 + 6 + (16 + 20 + 28 + 32 + 48 + 64)

// newRecord returns the record of the file at path, described by fi,
// with the hex digests.
func newRecord(path string, fi fs.FileInfo, hexDigests map[string]string) *record {
	r := &record{size: fi.Size(), mtime: fi.ModTime().UnixNano(), inode: inodeOf(fi), path: pathSum(path)}
	for i, name := range recordAlgorithms {
		if h, ok := hexDigests[name]; ok {
			if sum, err := hex.DecodeString(h); err == nil {
				r.sums[i] = sum
			}
		}
	}
	return r
}

func pathSum(path string) (sum [8]byte) {
	full := sha256.Sum256([]byte(path))
	copy(sum[:], full[:])
	return sum
}

// marshal returns the bytes of r: its version, size, mtime and inode as
// varints, the path's sum, and each digest after the index of its
// algorithm.
func (r *record) marshal() []byte {
	b := make([]byte, 0, maxRecord)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(r.size))
	b = binary.AppendVarint(b, r.mtime)
	b = binary.AppendUvarint(b, r.inode)
	b = append(b, r.path[:]...)
	for i, sum := range r.sums {
		if sum != nil {
			b = append(b, byte(i))
			b = append(b, sum...)
		}
	}
	return b
}

// parseRecord returns the record of the bytes b, its digests kept in b,
// and reports whether they are one.
func parseRecord(b []byte) (r record, ok bool) {
	if len(b) == 0 || b[0] != recordVersion {
		return r, false
	}
	b = b[1:]
	size, n := binary.Uvarint(b)
	if n <= 0 || size > 1<<62 {
		return r, false
	}
	b = b[n:]
	mtime, n := binary.Varint(b)
	if n <= 0 {
		return r, false
	}
	b = b[n:]
	inode, n := binary.Uvarint(b)
	if n <= 0 || len(b[n:]) < 8 {
		return r, false
	}
	b = b[n:]
	r.size, r.mtime, r.inode = int64(size), mtime, inode
	b = b[copy(r.path[:], b):]
	last := -1
	for len(b) > 0 {
		i := int(b[0])
		if i <= last || i >= len(recordAlgorithms) {
			return r, false // out of order, twice, or unknown
		}
		size := DigestSize(recordAlgorithms[i])
		if len(b) < 1+size {
			return r, false
		}
		r.sums[i] = b[1 : 1+size]
		b, last = b[1+size:], i
	}
	return r, true
}

// trusts reports whether r describes the file at path, as fi describes
// it now, and holds every digest of want (lower-case hex, by algorithm)
// and a SHA-256. It then returns those digests in hex, as a Result
// holds them.
func (r *record) trusts(path string, fi fs.FileInfo, want map[string]string) (map[string]string, bool) {
	if r.size != fi.Size() || r.mtime != fi.ModTime().UnixNano() ||
		r.inode != inodeOf(fi) || r.path != pathSum(path) || r.sums[recordSHA256] == nil {
		return nil, false
	}
	for name, h := range want {
		if i := recordIndex(name); i < 0 || !hexEqual(r.sums[i], h) {
			return nil, false
		}
	}
	digests := make(map[string]string, len(want)+1)
	for name, h := range want {
		digests[name] = h
	}
	if _, ok := digests["sha256"]; !ok {
		digests["sha256"] = hex.EncodeToString(r.sums[recordSHA256])
	}
	return digests, true
}

// hexEqual reports whether h is the lower-case hex of sum.
func hexEqual(sum []byte, h string) bool {
	const digits = "0123456789abcdef"
	if sum == nil || len(h) != 2*len(sum) {
		return false
	}
	for i, c := range sum {
		if h[2*i] != digits[c>>4] || h[2*i+1] != digits[c&0xf] {
			return false
		}
	}
	return true
}

// trustedRecord returns the digests that the record of the open file fd
// gives, as [record.trusts] does, when it describes the file at path that
// fi describes, and holds every digest of want.
func trustedRecord(fd uintptr, path string, fi fs.FileInfo, want map[string]string) (map[string]string, bool) {
	var buf [maxRecord]byte
	n, err := readRecord(fd, buf[:])
	if err != nil {
		return nil, false
	}
	r, ok := parseRecord(buf[:n])
	if !ok {
		return nil, false
	}
	return r.trusts(path, fi, want)
}

// writeRecordOf records that f, an open file to be found at path, has
// the hex digests. It is best effort: a file without a record is hashed.
func writeRecordOf(f *os.File, path string, hexDigests map[string]string) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	writeRecord(f, newRecord(path, fi, hexDigests).marshal())
}
