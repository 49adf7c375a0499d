package repo

import (
	"context"
	"io/fs"
	"iter"
)

// A Format reads one kind of repository: rpm-md, a Debian archive, a Pulp
// file repository. It is all that a new kind of repository needs: [Sync]
// does the fetching, checking, staging and publishing that every format
// shares, in the same way for each.
//
// A Format's parsers read staged files only; the network is reached
// through the [Source] that Sync hands to Open.
type Format interface {
	// Open reads the repository's top file (PULP_MANIFEST, repomd.xml,
	// InRelease), and its signature if it has one, through src, checks
	// them, and returns the Index that the top file gives. A file that
	// cannot be read as the format says gives a [*FormatError]; a
	// signature that does not verify, an error matching [ErrSignature].
	Open(ctx context.Context, src *Source) (Index, error)
}

// An Index is what a repository's top file says: the metadata files to
// fetch, and how to read the packages from them.
type Index interface {
	// Metadata returns the files that the top file lists (primary.xml.gz,
	// Packages.xz), with their sizes and digests. [Sync] fetches them
	// into its staging area, and publishes them in this order, before the
	// top files: an order in which a client never finds a file named by
	// one it read before that is not there yet.
	Metadata() []Entry
	// Packages reads the packages from the staged metadata: stage holds
	// the top files and the files of Metadata at their paths (as
	// [Entry.Path]). The Packages are read as a stream, and may be ranged
	// over more than once, each time reading the files again.
	Packages(stage fs.FS) Packages
	// InTree reports whether a file at path (slash-separated, relative to
	// the repository's root) belongs to the tree of packages that this
	// format describes, so that -delete may remove it when no package
	// names it: a Debian archive's pool/, an rpm-md repository's *.rpm.
	InTree(path string) bool
}

// A Counted is an Index that read its packages when it was opened, each
// path checked with [Source.CheckPath] and refused as a whole when one is
// bad: [Sync.Plan] takes its count of them rather than reading them again.
type Counted interface {
	Index
	// Count returns the number of packages, and the sum of their sizes
	// (those known).
	Count() (files, bytes int64)
}

// Packages are a repository's packages, read as a stream: All yields them
// one at a time and keeps none; Err, called after the loop, returns the
// error that ended it early, or nil. Err speaks of the last loop, so one
// Packages is ranged over by one goroutine at a time.
type Packages interface {
	All() iter.Seq[Entry]
	Err() error
}

// NewPackages returns the Packages whose All calls read, which calls yield
// for each package until it returns false, and whose Err is the error
// that read returned last.
func NewPackages(read func(yield func(Entry) bool) error) Packages {
	return &packages{read: read}
}

type packages struct {
	read func(yield func(Entry) bool) error
	err  error
}

func (p *packages) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		p.err = p.read(yield)
	}
}

func (p *packages) Err() error { return p.err }
