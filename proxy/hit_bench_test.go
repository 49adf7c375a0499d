package proxy_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// nullWriter is a ResponseWriter that keeps nothing but the status, and
// whose header map is reused from one request to the next: what a
// benchmark of the Cache's own work needs from a server.
type nullWriter struct {
	header http.Header
	status int
	n      int64
}

func (w *nullWriter) Header() http.Header { return w.header }
func (w *nullWriter) WriteHeader(s int)   { w.status = s }
func (w *nullWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(b))
	return len(b), nil
}

func (w *nullWriter) reset() {
	clear(w.header)
	w.status, w.n = 0, 0
}

// benchCache returns a Cache of files of size bytes from an upstream in
// this process, logging every request as the command does, and the
// request for one of them.
func benchCache(b *testing.B, size int) (*proxy.Cache, string, string) {
	data := fetchtest.Blob(size, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Write(data)
	}))
	b.Cleanup(up.Close)
	fx := newCache(b, up.URL, func(o *proxy.CacheOptions) {
		o.AccessLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	return fx.cache, fx.dir, "/pool/f"
}

// serve sends one GET for path through c and checks its answer.
func serve(b *testing.B, c *proxy.Cache, w *nullWriter, path string, size int) {
	w.reset()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	c.ServeHTTP(w, r)
	if w.status != http.StatusOK || w.n != int64(size) {
		b.Fatalf("status %d, %d bytes; want 200, %d", w.status, w.n, size)
	}
}

// BenchmarkCacheHit serves a kept file from the Cache in this process,
// without a network between client and Cache: the Cache's own work on a
// hit (record, freshness, headers, access log), allocations included.
func BenchmarkCacheHit(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			c, _, path := benchCache(b, size)
			w := &nullWriter{header: http.Header{}}
			serve(b, c, w, path, size) // the miss that keeps it
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				serve(b, c, w, path, size)
			}
		})
	}
}

// BenchmarkCacheMiss serves a file that the Cache does not keep: it is
// downloaded from an upstream on loopback, streamed and kept. The kept
// files are removed between requests (outside the timer).
func BenchmarkCacheMiss(b *testing.B) {
	for _, size := range []int{16 << 10, 16 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			c, dir, path := benchCache(b, size)
			w := &nullWriter{header: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				forget(b, dir)
				b.StartTimer()
				serve(b, c, w, path, size)
			}
		})
	}
}
