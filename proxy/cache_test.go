package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// cacheFixture is a Cache of an upstream base, served by a front server.
type cacheFixture struct {
	*front
	cache  *proxy.Cache
	dir    string
	access *fetchtest.Buffer // the access log
	errs   *fetchtest.Buffer // the error log
}

// stats returns the Cache's counters once no request is being served: a
// client may have its whole response before its handler has counted it.
func (fx *cacheFixture) stats() proxy.CacheStats {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if st := fx.cache.Stats(); st.Clients == 0 || time.Now().After(deadline) {
			return st
		}
	}
}

// newCache serves the files below upstream through a Cache in a new
// directory, with the options that configure sets; the Cache is closed
// when the test ends.
func newCache(t testing.TB, upstream string, configure ...func(*proxy.CacheOptions)) *cacheFixture {
	t.Helper()
	f := fetch.New(fetch.Options{Retries: -1})
	t.Cleanup(func() { f.Close() })
	fx := &cacheFixture{dir: t.TempDir(), access: &fetchtest.Buffer{}, errs: &fetchtest.Buffer{}}
	opts := proxy.CacheOptions{
		Upstream:  mustParse(t, upstream),
		Dir:       fx.dir,
		AccessLog: slog.New(slog.NewTextHandler(fx.access, nil)),
		ErrorLog:  slog.New(slog.NewTextHandler(fx.errs, nil)),
	}
	for _, fn := range configure {
		fn(&opts)
	}
	c, err := proxy.NewCache(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	fx.cache = c
	t.Cleanup(func() { c.Close() }) // after the front server closed
	fx.front = startFront(t, c, false)
	return fx
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCacheServesFromCache(t *testing.T) {
	data := fetchtest.Blob(200_000, 1)
	up := fetchtest.NewRepo(t, map[string][]byte{"/repo/Packages/a.rpm": data})
	fx := newCache(t, up.URL+"/repo")

	for _, tc := range []struct {
		name, method, path, rng string
		status                  int
		body                    []byte
	}{
		{"miss", http.MethodGet, "/Packages/a.rpm", "", http.StatusOK, data},
		{"hit", http.MethodGet, "/Packages/a.rpm", "", http.StatusOK, data},
		{"hit, query dropped", http.MethodGet, "/Packages/a.rpm?x=1", "", http.StatusOK, data},
		{"hit, range", http.MethodGet, "/Packages/a.rpm", "bytes=10-19", http.StatusPartialContent, data[10:20]},
		{"hit, head", http.MethodHead, "/Packages/a.rpm", "", http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.rng != "" {
				h.Set("Range", tc.rng)
			}
			resp := fx.get(t, tc.method, tc.path, h)
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tc.status || !bytes.Equal(body, tc.body) {
				t.Fatalf("got status %d, %d bytes, error %v; want %d and %d bytes", resp.StatusCode, len(body), err, tc.status, len(tc.body))
			}
			for name, want := range map[string]string{
				"Content-Type":  "application/x-rpm",
				"Etag":          `"200000"`,
				"Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: got %q; want %q", name, got, want)
				}
			}
		})
	}
	if got := up.Gets("/repo/Packages/a.rpm"); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
	fx.front.Close()
	fx.cache.Close()
	kept, temporary := fetchtest.CacheFiles(t, fx.dir)
	if len(kept) != 2 || len(temporary) != 0 {
		t.Errorf("cache holds %v and temporary files %v; want the file and its record", kept, temporary)
	}
	log := fx.access.Lines()
	if len(log) != 5 {
		t.Fatalf("got %d log lines; want 5, one a request:\n%s", len(log), fx.access)
	}
	for i, want := range []string{
		"method=GET path=/Packages/a.rpm status=200 bytes=200000",
		"method=GET path=/Packages/a.rpm status=200 bytes=200000",
	} {
		if !strings.Contains(log[i], want) {
			t.Errorf("log line %d: got %q; want it to hold %q", i+1, log[i], want)
		}
	}
	for i, line := range log {
		if want := map[bool]string{true: "cache=miss", false: "cache=hit"}[i == 0]; !strings.Contains(line, want) {
			t.Errorf("log line %d: got %q; want it to hold %q", i+1, line, want)
		}
	}
}

// TestCacheCorruptCopy damages a kept file with Verify on: a large one,
// sent from the file, and a small one, which a hit would hold in memory.
func TestCacheCorruptCopy(t *testing.T) {
	for _, size := range []int{100_000, 4000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) { testCacheCorruptCopy(t, size, size > 32<<10) })
	}
}

// testCacheCorruptCopy checks that a corrupt kept file of size bytes is
// removed and downloaded again: when cut, the hit that finds it is cut
// short (some bytes were sent before the end was reached); else it is
// found before a byte is sent, and the hit is answered as a miss.
func testCacheCorruptCopy(t *testing.T, size int, cut bool) {
	data := fetchtest.Blob(size, 1)
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": data})
	fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.Verify = true })
	if body, _ := io.ReadAll(fx.get(t, http.MethodGet, "/a.rpm", nil).Body); !bytes.Equal(body, data) {
		t.Fatalf("first request: got %d bytes; want %d", len(body), len(data))
	}
	kept, _ := fetchtest.CacheFiles(t, fx.dir)
	for _, name := range kept {
		if !strings.HasSuffix(name, ".json") {
			bad := bytes.Clone(data)
			bad[len(bad)/2] ^= 1
			if err := os.WriteFile(name, bad, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	resp := fx.get(t, http.MethodGet, "/a.rpm", nil)
	body, err := io.ReadAll(resp.Body)
	if cut && err == nil {
		t.Fatalf("corrupt copy: got status %d and a clean end after %d bytes; want an error", resp.StatusCode, len(body))
	}
	if !cut && (err != nil || !bytes.Equal(body, data)) {
		t.Fatalf("corrupt copy: got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	resp = fx.get(t, http.MethodGet, "/a.rpm", nil)
	if body, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(body, data) {
		t.Fatalf("after the corrupt copy: got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	if got := up.Gets("/a.rpm"); got != 2 {
		t.Errorf("upstream got %d GET requests; want 2", got)
	}
	// The corrupt hit's line: cut, or a miss beside the first request's.
	want, lines := "cache=miss", 2
	if cut {
		want, lines = "cache=hit aborted=true err=\"kept file is corrupt", 1
	}
	fx.cache.Close() // every line logged
	if log := fx.access.String(); strings.Count(log, want) != lines {
		t.Errorf("access log: got %q; want %d lines with %q", log, lines, want)
	}
	if !strings.Contains(fx.errs.String(), "corrupt") {
		t.Errorf("error log: got %q; want a line about the corrupt copy", fx.errs)
	}
}

// TestCacheVerifyAfterNone keeps a file without Verify, which records no
// sha256, then serves the directory with Verify: the file is downloaded
// again, with its sha256 (not revalidated, even when it is stale), and then
// served from the directory.
func TestCacheVerifyAfterNone(t *testing.T) {
	data := fetchtest.Blob(100_000, 1)
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		misses int // of the two requests with Verify
	}{
		{"fresh", 0, 1},
		{"stale", -1, 1}, // then revalidated: 304
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Etag", `"v1"`)
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
			}))
			defer up.Close()
			fx := newCache(t, up.URL)
			fx.body(t, "/a.rpm")
			fx.cache.Close()
			again := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.Dir, o.Verify, o.MaxAge = fx.dir, true, tc.maxAge })
			for i := range 2 {
				if status, body := again.body(t, "/a.rpm"); status != http.StatusOK || !bytes.Equal(body, data) {
					t.Fatalf("request %d with Verify: got %d and %d bytes; want the %d bytes of the file", i+1, status, len(body), len(data))
				}
			}
			again.cache.Close() // waits for the handlers: every line is logged
			if log := again.access.String(); strings.Count(log, "cache=miss") != tc.misses || strings.Count(log, "status=200") != 2 {
				t.Errorf("access log with Verify: got %q; want two answers, %d misses", log, tc.misses)
			}
		})
	}
}

func TestCacheRefuses(t *testing.T) {
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	fx := newCache(t, up.URL)
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"missing file", http.MethodGet, "/missing.rpm", http.StatusNotFound},
		{"dot dot", http.MethodGet, "/../a.rpm", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.get(t, tc.method, tc.path, nil)
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
	// The 404 of the missing file is kept (RFC 9110 section 15.1), and
	// nothing else.
	if kept, temporary := fetchtest.CacheFiles(t, fx.dir); len(kept) > 2 || len(temporary) > 0 {
		t.Errorf("cache holds %v %v; want the 404 only", kept, temporary)
	}
	if got := up.Gets("/a.rpm"); got != 0 {
		t.Errorf("upstream got %d GET requests for /a.rpm; want none", got)
	}
}

func TestCacheAfterClose(t *testing.T) {
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	fx := newCache(t, up.URL)
	fx.cache.Close()
	resp := fx.get(t, http.MethodGet, "/a.rpm", nil)
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status after Close: got %d; want %d", resp.StatusCode, http.StatusServiceUnavailable)
	}
	if got := up.Gets("/a.rpm"); got != 0 {
		t.Errorf("upstream got %d GET requests; want none", got)
	}
}

// BenchmarkCache compares a download straight from the upstream server
// with one through a Cache: a miss (downloaded, streamed and kept) and a
// hit (served from the cache). ttfb-ns is the time to the first byte of the
// body, MB/s the throughput.
func BenchmarkCache(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		data := fetchtest.Blob(size, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		}))
		fx := newCache(b, up.URL)
		for _, bc := range []struct {
			name, url string
			miss      bool
		}{
			{"direct", up.URL + "/f", false},
			{"miss", fx.front.URL + "/f", true},
			{"hit", fx.front.URL + "/f", false},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", bc.name, size>>10), func(b *testing.B) {
				var before func()
				if bc.miss {
					before = func() { forget(b, fx.dir) }
				}
				benchmarkGet(b, bc.url, size, before)
			})
		}
		fx.front.Close()
		fx.cache.Close()
		up.Close()
	}
}

// forget removes every file kept in dir.
func forget(b *testing.B, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}

// newOrigin starts an upstream whose files, headers and redirects a test
// sets and changes.
func newOrigin(t *testing.T) *fetchtest.Repo {
	return fetchtest.StartRepo(t, fetchtest.HTTP, nil)
}

// originFile is how an origin serves data: with a strong ETag, a date and
// header, answering conditional and range requests as net/http's
// ServeContent does.
func originFile(data []byte, header http.Header) fetchtest.File {
	f := fetchtest.Ranged(data)
	f.Mod = fetchtest.ModTime
	f.Header = header
	return f
}

// counts returns the GET requests o answered for path, and those of them
// that were conditional.
func counts(o *fetchtest.Repo, path string) (gets, conditional int) {
	for _, a := range o.Asked() {
		if a.Method != http.MethodGet || a.Path != path {
			continue
		}
		gets++
		if a.Header.Get("If-None-Match") != "" || a.Header.Get("If-Modified-Since") != "" {
			conditional++
		}
	}
	return gets, conditional
}

func TestCacheRevalidatesMetadata(t *testing.T) {
	for _, path := range []string{
		"/PULP_MANIFEST", "/repodata/repomd.xml", "/dists/stable/InRelease", "/dists/stable/main/binary-amd64/Packages.xz",
		"/example.com/mod/@v/list", "/simple/pkg/index.html",
	} {
		t.Run(path, func(t *testing.T) {
			o := newOrigin(t)
			o.Set(path, originFile([]byte("version 1\n"), http.Header{"Cache-Control": {"max-age=3600"}}))
			fx := newCache(t, o.URL)
			if _, b := fx.body(t, path); string(b) != "version 1\n" {
				t.Fatalf("first: got %q", b)
			}
			if _, b := fx.body(t, path); string(b) != "version 1\n" {
				t.Fatalf("unchanged: got %q", b)
			}
			o.Set(path, originFile([]byte("version 2\n"), nil))
			if _, b := fx.body(t, path); string(b) != "version 2\n" {
				t.Errorf("after a change upstream: got %q; want version 2", b)
			}
			// The first, a 304, and a 200 to the conditional request that
			// brings the new file.
			if gets, cond := counts(o, path); gets != 3 || cond != 2 {
				t.Errorf("upstream got %d GET requests, %d conditional; want 3, 2", gets, cond)
			}
			if !fx.access.WaitFor("cache=revalidated") {
				t.Errorf("access log: got %q; want a line with cache=revalidated", fx.access)
			}
		})
	}
}

func TestCacheFreshness(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		header http.Header
		maxAge time.Duration
		gets   int // GET requests upstream after two client requests
		cond   int // of which conditional
		kept   bool
	}{
		{"default max age", nil, 0, 1, 0, true},
		{"revalidate always", nil, -1, 2, 1, true},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, 0, 2, 1, true},
		{"max-age=3600", http.Header{"Cache-Control": {"max-age=3600"}}, -1, 1, 0, true},
		{"s-maxage before max-age", http.Header{"Cache-Control": {"max-age=3600, s-maxage=0"}}, 0, 2, 1, true},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, 0, 2, 1, true},
		{"immutable", http.Header{"Cache-Control": {"public, immutable"}}, -1, 1, 0, true},
		{"expired", http.Header{"Expires": {past}}, 0, 2, 1, true},
		{"expires later", http.Header{"Expires": {future}}, -1, 1, 0, true},
		{"malformed expires", http.Header{"Expires": {"0"}}, 0, 2, 1, true},
		{"age beyond max-age", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"120"}}, 0, 2, 1, true},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0, 2, 0, false},
		{"private", http.Header{"Cache-Control": {"private, max-age=3600"}}, 0, 2, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t)
			data := fetchtest.Blob(10_000, 1)
			o.Set("/f.rpm", originFile(data, tc.header))
			fx := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.MaxAge = tc.maxAge })
			for i := range 2 {
				if status, b := fx.body(t, "/f.rpm"); status != http.StatusOK || !bytes.Equal(b, data) {
					t.Fatalf("request %d: got %d and %d bytes; want 200 and the file", i+1, status, len(b))
				}
			}
			if gets, cond := counts(o, "/f.rpm"); gets != tc.gets || cond != tc.cond {
				t.Errorf("upstream got %d GET requests, %d conditional; want %d, %d", gets, cond, tc.gets, tc.cond)
			}
			if kept, _ := fetchtest.CacheFiles(t, fx.dir); (len(kept) > 0) != tc.kept {
				t.Errorf("cache holds %v; want kept: %v", kept, tc.kept)
			}
		})
	}
}

func TestCacheReplacesChangedFile(t *testing.T) {
	o := newOrigin(t)
	o.Set("/f.rpm", originFile([]byte("old"), http.Header{"Cache-Control": {"no-cache"}}))
	fx := newCache(t, o.URL)
	fx.body(t, "/f.rpm")
	o.Set("/f.rpm", originFile([]byte("new!"), http.Header{"Cache-Control": {"max-age=3600"}}))
	for i := range 2 {
		if _, b := fx.body(t, "/f.rpm"); string(b) != "new!" {
			t.Fatalf("request %d after the change: got %q; want %q", i+1, b, "new!")
		}
	}
	if gets, cond := counts(o, "/f.rpm"); gets != 2 || cond != 1 {
		// The revalidation brings the new file, which is fresh.
		t.Errorf("upstream got %d GET requests, %d conditional; want 2, 1", gets, cond)
	}
}

func TestCacheStaleIfError(t *testing.T) {
	o := newOrigin(t)
	data := fetchtest.Blob(5000, 1)
	o.Set("/f.rpm", originFile(data, http.Header{"Cache-Control": {"max-age=0"}}))
	fx := newCache(t, o.URL)
	fx.body(t, "/f.rpm")
	o.Set("/f.rpm", fetchtest.File{Status: http.StatusServiceUnavailable})
	if status, b := fx.body(t, "/f.rpm"); status != http.StatusOK || !bytes.Equal(b, data) {
		t.Errorf("upstream failing: got %d and %d bytes; want 200 and the stale copy", status, len(b))
	}
	if !strings.Contains(fx.errs.String(), "serving a stale copy") || !strings.Contains(fx.errs.String(), "503") {
		t.Errorf("error log: got %q; want a line about the stale copy and its cause", fx.errs)
	}
	if !fx.access.WaitFor("cache=stale") {
		t.Errorf("access log: got %q; want cache=stale", fx.access)
	}
	o.Close() // unreachable
	if status, b := fx.body(t, "/f.rpm"); status != http.StatusOK || !bytes.Equal(b, data) {
		t.Errorf("upstream gone: got %d and %d bytes; want 200 and the stale copy", status, len(b))
	}
}

func TestCacheForgetsRemovedFile(t *testing.T) {
	o := newOrigin(t)
	o.Set("/f.rpm", originFile([]byte("x"), http.Header{"Cache-Control": {"no-cache"}}))
	fx := newCache(t, o.URL)
	fx.body(t, "/f.rpm")
	o.Remove("/f.rpm")
	for range 2 {
		if status, _ := fx.body(t, "/f.rpm"); status != http.StatusNotFound {
			t.Errorf("removed upstream: got %d; want 404", status)
		}
	}
}

// TestCacheRevalidationShared sends many requests for a stale file at once:
// the upstream is asked once.
func TestCacheRevalidationShared(t *testing.T) {
	o := newOrigin(t)
	o.Set("/PULP_MANIFEST", originFile([]byte("a,1,b\n"), nil))
	fx := newCache(t, o.URL)
	fx.body(t, "/PULP_MANIFEST")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { fx.drain(t, "/PULP_MANIFEST", nil) })
	}
	wg.Wait()
	if gets, cond := counts(o, "/PULP_MANIFEST"); cond < 1 || cond > 20 || gets != 1+cond {
		t.Errorf("upstream got %d GET requests, %d conditional; want the first and then only conditional ones", gets, cond)
	}
}

func TestCacheRedirects(t *testing.T) {
	o := newOrigin(t)
	cdn := newOrigin(t)
	o.Set("/simple/pkg", fetchtest.File{Redirect: "/simple/pkg/"})
	o.Set("/simple/pkg/", originFile([]byte(`<a href="pkg-1.0.tar.gz">pkg-1.0.tar.gz</a>`), nil))
	o.Set("/latest.rpm", fetchtest.File{Redirect: "/pool/f-2.rpm"})
	o.Set("/pool/f-2.rpm", originFile([]byte("two"), nil))
	o.Set("/external.rpm", fetchtest.File{Redirect: cdn.URL + "/blob/123"})
	cdn.Set("/blob/123", originFile([]byte("from the cdn"), nil))
	fx := newCache(t, o.URL)
	noFollow := &http.Client{
		Transport:     fx.front.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range []struct {
		path, location string
		gets           int // a 301 is kept, but metadata is revalidated
	}{
		{"/simple/pkg", "/simple/pkg/", 2},
		{"/latest.rpm", "/pool/f-2.rpm", 1},
	} {
		for range 2 {
			resp, err := noFollow.Get(fx.front.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != tc.location {
				t.Errorf("GET %s: got %d Location %q; want 301 %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.location)
			}
		}
		if gets, _ := counts(o, tc.path); gets != tc.gets {
			t.Errorf("GET %s: upstream got %d requests; want %d", tc.path, gets, tc.gets)
		}
	}
	if status, b := fx.body(t, "/simple/pkg"); status != http.StatusOK || !strings.Contains(string(b), "pkg-1.0") {
		t.Errorf("GET /simple/pkg, following: got %d %q; want the listing", status, b)
	}
	for range 2 {
		if status, b := fx.body(t, "/external.rpm"); status != http.StatusOK || string(b) != "from the cdn" {
			t.Errorf("GET /external.rpm: got %d %q; want the CDN's file", status, b)
		}
	}
	if gets, _ := counts(cdn, "/blob/123"); gets != 1 {
		t.Errorf("the CDN got %d requests; want 1: the file is kept under /external.rpm", gets)
	}
}

// rawGet sends a request line with path as is, and returns the status.
func rawGet(t *testing.T, addr, path string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCacheRefusesPaths(t *testing.T) {
	paths := []string{
		"//etc/passwd", "/%2Fetc/shadow", "/a/%2f/b", "/a/..;/b", "/..;/etc/passwd", "/a;b/c", "/a%3Bb",
		"/a%5Cb", "/a%5c..%5cb", "/a//b", "/../a", "/a/./b", "/a/%2e%2e/b", "/a%00b",
	}
	t.Run("http", func(t *testing.T) {
		o := newOrigin(t)
		fx := newCache(t, o.URL+"/repo/")
		for _, p := range paths {
			if got := rawGet(t, fx.front.Listener.Addr().String(), p); got != http.StatusBadRequest {
				t.Errorf("GET %s: got %d; want 400", p, got)
			}
		}
		if all := len(o.Asked()); all != 0 {
			t.Errorf("upstream got %d requests; want none", all)
		}
	})
	t.Run("ftp", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		defer func() { l.Close(); <-done }()
		fx := newCache(t, "ftp://"+l.Addr().String()+"/pub/")
		for _, p := range paths {
			if got := rawGet(t, fx.front.Listener.Addr().String(), p); got != http.StatusBadRequest {
				t.Errorf("GET %s: got %d; want 400", p, got)
			}
		}
		if got := rawGet(t, fx.front.Listener.Addr().String(), "/pub/dir/"); got != http.StatusNotFound {
			t.Errorf("GET a folder: got %d; want 404", got)
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("the FTP upstream got %d connections; want none", n)
		}
	})
}

func TestCacheMirror(t *testing.T) {
	m := newOrigin(t)
	m.Set("/pub/f.rpm", originFile([]byte("from the mirror"), nil))
	fx := newCache(t, fetchtest.DeadURL(t)+"/repo", func(o *proxy.CacheOptions) { o.Mirrors = []*url.URL{mustParse(t, m.URL+"/pub")} })
	for range 2 {
		if status, b := fx.body(t, "/f.rpm"); status != http.StatusOK || string(b) != "from the mirror" {
			t.Errorf("got %d %q; want the mirror's file", status, b)
		}
	}
	if gets, _ := counts(m, "/pub/f.rpm"); gets != 1 {
		t.Errorf("the mirror got %d requests; want 1", gets)
	}
}

func TestCacheNotKept(t *testing.T) {
	o := newOrigin(t)
	o.Set("/chunked.rpm", fetchtest.File{Doc: fetchtest.Doc{Body: fetchtest.Blob(100_000, 1), NoLength: true}})
	o.Set("/big.rpm", originFile(fetchtest.Blob(2000, 1), nil))
	fx := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.MaxSize = 1000 })
	for _, p := range []string{"/chunked.rpm", "/big.rpm"} {
		for range 2 {
			if status, _ := fx.body(t, p); status != http.StatusOK {
				t.Errorf("GET %s: got %d; want 200", p, status)
			}
		}
		if gets, _ := counts(o, p); gets != 2 {
			t.Errorf("GET %s: upstream got %d requests; want 2: it is not kept", p, gets)
		}
	}
	fx.front.Close()
	fx.cache.Close()
	if kept, temporary := fetchtest.CacheFiles(t, fx.dir); len(kept)+len(temporary) > 0 {
		t.Errorf("cache holds %v %v; want nothing", kept, temporary)
	}
}

// TestCacheEncodedHit checks that a kept file with a Content-Encoding is
// served with its length, whole and in part.
func TestCacheEncodedHit(t *testing.T) {
	o := newOrigin(t)
	data := fetchtest.Blob(3000, 1)
	o.Set("/f.gz", originFile(data, http.Header{"Content-Encoding": {"gzip"}, "Content-Length": {"3000"}}))
	fx := newCache(t, o.URL)
	io.Copy(io.Discard, fx.get(t, http.MethodGet, "/f.gz", http.Header{"Accept-Encoding": {"identity"}}).Body)
	for _, tc := range []struct{ rng, length string }{{"", "3000"}, {"bytes=10-19", "10"}} {
		h := http.Header{"Accept-Encoding": {"identity"}}
		if tc.rng != "" {
			h.Set("Range", tc.rng)
		}
		resp := fx.get(t, http.MethodGet, "/f.gz", h)
		io.Copy(io.Discard, resp.Body)
		if got := resp.Header.Get("Content-Length"); got != tc.length || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("Range %q: got Content-Length %q, Content-Encoding %q; want %s, gzip", tc.rng, got, resp.Header.Get("Content-Encoding"), tc.length)
		}
	}
	if gets, _ := counts(o, "/f.gz"); gets != 1 {
		t.Errorf("upstream got %d requests; want 1", gets)
	}
}

func TestCacheDirectory(t *testing.T) {
	o := newOrigin(t)
	o.Set("/a.rpm", originFile([]byte("alpha"), nil))
	f := fetch.New(fetch.Options{Retries: -1})
	defer f.Close()
	dir := t.TempDir()
	left := []string{filepath.Join(dir, "ab", ".cd.123.part"), filepath.Join(dir, "fetch-spill-99"), filepath.Join(dir, ".record-1.part")}
	kept := filepath.Join(dir, "ab", "cd")
	for _, name := range append(left, kept) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := proxy.CacheOptions{Upstream: mustParse(t, o.URL), Dir: dir, ErrorLog: slog.New(slog.DiscardHandler)}
	c, err := proxy.NewCache(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range left {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("%s is left after NewCache; want it removed", name)
		}
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("%s: %v; want it kept", kept, err)
	}
	if _, err := proxy.NewCache(f, opts); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second NewCache on the directory: got %v; want an error saying it is in use", err)
	}

	// A directory removed while the Cache runs is made again.
	front := httptest.NewServer(c)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	resp, err := front.Client().Get(front.URL + "/a.rpm")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "alpha" || err != nil {
		t.Errorf("after the directory was removed: got %d %q %v; want 200 %q", resp.StatusCode, b, err, "alpha")
	}
	front.Close()
	c.Close()
	c, err = proxy.NewCache(f, opts)
	if err != nil {
		t.Fatalf("NewCache after Close: %v", err)
	}
	c.Close()
}

// TestCacheRestart: a Cache started on the directory of another serves
// the files it kept, orders them for eviction by their modification time,
// and removes a file without its record, which nothing can serve.
func TestCacheRestart(t *testing.T) {
	o := newOrigin(t)
	sizes := map[string]int{"/a": 1000, "/b": 1001, "/c": 1002}
	for p, n := range sizes {
		o.Set(p, originFile(fetchtest.Blob(n, 1), http.Header{"Cache-Control": {"max-age=3600"}}))
	}
	dir := t.TempDir()
	first := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.Dir = dir })
	for _, p := range []string{"/a", "/b", "/c"} {
		first.body(t, p)
	}
	first.front.Close()
	first.cache.Close()

	// a is the oldest, then b, then c.
	kept, _ := fetchtest.CacheFiles(t, dir)
	for _, name := range kept {
		fi, err := os.Stat(name)
		if err != nil || strings.HasSuffix(name, ".json") {
			continue
		}
		age := time.Duration(1003-fi.Size()) * time.Hour
		if err := os.Chtimes(name, time.Time{}, time.Now().Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	orphan := filepath.Join(dir, "ee", strings.Repeat("e", 64))
	if err := os.MkdirAll(filepath.Dir(orphan), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	second := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.Dir = dir; opts.MaxBytes = 2500 })
	if _, err := os.Stat(orphan); err == nil {
		t.Errorf("a file without its record is left after NewCache; want it removed")
	}
	for _, p := range []string{"/c", "/b", "/a"} {
		if status, b := second.body(t, p); status != http.StatusOK || len(b) != sizes[p] {
			t.Fatalf("GET %s: got %d and %d bytes; want 200 and %d", p, status, len(b), sizes[p])
		}
	}
	// a, the oldest, was removed to make room; b and c were served from
	// the directory.
	for p, want := range map[string]int{"/a": 2, "/b": 1, "/c": 1} {
		if gets, _ := counts(o, p); gets != want {
			t.Errorf("GET %s: upstream got %d requests; want %d", p, gets, want)
		}
	}
}

// TestCacheHeader: CacheOptions.Header goes upstream with every request,
// the download of a miss and the conditional request of a revalidation.
func TestCacheHeader(t *testing.T) {
	var mu sync.Mutex
	var got []string // "GET" or "conditional", and the token
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "GET"
		if r.Header.Get("If-None-Match") != "" {
			kind = "conditional"
		}
		mu.Lock()
		got = append(got, kind+" "+r.Header.Get("X-Token"))
		mu.Unlock()
		if r.Header.Get("X-Token") != "s3cret" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Cache-Control", "no-cache")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("file"))
	}))
	defer up.Close()
	fx := newCache(t, up.URL, func(opts *proxy.CacheOptions) {
		opts.Header = http.Header{"X-Token": {"s3cret"}}
	})
	for i := range 2 {
		if status, b := fx.body(t, "/f"); status != http.StatusOK || string(b) != "file" {
			t.Fatalf("request %d: got %d %q; want 200 %q", i+1, status, b, "file")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"GET s3cret", "conditional s3cret"}; !slices.Equal(got, want) {
		t.Errorf("upstream got %q; want %q", got, want)
	}
}

func TestCacheMaxRequests(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("a"))
		http.NewResponseController(w).Flush()
		select {
		case <-release:
			w.Write([]byte("b"))
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.MaxRequests = 1 })
	resp := fx.get(t, http.MethodGet, "/slow.rpm", nil)
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	busy := fx.get(t, http.MethodGet, "/other.rpm", nil)
	io.Copy(io.Discard, busy.Body)
	if busy.StatusCode != http.StatusServiceUnavailable || busy.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: got %d, Retry-After %q; want 503 with Retry-After", busy.StatusCode, busy.Header.Get("Retry-After"))
	}
	close(release)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "b" {
		t.Errorf("the request in flight: got %q, %v; want the rest of its file", b, err)
	}
}

// spillFilesOpen returns how many spill files this process holds open.
func spillFilesOpen(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, "fetch-spill-") {
			n++
		}
	}
	return n
}

// TestCacheWriteTimeout leaves a client that reads nothing: after the
// write timeout it is disconnected, and the download it alone was reading
// stops and frees its spill file.
func TestCacheWriteTimeout(t *testing.T) {
	data := fetchtest.Blob(32<<20, 1)
	upstreamDone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*len(data)))
		w.Write(data)
		<-r.Context().Done() // the second half never comes
		close(upstreamDone)
	}))
	defer up.Close()
	fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.WriteTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", fx.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /big.iso HTTP/1.1\r\nHost: proxy\r\n\r\n")
	select {
	case <-upstreamDone:
	case <-time.After(time.Minute):
		t.Fatal("the download goes on a minute after the client stopped reading")
	}
	if !fx.access.WaitFor("client gone") {
		t.Errorf("access log: got %q; want the client's failure with its cause", fx.access)
	}
	for range 6000 {
		if spillFilesOpen(t) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d spill files are still open; want none", spillFilesOpen(t))
}

func TestCacheEviction(t *testing.T) {
	o := newOrigin(t)
	for _, p := range []string{"/a", "/b", "/c"} {
		o.Set(p, originFile(fetchtest.Blob(1000, 1), http.Header{"Cache-Control": {"max-age=3600"}}))
	}
	fx := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.MaxBytes = 2500 })
	for _, p := range []string{"/a", "/b", "/a", "/c", "/a", "/c", "/b"} {
		if status, b := fx.body(t, p); status != http.StatusOK || len(b) != 1000 {
			t.Fatalf("GET %s: got %d and %d bytes", p, status, len(b))
		}
	}
	// b was the least recently used when c came, and came back after.
	for p, want := range map[string]int{"/a": 1, "/b": 2, "/c": 1} {
		if gets, _ := counts(o, p); gets != want {
			t.Errorf("GET %s: upstream got %d requests; want %d", p, gets, want)
		}
	}
	if kept, _ := fetchtest.CacheFiles(t, fx.dir); len(kept) != 4 {
		t.Errorf("cache holds %v; want two files and their records", kept)
	}
}

// TestCacheEvictionSparesFileInUse makes a file the least recently used
// while a client reads it: it is not removed, and the client gets it whole.
func TestCacheEvictionSparesFileInUse(t *testing.T) {
	o := newOrigin(t)
	big := fetchtest.Blob(16<<20, 1)
	o.Set("/big", originFile(big, http.Header{"Cache-Control": {"max-age=3600"}}))
	o.Set("/small", originFile(fetchtest.Blob(1<<20, 1), http.Header{"Cache-Control": {"max-age=3600"}}))
	fx := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.MaxBytes = 16<<20 + 512<<10 })
	fx.body(t, "/big")

	// A hit that a client with a small receive buffer reads later: more
	// than the connection's buffers hold, so its handler is still sending.
	conn, err := net.Dial("tcp", fx.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: proxy\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	fx.body(t, "/small") // over the maximum: small is removed, big is in use
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(first, rest...), big) {
		t.Fatalf("the hit in use: got %d bytes, %v; want the whole file", 1+len(rest), err)
	}
	fx.body(t, "/big")
	if gets, _ := counts(o, "/big"); gets != 1 {
		t.Errorf("GET /big: upstream got %d requests; want 1: it was never removed", gets)
	}
	if gets, _ := counts(o, "/small"); gets != 1 {
		t.Errorf("GET /small: upstream got %d requests; want 1", gets)
	}
	if kept, _ := fetchtest.CacheFiles(t, fx.dir); len(kept) != 2 {
		t.Errorf("cache holds %v; want one file and its record", kept)
	}
}

// TestCacheNamedByContent checks that files named by their content are
// never asked for again, and that a by-hash file is checked against the
// digest its name gives.
func TestCacheNamedByContent(t *testing.T) {
	o := newOrigin(t)
	good := []byte("Package: hello\n")
	goodPath := "/dists/stable/main/binary-amd64/by-hash/SHA256/" + fetchtest.SHA256(good)
	badPath := "/dists/stable/main/binary-amd64/by-hash/SHA256/" + fetchtest.SHA256([]byte("other"))
	zipPath := "/example.com/mod/@v/v1.0.0.zip"
	o.Set(goodPath, originFile(good, http.Header{"Cache-Control": {"no-cache"}}))
	o.Set(badPath, originFile(good, nil))
	o.Set(zipPath, originFile([]byte("zip"), http.Header{"Cache-Control": {"no-cache"}}))
	fx := newCache(t, o.URL, func(opts *proxy.CacheOptions) { opts.MaxAge = -1 })
	for _, p := range []string{goodPath, zipPath} {
		for range 2 {
			if status, _ := fx.body(t, p); status != http.StatusOK {
				t.Errorf("GET %s: got %d; want 200", p, status)
			}
		}
		if gets, _ := counts(o, p); gets != 1 {
			t.Errorf("GET %s: upstream got %d requests; want 1", p, gets)
		}
	}
	resp := fx.get(t, http.MethodGet, badPath, nil)
	if b, err := io.ReadAll(resp.Body); err == nil && resp.StatusCode == http.StatusOK {
		t.Errorf("GET a by-hash path whose file has another digest: got 200 and %d bytes, a clean end; want a failure", len(b))
	}
}

// TestCacheRedirectUnderPrefix serves the Cache below a prefix: a redirect
// names the target below the same prefix, for GET and HEAD.
func TestCacheRedirectUnderPrefix(t *testing.T) {
	o := newOrigin(t)
	o.Set("/simple/pkg", fetchtest.File{Redirect: "/simple/pkg/"})
	o.Set("/simple/pkg/", originFile([]byte("a listing"), nil))
	fx := newCache(t, o.URL)
	mux := http.NewServeMux()
	mux.Handle("/pypi/", http.StripPrefix("/pypi", fx.cache))
	front := httptest.NewServer(mux)
	defer front.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp := fetchtest.Do(t, client, method, front.URL+"/pypi/simple/pkg", nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/pypi/simple/pkg/" {
			t.Errorf("%s: got %d Location %q; want 301 %q", method, resp.StatusCode, resp.Header.Get("Location"), "/pypi/simple/pkg/")
		}
	}
}
