package fetch_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

func TestUserAgent(t *testing.T) {
	got := make(chan string, 1)
	srv := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, _ http.ResponseWriter, r *http.Request) {
		got <- r.UserAgent()
	})
	for _, tc := range []struct {
		name   string
		opt    string
		header http.Header
		want   string
	}{
		{"default", "", nil, fetch.DefaultUserAgent()},
		{"option", "mirror-bot/2", nil, "mirror-bot/2"},
		{"request header wins", "mirror-bot/2", http.Header{"User-Agent": {"one-off/1"}}, "one-off/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fetch.New(fetch.Options{UserAgent: tc.opt})
			defer f.Close()
			if _, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/x", Header: tc.header}); err != nil {
				t.Fatal(err)
			}
			if ua := <-got; ua != tc.want {
				t.Errorf("got User-Agent %q; want %q", ua, tc.want)
			}
		})
	}
	if ua := fetch.DefaultUserAgent(); !strings.HasPrefix(ua, "fetch/") || !strings.Contains(ua, "(+https://github.com/fetchkit/fetch)") {
		t.Errorf("DefaultUserAgent() = %q; want fetch/VERSION (+https://github.com/fetchkit/fetch)", ua)
	}
}
