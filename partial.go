package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/fetchkit/fetch/internal/dirwalk"
	"github.com/fetchkit/fetch/internal/partname"
)

// Partial files: with [Options.KeepPartial], the bytes of a download to
// Path go to a partial file beside it whose name depends on Path alone
// (PartialPath), next to a small guard file (the partial's name +
// ".guard") that records what the bytes are: the URL they came from, the
// validator of that response, the size and digests the request expected,
// and, for a segmented download, which spans of the file the partial file
// holds. A download holds an flock on the partial file for as long as
// it writes to it, and so does one on a temporary file; a file that
// nobody holds a lock on is a leftover.

// guardSuffix ends the name of the guard file of a partial file.
const guardSuffix = partname.GuardSuffix

// PartialPath returns the path of the partial file that a download to
// path keeps with [Options.KeepPartial]: "." + base(path) + ".part"
// beside it, a long name cut short and hashed.
func PartialPath(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, partialName(base, ""))
}

// guard is what a partial file's bytes are, and so when they may be
// resumed.
type guard struct {
	URL       string            `json:"url"`                 // redacted; the URL the bytes came from
	Validator string            `json:"validator,omitempty"` // of the response from URL
	Size      int64             `json:"size"`                // expected; -1 unknown
	Digests   map[string]string `json:"digests,omitempty"`   // expected, lower-case hex
	// Spans are the bytes [start, end) of the file that the partial file
	// holds, in order, when it has holes: a segmented download writes its
	// spans out of order. Without Spans (a guard of a download on one
	// connection) the partial file holds the first bytes of the file, all
	// of it.
	Spans [][2]int64 `json:"spans,omitempty"`
}

// guardOf returns the guard of bytes from the response of url with
// validator, for req as the sink knows it.
func (s *sink) guardOf(url, validator string) guard {
	return guard{URL: url, Validator: validator, Size: s.size, Digests: s.want}
}

// resumable reports whether bytes under g may be resumed by the request of
// s: the same expected size and digests, and a validator or an expected
// digest to catch a changed file.
func (s *sink) resumable(g guard) bool {
	return g.URL != "" && g.Size == s.size && maps.Equal(g.Digests, s.want) && (g.Validator != "" || len(s.want) > 0)
}

// openPartial opens the partial file of Path, if there is one, and locks
// it. When its bytes may be resumed it reads them back once into the
// hashes and returns their guard; otherwise it empties it. When another
// live download holds the partial file, or its name holds anything but a
// regular file (a FIFO, a symbolic link: never read or written), the sink
// does without: it writes to a temporary file of its own, made by its
// first write, and keeps nothing. With no partial file it makes one, or leaves the first write
// to make an unnamed file (unnamed_linux.go), named when its guard is
// written; when it cannot (a folder is missing), the first write does,
// or says why not.
func (s *sink) openPartial(ctx context.Context) (*guard, error) {
	if s.tryUnnamed {
		if _, err := s.place.lstat(PartialPath(s.path)); errors.Is(err, fs.ErrNotExist) {
			return nil, nil // none: the first write makes an unnamed file
		}
	}
	f, name, existed, err := s.openPartialFile()
	if errors.Is(err, errLocked) || errors.Is(err, errNotRegular) {
		s.keep = false
	}
	if err != nil {
		return nil, nil
	}
	s.tmp, s.tmpName = f, name
	if !existed {
		return nil, nil // a new partial file
	}
	fi, statErr := f.Stat()
	if statErr == nil && fi.Size() == 0 && s.written == 0 {
		// An empty partial file: nothing to read back or to empty. A
		// guard left beside it is removed before any byte is written.
		return nil, nil
	}
	g, err := s.readGuard()
	var prefix int64
	ok := err == nil && s.resumable(g)
	if ok && g.Spans != nil {
		ok = false
		if statErr == nil {
			prefix, s.done, ok = spansOf(g.Spans, fi.Size())
		}
	}
	if ok {
		if err := s.readBack(ctx, prefix, g.Spans != nil); err != nil {
			// Cut short (a cancel): the partial file stays as it was.
			if fi, serr := f.Stat(); serr == nil {
				s.kept = fi.Size()
			}
			f.Close()
			s.tmp, s.keep, s.written, s.done = nil, false, 0, nil
			return nil, err
		}
		if s.keptBytes() > 0 && (s.size < 0 || s.keptEnd() <= s.size) {
			s.guarded = true
			if g.Spans != nil {
				// Written again, with the spans as they are then, when
				// the download ends or its bytes are laid out anew.
				p := g
				p.Spans, s.pending = nil, &p
			}
			return &g, nil
		}
	}
	if err := s.restart(); err != nil {
		return nil, err
	}
	s.removeGuard()
	return nil, nil
}

// openPartialFile opens the partial file of Path, locked: a new one, or
// the one that a download that is gone left (existed; a guard may then
// stand beside it). It returns errLocked when a live download holds it.
func (s *sink) openPartialFile() (f *os.File, name string, existed bool, err error) {
	name = PartialPath(s.path)
	f, err = s.openLocked(name, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if errors.Is(err, fs.ErrExist) {
		existed = true
		if f, err = s.openLocked(name, os.O_RDWR); err == nil {
			s.onDisk = true
		}
	}
	return f, name, existed, err
}

// readBack reads the bytes of the partial file into the hashes, once:
// all of them, or with holey, the first prefix bytes, after which the
// next bytes are written.
func (s *sink) readBack(ctx context.Context, prefix int64, holey bool) error {
	r := io.Reader(s.tmp)
	if holey {
		r = io.NewSectionReader(s.tmp, 0, prefix)
	}
	err := s.hashFrom(ctx, r, make([]byte, 256<<10))
	if err == nil && holey {
		if s.written != prefix {
			err = io.ErrUnexpectedEOF
		} else {
			_, err = s.tmp.Seek(prefix, io.SeekStart)
		}
	}
	if err != nil && ctx.Err() == nil {
		return &sinkError{err}
	}
	return err
}

// spansOf checks the spans of a guard against a partial file of size
// bytes: in order, apart, within the file. It returns the bytes they hold
// from the start of the file, and the spans past those.
func spansOf(list [][2]int64, size int64) (prefix int64, rest []span, ok bool) {
	var kept []span
	end := int64(0)
	for _, p := range list {
		sp := span{p[0], p[1]}
		if sp.start < end || sp.end < sp.start || sp.end > size {
			return 0, nil, false
		}
		switch {
		case sp.start == sp.end:
		case len(kept) > 0 && kept[len(kept)-1].end == sp.start:
			kept[len(kept)-1].end = sp.end
		default:
			kept = append(kept, sp)
		}
		end = sp.end
	}
	if len(kept) > 0 && kept[0].start == 0 {
		prefix, kept = kept[0].end, kept[1:]
	}
	return prefix, kept, true
}

// dropSpans forgets the spans kept past the bytes written, and cuts them
// from the file, which then holds the first bytes of the file only: the
// next bytes are written in order.
func (s *sink) dropSpans() error {
	if len(s.done) == 0 {
		return nil
	}
	s.done = nil
	if s.tmp != nil {
		if err := s.tmp.Truncate(s.written); err != nil {
			return &sinkError{err}
		}
	}
	return nil
}

// keptEnd returns the end of the bytes that the partial file holds.
func (s *sink) keptEnd() int64 {
	if n := len(s.done); n > 0 {
		return s.done[n-1].end
	}
	return s.written
}

// keptBytes returns how many bytes of the file the partial file holds.
func (s *sink) keptBytes() int64 { return s.written + spanBytes(s.done) }

// spans returns the spans of the file that the partial file holds, for
// its guard: nil when they are its first bytes, all of it.
func (s *sink) spans() [][2]int64 {
	if len(s.done) == 0 {
		return nil
	}
	return appendSpans([][2]int64{{0, s.written}}, s.done)
}

func appendSpans(list [][2]int64, spans []span) [][2]int64 {
	for _, sp := range spans {
		list = append(list, [2]int64{sp.start, sp.end})
	}
	return list
}

func (s *sink) guardName() string { return PartialPath(s.path) + guardSuffix }

func (s *sink) readGuard() (guard, error) {
	var g guard
	f, err := s.place.openFile(s.guardName(), os.O_RDONLY, 0)
	if err != nil {
		return g, err
	}
	defer f.Close()
	err = json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&g)
	return g, err
}

// guardAfter is how many bytes a download writes to its partial file
// before their guard is written; a segmented download writes it again, with
// its spans, after each guardAfter bytes. Fewer are kept when the download
// ends (discard writes the guard then), but not across a crash: a small
// file is cheaper to download again than to guard.
const guardAfter = 1 << 20

// unguard removes the guard of the partial file before a segmented
// download whose bytes are not kept writes to it out of order: after a
// crash, a partial file with holes must not be taken for a prefix of the
// file. (A segmented download that keeps its bytes writes a guard that
// names its spans instead.) A failure that leaves the process running
// truncates nothing then, and removes it.
func (s *sink) unguard() error {
	if !s.keep {
		return nil
	}
	s.pending = nil
	if err := s.removeGuard(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &sinkError{err}
	}
	return nil
}

// setGuard makes g the guard of the bytes that the partial file is about
// to receive, from the start of a response. A guard already beside the
// partial file is removed before any of them is written; g itself is
// written once guardAfter bytes came, or when the download ends (discard),
// so that a download of a small file writes no second file. Bytes that
// nothing guards (no validator, no expected digest) are not kept.
func (s *sink) setGuard(g guard) error {
	s.pending = nil
	if _, err := s.file(); err != nil {
		return err
	}
	if err := s.unguard(); err != nil || !s.keep {
		return err // !keep: another live download holds the partial file
	}
	if s.resumable(g) {
		s.pending = &g
	}
	return nil
}

// writeGuard writes the pending guard beside the partial file, with the
// spans it holds.
func (s *sink) writeGuard() error {
	g := *s.pending
	s.pending = nil
	g.Spans = s.spans()
	return s.saveGuard(g)
}

// saveGuard writes g beside the partial file, and gives an unnamed file
// the partial file's name first.
func (s *sink) saveGuard(g guard) error {
	if s.unnamed && !s.namePartial() {
		return nil
	}
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	s.onDisk = true
	f, err := s.place.openFile(s.guardName(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if errors.Is(err, errNotRegular) {
		s.keep = false // something not ours has the guard's name: keep nothing
		return nil
	}
	if err != nil {
		return &sinkError{err}
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &sinkError{err}
	}
	s.guarded = true
	return nil
}

// namePartial gives the unnamed temporary file the name of Path's partial
// file, locked before the name appears, so that its bytes can be kept. It
// reports false, and the download keeps nothing, when that name is taken
// (another download made it meanwhile) or cannot be made.
func (s *sink) namePartial() bool {
	name := PartialPath(s.path)
	if !lockFile(s.tmp) || s.folder.link(s.tmp, filepath.Base(name)) != nil {
		s.keep = false
		return false
	}
	s.unnamed, s.tmpName = false, name
	return true
}

// removeGuard removes the guard file of the partial file, if one may be
// there.
func (s *sink) removeGuard() error {
	s.guarded = false
	if !s.onDisk {
		return nil
	}
	s.onDisk = false
	return s.place.remove(s.guardName())
}

// errLocked says that another live download holds a file.
var errLocked = errors.New("held by a live download")

// openLocked opens name with flag and locks it. It fails with errLocked
// when another live download holds it, with errNotRegular when name is
// not a regular file (a FIFO, a symbolic link: nothing a download made),
// and opens it again when the file was removed or replaced while it was
// being locked.
func (s *sink) openLocked(name string, flag int) (*os.File, error) {
	for range 10 {
		f, fi, err := s.place.openFileStat(name, flag, 0o666)
		if err != nil {
			return nil, err
		}
		if !lockFile(f) {
			f.Close()
			return nil, errLocked
		}
		now, lerr := s.place.lstat(name)
		if lerr == nil && os.SameFile(fi, now) {
			return f, nil
		}
		f.Close()
		if lerr == nil && !now.Mode().IsRegular() {
			// A symbolic link to a regular file: not the tool's.
			return nil, fmt.Errorf("%s: %w (%v)", name, errNotRegular, now.Mode().Type())
		}
	}
	return nil, fmt.Errorf("%s: removed again and again while opened", name)
}

// CreateTemp creates a new temporary file beside path (below root, when
// root is not nil) named as a download names its own, "." + base(path) +
// "." + random + ".part", with the mode of any new file (0666 less
// the umask), and holds its lock until the file is closed, so that
// [RemoveLeftovers] leaves it alone. It returns the file and its name
// (relative to root when root is not nil). The caller renames or removes
// it.
func CreateTemp(root *os.Root, path string) (*os.File, string, error) {
	s := &sink{place: place{root: root}}
	dir, base := filepath.Split(path)
	return s.createTemp(dir, base)
}

// RemoveLeftovers removes, in the whole tree of root, the temporary,
// partial and guard files (hidden names ending in ".part" or
// ".part.guard") that no live download holds: those left by a
// process that was killed, or whose download failed with
// [Options.KeepPartial], and anything but a folder under such a name
// that no download made (a FIFO, a symbolic link: the link is removed,
// not what it leads to). A partial file (and its guard) whose name keep
// reports true is left in place, to be resumed; names are relative to
// root, slash-separated. It returns the names removed. A file that a live
// download holds (an flock on it, also from another process) is never
// touched. On systems without flock it removes nothing.
func RemoveLeftovers(root *os.Root, keep func(name string) bool) ([]string, error) {
	if !canLock {
		return nil, nil
	}
	var removed []string
	p := place{root: root}
	walkRoot := root
	if walkRoot == nil {
		r, err := os.OpenRoot(".")
		if err != nil {
			return nil, err
		}
		defer r.Close()
		walkRoot = r
	}
	// Entries of any type but folders under fetch's own names
	// (partname.Own): a FIFO or a link planted there is removed too.
	err := dirwalk.Walk(walkRoot, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !partname.Own(d.Name()) {
			return err
		}
		data, _ := strings.CutSuffix(name, guardSuffix)
		if keep != nil && keep(data) {
			return nil
		}
		ok, err := p.removeLeftover(filepath.FromSlash(name), d.Type())
		if ok {
			removed = append(removed, name)
		}
		return err
	})
	return removed, err
}

// RemoveLeftoversOf removes the temporary, partial and guard files of
// downloads to paths (relative to root, or plain paths when root is nil)
// that no live download holds, as [RemoveLeftovers] does, but only those
// of these files, and only in their folders. It is meant for the files of
// a run that completed, in a folder that holds other things too. It
// returns the names removed (paths beside those given).
func RemoveLeftoversOf(root *os.Root, paths []string) ([]string, error) {
	if !canLock {
		return nil, nil
	}
	type names struct{ bases, hashes map[string]bool }
	dirs := map[string]names{}
	for _, path := range paths {
		dir, base := filepath.Split(path)
		n, ok := dirs[dir]
		if !ok {
			n = names{map[string]bool{}, map[string]bool{}}
			dirs[dir] = n
		}
		n.bases[base] = true
		if h := hashOf(partialName(base, "")); h != "" {
			n.hashes[h] = true
		}
	}
	p := place{root: root}
	var removed []string
	var errs []error
	for dir, n := range dirs {
		names, err := p.readNames(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, base := range names {
			stem, ok := partialStem(base)
			if !ok {
				continue
			}
			// stem is base, base.tag, or the hashed forms of either.
			tagless, tag, _ := cutLast(stem, ".")
			if !n.bases[stem] && !(isTag(tag) && n.bases[tagless]) && !n.hashes[hashOf(base)] {
				continue
			}
			name := filepath.Join(dir, base)
			fi, lerr := p.lstat(name)
			if lerr != nil {
				continue
			}
			ok, err := p.removeLeftover(name, fi.Mode().Type())
			if ok {
				removed = append(removed, name)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// partialStem returns what is between the leading "." and the
// partname.Suffix of the name of a temporary, partial or guard file.
func partialStem(name string) (string, bool) {
	data, _ := strings.CutSuffix(name, guardSuffix)
	stem, ok := strings.CutSuffix(data, partname.Suffix)
	if !ok || !strings.HasPrefix(stem, ".") {
		return "", false
	}
	return stem[1:], true
}

// hashOf returns the hash in a name that partialName cut short, or "".
func hashOf(name string) string {
	stem, ok := partialStem(name)
	if !ok {
		return ""
	}
	_, h, ok := cutLast(stem, "~")
	if !ok {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	if len(h) != 16 {
		return ""
	}
	return h
}

// cutLast slices s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// isTag reports whether s is a random tag of a temporary file: base 36.
func isTag(s string) bool {
	if s == "" || len(s) > 13 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// removeLeftover removes name, a temporary, partial or guard file's name
// whose type (fs.FileMode.Type) is typ, unless a live download holds it.
// Anything but a regular file under such a name (a FIFO, a symbolic link,
// a device; not a folder) is not a download's, and is removed, as a
// leftover is: the link, never what it leads to. It reports whether it
// removed name.
func (p place) removeLeftover(name string, typ fs.FileMode) (bool, error) {
	if typ.IsDir() {
		return false, nil
	}
	if !typ.IsRegular() {
		return p.removeGone(name)
	}
	return p.removeUnheld(name)
}

// removeUnheld removes the temporary, partial or guard file name unless a
// live download holds it (for a guard: its partial file). It reports
// whether it removed it.
func (p place) removeUnheld(name string) (bool, error) {
	s := &sink{place: p}
	data, isGuard := strings.CutSuffix(name, guardSuffix)
	if fi, err := p.lstat(data); err == nil && !fi.Mode().IsRegular() {
		// Not a download's file (a link, even to outside root, a FIFO):
		// nothing holds it, nor its guard.
		return p.removeGone(name)
	}
	f, err := s.openLocked(data, os.O_RDONLY)
	switch {
	case errors.Is(err, errLocked):
		return false, nil
	case err == nil:
		defer f.Close() // held while it, or its guard, goes
	case errors.Is(err, errNotRegular):
		// Not a download's file: nothing holds it, nor its guard.
	case !isGuard || !errors.Is(err, fs.ErrNotExist):
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return p.removeGone(name)
}

// removeGone removes name, and reports whether it did: not when it is
// gone already.
func (p place) removeGone(name string) (bool, error) {
	if err := p.remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
