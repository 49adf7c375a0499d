package fetchtest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// Repo is an upstream package repository for the proxy's tests: it serves
// fixed files by path, with an ETag, a Last-Modified and a Content-Length,
// and counts the GET requests for each path. It is closed when the test
// ends.
type Repo struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	gets  map[string]int
}

// NewRepo starts a Repo serving files, by path.
func NewRepo(t testing.TB, files map[string][]byte) *Repo {
	up := &Repo{files: files, gets: map[string]int{}}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		if r.Method == http.MethodGet {
			up.gets[r.URL.Path]++
		}
		data, ok := up.files[r.URL.Path]
		up.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-rpm")
		w.Header().Set("Etag", `"`+strconv.Itoa(len(data))+`"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	t.Cleanup(up.Close)
	return up
}

// Gets returns the number of GET requests for path so far.
func (up *Repo) Gets(path string) int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.gets[path]
}
