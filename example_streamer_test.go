package fetch_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/fetchkit/fetch"
)

// body is the Writer of a streamed download: it notes whether a byte of
// the response went out, after which a failure can only cut the response.
type body struct {
	http.ResponseWriter
	started bool
}

func (b *body) Write(p []byte) (int, error) {
	b.started = true
	return b.ResponseWriter.Write(p)
}

// stream serves the files below upstream, downloaded as they are asked
// for: headers forwarded before the first byte, nothing on disk.
func stream(f *fetch.Fetcher, upstream string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b := &body{ResponseWriter: w}
		_, err := f.Fetch(r.Context(), fetch.Request{
			URL:    upstream + r.URL.Path,
			Writer: b,
			OnResponse: func(resp fetch.Response) error {
				for _, k := range []string{"Content-Length", "Content-Type", "Last-Modified"} {
					if v := resp.Header.Get(k); v != "" {
						w.Header().Set(k, v)
					}
				}
				return nil
			},
		})
		switch {
		case err == nil:
		case b.started:
			// Too late for a status: cut the response, so that the
			// client sees a failure, never a clean end.
			panic(http.ErrAbortHandler)
		case errors.Is(err, fetch.ErrNotFound):
			http.Error(w, "not found", http.StatusNotFound)
		default:
			http.Error(w, "upstream failed", http.StatusBadGateway)
		}
	}
}

// A streamer bridges a download into an HTTP response: headers from
// OnResponse, bytes through the Writer, nothing on disk. A file missing
// upstream is a 404, another failure before the first byte a 502, and a
// failure after it cuts the response.
func Example_streamer() {
	upstream := httptest.NewServer(http.FileServerFS(os.DirFS("testdata/repo")))
	defer upstream.Close()
	f := fetch.New(fetch.Options{})
	defer f.Close()
	srv := httptest.NewServer(stream(f, upstream.URL))
	defer srv.Close()

	for _, name := range []string{"/a.txt", "/missing.txt"} {
		resp, err := http.Get(srv.URL + name)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %q %v\n", name, resp.StatusCode, b, err)
	}
	// Output:
	// /a.txt: 200 "alpha\n" <nil>
	// /missing.txt: 404 "not found\n" <nil>
}
