package fetch

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/partname"
)

// algorithms are the digests a Request may name, by name: the hash, and
// the size of its sum in bytes.
var algorithms = map[string]struct {
	new  func() hash.Hash
	size int
}{
	"md5":    {md5.New, md5.Size},
	"sha1":   {sha1.New, sha1.Size},
	"sha224": {sha256.New224, sha256.Size224},
	"sha256": {sha256.New, sha256.Size},
	"sha384": {sha512.New384, sha512.Size384},
	"sha512": {sha512.New, sha512.Size},
}

// DigestSize returns the size in bytes of a digest of algorithm, one of
// the names [Request.Digests] knows: md5, sha1, sha224, sha256, sha384 and
// sha512 ([Request.Digests] also takes them in upper case). It returns 0
// for any other name. A digest in [Request.Digests] is twice that many
// hex digits.
func DigestSize(algorithm string) int {
	return algorithms[algorithm].size
}

// NewHash returns a new hash of algorithm, one of the names that
// [DigestSize] knows, or nil for any other name: the hash whose hex sum
// [Request.Digests] and [Result.Digests] hold under that name.
func NewHash(algorithm string) hash.Hash {
	a, ok := algorithms[algorithm]
	if !ok {
		return nil
	}
	return a.new()
}

// sink receives the bytes of one request: it hashes them, writes them to a
// temporary file beside Path and to the Writer, and counts them. Restart
// and commit make the temporary file a verified file at Path, or nothing.
type sink struct {
	path       string
	writer     io.Writer
	sync       bool
	want       map[string]string    // expected digests, lower-case hex
	hashes     map[string]hash.Hash // made by hashing
	noSHA256   bool                 // no SHA-256 of the bytes (Request.SkipSHA256)
	place      place
	folder     *folder // Path's folder, where tmp is an unnamed file (unnamed_linux.go); nil: a named one
	tmp        *os.File
	tmpName    string      // of tmp, in place; "" while tmp is unnamed
	unnamed    bool        // tmp has no name yet: linked at Path by commit
	tryUnnamed bool        // a folder made by create is opened for an unnamed file
	found      fs.FileInfo // Lstat of Path when the sink was made; nil if none
	written    int64
	done       []span // spans of the file in tmp past written, by start (kept by a segmented download)

	size    int64  // expected; -1 unknown
	keep    bool   // tmp is the partial file of Path, kept on failure (Options.KeepPartial)
	guarded bool   // the guard file describes the bytes of the partial file
	pending *guard // the guard of the bytes, not yet written (see setGuard)
	onDisk  bool   // a guard file may stand beside the partial file
	kept    int64  // bytes of the partial file left in place by discard
}

// newSink checks req's digests and Path and returns its sink. It writes
// no file: the temporary file is made by the first write, which, with
// unnamed, opens Path's folder for an unnamed temporary file; discard
// closes it. dir, if not nil, holds a descriptor of Root's folder for the
// calling goroutine. found is the regular file at Path when the caller has
// it open already, nil to look at Path.
func newSink(req Request, dir *rootDir, fsync, keep, unnamed bool, found fs.FileInfo) (*sink, error) {
	want, err := lowerDigests(req.Digests)
	if err != nil {
		return nil, err
	}
	s := &sink{path: req.Path, writer: req.Writer, sync: fsync, place: place{req.Root, dir}, size: -1,
		keep: keep && req.Path != "" && req.Writer == nil, want: want, noSHA256: req.SkipSHA256 && req.Path == ""}
	if req.SizeKnown && req.Size < 0 {
		return nil, fmt.Errorf("%w: size %d", ErrInvalidRequest, req.Size)
	}
	if req.hasSize() {
		s.size = req.Size
	}
	if req.Root != nil && (s.path == "" || !filepath.IsLocal(s.path)) {
		return nil, fmt.Errorf("%w: path %q is not a local path below Root", ErrInvalidRequest, s.path)
	}
	if s.path != "" {
		if _, base := filepath.Split(s.path); unnamed && base != "" && base != "." && base != ".." {
			s.tryUnnamed = true // Path's folder is opened by the first write
		}
		// One look serves this check and Request.CheckExisting's.
		if found != nil {
			s.found = found
			return s, nil
		}
		fi, err := s.place.lstat(s.path)
		if err == nil {
			s.found = fi
			if fi.Mode()&fs.ModeSymlink != 0 {
				fi, err = s.place.stat(s.path)
			}
		}
		if err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: %s exists and is not a regular file", ErrInvalidRequest, s.path)
		}
	}
	return s, nil
}

// lowerDigests checks digests, by algorithm, as a Request holds them,
// and returns them with every name and digest in lower case: digests
// itself when they are, else a copy.
func lowerDigests(digests map[string]string) (map[string]string, error) {
	lower := true
	for name, hexDigest := range digests {
		lowerName := strings.ToLower(name)
		size := DigestSize(lowerName)
		if size == 0 {
			return nil, fmt.Errorf("%w: unknown digest algorithm %q", ErrInvalidRequest, lowerName)
		}
		lowerHex, ok := hexdigest.Lower(hexDigest, 2*size)
		if !ok {
			return nil, fmt.Errorf("%w: %s digest %q is not %d hex bytes", ErrInvalidRequest, lowerName, strings.ToLower(hexDigest), size)
		}
		lower = lower && lowerName == name && lowerHex == hexDigest
	}
	if lower {
		return digests, nil
	}
	want := make(map[string]string, len(digests))
	for name, hexDigest := range digests {
		want[strings.ToLower(name)] = strings.ToLower(hexDigest)
	}
	return want, nil
}

// hashing returns the hashes of the bytes written: one for each digest
// wanted, and a SHA-256 (but with Request.SkipSHA256), made by the first call, so that a request whose
// file in place is trusted never makes them.
func (s *sink) hashing() map[string]hash.Hash {
	if s.hashes == nil {
		s.hashes = make(map[string]hash.Hash, len(s.want)+1)
		for name := range s.want {
			s.hashes[name] = NewHash(name)
		}
		if s.hashes["sha256"] == nil && !s.noSHA256 {
			s.hashes["sha256"] = sha256.New()
		}
	}
	return s.hashes
}

func (s *sink) closeFolder() {
	if s.folder != nil {
		s.folder.close()
		s.folder = nil
	}
}

// sinkError marks a failure to deliver bytes (a full disk, a Writer whose
// reader went away): another attempt cannot help.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

func (s *sink) Write(p []byte) (int, error) {
	for _, h := range s.hashing() {
		h.Write(p)
	}
	if s.path != "" {
		if _, err := s.file(); err != nil {
			return 0, err
		}
		if _, err := s.tmp.Write(p); err != nil {
			return 0, &sinkError{err}
		}
		if s.pending != nil && s.written+int64(len(p)) >= guardAfter {
			if err := s.writeGuard(); err != nil {
				return 0, err
			}
		}
	}
	if s.writer != nil {
		if n, err := s.writer.Write(p); err != nil {
			s.written += int64(n) // what the Writer took: Result.Size
			return 0, &sinkError{fmt.Errorf("writer: %w", err)}
		}
	}
	s.written += int64(len(p))
	return len(p), nil
}

// file returns the temporary file, made if need be, for writes in place.
func (s *sink) file() (*os.File, error) {
	if s.tmp == nil {
		if err := s.create(); err != nil {
			return nil, &sinkError{err}
		}
	}
	return s.tmp, nil
}

// hashed counts p, already in the temporary file at the end of the bytes
// written, as written.
func (s *sink) hashed(p []byte) {
	for _, h := range s.hashing() {
		h.Write(p)
	}
	s.written += int64(len(p))
}

// hashFrom reads r to its end into the hashes, counting the bytes as
// written, and stops when ctx is done. buf is the read buffer.
func (s *sink) hashFrom(ctx context.Context, r io.Reader, buf []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		s.hashed(buf[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// create makes the temporary file beside Path, and Path's directories
// when the first try finds them missing. A sink that keeps its bytes
// makes the partial file of Path, empty, unless another live download
// holds it: then it does without, and makes a temporary file of its own.
func (s *sink) create() error {
	dir, base := filepath.Split(s.path)
	open := func() (*os.File, string, error) {
		if s.folder != nil {
			f, err := s.folder.create(s.path)
			if err == nil {
				s.unnamed = true
				return f, "", nil
			}
			s.closeFolder() // a file system without unnamed files
			s.tryUnnamed = false
		}
		if s.keep {
			f, name, existed, err := s.openPartialFile()
			if err == nil && existed {
				// Its guard, if any, is removed by setGuard before a
				// byte is written. Not a new file's truncate: ext4
				// writes a file that was truncated to zero out when it
				// is closed.
				if fi, serr := f.Stat(); serr != nil || fi.Size() > 0 {
					if err = f.Truncate(0); err != nil {
						f.Close()
					}
				}
			}
			if !errors.Is(err, errLocked) && !errors.Is(err, errNotRegular) {
				return f, name, err
			}
			s.keep = false // held by another download, or not a file of ours
		}
		return s.createTemp(dir, base)
	}
	if s.tryUnnamed && s.folder == nil {
		// Opened now, not while the request waited for a connection, so
		// that requests waiting hold no descriptor; made if missing.
		s.folder, _ = makeFolder(s.place, filepath.Dir(s.path)) // nil: a named file
	}
	f, name, err := open()
	if errors.Is(err, fs.ErrNotExist) && dir != "" {
		if err := s.place.mkdirAll(dir, 0o755); err != nil {
			return err
		}
		if s.tryUnnamed {
			s.folder, _ = openFolder(s.place, filepath.Dir(s.path))
		}
		f, name, err = open()
	}
	if err != nil {
		return err
	}
	s.tmp, s.tmpName = f, name
	return nil
}

// createTemp creates a new file in dir named after base. Not
// os.CreateTemp, whose files are private (0600): the file renamed to Path
// gets the mode of any new file, 0666 less the umask.
func (s *sink) createTemp(dir, base string) (*os.File, string, error) {
	for {
		name := filepath.Join(dir, partialName(base, strconv.FormatUint(rand.Uint64(), 36)))
		f, err := s.openLocked(name, os.O_RDWR|os.O_CREATE|os.O_EXCL)
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, errLocked) {
			return f, name, err
		}
	}
}

// maxName is the longest file name that common file systems take, in bytes.
const maxName = 255

// partialName returns the name of a temporary file for the file named
// base: "." + base + "." + tag + partname.Suffix ("." + base + partname.Suffix
// for no tag), or, when that and a guard file's name could be longer than
// maxName, with base cut short and followed by a hash of the whole name,
// so that any legal name has a temporary file.
func partialName(base, tag string) string {
	if tag != "" {
		tag = "." + tag
	}
	// Room for the guard file's suffix, too.
	limit := maxName - len(guardSuffix)
	name := "." + base + tag + partname.Suffix
	if len(name) <= limit {
		return name
	}
	sum := sha256.Sum256([]byte(base))
	hash := "~" + hex.EncodeToString(sum[:8])
	keep := limit - (len(name) - len(base)) - len(hash)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep-- // cut between characters
	}
	return "." + base[:max(keep, 0)] + hash + tag + partname.Suffix
}

// canRestart reports whether the bytes delivered so far may be taken back:
// only a file can be, never a Writer.
func (s *sink) canRestart() bool { return s.writer == nil || s.written == 0 }

// restart forgets every byte written, to download again from zero.
func (s *sink) restart() error {
	if !s.canRestart() {
		return ErrCannotResume
	}
	for _, h := range s.hashes {
		h.Reset()
	}
	s.written, s.done = 0, nil
	if s.tmp != nil {
		if err := s.tmp.Truncate(0); err != nil {
			return &sinkError{err}
		}
		if _, err := s.tmp.Seek(0, io.SeekStart); err != nil {
			return &sinkError{err}
		}
	}
	return nil
}

// verify checks the digests of the bytes written, in a fixed order.
func (s *sink) verify() error {
	for _, name := range []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} {
		want, ok := s.want[name]
		if !ok {
			continue
		}
		if got := hex.EncodeToString(s.hashing()[name].Sum(nil)); got != want {
			return &DigestError{Algorithm: name, Expected: want, Actual: got}
		}
	}
	return nil
}

// digests returns the hex digests of the bytes written.
func (s *sink) digests() map[string]string {
	hashes := s.hashing()
	d := make(map[string]string, len(hashes))
	for name, h := range hashes {
		d[name] = hex.EncodeToString(h.Sum(nil))
	}
	return d
}

// commit records the verified temporary file's digests on it and renames
// it to Path, or links it there when it is unnamed (making an empty file
// when no byte came). A partial
// file's guard is removed first, so that a crash cannot leave it to
// describe the next bytes written beside Path, and the partial file is
// renamed while its lock is held.
func (s *sink) commit() error {
	if s.path == "" {
		return nil
	}
	if s.tmp == nil {
		if err := s.create(); err != nil {
			return &sinkError{err}
		}
	}
	s.removeGuard()
	// Recorded before it takes the name Path, so that it appears there
	// with its record (record.go).
	writeRecordOf(s.tmp, s.path, s.digests())
	var err error
	if s.sync {
		err = s.tmp.Sync()
	}
	if err == nil {
		if s.unnamed {
			err = s.link()
		} else {
			err = s.rename(s.tmpName, s.path)
		}
	}
	if err != nil {
		s.tmp.Close()
		if !s.unnamed {
			s.remove(s.tmpName)
		}
		s.tmp, s.unnamed = nil, false
		return &sinkError{err}
	}
	err = s.tmp.Close()
	s.tmp = nil
	if err != nil {
		return &sinkError{err}
	}
	return nil
}

// link gives the unnamed temporary file the name Path: in one step where
// Path is free, else under a temporary name, locked, renamed over Path.
func (s *sink) link() error {
	base := filepath.Base(s.path)
	err := s.folder.link(s.tmp, base)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	lockFile(s.tmp) // so that RemoveLeftovers leaves the name alone
	for {
		name := partialName(base, strconv.FormatUint(rand.Uint64(), 36))
		err := s.folder.link(s.tmp, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.folder.rename(name, base); err != nil {
			s.folder.remove(name)
			return err
		}
		return nil
	}
}

// rename renames name, a file beside Path, to newname, beside it too:
// through Path's folder when it is open.
func (s *sink) rename(name, newname string) error {
	if s.folder != nil {
		return s.folder.rename(filepath.Base(name), filepath.Base(newname))
	}
	return s.place.rename(name, newname)
}

// remove removes name, a file beside Path.
func (s *sink) remove(name string) error {
	if s.folder != nil {
		return s.folder.remove(filepath.Base(name))
	}
	return s.place.remove(name)
}

// discard removes the temporary file, if any, and closes Path's folder. A
// partial file with bytes that its guard describes stays, to be resumed
// by a later download; a guard not yet written is written now.
func (s *sink) discard() {
	defer s.closeFolder()
	if s.tmp == nil {
		return
	}
	if s.pending != nil && s.keptBytes() > 0 {
		s.writeGuard()
	}
	// A write that failed half way may have left bytes past those counted.
	if s.keep && s.guarded && s.keptBytes() > 0 && s.tmp.Truncate(s.keptEnd()) == nil {
		s.tmp.Close()
		s.tmp, s.kept = nil, s.keptBytes()
		return
	}
	s.removeGuard()
	s.tmp.Close()
	if !s.unnamed {
		s.remove(s.tmpName)
	}
	s.tmp, s.unnamed = nil, false
}
