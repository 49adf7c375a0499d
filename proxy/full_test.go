package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// TestCacheFullDiskMiss puts the cache on a 64 KiB disk and asks for a
// file of 1 MiB: the first miss finds the disk full, and the misses after
// it are passed through to their clients, whole or by range, not kept,
// rather than cut one after another.
func TestCacheFullDiskMiss(t *testing.T) {
	data := fetchtest.Blob(1<<20, 1)
	up := fetchtest.NewRepo(t, map[string][]byte{"/big.iso": data})
	small := fetchtest.SmallTmpfs(t, t.TempDir())
	fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.Dir = small })

	resp := fx.get(t, http.MethodGet, "/big.iso", nil)
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == http.StatusOK && bytes.Equal(body, data) {
		t.Fatalf("the first miss was served whole from a 64 KiB disk")
	}
	for _, tc := range []struct {
		rng    string
		status int
		body   []byte
	}{
		{"", http.StatusOK, data},
		{"bytes=10-19", http.StatusPartialContent, data[10:20]},
		{"bytes=-0", http.StatusRequestedRangeNotSatisfiable, []byte{}},
	} {
		h := http.Header{}
		if tc.rng != "" {
			h.Set("Range", tc.rng)
		}
		resp := fx.get(t, http.MethodGet, "/big.iso", h)
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != tc.status || !bytes.Equal(body, tc.body) {
			t.Errorf("Range %q with the disk full: got %d, %d bytes, %v; want %d and %d bytes", tc.rng, resp.StatusCode, len(body), err, tc.status, len(tc.body))
		}
	}
	fx.front.Close()
	if log := fx.access.String(); strings.Count(log, "cache=pass") != 3 {
		t.Errorf("access log: want 3 requests with cache=pass:\n%s", log)
	}
	if log := fx.errs.String(); !strings.Contains(log, "cache disk full") {
		t.Errorf("error log lacks %q:\n%s", "cache disk full", log)
	}
	kept, temporary := fetchtest.CacheFiles(t, small)
	if len(kept) != 0 || len(temporary) != 0 {
		t.Errorf("cache holds %v and temporary files %v; want nothing", kept, temporary)
	}
}
