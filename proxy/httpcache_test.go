package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/proxy"
)

// scripted is an origin that answers every request with the status and
// header of its script, and counts the requests by method.
type scripted struct {
	mu     sync.Mutex
	status int
	header http.Header
	body   string
	gets   atomic.Int64
	others atomic.Int64
	last   http.Header // of the last request
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.gets.Add(1)
	} else {
		s.others.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = r.Header.Clone()
	for k, vs := range s.header {
		w.Header()[k] = vs
	}
	if _, ok := s.header["Date"]; !ok {
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

func (s *scripted) set(status int, header http.Header, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.header, s.body = status, header, body
}

// startScripted starts a scripted origin that answers status, header and
// body, and a Cache in front of it, both until the test ends.
func startScripted(t *testing.T, status int, header http.Header, body string) (*scripted, *cacheFixture) {
	t.Helper()
	o := &scripted{}
	o.set(status, header, body)
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, newCache(t, srv.URL)
}

// TestCacheReuseRules sends two requests for a path: the second comes from
// the cache, or from the origin, as RFC 9111 says for each case.
func TestCacheReuseRules(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	old := time.Now().Add(-100 * 24 * time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		status int
		header http.Header // of the response
		req    http.Header // of the second request
		cached bool
	}{
		{"max-age", 200, http.Header{"Cache-Control": {"max-age=3600"}}, nil, true},
		{"s-maxage over max-age", 200, http.Header{"Cache-Control": {"max-age=3600, s-maxage=0"}}, nil, false},
		{"no-cache", 200, http.Header{"Cache-Control": {"no-cache, max-age=3600"}}, nil, false},
		{"no-store", 200, http.Header{"Cache-Control": {"no-store, max-age=3600"}}, nil, false},
		{"private", 200, http.Header{"Cache-Control": {"private, max-age=3600"}}, nil, false},
		{"must-understand over no-store", 200, http.Header{"Cache-Control": {"must-understand, no-store, max-age=3600"}}, nil, true},
		{"age past max-age", 200, http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"7200"}}, nil, false},
		{"invalid age ignored", 200, http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"abc"}}, nil, true},
		{"expires in the past", 200, http.Header{"Expires": {past}}, nil, false},
		{"invalid expires", 200, http.Header{"Expires": {"0"}, "Cache-Control": {"public"}}, nil, false},
		{"heuristic from Last-Modified", 200, http.Header{"Last-Modified": {old}}, nil, true},
		{"404 with max-age", 404, http.Header{"Cache-Control": {"max-age=3600"}}, nil, true},
		{"299 without freshness", 299, http.Header{"Last-Modified": {old}}, nil, false},
		{"599 with max-age", 599, http.Header{"Cache-Control": {"max-age=3600"}}, nil, true},
		{"request no-cache", 200, http.Header{"Cache-Control": {"max-age=3600"}}, http.Header{"Cache-Control": {"no-cache"}}, false},
		{"request pragma no-cache", 200, http.Header{"Cache-Control": {"max-age=3600"}}, http.Header{"Pragma": {"no-cache"}}, false},
		{"request max-age=0", 200, http.Header{"Cache-Control": {"max-age=3600"}}, http.Header{"Cache-Control": {"max-age=0"}}, false},
		{"request min-fresh", 200, http.Header{"Cache-Control": {"max-age=3600"}}, http.Header{"Cache-Control": {"min-fresh=7200"}}, false},
		{"request max-stale", 200, http.Header{"Cache-Control": {"max-age=0"}}, http.Header{"Cache-Control": {"max-stale"}}, true},
		{"must-revalidate refuses max-stale", 200, http.Header{"Cache-Control": {"max-age=0, must-revalidate"}}, http.Header{"Cache-Control": {"max-stale"}}, false},
		{"vary match", 200, http.Header{"Cache-Control": {"max-age=3600"}, "Vary": {"Foo"}}, http.Header{"Foo": {"1"}}, true},
		{"vary mismatch", 200, http.Header{"Cache-Control": {"max-age=3600"}, "Vary": {"Foo"}}, http.Header{"Foo": {"2"}}, false},
		{"vary star", 200, http.Header{"Cache-Control": {"max-age=3600"}, "Vary": {"*"}}, http.Header{"Foo": {"1"}}, false},
		{"authorization", 200, http.Header{"Cache-Control": {"max-age=3600"}}, http.Header{"Authorization": {"Basic eDp5"}}, false},
		{"authorization and public", 200, http.Header{"Cache-Control": {"max-age=3600, public"}}, http.Header{"Authorization": {"Basic eDp5"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, fx := startScripted(t, tc.status, tc.header, "body")
			first := http.Header{"Foo": {"1"}}
			if tc.req.Get("Authorization") != "" {
				first = tc.req
			}
			for i, h := range []http.Header{first, tc.req} {
				resp := fx.get(t, http.MethodGet, "/f", h)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || string(b) != "body" {
					t.Fatalf("request %d: got %d %q; want %d %q", i+1, resp.StatusCode, b, tc.status, "body")
				}
				if i == 1 && tc.cached && resp.Header.Get("Age") == "" {
					t.Errorf("a response from the cache without Age")
				}
			}
			if got := o.gets.Load() == 1; got != tc.cached {
				t.Errorf("origin asked %d times; want the second from the cache: %v", o.gets.Load(), tc.cached)
			}
		})
	}
}

// TestCacheStoresEveryHeader checks that a hit replays every header field
// of the response but those of the connection, and that a 304 updates
// them.
func TestCacheStoresEveryHeader(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"a"`}, "X-Checksum-Sha256": {"abc"}, "Link": {"</x>; rel=next"},
		"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Keep-Alive": {"timeout=5"}, "Content-Disposition": {"attachment; filename=\"caf\xe9\""}}, "body")
	fx.body(t, "/f")
	o.set(304, http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"a"`}, "X-Checksum-Sha256": {"def"}}, "")
	resp := fx.get(t, http.MethodGet, "/f", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || o.last.Get("If-None-Match") != `"a"` {
		t.Fatalf("got %q after a revalidation with If-None-Match %q; want the kept body after one with \"a\"", b, o.last.Get("If-None-Match"))
	}
	for k, want := range map[string]string{"X-Checksum-Sha256": "def", "Link": "</x>; rel=next", "X-Hop": "", "Keep-Alive": "", "Content-Length": "4",
		"Content-Disposition": "attachment; filename=\"caf\xe9\""} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q; want %q", k, got, want)
		}
	}
	if resp.Header.Get("Age") == "" {
		t.Errorf("no Age on a response from the cache")
	}
}

// TestCachePassesOtherMethods checks that a POST goes to the origin, with
// its body, and that its success makes the kept response stale (RFC 9111
// section 4.4).
func TestCachePassesOtherMethods(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"max-age=3600"}}, "body")
	fx.body(t, "/f")
	fx.body(t, "/f")
	req, err := http.NewRequest(http.MethodPost, fx.front.URL+"/f", strings.NewReader("form"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fx.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || o.others.Load() != 1 {
		t.Fatalf("POST: got %d, origin got %d; want 200, 1", resp.StatusCode, o.others.Load())
	}
	fx.body(t, "/f")
	if got := o.gets.Load(); got != 2 {
		t.Errorf("origin got %d GETs; want 2: the POST made the kept copy stale", got)
	}
	st := fx.stats()
	if st.Requests["hit"] != 1 || st.Requests["miss"] != 2 || st.Requests["pass"] != 1 || st.Sent["hit"] != 4 || st.Files != 1 || st.Bytes != 4 {
		t.Errorf("Stats: got %+v; want 1 hit of 4 bytes, 2 misses, 1 pass, 1 file of 4 bytes", st)
	}
}

// TestCacheStaleOnError checks that a stale response without validators is
// served when the origin fails, unless it said must-revalidate, no-cache or
// s-maxage (RFC 9111 section 4.2.4).
func TestCacheStaleOnError(t *testing.T) {
	for _, cc := range []string{"max-age=0", "max-age=0, must-revalidate", "no-cache", "s-maxage=0"} {
		o, fx := startScripted(t, 200, http.Header{"Cache-Control": {cc}}, "body")
		fx.body(t, "/f")
		o.set(503, nil, "down")
		status, b := fx.body(t, "/f")
		stale := cc == "max-age=0"
		if stale && (status != 200 || string(b) != "body") || !stale && status != 503 {
			t.Errorf("%s: got %d %q; want the stale copy: %v, else the 503", cc, status, b, stale)
		}
		if st := fx.stats(); stale && (st.Requests["stale"] != 1 || st.UpstreamErrors != 1) {
			t.Errorf("%s: Stats %+v; want 1 stale, 1 upstream error", cc, st)
		}
	}
}

// TestCacheStaleWhileRevalidate checks that a response within its
// stale-while-revalidate window is served at once, and revalidated in the
// background.
func TestCacheStaleWhileRevalidate(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"max-age=0, stale-while-revalidate=3600"}}, "old!")
	fx.body(t, "/f")
	o.set(200, http.Header{"Cache-Control": {"max-age=3600"}}, "new!")
	if status, b := fx.body(t, "/f"); status != 200 || string(b) != "old!" {
		t.Fatalf("within stale-while-revalidate: got %d %q; want the kept copy", status, b)
	}
	// The background revalidation brings the new response; wait for it.
	for deadline := time.Now().Add(time.Minute); o.gets.Load() < 2 || fx.cache.Stats().FromUpstream < 8; {
		if time.Now().After(deadline) {
			t.Fatalf("no background revalidation within a minute: origin got %d GETs", o.gets.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status, b := fx.body(t, "/f"); status != 200 || string(b) != "new!" {
		t.Errorf("after the background revalidation: got %d %q; want the new copy", status, b)
	}
	if got := o.gets.Load(); got != 2 {
		t.Errorf("origin got %d GETs; want 2", got)
	}
}

// TestCacheDropsOldRecords checks that a record of the format before
// every header was stored (without a version) is not read: the file is
// downloaded again and its record replaced.
func TestCacheDropsOldRecords(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"max-age=3600"}}, "body")
	fx.body(t, "/f")
	kept, _ := fetchtest.CacheFiles(t, fx.dir)
	for _, f := range kept {
		if strings.HasSuffix(f, ".json") {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			old := strings.Replace(string(b), `"version":2,`, "", 1)
			if old == string(b) {
				t.Fatalf("no version in the record %s", b)
			}
			if err := os.WriteFile(f, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 2 {
		if status, b := fx.body(t, "/f"); status != 200 || string(b) != "body" {
			t.Fatalf("got %d %q; want 200 %q", status, b, "body")
		}
	}
	if got := o.gets.Load(); got != 2 {
		t.Errorf("origin got %d GETs; want 2: the old record dropped once, the new one used", got)
	}
}

// TestCachePassesStatuses checks that the origin's own answers reach the
// client as they are, never as 502, and that a redirect inside the
// upstream reaches the client whatever its target answers.
func TestCachePassesStatuses(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/small/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/small/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "forbidden", http.StatusForbidden) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/partial", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(203)
		io.WriteString(w, "non-authoritative")
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599); io.WriteString(w, "odd") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fx := newCache(t, srv.URL)
	noFollow := &http.Client{
		Transport:     fx.front.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/small", http.StatusMovedPermanently, ""},
		{"/small/", http.StatusForbidden, "forbidden\n"},
		{"/empty", http.StatusNoContent, ""},
		{"/partial", 203, "non-authoritative"},
		{"/teapot", 599, "odd"},
	} {
		resp := fetchtest.Do(t, noFollow, http.MethodGet, fx.front.URL+tc.path, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.body != "" && string(b) != tc.body {
			t.Errorf("GET %s: got %d %q; want %d %q", tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
		if tc.path == "/small" && resp.Header.Get("Location") != "/small/" {
			t.Errorf("GET /small: Location %q; want /small/", resp.Header.Get("Location"))
		}
	}
}

// TestCacheHeadUpdates checks that a HEAD answered by the origin with the
// same response updates the kept fields (RFC 9111 section 4.3.5).
func TestCacheHeadUpdates(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"max-age=0"}, "Etag": {`"a"`}, "X-Version": {"1"}}, "body")
	fx.body(t, "/f")
	o.set(200, http.Header{"Cache-Control": {"max-age=3600"}, "Etag": {`"a"`}, "X-Version": {"2"}}, "body")
	resp := fx.get(t, http.MethodHead, "/f", nil)
	resp.Body.Close()
	if resp.Header.Get("X-Version") != "2" {
		t.Fatalf("HEAD: X-Version %q; want 2, the origin's", resp.Header.Get("X-Version"))
	}
	resp = fx.get(t, http.MethodGet, "/f", nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || resp.Header.Get("X-Version") != "2" || o.gets.Load() != 2 {
		t.Errorf("GET after the HEAD: %q, X-Version %q, origin asked %d times; want the kept body with X-Version 2, from the cache (2)",
			b, resp.Header.Get("X-Version"), o.gets.Load())
	}
}

// TestCacheKeepsVariants checks that the responses of a path that vary on
// a request field are each kept (RFC 9111 section 4.1).
func TestCacheKeepsVariants(t *testing.T) {
	o, fx := startScripted(t, 200, http.Header{"Cache-Control": {"max-age=3600"}, "Vary": {"Foo"}}, "body")
	for i, foo := range []string{"1", "2", "1", "2", ""} {
		resp := fx.get(t, http.MethodGet, "/f", http.Header{"Foo": {foo}})
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: got %d; want 200", i+1, resp.StatusCode)
		}
	}
	// Foo: 1, Foo: 2 and an empty Foo: three variants, each asked once.
	if got := o.gets.Load(); got != 3 {
		t.Errorf("origin asked %d times; want 3", got)
	}
	if st := fx.stats(); st.Requests["hit"] != 2 || st.Files != 3 {
		t.Errorf("Stats: %+v; want 2 hits, 3 files kept", st)
	}
	o.set(200, http.Header{"Cache-Control": {"max-age=3600"}}, "one")
	resp := fx.get(t, http.MethodGet, "/f", http.Header{"Cache-Control": {"no-cache"}})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if status, b := fx.body(t, "/f"); status != 200 || string(b) != "one" || o.gets.Load() != 4 {
		t.Errorf("after a response without Vary: got %d %q, origin asked %d times; want the new response, kept (4)", status, b, o.gets.Load())
	}
}

// TestCachePassesNoCredentials checks that a request of another method
// carries the client's fields upstream, but not the Cache's own header.
func TestCachePassesNoCredentials(t *testing.T) {
	o := &scripted{}
	o.set(200, nil, "ok")
	srv := httptest.NewServer(o)
	defer srv.Close()
	fx := newCache(t, srv.URL, func(opts *proxy.CacheOptions) { opts.Header = http.Header{"Authorization": {"Bearer secret"}} })
	resp := fetchtest.Do(t, fx.front.Client(), http.MethodDelete, fx.front.URL+"/f", http.Header{"X-Client": {"1"}})
	resp.Body.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if got := o.last.Get("Authorization"); got != "" || o.last.Get("X-Client") != "1" {
		t.Errorf("DELETE went upstream with Authorization %q, X-Client %q; want none, 1", got, o.last.Get("X-Client"))
	}
}

// TestCacheVariantsAtOnce downloads two variants of a path at the same
// time: each is kept with its own body, neither written over the other.
func TestCacheVariantsAtOnce(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // both downloads are in flight
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Vary", "Foo")
		io.WriteString(w, "variant "+r.Header.Get("Foo"))
	}))
	defer srv.Close()
	fx := newCache(t, srv.URL)
	get := func(foo string) string {
		resp := fx.get(t, http.MethodGet, "/f", http.Header{"Foo": {foo}})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	var wg sync.WaitGroup
	for _, foo := range []string{"a", "b"} {
		wg.Go(func() { fx.drain(t, "/f", http.Header{"Foo": {foo}}) })
	}
	wg.Wait()
	for _, foo := range []string{"a", "b"} {
		if got := get(foo); got != "variant "+foo {
			t.Errorf("Foo: %s from the cache: got %q; want %q", foo, got, "variant "+foo)
		}
	}
	if st := fx.stats(); st.Requests["hit"] != 2 {
		t.Errorf("Stats: %+v; want 2 hits", st)
	}
}
