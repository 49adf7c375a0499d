package fetch_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fetchkit/fetch"
)

// TestPassResponse checks that a response that is not the file, and a
// redirect, are delivered as they are when Request.PassResponse says so,
// and are errors and followed otherwise.
func TestPassResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			w.Header().Set("X-Why", "removed")
			w.WriteHeader(http.StatusGone)
			w.Write([]byte("gone page"))
		case "/moved":
			http.Redirect(w, r, "/target", http.StatusMovedPermanently)
		case "/target":
			w.Write([]byte("target"))
		}
	}))
	defer srv.Close()
	f := fetch.New(fetch.Options{})
	defer f.Close()
	all := func(fetch.Response) bool { return true }
	for _, tc := range []struct {
		path   string
		pass   func(fetch.Response) bool
		status int
		body   string
		err    bool
	}{
		{"/gone", all, http.StatusGone, "gone page", false},
		{"/gone", nil, 0, "", true},
		{"/moved", all, http.StatusMovedPermanently, "", false},
		{"/moved", nil, http.StatusOK, "target", false},
		{"/moved", func(r fetch.Response) bool { return r.Status != http.StatusMovedPermanently }, http.StatusOK, "target", false},
	} {
		var got fetch.Response
		var body bytes.Buffer
		_, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + tc.path, Writer: &body, PassResponse: tc.pass,
			OnResponse: func(r fetch.Response) error { got = r; return nil }})
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v; want error %v", tc.path, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got.Status != tc.status {
			t.Errorf("%s: status %d; want %d", tc.path, got.Status, tc.status)
		}
		if tc.status == http.StatusMovedPermanently {
			if loc := got.Header.Get("Location"); loc != "/target" {
				t.Errorf("%s: Location %q; want /target", tc.path, loc)
			}
			continue
		}
		if body.String() != tc.body {
			t.Errorf("%s: body %q; want %q", tc.path, body.String(), tc.body)
		}
	}
}
