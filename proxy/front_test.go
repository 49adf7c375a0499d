package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// front is the server of the handler under test, a Cache or a handler that
// serves through a Streamer, and the client side of the tests.
type front struct {
	*httptest.Server
}

// startFront serves h, over HTTP/2 and TLS when http2 is set, until the
// test ends.
func startFront(t testing.TB, h http.Handler, http2 bool) *front {
	fr := &front{httptest.NewUnstartedServer(h)}
	if http2 {
		fr.EnableHTTP2 = true
		fr.StartTLS()
	} else {
		fr.Start()
	}
	t.Cleanup(fr.Close)
	return fr
}

// get sends a request for path to the front server.
func (fr *front) get(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	return fetchtest.Do(t, fr.Client(), method, fr.URL+path, header)
}

// drain sends a GET for path with header and reads the whole body. It
// reports a failure with t.Error, so any goroutine may call it.
func (fr *front) drain(t *testing.T, path string, header http.Header) {
	req, err := http.NewRequest(http.MethodGet, fr.URL+path, nil)
	if err != nil {
		t.Error(err)
		return
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := fr.Client().Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// body sends a GET for path and returns the status and the whole body.
func (fr *front) body(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp := fr.get(t, http.MethodGet, path, nil)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v after %d bytes", path, err, len(b))
	}
	return resp.StatusCode, b
}

// firstByte sends a GET for path to the front server and reads the first
// byte of the body. leave makes the client go away.
func (fr *front) firstByte(t *testing.T, path string) (leave func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fr.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fr.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	leave = func() {
		cancel()
		resp.Body.Close()
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		leave()
		t.Fatalf("first byte: %v", err)
	}
	return leave
}

// benchmarkGet downloads url, size bytes, b.N times, and reports the
// mean time to the first byte. before, when not nil, runs ahead of each
// download, outside the timer.
func benchmarkGet(b *testing.B, url string, size int, before func()) {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.Transport.(*http.Transport).CloseIdleConnections()
	buf := make([]byte, 64<<10)
	var ttfb time.Duration
	b.SetBytes(int64(size))
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		start := time.Now()
		resp, err := client.Get(url)
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
}
