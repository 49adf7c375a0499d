package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

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

// TestCachePlantedFIFO puts a FIFO, with a writer that sends nothing, in
// place of a kept file, then of its record: the request is served as a
// miss, rather than wait for the pipe.
func TestCachePlantedFIFO(t *testing.T) {
	data := fetchtest.Blob(1000, 1)
	for _, which := range []string{"file", "record"} {
		t.Run(which, func(t *testing.T) {
			up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": data})
			fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.MaxAge = time.Hour })
			if status, body := fx.body(t, "/a.rpm"); status != http.StatusOK || !bytes.Equal(body, data) {
				t.Fatalf("miss: got %d, %d bytes", status, len(body))
			}
			kept, _ := fetchtest.CacheFiles(t, fx.dir)
			var at string
			for _, k := range kept {
				if strings.HasSuffix(k, ".json") == (which == "record") {
					at = k
				}
			}
			if err := os.Remove(at); err != nil {
				t.Fatal(err)
			}
			fetchtest.PlantFIFO(t, at)
			if status, body := fx.body(t, "/a.rpm"); status != http.StatusOK || !bytes.Equal(body, data) {
				t.Errorf("with a FIFO as the kept %s: got %d, %d bytes; want 200 and the file", which, status, len(body))
			}
		})
	}
}
