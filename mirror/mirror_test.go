package mirror_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/mirror"
	"github.com/google/go-cmp/cmp"
)

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		bad      bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blanks", in: "# mirrors of the repo\n\nhttps://a.example/os/\n  # another\n\thttp://b.example/os\n\n",
			want: []string{"https://a.example/os/", "http://b.example/os"}},
		{name: "CRLF and BOM", in: "\ufeffhttps://a.example/\r\nftp://b.example/pub/\r\n",
			want: []string{"https://a.example/", "ftp://b.example/pub/"}},
		{name: "metadata after the URL", in: "https://a.example/\tpriority:1\tarch:amd64\nhttps://b.example/ fallback",
			want: []string{"https://a.example/", "https://b.example/"}},
		{name: "file URL", in: "file:///srv/mirror/\n", want: []string{"file:///srv/mirror/"}},
		{name: "relative", in: "https://a.example/\n/srv/mirror\n", bad: true},
		{name: "no host", in: "https:///os/\n", bad: true},
		{name: "opaque", in: "mailto:root@example.org\n", bad: true},
		{name: "not a URL", in: "http://[::1\n", bad: true},
		{name: "line too long", in: "https://a.example/" + strings.Repeat("x", 70<<10) + "\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mirror.ParseList(strings.NewReader(tc.in))
			if tc.bad {
				if !errors.Is(err, mirror.ErrMalformed) {
					t.Errorf("error: got %v; want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("URLs (-want +got):\n%s", diff)
			}
		})
	}
}

// metalinkDoc is RFC 5854's example, with a second file and priorities out
// of document order.
const metalinkDoc = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <published>2009-05-15T12:23:23Z</published>
  <file name="example.ext">
    <size>14471447</size>
    <identity>Example</identity>
    <version>1.0</version>
    <language>en</language>
    <description>A description of the example file for download.</description>
    <hash type="sha-256">F0AD929CD259957E160EA442EB80986B5F01A2B2B1C5A0AD0E8D7B6B4D1A2C3E</hash>
    <hash type="sha3-256">not known here, left out</hash>
    <pieces length="262144" type="sha-1"><hash>0bd1b3f2b1a1c3d4e5f60718293a4b5c6d7e8f90</hash></pieces>
    <url location="de" priority="2">ftp://ftp.example.com/example.ext</url>
    <url>http://example.org/example.ext</url>
    <url location="fr" priority="1">http://example.com/example.ext</url>
    <metaurl mediatype="torrent" priority="2">http://example.com/example.ext.torrent</metaurl>
  </file>
  <file name="sub/other.ext">
    <hash type="MD5">d41d8cd98f00b204e9800998ecf8427e</hash>
    <url priority="1">https://mirror.example.net/pub/sub/other.ext</url>
  </file>
</metalink>`

func TestParseMetalink(t *testing.T) {
	got, err := mirror.ParseMetalink(strings.NewReader(metalinkDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := &mirror.Metalink{Version: 4, Files: []mirror.File{
		{
			Name:    "example.ext",
			Size:    14471447,
			Digests: map[string]string{"sha256": "f0ad929cd259957e160ea442eb80986b5f01a2b2b1c5a0ad0e8d7b6b4d1a2c3e"},
			URLs:    []string{"http://example.com/example.ext", "ftp://ftp.example.com/example.ext", "http://example.org/example.ext"},
			Resources: []mirror.Resource{
				{URL: "http://example.com/example.ext", Location: "fr", Priority: 1},
				{URL: "ftp://ftp.example.com/example.ext", Location: "de", Priority: 2},
				{URL: "http://example.org/example.ext"},
			},
		},
		{
			Name:      "sub/other.ext",
			Digests:   map[string]string{"md5": "d41d8cd98f00b204e9800998ecf8427e"},
			URLs:      []string{"https://mirror.example.net/pub/sub/other.ext"},
			Resources: []mirror.Resource{{URL: "https://mirror.example.net/pub/sub/other.ext", Priority: 1}},
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Metalink (-want +got):\n%s", diff)
	}
	req := got.Files[0].Request()
	if req.URL != want.Files[0].URLs[0] || len(req.Mirrors) != 2 || req.Size != 14471447 || req.Digests["sha256"] == "" {
		t.Errorf("Request: got %+v", req)
	}
}

func TestParseMetalinkErrors(t *testing.T) {
	file := func(inner string) string {
		return `<metalink xmlns="urn:ietf:params:xml:ns:metalink">` + inner + `</metalink>`
	}
	for name, doc := range map[string]string{
		"not XML":          "mirrors: a, b",
		"truncated":        `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a">`,
		"no namespace":     `<metalink><file name="a"><url>http://a.example/a</url></file></metalink>`,
		"metalink 3 root":  `<metalink version="3.0" xmlns="http://www.metalinker.org/"><file name="a"></file></metalink>`,
		"unknown scheme":   file(`<file name="a"><url>gopher://a.example/a</url></file>`),
		"other root":       `<feed xmlns="urn:ietf:params:xml:ns:metalink"/>`,
		"no file":          file(""),
		"no name":          file(`<file><url>http://a.example/a</url></file>`),
		"absolute name":    file(`<file name="/etc/passwd"/>`),
		"traversal":        file(`<file name="../../a"/>`),
		"inner traversal":  file(`<file name="a/../../b"/>`),
		"backslash":        file(`<file name="a\b"/>`),
		"twice":            file(`<file name="a"/><file name="a"/>`),
		"negative size":    file(`<file name="a"><size>-1</size></file>`),
		"size not number":  file(`<file name="a"><size>big</size></file>`),
		"two sizes":        file(`<file name="a"><size>1</size><size>2</size></file>`),
		"short hash":       file(`<file name="a"><hash type="sha-256">abcd</hash></file>`),
		"hash not hex":     file(`<file name="a"><hash type="md5">zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz</hash></file>`),
		"two hashes":       file(`<file name="a"><hash type="md5">d41d8cd98f00b204e9800998ecf8427e</hash><hash type="md5">00000000000000000000000000000000</hash></file>`),
		"relative URL":     file(`<file name="a"><url>a</url></file>`),
		"priority zero":    file(`<file name="a"><url priority="0">http://a.example/a</url></file>`),
		"priority too big": file(`<file name="a"><url priority="1000000">http://a.example/a</url></file>`),
		"priority words":   file(`<file name="a"><url priority="high">http://a.example/a</url></file>`),
	} {
		t.Run(name, func(t *testing.T) {
			ml, err := mirror.ParseMetalink(strings.NewReader(doc))
			if !errors.Is(err, mirror.ErrMalformed) {
				t.Errorf("got %+v, %v; want ErrMalformed", ml, err)
			}
		})
	}
}

// repo is a repository at an origin, two mirrors of it (the first lacks
// every file), and a server of lists of them.
type repo struct {
	origin, stale, mirror, lists *fetchtest.Server
	file                         fetchtest.Doc
}

// listScript answers list request n (1 for the first).
type listScript func(rp *repo, n int, w http.ResponseWriter, r *http.Request)

// answer is a listScript that answers each request with list(n).
func answer(list func(rp *repo, n int) (string, int)) listScript {
	return func(rp *repo, n int, w http.ResponseWriter, r *http.Request) {
		body, code := list(rp, n)
		if code != 200 {
			fetchtest.Status(w, code, "")
			return
		}
		w.Write([]byte(body))
	}
}

func newRepo(t *testing.T, list listScript) *repo {
	rp := &repo{file: fetchtest.Doc{Body: fetchtest.Blob(3000, 30), ETag: `"r"`}}
	rp.origin = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/os/mirrorlist" { // a list under the base
			list(rp, n, w, r)
			return
		}
		o.Serve(w, r, rp.file, -1)
	})
	rp.stale = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 404, "") })
	rp.mirror = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, rp.file, -1) })
	rp.lists = fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { list(rp, n, w, r) })
	return rp
}

func (rp *repo) base() string { return rp.origin.URL + "/os/" }

func (rp *repo) plainList() string {
	return fmt.Sprintf("# mirrors\n%s/pub/os/\nrsync://rsync.example/os/\n%s/os\n", rp.stale.URL, rp.mirror.URL)
}

// mirrorList returns a List for rp whose list comes through its own
// Fetcher, and a Fetcher that resolves through it.
func (rp *repo) mirrorList(t *testing.T, opts mirror.Options) (*mirror.List, *fetch.Fetcher) {
	opts.Loader = fetchtest.Fetcher(t, fetch.Options{Retries: -1})
	ml := mirror.NewList(rp.base(), rp.lists.URL+"/mirrorlist", opts)
	return ml, fetchtest.Fetcher(t, fetch.Options{Resolver: ml})
}

func TestMirrorListThroughFetch(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"mirrorlist", "metalink", "metalink3"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rp := newRepo(t, answer(func(rp *repo, n int) (string, int) {
				if kind == "metalink3" { // MirrorManager's: the base is what precedes repodata/repomd.xml
					return metalink3("<repomd/>", "<repomd></repomd>",
						fmt.Sprintf(`<url protocol="http" type="http" location="US" preference="99">%s/os/repodata/repomd.xml</url>`, rp.mirror.URL),
						fmt.Sprintf(`<url protocol="http" type="http" location="DE" preference="100">%s/pub/os/repodata/repomd.xml</url>`, rp.stale.URL)), 200
				}
				if kind == "metalink" {
					return fmt.Sprintf(`<?xml version="1.0"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <file name="repodata/repomd.xml">
    <url priority="2">%[2]s/os/repodata/repomd.xml</url>
    <url priority="1">%[1]s/pub/os/repodata/repomd.xml</url>
    <url priority="3">%[2]s/elsewhere/repomd.xml</url>
  </file>
</metalink>`, rp.stale.URL, rp.mirror.URL), 200
				}
				return rp.plainList(), 200
			}))
			ml, f := rp.mirrorList(t, mirror.Options{})
			ctx := fetchtest.Context(t)

			got, err := ml.Mirrors(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{rp.stale.URL + "/pub/os/", rp.mirror.URL + "/os/"}; !slices.Equal(got, want) {
				t.Errorf("Mirrors: got %q; want %q", got, want)
			}

			// A caller that knows only the URL at the origin.
			res, err := f.Fetch(ctx, fetch.Request{URL: rp.base() + "Packages/a.rpm", Digests: fetchtest.Digests(rp.file.Body)})
			if err != nil {
				t.Fatal(err)
			}
			if want := rp.mirror.URL + "/os/Packages/a.rpm"; res.URL != want {
				t.Errorf("URL: got %s; want %s", res.URL, want)
			}
			if rp.origin.Hits.Load() != 0 || rp.stale.Hits.Load() != 1 {
				t.Errorf("hits: origin %d, stale mirror %d; want 0, 1", rp.origin.Hits.Load(), rp.stale.Hits.Load())
			}
			if rp.stale.Header(1).Get("Authorization") != "" {
				t.Errorf("the mirror got credentials")
			}

			// Outside the base: the request's own URL.
			res, err = f.Fetch(ctx, fetch.Request{URL: rp.origin.URL + "/other/b"})
			if err != nil {
				t.Fatal(err)
			}
			if res.URL != rp.origin.URL+"/other/b" {
				t.Errorf("outside the base: URL: got %s; want the request's", res.URL)
			}
			if rp.lists.Hits.Load() != 1 {
				t.Errorf("list loaded %d times; want 1", rp.lists.Hits.Load())
			}
		})
	}
}

// TestMirrorListOrder: mirrors first, then the request's URL, then its
// Mirrors; no URL twice; no password to a mirror.
func TestMirrorListOrder(t *testing.T) {
	t.Parallel()
	rp := newRepo(t, answer(func(rp *repo, n int) (string, int) {
		return rp.plainList() + rp.origin.URL + "/os/\n", 200
	}))
	ml, _ := rp.mirrorList(t, mirror.Options{})
	withPassword := strings.Replace(rp.base(), "http://", "http://user:secret@", 1) + "a"
	got, err := ml.Resolve(fetchtest.Context(t), fetch.Request{URL: withPassword, Mirrors: []string{"http://backup.example/a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{rp.stale.URL + "/pub/os/a", rp.mirror.URL + "/os/a", rp.origin.URL + "/os/a", withPassword, "http://backup.example/a"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("URLs (-want +got):\n%s", diff)
	}
}

// TestMirrorListOneLoad: a thousand Resolves at once load the list once.
func TestMirrorListOneLoad(t *testing.T) {
	t.Parallel()
	rp := newRepo(t, answer(func(rp *repo, n int) (string, int) { return rp.plainList(), 200 }))
	ml, _ := rp.mirrorList(t, mirror.Options{})
	ctx := fetchtest.Context(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Go(func() {
			urls, err := ml.Resolve(ctx, fetch.Request{URL: fmt.Sprintf("%sf%d", rp.base(), i)})
			if err == nil && len(urls) != 3 {
				err = fmt.Errorf("got %d URLs; want 3", len(urls))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := rp.lists.Hits.Load(); n != 1 {
		t.Errorf("list loaded %d times; want 1", n)
	}
}

// TestMirrorListRefresh: a stale list is loaded again; a failed reload
// keeps the list loaded before; a list never loaded is an error.
func TestMirrorListRefresh(t *testing.T) {
	t.Parallel()
	rp := newRepo(t, answer(func(rp *repo, n int) (string, int) {
		switch n {
		case 1:
			return "", 503
		case 2:
			return rp.plainList(), 200
		case 3:
			return rp.mirror.URL + "/os/\n", 200
		case 4:
			return "not a list\n", 200
		}
		return "", 404
	}))
	ml, f := rp.mirrorList(t, mirror.Options{RefreshInterval: 1}) // stale at once
	ctx := fetchtest.Context(t)

	_, err := f.Fetch(ctx, fetch.Request{URL: rp.base() + "a"})
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Errorf("first load: got %v; want the list's StatusError 503", err)
	}
	for i, want := range [][]string{
		{rp.stale.URL + "/pub/os/", rp.mirror.URL + "/os/"}, // loaded
		{rp.mirror.URL + "/os/"},                            // reloaded
		{rp.mirror.URL + "/os/"},                            // malformed: kept
		{rp.mirror.URL + "/os/"},                            // gone: kept
	} {
		got, err := ml.Mirrors(ctx)
		if err != nil {
			t.Fatalf("load %d: %v", i+2, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("load %d: got %q; want %q", i+2, got, want)
		}
	}
	if n := rp.lists.Hits.Load(); n != 5 {
		t.Errorf("list requests: got %d; want 5", n)
	}
}

func TestMirrorListBadLists(t *testing.T) {
	t.Parallel()
	for name, list := range map[string]string{
		"malformed":       "https://a.example/os/\nnot a URL\n",
		"empty":           "# nothing yet\n",
		"no usable":       "rsync://a.example/os/\n",
		"bad metalink":    `<metalink xmlns="urn:ietf:params:xml:ns:metalink"></metalink>`,
		"too large":       strings.Repeat("# padding\n", mirror.MaxListSize/10+1),
		"metalink no url": `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a"/></metalink>`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rp := newRepo(t, answer(func(rp *repo, n int) (string, int) { return list, 200 }))
			_, f := rp.mirrorList(t, mirror.Options{})
			_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: rp.base() + "a"})
			if !errors.Is(err, mirror.ErrMalformed) {
				t.Errorf("error: got %v; want ErrMalformed", err)
			}
			if rp.origin.Hits.Load() != 0 {
				t.Errorf("the origin was asked for the file")
			}
		})
	}
}

// TestListOwnClient: a List without a Loader loads its list with its
// Client, so that one Fetcher resolves through it; the list's URL may be
// under the base.
func TestListOwnClient(t *testing.T) {
	t.Parallel()
	rp := newRepo(t, answer(func(rp *repo, n int) (string, int) {
		if n == 2 {
			return "", 503
		}
		return rp.mirror.URL + "/os/\nrsync://rsync.example/os/\n", 200
	}))
	ml := mirror.NewList(rp.base(), rp.base()+"mirrorlist", mirror.Options{RefreshInterval: 1})
	f := fetchtest.Fetcher(t, fetch.Options{Resolver: ml})
	ctx := fetchtest.Context(t)
	for i := range 2 { // loaded, then kept when the reload fails
		res, err := f.Fetch(ctx, fetch.Request{URL: rp.base() + "a", Digests: fetchtest.Digests(rp.file.Body)})
		if err != nil {
			t.Fatal(err)
		}
		if res.URL != rp.mirror.URL+"/os/a" {
			t.Errorf("fetch %d: URL: got %s; want %s", i+1, res.URL, rp.mirror.URL+"/os/a")
		}
	}
	if n := rp.origin.Hits.Load(); n != 2 {
		t.Errorf("origin: got %d requests; want 2, both for the list", n)
	}
}

// TestMirrorListWaiterOutlivesLoader: when the Resolve whose context loads
// the list is cancelled, another that waits for the list loads it again.
func TestMirrorListWaiterOutlivesLoader(t *testing.T) {
	t.Parallel()
	loading := make(chan struct{})
	rp := newRepo(t, func(rp *repo, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			close(loading)
			<-r.Context().Done() // until the loader gives up
			return
		}
		w.Write([]byte(rp.plainList()))
	})
	ml, _ := rp.mirrorList(t, mirror.Options{})
	ctx := fetchtest.Context(t)
	loaderCtx, cancel := context.WithCancel(ctx)
	loaderErr := make(chan error)
	go func() {
		_, err := ml.Mirrors(loaderCtx)
		loaderErr <- err
	}()
	<-loading
	waiter := make(chan error)
	go func() {
		_, err := ml.Mirrors(ctx)
		waiter <- err
	}()
	cancel()
	if err := <-loaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("loader: got %v; want context.Canceled", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter: got %v; want the list", err)
	}
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte("# mirrors\nhttps://a.example/os/\n\nftp://b.example/pub/\tpriority:2\n"))
	f.Add([]byte("\ufeffhttp://a.example/\r\n#\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		urls, err := mirror.ParseList(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, mirror.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		for _, s := range urls {
			u, err := url.Parse(s)
			if err != nil || u.Scheme == "" || strings.ContainsAny(s, " \t\r\n") {
				t.Fatalf("URL %q: not an absolute URL of one field", s)
			}
		}
		// What was read reads back the same.
		again, err := mirror.ParseList(strings.NewReader(strings.Join(urls, "\n")))
		if err != nil || !slices.Equal(again, urls) {
			t.Fatalf("round trip: got %q, %v; want %q", again, err, urls)
		}
	})
}

func FuzzParseMetalink(f *testing.F) {
	f.Add([]byte(metalinkDoc))
	f.Add([]byte(metalink3("<repomd/>", "<repomd></repomd>", `<url protocol="http" preference="100">http://a.example/repodata/repomd.xml</url>`)))
	f.Add([]byte(`<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a/b"><size>1</size><url priority="7">ftp://x/a/b</url></file></metalink>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ml, err := mirror.ParseMetalink(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, mirror.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if len(ml.Files) == 0 {
			t.Fatalf("no file and no error")
		}
		sizes := map[string]int{"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
		for _, file := range ml.Files {
			if strings.HasPrefix(file.Name, "/") || slices.ContainsFunc(strings.Split(file.Name, "/"), func(seg string) bool {
				return seg == "" || seg == "." || seg == ".."
			}) {
				t.Fatalf("unsafe name %q", file.Name)
			}
			if file.Size < 0 {
				t.Fatalf("size %d", file.Size)
			}
			// Digests are what Request.Digests accepts.
			for alg, hexDigest := range file.Digests {
				b, err := hex.DecodeString(hexDigest)
				if err != nil || len(b) != sizes[alg] || strings.ToLower(hexDigest) != hexDigest {
					t.Fatalf("digest %s %q", alg, hexDigest)
				}
			}
			for _, s := range file.URLs {
				if u, err := url.Parse(s); err != nil || u.Scheme == "" {
					t.Fatalf("URL %q is not absolute", s)
				}
			}
		}
	})
}
