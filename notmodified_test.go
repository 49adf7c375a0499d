package fetch_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestNotModifiedIsAnAnswer: a 304 to the caller's conditional request
// ends the request with its *StatusError, as the answer it is: no mirror
// is asked, and nothing is logged as a URL given up.
func TestNotModifiedIsAnAnswer(t *testing.T) {
	notModified := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mirror := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(map[string][]byte{"/f": []byte("f")}))
	var log fetchtest.Buffer
	f := fetchtest.Fetcher(t, fetch.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: notModified.URL + "/f", Mirrors: []string{mirror.URL + "/f"},
		Header: http.Header{"If-None-Match": {`"v1"`}}, Writer: &strings.Builder{}})
	var st *fetch.StatusError
	if !errors.As(err, &st) || st.Code != http.StatusNotModified || st.Header.Get("Etag") != `"v1"` {
		t.Errorf("got %v; want a *StatusError of 304 with the ETag", err)
	}
	if n := mirror.Hits.Load(); n != 0 {
		t.Errorf("the mirror was asked %d times; want none", n)
	}
	if strings.Contains(log.String(), "giving up") {
		t.Errorf("log: %s; want no URL given up", log.String())
	}
}
