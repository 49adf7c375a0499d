package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/proxy"
)

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the lines written so far.
func (b *syncBuffer) lines() []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// cacheFixture is a Cache of an upstream base, served by a front server.
type cacheFixture struct {
	cache  *proxy.Cache
	dir    string
	front  *httptest.Server
	access *syncBuffer // the access log
	errs   *syncBuffer // the error log
}

// newCache serves the files below upstream through a Cache in a new
// directory; the Cache is closed when the test ends.
func newCache(t testing.TB, upstream string, mirrors ...string) *cacheFixture {
	t.Helper()
	f := fetch.New(fetch.Options{Retries: -1})
	t.Cleanup(func() { f.Close() })
	fx := &cacheFixture{dir: t.TempDir(), access: &syncBuffer{}, errs: &syncBuffer{}}
	opts := proxy.CacheOptions{
		Upstream:  mustParse(t, upstream),
		Dir:       fx.dir,
		AccessLog: slog.New(slog.NewTextHandler(fx.access, nil)),
		ErrorLog:  slog.New(slog.NewTextHandler(fx.errs, nil)),
	}
	for _, m := range mirrors {
		opts.Mirrors = append(opts.Mirrors, mustParse(t, m))
	}
	c, err := proxy.NewCache(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	fx.cache = c
	fx.front = httptest.NewServer(c)
	t.Cleanup(func() {
		fx.front.Close()
		c.Close()
	})
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

// get sends a request for path to the front server.
func (fx *cacheFixture) get(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, fx.front.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := fx.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// upstreamRepo serves files by path and counts the GET requests for each.
type upstreamRepo struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	gets  map[string]int
}

func newUpstreamRepo(t *testing.T, files map[string][]byte) *upstreamRepo {
	up := &upstreamRepo{files: files, gets: map[string]int{}}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		if r.Method == http.MethodGet {
			up.gets[r.URL.Path]++
		}
		data, ok := up.files[r.URL.Path]
		up.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-rpm")
		w.Header().Set("Etag", `"`+strconv.Itoa(len(data))+`"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	t.Cleanup(up.Close)
	return up
}

func (up *upstreamRepo) getsOf(path string) int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.gets[path]
}

// cacheFiles returns the files in dir: the kept ones, and the temporary.
func cacheFiles(t *testing.T, dir string) (kept, temporary []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasPrefix(d.Name(), "."):
			temporary = append(temporary, path)
		default:
			kept = append(kept, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return kept, temporary
}

func TestCacheServesFromCache(t *testing.T) {
	data := payload(200_000)
	up := newUpstreamRepo(t, map[string][]byte{"/repo/Packages/a.rpm": data})
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
	if got := up.getsOf("/repo/Packages/a.rpm"); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
	fx.front.Close()
	fx.cache.Close()
	kept, temporary := cacheFiles(t, fx.dir)
	if len(kept) != 2 || len(temporary) != 0 {
		t.Errorf("cache holds %v and temporary files %v; want the file and its record", kept, temporary)
	}
	log := fx.access.lines()
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

func TestCacheCorruptCopy(t *testing.T) {
	data := payload(100_000)
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": data})
	fx := newCache(t, up.URL)
	if body, _ := io.ReadAll(fx.get(t, http.MethodGet, "/a.rpm", nil).Body); !bytes.Equal(body, data) {
		t.Fatalf("first request: got %d bytes; want %d", len(body), len(data))
	}
	kept, _ := cacheFiles(t, fx.dir)
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
	if err == nil {
		t.Fatalf("corrupt copy: got status %d and a clean end after %d bytes; want an error", resp.StatusCode, len(body))
	}
	resp = fx.get(t, http.MethodGet, "/a.rpm", nil)
	if body, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(body, data) {
		t.Fatalf("after the corrupt copy: got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	if got := up.getsOf("/a.rpm"); got != 2 {
		t.Errorf("upstream got %d GET requests; want 2", got)
	}
	if log := fx.access.String(); !strings.Contains(log, "cache=hit aborted=true err=\"cached file is corrupt") {
		t.Errorf("access log: got %q; want a line for the corrupt hit", log)
	}
	if !strings.Contains(fx.errs.String(), "corrupt") {
		t.Errorf("error log: got %q; want a line about the corrupt copy", fx.errs)
	}
}

func TestCacheRefuses(t *testing.T) {
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	fx := newCache(t, up.URL)
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"missing file", http.MethodGet, "/missing.rpm", http.StatusNotFound},
		{"dot dot", http.MethodGet, "/../a.rpm", http.StatusBadRequest},
		{"post", http.MethodPost, "/a.rpm", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.get(t, tc.method, tc.path, nil)
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if kept, temporary := cacheFiles(t, fx.dir); len(kept)+len(temporary) > 0 {
		t.Errorf("cache holds %v %v; want nothing", kept, temporary)
	}
	if got := up.getsOf("/a.rpm"); got != 0 {
		t.Errorf("upstream got %d GET requests for /a.rpm; want none", got)
	}
}

func TestCacheAfterClose(t *testing.T) {
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	fx := newCache(t, up.URL)
	fx.cache.Close()
	resp := fx.get(t, http.MethodGet, "/a.rpm", nil)
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status after Close: got %d; want %d", resp.StatusCode, http.StatusServiceUnavailable)
	}
	if got := up.getsOf("/a.rpm"); got != 0 {
		t.Errorf("upstream got %d GET requests; want none", got)
	}
}

// BenchmarkCache compares a download straight from the upstream server
// with one through a Cache: a miss (downloaded, streamed and kept) and a
// hit (served from the cache). ttfb-ns is the time to the first byte of the
// body, MB/s the throughput.
func BenchmarkCache(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		data := payload(size)
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
				client := &http.Client{Transport: &http.Transport{}}
				defer client.Transport.(*http.Transport).CloseIdleConnections()
				buf := make([]byte, 64<<10)
				var ttfb time.Duration
				b.SetBytes(int64(size))
				for b.Loop() {
					if bc.miss {
						b.StopTimer()
						forget(b, fx.dir)
						b.StartTimer()
					}
					start := time.Now()
					resp, err := client.Get(bc.url)
					if err != nil {
						b.Fatal(err)
					}
					n, err := resp.Body.Read(buf)
					ttfb += time.Since(start)
					for err == nil {
						var m int
						m, err = resp.Body.Read(buf)
						n += m
					}
					resp.Body.Close()
					if err != io.EOF || n != size {
						b.Fatalf("got %d bytes, error %v; want %d", n, err, size)
					}
				}
				b.ReportMetric(float64(ttfb.Nanoseconds())/float64(b.N), "ttfb-ns/op")
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
