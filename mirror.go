package fetch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultMirrorRefresh is how long a MirrorList uses a list before it
// loads it again, when MirrorListOptions.RefreshInterval is zero.
const DefaultMirrorRefresh = time.Hour

// MaxMirrorListSize caps the size of a mirror list or Metalink document
// that a MirrorList loads: a server cannot make it hold more in memory.
const MaxMirrorListSize = 4 << 20

// ErrMalformedList is matched by the error of a mirror list or Metalink
// document that cannot be read: the error says where and why.
var ErrMalformedList = errors.New("malformed mirror list")

// MirrorListOptions configures a MirrorList. The zero value of each field
// means its documented default.
type MirrorListOptions struct {
	// RefreshInterval is how long a loaded list is used: the first Resolve
	// after that loads it again. A load that fails keeps the list in use
	// for another interval. 0 means DefaultMirrorRefresh; negative means
	// the list is loaded once.
	RefreshInterval time.Duration
}

// MirrorList is a Resolver for a repository that mirrors serve: a request
// for a URL under base is tried at the same path on each mirror of a list,
// in the list's order, then at its own URL, then at its own Mirrors. Other
// requests keep their URL and Mirrors. Set it as Options.Resolver, and
// every caller of Fetch gets the mirrors without knowing of them; the
// Fetcher's mirror health still moves mirrors that failed to the end.
//
// The list is a mirrorlist file (see ParseMirrorList) or a Metalink 4
// document (see ParseMetalink), told apart by their first character. Of a
// Metalink, the MirrorList takes the URLs that end in the name of their
// file, without that name, as the mirrors, best priority first; sizes and
// hashes cannot reach a request through a Resolver: build requests with
// MetalinkFile.Request to check them.
//
// The list is loaded with the Fetcher given to NewMirrorList, so any
// protocol of that Fetcher may serve it, on the first Resolve that needs
// it, and again after RefreshInterval. Concurrent Resolves wait for one
// load. Mirrors whose scheme that Fetcher cannot open are left out, and so
// is a password in the request's URL: it is not sent to mirrors.
//
// A MirrorList is safe for concurrent use.
type MirrorList struct {
	fetcher *Fetcher
	base    string // ends in "/"
	listURL string
	refresh time.Duration

	loads   singleflight.Group
	mu      sync.Mutex
	mirrors []string  // base URLs, each ending in "/"; nil until loaded
	checked time.Time // when the list was last loaded or tried
}

// NewMirrorList returns a MirrorList for the files under base, whose
// mirrors are listed at listURL. The list is fetched with f: a Fetcher
// other than the one that uses the MirrorList as its Resolver (which does
// not exist yet when the MirrorList is made), sharing its Limiter and
// Client where they should be shared:
//
//	lists := fetch.New(fetch.Options{Limiter: limiter})
//	mirrors := fetch.NewMirrorList(lists, "https://repo.example/os/", "https://repo.example/mirrorlist", fetch.MirrorListOptions{})
//	f := fetch.New(fetch.Options{Limiter: limiter, Resolver: mirrors})
//
// It may also be the very Fetcher that resolves through the MirrorList,
// through a ResolverFunc that calls the MirrorList made after it: a
// Resolve of listURL itself never waits for the list. NewMirrorList panics
// if f is nil.
func NewMirrorList(f *Fetcher, base, listURL string, opts MirrorListOptions) *MirrorList {
	if f == nil {
		panic("fetch: NewMirrorList with a nil Fetcher")
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &MirrorList{
		fetcher: f,
		base:    base,
		listURL: listURL,
		refresh: orDefault(opts.RefreshInterval, DefaultMirrorRefresh),
	}
}

// Resolve returns the URLs to try for req: the mirrors' URLs for a URL
// under the MirrorList's base, then req's own URL and Mirrors. It fails
// only if the list is needed and has never been loaded, or if ctx is done
// while it waits for a load.
func (m *MirrorList) Resolve(ctx context.Context, req Request) ([]string, error) {
	own := append([]string{req.URL}, req.Mirrors...)
	rel, under := m.relative(req.URL)
	if !under || req.URL == m.listURL {
		return own, nil
	}
	mirrors, err := m.Mirrors(ctx)
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(mirrors)+len(own))
	for _, mirror := range mirrors {
		urls = append(urls, mirror+rel)
	}
	for _, u := range own {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

// relative returns the part of rawURL below the base, ignoring a password
// in rawURL.
func (m *MirrorList) relative(rawURL string) (string, bool) {
	if rel, ok := strings.CutPrefix(rawURL, m.base); ok {
		return rel, true
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return "", false
	}
	u.User = nil
	return strings.CutPrefix(u.String(), m.base)
}

// Mirrors returns the base URLs of the mirrors, each ending in "/", loading
// the list first if it is not loaded or older than the RefreshInterval.
// The slice must not be modified.
func (m *MirrorList) Mirrors(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	mirrors, fresh := m.mirrors, m.fresh(time.Now())
	m.mu.Unlock()
	if fresh {
		return mirrors, nil
	}
	for {
		// One load for every Resolve that waits: it runs with the context
		// of the first, and each waiter stops waiting when its own ctx is
		// done.
		ch := m.loads.DoChan("", func() (any, error) { return m.load(ctx) })
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.Err == nil {
				return r.Val.([]string), nil
			}
			if isContextErr(r.Err) && ctx.Err() == nil {
				continue // the one who loaded gave up: load again
			}
			return nil, r.Err
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fresh reports whether the list may be used as it is; m.mu is held.
func (m *MirrorList) fresh(now time.Time) bool {
	return m.mirrors != nil && (m.refresh < 0 || now.Sub(m.checked) < m.refresh)
}

// load fetches and parses the list, unless another load just did. A load
// that fails keeps a list loaded before.
func (m *MirrorList) load(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	if m.fresh(time.Now()) {
		defer m.mu.Unlock()
		return m.mirrors, nil
	}
	m.mu.Unlock()

	mirrors, err := m.fetchList(ctx)

	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		m.mirrors = mirrors
	case m.mirrors == nil || isContextErr(err):
		return nil, err
	default:
		m.fetcher.log.Warn("fetch: keeping the mirror list loaded before", "url", RedactURL(m.listURL), "err", err)
	}
	m.checked = time.Now()
	return m.mirrors, nil
}

// fetchList downloads and parses the list.
func (m *MirrorList) fetchList(ctx context.Context) ([]string, error) {
	buf := &cappedBuffer{max: MaxMirrorListSize}
	if _, err := m.fetcher.Fetch(ctx, Request{URL: m.listURL, Writer: buf}); err != nil {
		return nil, fmt.Errorf("mirror list: %w", err)
	}
	var urls []string
	if doc := bytes.TrimLeft(buf.Bytes(), "\ufeff \t\r\n"); bytes.HasPrefix(doc, []byte("<")) {
		ml, err := ParseMetalink(bytes.NewReader(doc))
		if err != nil {
			return nil, fmt.Errorf("mirror list %s: %w", RedactURL(m.listURL), err)
		}
		urls = ml.mirrors()
	} else {
		var err error
		if urls, err = ParseMirrorList(bytes.NewReader(doc)); err != nil {
			return nil, fmt.Errorf("mirror list %s: %w", RedactURL(m.listURL), err)
		}
	}
	var mirrors []string
	for _, s := range urls {
		u, _ := url.Parse(s) // the parsers checked it
		if m.fetcher.protocols[u.Scheme] == nil {
			continue
		}
		if !strings.HasSuffix(s, "/") {
			s += "/"
		}
		if !slices.Contains(mirrors, s) {
			mirrors = append(mirrors, s)
		}
	}
	if len(mirrors) == 0 {
		return nil, fmt.Errorf("%w: %s names no mirror this Fetcher can use", ErrMalformedList, RedactURL(m.listURL))
	}
	return mirrors, nil
}

// cappedBuffer is a bytes.Buffer that refuses to grow past max bytes.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: larger than %d bytes", ErrMalformedList, b.max)
	}
	return b.Buffer.Write(p)
}

// ParseMirrorList reads a mirrorlist file: one absolute URL a line, blank
// lines and lines starting with "#" ignored, and anything after the URL on
// its line (whitespace-separated metadata, as apt's mirror files have)
// ignored. It returns the URLs in order, or an error that matches
// ErrMalformedList and names the first bad line.
func ParseMirrorList(r io.Reader) ([]string, error) {
	var urls []string
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		field := strings.Fields(text)[0]
		if err := checkMirrorURL(field); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrMalformedList, line, err)
		}
		urls = append(urls, field)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %v", ErrMalformedList, line, err)
	}
	return urls, nil
}

// checkMirrorURL returns an error unless s is an absolute URL with a host
// (or a file URL with a path).
func checkMirrorURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL", u.Redacted())
	case u.Host == "" && !(u.Scheme == "file" && u.Path != ""):
		return fmt.Errorf("%q names no host", u.Redacted())
	}
	return nil
}

// Metalink is a Metalink 4 document (RFC 5854), as far as a download needs
// it: the files, their sizes, hashes and URLs.
type Metalink struct {
	Files []MetalinkFile
}

// MetalinkFile is a file of a Metalink document.
type MetalinkFile struct {
	// Name is the file's name, a relative path with "/" separators.
	Name string
	// Size is the file's size in bytes; 0 when the document does not say.
	Size int64
	// Digests are the file's hex digests by algorithm, named as
	// Request.Digests names them ("sha256", ...). Hashes of other
	// algorithms are left out.
	Digests map[string]string
	// URLs are the file's URLs, best priority first; those of equal
	// priority, and those without one (last), in document order.
	URLs []string
}

// Request returns a Request for the file: its first URL, the others as
// Mirrors, its size and digests. Path and Writer are left to the caller.
func (f MetalinkFile) Request() Request {
	req := Request{Size: f.Size, Digests: f.Digests}
	if len(f.URLs) > 0 {
		req.URL, req.Mirrors = f.URLs[0], f.URLs[1:]
	}
	return req
}

// metalinkNS is the XML namespace of Metalink 4.
const metalinkNS = "urn:ietf:params:xml:ns:metalink"

// metalinkHashes maps the hash names of RFC 5854 (IANA's "Hash Function
// Textual Names") to those of Request.Digests.
var metalinkHashes = map[string]string{
	"md5": "md5", "sha-1": "sha1", "sha-224": "sha224",
	"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
}

// ParseMetalink reads a Metalink 4 document (RFC 5854). It keeps of each
// file its name, size, hashes of the algorithms Request.Digests knows, and
// URLs; other elements are ignored. A document that is not Metalink 4, has
// no file, or has a file with an unsafe or repeated name, a bad size, a
// malformed hash, a URL that is not absolute or a priority outside
// 1..999999, gives an error that matches ErrMalformedList.
func ParseMetalink(r io.Reader) (*Metalink, error) {
	var doc struct {
		XMLName xml.Name `xml:"metalink"`
		Files   []struct {
			Name   string   `xml:"name,attr"`
			Size   []string `xml:"size"`
			Hashes []struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"hash"`
			URLs []struct {
				Priority string `xml:"priority,attr"`
				Value    string `xml:",chardata"`
			} `xml:"url"`
		} `xml:"file"`
	}
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedList, err)
	}
	if doc.XMLName.Space != metalinkNS {
		return nil, fmt.Errorf("%w: root element is in namespace %q, not %q (Metalink 4)", ErrMalformedList, doc.XMLName.Space, metalinkNS)
	}
	if len(doc.Files) == 0 {
		return nil, fmt.Errorf("%w: no file in the Metalink", ErrMalformedList)
	}
	ml := &Metalink{}
	names := make(map[string]bool, len(doc.Files))
	for _, df := range doc.Files {
		f := MetalinkFile{Name: df.Name, Digests: map[string]string{}}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: file %q: %s", ErrMalformedList, f.Name, fmt.Sprintf(format, args...))
		}
		if !safeName(f.Name) {
			return nil, bad("not a safe relative path")
		}
		if names[f.Name] {
			return nil, bad("named twice")
		}
		names[f.Name] = true
		if len(df.Size) > 1 {
			return nil, bad("%d sizes", len(df.Size))
		}
		if len(df.Size) == 1 {
			size, err := strconv.ParseInt(strings.TrimSpace(df.Size[0]), 10, 64)
			if err != nil || size < 0 {
				return nil, bad("size %q is not a number of bytes", df.Size[0])
			}
			f.Size = size
		}
		for _, h := range df.Hashes {
			name, ok := metalinkHashes[strings.ToLower(strings.TrimSpace(h.Type))]
			if !ok {
				continue
			}
			value := strings.ToLower(strings.TrimSpace(h.Value))
			size := algorithms[name]().Size()
			if b, err := hex.DecodeString(value); err != nil || len(b) != size {
				return nil, bad("%s hash %q is not %d hex bytes", h.Type, h.Value, size)
			}
			if old, ok := f.Digests[name]; ok && old != value {
				return nil, bad("two different %s hashes", h.Type)
			}
			f.Digests[name] = value
		}
		type ranked struct {
			url      string
			priority int // 0: none
		}
		var urls []ranked
		for _, du := range df.URLs {
			u := ranked{url: strings.TrimSpace(du.Value)}
			if err := checkMirrorURL(u.url); err != nil {
				return nil, bad("%v", err)
			}
			if p := strings.TrimSpace(du.Priority); p != "" {
				n, err := strconv.Atoi(p)
				if err != nil || n < 1 || n > 999999 {
					return nil, bad("priority %q is not in 1..999999", du.Priority)
				}
				u.priority = n
			}
			urls = append(urls, u)
		}
		slices.SortStableFunc(urls, func(a, b ranked) int {
			return rank(a.priority) - rank(b.priority)
		})
		for _, u := range urls {
			f.URLs = append(f.URLs, u.url)
		}
		ml.Files = append(ml.Files, f)
	}
	return ml, nil
}

// rank orders priorities: 1 first, none (0) last.
func rank(priority int) int {
	if priority == 0 {
		return 1_000_000
	}
	return priority
}

// safeName reports whether name is a relative path that stays below its
// folder, as RFC 5854 requires of file names.
func safeName(name string) bool {
	return name != "" && !strings.HasPrefix(name, "/") && !strings.Contains(name, "\\") &&
		path.Clean(name) == name && name != "." && name != ".." && !strings.HasPrefix(name, "../")
}

// mirrors returns the base URLs of the mirrors that the document lists:
// each URL that ends in "/" + its file's name, without that name, in order
// of the files and of their URLs.
func (ml *Metalink) mirrors() []string {
	var bases []string
	for _, f := range ml.Files {
		for _, u := range f.URLs {
			if base, ok := strings.CutSuffix(u, "/"+f.Name); ok && !slices.Contains(bases, base+"/") {
				bases = append(bases, base+"/")
			}
		}
	}
	return bases
}
