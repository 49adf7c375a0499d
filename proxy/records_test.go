package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/fetchkit/fetch"
)

// TestRecordsBodiesBounded holds bodies with records past every bound:
// the bytes held never pass maxBodies, a body larger than maxBodySize is
// not taken, and the count follows records replaced, dropped and pushed
// out.
func TestRecordsBodiesBounded(t *testing.T) {
	var rs records
	held := func() int64 {
		var n int64
		for _, p := range rs.m {
			n += int64(len(p.body))
		}
		return n
	}
	check := func(when string) {
		t.Helper()
		if got := held(); got != rs.bodies || got > maxBodies {
			t.Fatalf("%s: %d bytes held, %d counted; want them equal, at most %d", when, got, rs.bodies, maxBodies)
		}
	}
	body := make([]byte, maxBodySize)
	for i := range maxRecords + 10 {
		file := "f" + strconv.Itoa(i)
		rec := &record{Size: maxBodySize}
		rs.mu.Lock()
		rs.put(file, parsedRecord{rec: rec})
		rs.mu.Unlock()
		if rs.room(rec.Size) {
			rs.holdBody(file, rec, body)
		}
		if rs.bodies > maxBodies || i%1000 == 0 {
			check("holding " + file) // the whole count now and then
		}
	}
	check("at the end")
	if rs.bodies != maxBodies {
		t.Errorf("%d bytes held; want the bound, %d", rs.bodies, maxBodies)
	}
	if rs.room(maxBodySize + 1) {
		t.Errorf("room for a body over maxBodySize")
	}
	for file, p := range rs.m {
		if p.body != nil {
			rs.drop(file)
			check("dropped " + file)
			if !rs.room(maxBodySize) {
				t.Fatalf("no room after a body was dropped")
			}
			rec := &record{Size: 1}
			rs.mu.Lock()
			rs.put(file, parsedRecord{rec: rec})
			rs.mu.Unlock()
			rs.holdBody(file, rec, []byte{1})
			rs.holdBody(file, &record{Size: 1}, []byte{2}) // another record: not held
			if got := rs.body(file, rec); len(got) != 1 || got[0] != 1 {
				t.Fatalf("body of %s: got %v; want [1]", file, got)
			}
			rs.mu.Lock()
			rs.put(file, parsedRecord{rec: &record{}}) // the record read again
			rs.mu.Unlock()
			check("replaced " + file)
			if got := rs.body(file, rec); got != nil {
				t.Fatalf("body of a replaced record: got %v; want none", got)
			}
			break
		}
	}
}

// TestEvictionDropsBody evicts a small file that a hit held in memory:
// its record and bytes go with it, not when it is next asked for.
func TestEvictionDropsBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 1000))
	}))
	defer up.Close()
	base, _ := url.Parse(up.URL)
	f := fetch.New(fetch.Options{Retries: -1})
	defer f.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := NewCache(f, CacheOptions{Upstream: base, Dir: t.TempDir(), MaxBytes: 2500, AccessLog: quiet, ErrorLog: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(p string) {
		t.Helper()
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
		if w.Code != http.StatusOK || w.Body.Len() != 1000 {
			t.Fatalf("GET %s: got %d and %d bytes; want 200 and 1000", p, w.Code, w.Body.Len())
		}
	}
	held := func() int64 {
		c.records.mu.RLock()
		defer c.records.mu.RUnlock()
		return c.records.bodies
	}
	get("/a")
	get("/a") // a hit: its bytes held
	if n := held(); n != 1000 {
		t.Fatalf("after a hit on /a: %d bytes held; want 1000", n)
	}
	get("/b")
	get("/c") // past MaxBytes: /a, the least recently used, is removed
	if n := held(); n != 0 {
		t.Errorf("after /a was evicted: %d bytes held; want 0", n)
	}
	if _, file := c.where("a"); !fileGone(file) {
		t.Errorf("the kept file of /a is still there; want it removed")
	}
}

// fileGone reports whether name is not there.
func fileGone(name string) bool {
	_, err := os.Lstat(name)
	return os.IsNotExist(err)
}
