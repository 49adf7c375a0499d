// Package partname holds the names that the tool gives its own files: the
// suffix that ends the name of every temporary, partial and guard file a
// download writes beside its destination, and the prefix of the folder a
// repository sync stages its files in, so that the library, the proxy's
// cache and the checks of paths from outside tell such files apart by one
// rule.
package partname

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Suffix ends the name of the temporary file that a download writes beside
// its destination, "." + base + "." + random + Suffix, and of the partial
// file that a kept download leaves, "." + base + Suffix.
const Suffix = ".part"

// GuardSuffix ends the name of the guard file of a partial file: the
// partial file's name + GuardSuffix.
const GuardSuffix = ".guard"

// StagingPrefix starts the name of a folder at the top of a synced
// directory in which a repository sync stages the files of a run before
// they are moved in place.
const StagingPrefix = ".fetch-"

// Own reports whether the file name base (one element of a path) is one
// that a download gives its own files: a hidden name that ends in Suffix,
// or in Suffix + GuardSuffix. Such files are removed as leftovers when no
// live download holds them.
func Own(base string) bool {
	data, _ := strings.CutSuffix(base, GuardSuffix)
	return strings.HasPrefix(base, ".") && strings.HasSuffix(data, Suffix)
}

// ErrReserved is the error of Check: the path could name a file that the
// tool makes for itself.
var ErrReserved = errors.New("a name fetch gives its own files")

// Check returns an error matching ErrReserved when the slash-separated
// relative path p could name a file that the tool makes for itself rather
// than a file from outside: a last element that Own reports true for (the
// partial, guard or temporary file of some other file), or a first element
// that starts with StagingPrefix. A file from a manifest, list or
// repository index under such a name would be taken for a leftover and
// removed, or collide with the tool's own file of another entry.
func Check(p string) error {
	first, _, _ := strings.Cut(p, "/")
	switch {
	case Own(path.Base(p)):
		return fmt.Errorf("%w (partial, guard and temporary files: .NAME%s, .NAME%s%s)", ErrReserved, Suffix, Suffix, GuardSuffix)
	case strings.HasPrefix(first, StagingPrefix):
		return fmt.Errorf("%w (the staging folder: %s*)", ErrReserved, StagingPrefix)
	}
	return nil
}
