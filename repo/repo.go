// Package repo reads package repositories (rpm-md, Debian archives, Pulp
// file repositories) and plans their mirroring as [fetch.Request]s.
//
// It is a builder on the core, as package mirror is: it uses package
// fetch's exported API only. Its parsers take an [io.Reader] and never touch
// the network, so that a test feeds them bytes; the layer that plans
// downloads reads the repository's top file through a [fetch.Fetcher] and
// hands out the files to mirror as a stream, never the whole package list
// at once.
//
// A kind of repository is a [Format] (packages rpm, deb and pulp hold
// one each; a program may bring its own), and [Sync] mirrors any of them
// into a folder, consistent at every instant for the clients that read
// it: metadata staged and checked, packages in place, then the metadata
// published in the order the Format gives. The command's fetch sync is a
// loop over Sync; repo/rpm's example is the same loop with FetchAll.
package repo

import (
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
)

// An Entry is a file that a repository names: an index (repomd.xml,
// primary.xml.gz, InRelease, Packages.xz) or a package.
type Entry struct {
	// Path is where the file is kept, slash-separated and relative to the
	// repository's root; it has passed the same check as any path from
	// outside (no "..", not absolute, no name of the tool's own files).
	Path string
	// URL is where the file is downloaded from when that is not Path below
	// the repository's base (an rpm-md package's xml:base); "" otherwise.
	URL string
	// Size is the file's size in bytes; -1 when the repository does not say.
	Size int64
	// Digests are the hex digests the repository gives, by the names of
	// [fetch.Request.Digests] ("sha256", ...).
	Digests map[string]string
	// Metadata is true for the repository's indexes and top files, which
	// are published only once every package they name is in place.
	Metadata bool
	// Name, Version and Arch identify a package (Version is the full
	// epoch:version-release); empty for metadata.
	Name, Version, Arch string
}

// ErrMalformed matches (errors.Is) every error that reports a repository
// file which cannot be read as its format says: a [*FormatError].
var ErrMalformed = errors.New("malformed repository file")

// ErrSignature matches (errors.Is) every error that reports a signature
// which does not verify: made by no key of the keyring, over other bytes,
// expired, or not a signature at all.
var ErrSignature = errors.New("signature does not verify")

// ErrExpired matches (errors.Is) every error that refuses a top file past
// the time it says it is valid until (a Debian Release's Valid-Until): an
// old, replayed signature that a mirror must not publish again.
var ErrExpired = errors.New("expired")

// ErrOlder matches (errors.Is) every error that refuses a top file older
// than the one the mirror has published: a rollback, or an upstream that
// is behind.
var ErrOlder = errors.New("older than the mirror's")

// A FormatError reports where a repository file is malformed. Line and
// Column count from 1 and are 0 when unknown (in a compressed or binary
// file, Offset places the error instead).
type FormatError struct {
	File   string // the file's path in the repository, or its URL
	Line   int
	Column int
	Offset int64
	Err    error
}

func (e *FormatError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	case e.Offset > 0:
		return fmt.Sprintf("%s: at byte %d: %v", e.File, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Is reports that every FormatError matches [ErrMalformed].
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

// A Verifier checks the OpenPGP signatures of a repository's top file
// (InRelease, Release.gpg, repomd.xml.asc). An error that it returns for a
// signature that does not verify matches [ErrSignature].
type Verifier interface {
	// Detached checks signature, armored or binary, over the bytes of
	// signed.
	Detached(signed, signature io.Reader) error
	// Clearsigned checks a clear-signed message and returns the text that
	// the signature covers (dash-escaping undone).
	Clearsigned(msg io.Reader) ([]byte, error)
}

// Request returns the request for the file: its URL (URL, else Path
// below base, as [mirror.Join] makes it), its size and digests, and the
// Entry as Tag. Path, Root and Mirrors are left to the caller.
func (e Entry) Request(base *url.URL) fetch.Request {
	u := e.URL
	if u == "" {
		u = mirror.Join(base, e.Path)
	}
	req := fetch.Request{URL: u, Digests: e.Digests, Tag: e}
	if e.Size >= 0 {
		req.Size = e.Size
		req.SizeKnown = true
	}
	return req
}
