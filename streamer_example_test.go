package fetch_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestStreamerExampleInREADME checks that the README's streamer is the
// code of Example_streamer, which TestStreamerExampleFailures runs.
func TestStreamerExampleInREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_streamer_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(readme, []byte("**Streamer**"))
	if ok {
		_, after, ok = bytes.Cut(after, []byte("```go\n"))
	}
	var snippet []byte
	if ok {
		snippet, _, ok = bytes.Cut(after, []byte("```"))
	}
	if !ok {
		t.Fatal("README.md has no streamer code block")
	}
	if !bytes.Contains(example, snippet) {
		t.Errorf("README.md's streamer is not the code of example_streamer_test.go:\n%s", snippet)
	}
}

// TestStreamerExampleFailures runs the streamer of Example_streamer (and
// of the README) against an upstream that fails before and after the
// first byte.
func TestStreamerExampleFailures(t *testing.T) {
	// More than the server's buffer: the response has started when the
	// upstream breaks.
	content := []byte(strings.Repeat("0123456789abcdef", 4<<10))
	upstream := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Write(content)
		case "/broken":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/cut", "/cut-chunked":
			if r.URL.Path == "/cut" {
				w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			}
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			http.NotFound(w, r)
		}
	})
	f := fetchtest.Fetcher(t, fetch.Options{Retries: -1}, upstream)
	srv := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(stream(f, upstream.URL)))
	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)

	for _, tc := range []struct {
		path   string
		status int
		body   string
		cut    bool
	}{
		{path: "/file", status: 200, body: string(content)},
		{path: "/missing", status: http.StatusNotFound, body: "not found\n"},
		{path: "/broken", status: http.StatusBadGateway, body: "upstream failed\n"},
		{path: "/cut", body: string(content[:len(content)/2]), cut: true},
		{path: "/cut-chunked", body: string(content[:len(content)/2]), cut: true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := client.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			switch {
			case tc.cut && (err == nil || resp.StatusCode != 200 || !strings.HasPrefix(tc.body, string(b))):
				t.Errorf("got %d, %d bytes, %v; want 200, the first bytes of the file, and a read error: never a clean end",
					resp.StatusCode, len(b), err)
			case !tc.cut && (err != nil || resp.StatusCode != tc.status || string(b) != tc.body):
				t.Errorf("got %d, %d bytes, %v; want %d, %d bytes", resp.StatusCode, len(b), err, tc.status, len(tc.body))
			}
		})
	}
}
