package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// faultyOrigin serves files whose content changes under the same name
// (each version as long as the others, with its own ETag), and fails one
// response in five on purpose: a body cut half-way, a Content-Length that
// promises more than the body, a 503, a connection closed before any
// header.
type faultyOrigin struct {
	files   int
	size    int
	version atomic.Int64 // the version served now
	faults  atomic.Int64 // responses failed on purpose
	served  atomic.Int64 // responses served whole
}

// body returns version v of file i.
func (o *faultyOrigin) body(i, v int) []byte {
	return fetchtest.Blob(o.size, uint64(i*1000+v+1))
}

func (o *faultyOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var i int
	if _, err := fmt.Sscanf(r.URL.Path, "/f/%d", &i); err != nil || i < 0 || i >= o.files {
		http.NotFound(w, r)
		return
	}
	v := int(o.version.Load())
	data := o.body(i, v)
	w.Header().Set("Etag", strconv.Quote(fmt.Sprintf("%d-%d", i, v)))
	switch n := rand.IntN(20); {
	case n == 0: // cut half-way
		o.faults.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		panic(http.ErrAbortHandler)
	case n == 1: // a length that lies
		o.faults.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)+1000))
		w.Write(data)
		panic(http.ErrAbortHandler)
	case n == 2:
		o.faults.Add(1)
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case n == 3: // gone before the header
		o.faults.Add(1)
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	default:
		o.served.Add(1)
		http.ServeContent(w, r, "", fetchtest.ModTime, bytes.NewReader(data))
	}
}

// TestCacheLoadWithFaults has many clients ask a Cache, at once, for files
// that change under their names while the origin fails one response in
// five: every response that ends cleanly is one whole version of its file
// (or the range of it asked for); the others are broken off or answered
// with an error status, never served wrong.
func TestCacheLoadWithFaults(t *testing.T) {
	clients, each := 200, 15
	if testing.Short() {
		clients, each = 20, 5
	}
	o := &faultyOrigin{files: 16, size: 64 << 10}
	up := httptest.NewServer(o)
	defer up.Close()
	fx := newCache(t, up.URL, func(opts *proxy.CacheOptions) { opts.MaxAge = 20 * time.Millisecond })
	var (
		checked, whole, failed, wrong atomic.Int64
		wg                            sync.WaitGroup
	)
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for k := range each {
				if c == 0 && k%3 == 2 {
					o.version.Add(1) // the files change under their names
				}
				i := rng.IntN(o.files)
				req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/f/%d", fx.front.URL, i), nil)
				if err != nil {
					t.Error(err)
					return
				}
				first, last := -1, -1
				if rng.IntN(4) == 0 {
					first = rng.IntN(o.size)
					last = first + rng.IntN(o.size-first)
					req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
				}
				checked.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				var want func(v int) []byte
				switch {
				case err != nil || resp.StatusCode >= 500:
					failed.Add(1)
					continue
				case resp.StatusCode == http.StatusOK:
					want = func(v int) []byte { return o.body(i, v) }
				case resp.StatusCode == http.StatusPartialContent && first >= 0:
					want = func(v int) []byte { return o.body(i, v)[first : last+1] }
				}
				ok := false
				for v := int(o.version.Load()); want != nil && v >= 0 && !ok; v-- {
					ok = bytes.Equal(body, want(v))
				}
				if !ok {
					wrong.Add(1)
					t.Errorf("GET /f/%d (Range %q): status %d, %d bytes: not a version of the file", i, req.Header.Get("Range"), resp.StatusCode, len(body))
					continue
				}
				whole.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d clients, %d responses checked: %d whole and right, %d broken off or failed, %d wrong; origin: %d responses failed on purpose, %d served whole, %d versions of each of %d files",
		clients, checked.Load(), whole.Load(), failed.Load(), wrong.Load(), o.faults.Load(), o.served.Load(), o.version.Load()+1, o.files)
	if whole.Load() == 0 {
		t.Errorf("no response served whole")
	}
}
