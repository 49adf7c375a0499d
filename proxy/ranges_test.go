package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// TestCacheRangeHitAsMiss asks each Range of a file twice, a miss then a
// hit: both get the same answer, and several ranges get the whole file
// once, never a multipart body as large as the client likes.
func TestCacheRangeHitAsMiss(t *testing.T) {
	data := fetchtest.Blob(1000, 1)
	many := "bytes=" + strings.Repeat("0-0,", 4999) + "0-0"
	var bytewise strings.Builder // each byte of the file, one range each
	bytewise.WriteString("bytes=0-0")
	for i := 1; i < len(data); i++ {
		fmt.Fprintf(&bytewise, ",%d-%d", i, i)
	}
	for _, tc := range []struct {
		name, rng, ifRange string
		status             int
		contentRange       string
		body               []byte
	}{
		{"first bytes", "bytes=0-9", "", http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"suffix", "bytes=-5", "", http.StatusPartialContent, "bytes 995-999/1000", data[995:]},
		{"past the end", "bytes=500-2000", "", http.StatusPartialContent, "bytes 500-999/1000", data[500:]},
		{"empty suffix", "bytes=-0", "", http.StatusRequestedRangeNotSatisfiable, "bytes */1000", []byte{}},
		{"from the end", "bytes=1000-", "", http.StatusRequestedRangeNotSatisfiable, "bytes */1000", []byte{}},
		{"two ranges", "bytes=0-1,5-6", "", http.StatusOK, "", data},
		{"5000 ranges", many, "", http.StatusOK, "", data},
		{"1000 one-byte ranges", bytewise.String(), "", http.StatusOK, "", data},
		{"overlapping ranges", "bytes=0-999,0-999,0-999", "", http.StatusOK, "", data},
		{"malformed", "bytes=x-y", "", http.StatusOK, "", data},
		{"if-range matches", "bytes=0-9", `"1000"`, http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"if-range date matches", "bytes=0-9", "Mon, 02 Jan 2006 15:04:05 GMT", http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"if-range stale", "bytes=0-9", `"999"`, http.StatusOK, "", data},
		{"if-range stale, unsatisfiable", "bytes=-0", `"999"`, http.StatusOK, "", data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fetchtest.NewRepo(t, map[string][]byte{"/f.rpm": data})
			fx := newCache(t, up.URL, func(o *proxy.CacheOptions) { o.MaxAge = time.Hour })
			h := http.Header{"Range": {tc.rng}}
			if tc.ifRange != "" {
				h.Set("If-Range", tc.ifRange)
			}
			for i, cache := range []string{"miss", "hit"} {
				gets := up.Gets("/f.rpm")
				resp := fx.get(t, http.MethodGet, "/f.rpm", h)
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s: reading the body: %v", cache, err)
				}
				if resp.StatusCode != tc.status {
					t.Errorf("%s: status: got %d; want %d", cache, resp.StatusCode, tc.status)
				}
				if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
					t.Errorf("%s: Content-Range: got %q; want %q", cache, got, tc.contentRange)
				}
				if !bytes.Equal(body, tc.body) {
					t.Errorf("%s: body: got %d bytes; want %d", cache, len(body), len(tc.body))
				}
				if i == 1 && up.Gets("/f.rpm") != gets {
					t.Errorf("hit: the upstream was asked again; want the kept file served")
				}
				if i == 0 && tc.status == http.StatusRequestedRangeNotSatisfiable {
					// A 416 keeps nothing: one whole download for the hit.
					fx.body(t, "/f.rpm")
				}
			}
		})
	}
}
