package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/fetchkit/fetch"
)

// Pool is a [fetch.Resolver] over the mirrors of one run, such as a sync
// of a repository, that learns which mirrors to trust as the run goes:
//
//   - [Pool.Top] asks the mirrors, in order, for the repository's top file
//     (repodata/repomd.xml, InRelease) until one passes a check, such as the
//     hashes of a Metalink. A mirror that answers 404, cannot be reached or
//     serves a copy that fails the check is dropped: no file of the run is
//     asked of it. The mirrors after the first that passed are not asked;
//     every file they serve is still checked against its own digest.
//   - [Pool.Learn], given each [fetch.Result], moves to the end of the order
//     the mirrors that were tried for a file and failed it (a 404, bytes of
//     another digest, a broken connection: a Result does not say which) when
//     another mirror then served it with the digests asked for.
//
// A request for a URL below one of the mirrors is tried at the same path
// on each mirror that is not dropped, in the Pool's order, then at its own
// URL and Mirrors that are not on a dropped mirror. Other requests keep
// their URL and Mirrors. A password in a request's URL is not sent to the
// other mirrors. Within the Fetcher, its own mirror health still moves
// hosts that fail to the end of each request's URLs.
//
// A Pool is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	order   []string            // the mirrors not dropped, best first; each ends in "/"
	dropped []Dropped           // in the order they were dropped
	moved   []Moved             // in the order they were moved
	given   map[string][]string // request URL → the mirrors Resolve gave it, in order
}

// Dropped is a mirror that a [Pool] uses no more, and why.
type Dropped struct {
	Base string // the mirror's base URL, password redacted
	Err  error  // why: its top file failed, or did not pass the check
}

// Moved is a mirror that a [Pool] moved to the end of its order: it
// failed the file Path, which the mirror By then served.
type Moved struct {
	Base, Path, By string // passwords redacted
}

// NewPool returns a Pool of the mirrors whose base URLs are bases, in
// that order, as Add adds them. A Pool of no mirror resolves every request
// to its own URLs.
func NewPool(bases []string) *Pool {
	p := &Pool{given: map[string][]string{}}
	p.Add(bases...)
	return p
}

// Add adds the mirrors whose base URLs are bases at the end of the order:
// a "/" is added to a base that does not end in one, and a base given
// twice, or dropped before, is left out.
func (p *Pool) Add(bases ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bases {
		if !strings.HasSuffix(b, "/") {
			b += "/"
		}
		if !slices.Contains(p.order, b) && !slices.Contains(p.droppedBases(), fetch.RedactURL(b)) {
			p.order = append(p.order, b)
		}
	}
}

// Mirrors returns the base URLs of the mirrors not dropped, in the order
// they are tried.
func (p *Pool) Mirrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.order)
}

// Dropped returns the mirrors dropped so far, in the order they were.
func (p *Pool) Dropped() []Dropped {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.dropped)
}

// Moved returns the mirrors moved to the end so far, in the order they
// were.
func (p *Pool) Moved() []Moved {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.moved)
}

// Drop stops the Pool from using the mirror whose base is base, for err.
func (p *Pool) Drop(base string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop(base, err)
}

// drop is Drop with p.mu held.
func (p *Pool) drop(base string, err error) {
	if i := slices.Index(p.order, base); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
		p.dropped = append(p.dropped, Dropped{Base: fetch.RedactURL(base), Err: err})
	}
}

// under returns the mirror (live or dropped) that rawURL is below, with
// the path below it; p.mu is held.
func (p *Pool) under(rawURL string, bases []string) (base, rel string, ok bool) {
	for _, b := range bases {
		if r, ok := relative(b, rawURL); ok && len(b) > len(base) {
			base, rel = b, r
		}
	}
	return base, rel, base != ""
}

// isDropped reports whether rawURL is below a dropped mirror; p.mu is
// held.
func (p *Pool) isDropped(rawURL string) bool {
	for _, d := range p.dropped {
		if _, ok := relative(d.Base, fetch.RedactURL(rawURL)); ok {
			return true
		}
	}
	return false
}

// Resolve returns the URLs to try for req. It fails when req's URL is
// below a mirror and every mirror, and every URL of req's own, is dropped.
func (p *Pool) Resolve(_ context.Context, req fetch.Request) ([]string, error) {
	own := append([]string{req.URL}, req.Mirrors...)
	if _, ok := req.Tag.(topRequest); ok {
		return own, nil // Top asks each mirror itself
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, rel, ok := p.under(req.URL, append(slices.Clone(p.order), p.droppedBases()...))
	if !ok {
		return own, nil
	}
	urls := make([]string, 0, len(p.order)+len(own))
	for _, m := range p.order {
		urls = append(urls, m+rel)
	}
	p.given[req.URL] = slices.Clone(p.order)
	for _, u := range own {
		if !slices.Contains(urls, u) && !p.isDropped(u) {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%s: every mirror was dropped", fetch.RedactURL(req.URL))
	}
	return urls, nil
}

// droppedBases returns the bases of the dropped mirrors; p.mu is held.
func (p *Pool) droppedBases() []string {
	bases := make([]string, len(p.dropped))
	for i, d := range p.dropped {
		bases[i] = d.Base
	}
	return bases
}

// Learn takes the Result of a request that Resolve gave URLs for: when a
// mirror served the file with the digests asked for after others of the
// Pool were tried, those others are moved to the end of the order, in
// the order they were. Call it for every Result of a Fetcher that resolves
// through p.
func (p *Pool) Learn(res fetch.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	given, ok := p.given[res.Request.URL]
	delete(p.given, res.Request.URL)
	if !ok || res.Err != nil || res.Skipped || len(res.Request.Digests) == 0 || res.Attempts < 2 {
		return
	}
	redacted := make([]string, len(given))
	for i, b := range given {
		redacted[i] = fetch.RedactURL(b)
	}
	by, rel, ok := p.under(res.URL, redacted)
	if !ok {
		return
	}
	for _, b := range given[:slices.Index(redacted, by)] {
		i := slices.Index(p.order, b)
		if i < 0 || i == len(p.order)-1 {
			continue // dropped, or last already
		}
		p.order = append(slices.Delete(p.order, i, i+1), b)
		p.moved = append(p.moved, Moved{Base: fetch.RedactURL(b), Path: rel, By: by})
	}
}

// topRequest tags the requests of Top, which Resolve leaves to their own
// URL.
type topRequest struct{}

// Top returns the repository's top file, at the path rel below each mirror
// (such as "repodata/repomd.xml"), from the first mirror in order whose
// copy check accepts (nil accepts any), and that mirror's base. It loads
// each copy with f (at most MaxListSize bytes of it), which may resolve
// through p: Top asks one mirror at a time. Each mirror tried before,
// whose copy failed or was refused, is dropped, the error saying why. When
// none passes, every mirror is dropped and the error joins the errors of
// each; it names rel.
func (p *Pool) Top(ctx context.Context, f Loader, rel string, check func([]byte) error) ([]byte, string, error) {
	var errs []error
	for _, base := range p.Mirrors() {
		buf := &cappedBuffer{max: MaxListSize}
		_, err := f.Fetch(ctx, fetch.Request{URL: base + rel, Writer: buf, Tag: topRequest{}}) // its errors name the URL
		body := buf.Bytes()
		if err == nil && check != nil {
			if err = check(body); err != nil {
				err = fmt.Errorf("%s: %w", fetch.RedactURL(base+rel), err)
			}
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if err == nil {
			return body, base, nil
		}
		p.Drop(base, err)
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("%s: no mirror to ask", rel)
	}
	return nil, "", fmt.Errorf("%s: no mirror serves a copy that passes: %w", rel, errors.Join(errs...))
}
