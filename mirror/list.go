// Package mirror adds mirrors to downloads of a [fetch.Fetcher]: a [List]
// loaded from a mirrorlist file or a Metalink 4 document and refreshed, a
// [Static] set of bases that serve the same tree, and the parsers of those
// documents ([ParseList], [ParseMetalink]).
//
// [List] and [Static] are [fetch.Resolver]s: set one as
// [fetch.Options.Resolver], and every caller of Fetch gets the mirrors
// without knowing of them. Both build a mirror's URL the same way: the part
// of a request's URL below the base, appended to the mirror's base.
package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch"
	"golang.org/x/sync/singleflight"
)

// DefaultRefresh is how long a List uses a list before it loads it again,
// when [Options.RefreshInterval] is zero.
const DefaultRefresh = time.Hour

// MaxListSize caps the size of a mirror list or Metalink document that a
// List loads: a server cannot make it hold more in memory.
const MaxListSize = 4 << 20

// ErrMalformed is matched by the error of a mirror list or Metalink
// document that cannot be read: the error says where and why.
var ErrMalformed = errors.New("malformed mirror list")

// Loader loads a List's document and says which mirrors the Fetcher that
// resolves through the List can open. A [*fetch.Fetcher] is a Loader.
type Loader interface {
	Fetch(ctx context.Context, req fetch.Request) (fetch.Result, error)
	Supports(scheme string) bool
}

// Options configures a List. The zero value of each field means its
// documented default.
type Options struct {
	// Loader loads the list, with its limits, retries and protocols, and
	// its Supports says which mirrors to keep. The Fetcher that resolves
	// through the List is made after the List, so this is another one,
	// sharing its Limiter and Client where they should be shared. Nil
	// means a plain GET with Client, keeping the mirrors of http, https,
	// ftp and ftps: no second Fetcher is needed.
	Loader Loader
	// Client loads the list when Loader is nil; nil means
	// http.DefaultClient.
	Client *http.Client
	// RefreshInterval is how long a loaded list is used: the first Resolve
	// after that loads it again. A load that fails keeps the list in use
	// for another interval. 0 means DefaultRefresh; negative means the
	// list is loaded once.
	RefreshInterval time.Duration
	// Logger gets a line when a reload fails and the list loaded before is
	// kept. Nil means no log.
	Logger *slog.Logger
}

// List is a [fetch.Resolver] for a repository that mirrors serve: a
// request for a URL under base is tried at the same path on each mirror of
// a list, in the list's order, then at its own URL, then at its own
// Mirrors. Other requests keep their URL and Mirrors. The Fetcher still
// moves the URLs that failed lately to the end ([fetch.Options.MirrorCooldown]):
// every URL of a mirror that failed as a host, and a URL at which the
// request's file was missing or wrong.
//
// The list is a mirrorlist file (see [ParseList]) or a Metalink 4 document
// (see [ParseMetalink]), told apart by their first character. Of a
// Metalink, the List takes the URLs that end in the name of their file,
// without that name, as the mirrors, best priority first; sizes and hashes
// cannot reach a request through a Resolver: build requests with
// [File.Request] to check them.
//
// The list is loaded on the first Resolve that needs it, and again after
// [Options.RefreshInterval]; concurrent Resolves wait for one load.
// Mirrors of a scheme that cannot be opened are left out, and so is a
// password in the request's URL: it is not sent to mirrors.
//
// A List is safe for concurrent use.
type List struct {
	base    string // ends in "/"
	listURL string
	load    func(ctx context.Context) ([]byte, error)
	use     func(scheme string) bool
	refresh time.Duration
	log     *slog.Logger

	loads   singleflight.Group
	mu      sync.Mutex
	mirrors []string  // base URLs, each ending in "/"; nil until loaded
	checked time.Time // when the list was last loaded or tried
}

// NewList returns a List for the files under base, whose mirrors are
// listed at listURL:
//
//	list := mirror.NewList("https://repo.example/os/", "https://repo.example/mirrorlist", mirror.Options{})
//	f := fetch.New(fetch.Options{Resolver: list})
func NewList(base, listURL string, opts Options) *List {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	l := &List{base: base, listURL: listURL, refresh: opts.RefreshInterval, log: opts.Logger}
	if l.refresh == 0 {
		l.refresh = DefaultRefresh
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if opts.Loader != nil {
		l.load = func(ctx context.Context) ([]byte, error) { return loadWith(ctx, opts.Loader, listURL) }
		l.use = opts.Loader.Supports
	} else {
		client := opts.Client
		if client == nil {
			client = http.DefaultClient
		}
		l.load = func(ctx context.Context) ([]byte, error) { return get(ctx, client, listURL) }
		l.use = func(scheme string) bool {
			return scheme == "http" || scheme == "https" || scheme == "ftp" || scheme == "ftps"
		}
	}
	return l
}

// Resolve returns the URLs to try for req: the mirrors' URLs for a URL
// under the List's base, then req's own URL and Mirrors. It fails only if
// the list is needed and has never been loaded, or if ctx is done while it
// waits for a load.
func (l *List) Resolve(ctx context.Context, req fetch.Request) ([]string, error) {
	own := append([]string{req.URL}, req.Mirrors...)
	rel, under := relative(l.base, req.URL)
	if !under || req.URL == l.listURL {
		return own, nil
	}
	mirrors, err := l.Mirrors(ctx)
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(mirrors)+len(own))
	for _, m := range mirrors {
		urls = append(urls, m+rel)
	}
	for _, u := range own {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

// Mirrors returns the base URLs of the mirrors, each ending in "/", loading
// the list first if it is not loaded or older than the RefreshInterval.
// The slice must not be modified.
func (l *List) Mirrors(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	mirrors, fresh := l.mirrors, l.fresh(time.Now())
	l.mu.Unlock()
	if fresh {
		return mirrors, nil
	}
	for {
		// One load for every Resolve that waits: it runs with the context
		// of the first, and each waiter stops waiting when its own ctx is
		// done.
		ch := l.loads.DoChan("", func() (any, error) { return l.reload(ctx) })
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

// fresh reports whether the list may be used as it is; l.mu is held.
func (l *List) fresh(now time.Time) bool {
	return l.mirrors != nil && (l.refresh < 0 || now.Sub(l.checked) < l.refresh)
}

// reload loads and parses the list, unless another load just did. A load
// that fails keeps a list loaded before.
func (l *List) reload(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	if l.fresh(time.Now()) {
		defer l.mu.Unlock()
		return l.mirrors, nil
	}
	l.mu.Unlock()

	mirrors, err := l.parse(ctx)

	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.mirrors = mirrors
	case l.mirrors == nil || isContextErr(err):
		return nil, err
	default:
		l.log.Warn("mirror: keeping the mirror list loaded before", "url", fetch.RedactURL(l.listURL), "err", err)
	}
	l.checked = time.Now()
	return l.mirrors, nil
}

// parse loads the list and returns the mirrors it names that can be used.
func (l *List) parse(ctx context.Context) ([]string, error) {
	body, err := l.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror list: %w", err)
	}
	var urls []string
	if doc := bytes.TrimLeft(body, "\ufeff \t\r\n"); bytes.HasPrefix(doc, []byte("<")) {
		ml, err := ParseMetalink(bytes.NewReader(doc))
		if err != nil {
			return nil, fmt.Errorf("mirror list %s: %w", fetch.RedactURL(l.listURL), err)
		}
		urls = ml.mirrors()
	} else if urls, err = ParseList(bytes.NewReader(doc)); err != nil {
		return nil, fmt.Errorf("mirror list %s: %w", fetch.RedactURL(l.listURL), err)
	}
	var mirrors []string
	for _, s := range urls {
		u, _ := url.Parse(s) // the parsers checked it
		if !l.use(u.Scheme) {
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
		return nil, fmt.Errorf("%w: %s names no mirror that can be used", ErrMalformed, fetch.RedactURL(l.listURL))
	}
	return mirrors, nil
}

// loadWith fetches the document at listURL with f, at most MaxListSize
// bytes of it.
func loadWith(ctx context.Context, f Loader, listURL string) ([]byte, error) {
	buf := &cappedBuffer{max: MaxListSize}
	if _, err := f.Fetch(ctx, fetch.Request{URL: listURL, Writer: buf}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// get fetches the document at listURL with a GET of client, at most
// MaxListSize bytes of it.
func get(ctx context.Context, client *http.Client, listURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, listURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", fetch.ErrInvalidRequest, fetch.RedactURL(listURL), errors.Unwrap(err))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &fetch.StatusError{URL: resp.Request.URL.Redacted(), Code: resp.StatusCode, Text: http.StatusText(resp.StatusCode)}
	}
	buf := &cappedBuffer{max: MaxListSize}
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return nil, fmt.Errorf("%s: %w", fetch.RedactURL(listURL), err)
	}
	return buf.Bytes(), nil
}

// cappedBuffer is a bytes.Buffer that refuses to grow past max bytes.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, b.max)
	}
	return b.Buffer.Write(p)
}
