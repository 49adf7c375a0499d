package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/repo"
)

// syncMirrors are the mirrors of a sync that a -metalink or -mirrorlist
// document names, with the -mirror bases after them, in a mirror.Pool
// that the sync's Fetcher resolves through. The mirrors are asked for the
// repository's top file in turn; the first copy that the Metalink names
// (any copy, for a mirror list) is the one the sync mirrors, and the
// mirrors before it are used for nothing else.
type syncMirrors struct {
	doc  *url.URL     // the document
	pool *mirror.Pool // its mirrors, and -mirror's
	// file is the Metalink's entry of the top file, whose hashes (or an
	// alternate's) a copy must have; nil for a mirror list.
	file *mirror.File
	top  string // the top file's path below a mirror
	// verifier, if set, must verify the top file's clear signature (a
	// Debian archive's InRelease, with -keyring).
	verifier repo.Verifier
	// fresh, if set, must accept the top file too (a Debian archive's
	// InRelease neither expired nor older than DIR's): a mirror that is
	// behind is passed over.
	fresh func(body []byte) error

	// Of the copy of the top file that passed: its digests and size, which
	// the sync's own download of it must have, and which version of the
	// Metalink's file it is (0: the file, n: its nth alternate).
	digests   map[string]string
	size      int64
	alternate int
}

// loadMirrors loads the document doc of -metalink (metalink true) or
// -mirrorlist with f, for a repository whose top file is at top below each
// mirror, and adds its mirrors to pool, then the bases of more (-mirror).
func loadMirrors(ctx context.Context, f *fetch.Fetcher, pool *mirror.Pool, doc *url.URL, metalink bool, top string, more []string) (*syncMirrors, error) {
	bases, ml, err := mirror.Load(ctx, f, doc.String())
	if err != nil {
		return nil, err
	}
	m := &syncMirrors{doc: doc, pool: pool, top: top}
	if metalink {
		if ml == nil {
			return nil, fmt.Errorf("metalink %s: %w: a mirror list, not a Metalink (see -mirrorlist)", doc.Redacted(), mirror.ErrMalformed)
		}
		// MirrorManager names repomd.xml; a Metalink 4 may name its path.
		if m.file, err = ml.File(top); err != nil {
			if m.file, err = ml.File(path.Base(top)); err != nil {
				return nil, fmt.Errorf("metalink %s: %w", doc.Redacted(), err)
			}
		}
	}
	pool.Add(append(bases, more...)...)
	return m, nil
}

// open asks the mirrors, in order, for the top file until one serves a
// copy that passes, and returns that mirror's base: the repository's root
// for the sync. The mirrors asked before it are dropped for the run. f
// resolves through the Pool.
func (m *syncMirrors) open(ctx context.Context, f *fetch.Fetcher) (*url.URL, error) {
	check := func(body []byte) error {
		if m.verifier != nil {
			if _, err := m.verifier.Clearsigned(bytes.NewReader(body)); err != nil {
				return err
			}
		}
		if m.fresh != nil {
			if err := m.fresh(body); err != nil {
				return err
			}
		}
		if m.file == nil {
			sum := sha256.Sum256(body)
			m.digests = map[string]string{"sha256": hex.EncodeToString(sum[:])}
			return nil
		}
		d := m.file.Digester()
		d.Write(body)
		match, err := d.Match()
		m.digests, m.alternate = match.Digests, match.Alternate
		return err
	}
	body, base, err := m.pool.Top(ctx, f, m.top, check)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.where(), err)
	}
	m.size = int64(len(body))
	return url.Parse(base)
}

// where names the document in messages.
func (m *syncMirrors) where() string {
	if m.file != nil {
		return "metalink " + m.doc.Redacted()
	}
	return "mirror list " + m.doc.Redacted()
}

// prepare completes a request of the sync: the Pool gives its mirrors,
// and the top file must be the copy that passed.
func (m *syncMirrors) prepare(req *fetch.Request) {
	req.Mirrors = nil
	if e, ok := req.Tag.(repo.Entry); ok && e.Path == m.top {
		req.Digests, req.Size, req.SizeKnown = m.digests, m.size, true
	}
}

// report prints which copy of the top file the sync took, when not the
// Metalink's current one, and the mirrors dropped and moved, with why.
func (m *syncMirrors) report(rep *report) {
	if m.file != nil && m.alternate > 0 {
		rep.printf("%s: the copy of alternate %d of the Metalink's (a mirror slightly behind)\n", m.top, m.alternate)
	}
	for _, d := range m.pool.Dropped() {
		rep.printf("mirror %s dropped: %v\n", d.Base, d.Err)
	}
	for _, mv := range m.pool.Moved() {
		rep.printf("mirror %s moved to the end: it failed %s, which %s served\n", mv.Base, mv.Path, mv.By)
	}
}
