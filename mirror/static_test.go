package mirror_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/mirror"
	"github.com/google/go-cmp/cmp"
)

func TestStaticURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    mirror.Static
		url  string
		want []string
	}{
		{"under base", mirror.Static{Base: "http://o/os/", Mirrors: []string{"http://a/pub", "ftp://b/os/"}}, "http://o/os/x/y.rpm",
			[]string{"http://a/pub/x/y.rpm", "ftp://b/os/x/y.rpm"}},
		{"not under base", mirror.Static{Base: "http://o/os/", Mirrors: []string{"http://a/"}}, "http://o/other/y", nil},
		{"password left out", mirror.Static{Base: "http://o/os/", Mirrors: []string{"http://a/"}}, "http://u:secret@o/os/y", []string{"http://a/y"}},
		{"directory of each URL", mirror.Static{Mirrors: []string{"http://a/m/"}}, "http://o/d/f.iso?x=1", []string{"http://a/m/f.iso?x=1"}},
		{"no mirrors", mirror.Static{Base: "http://o/"}, "http://o/f", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.s.URLs(tc.url)); diff != "" {
				t.Errorf("URLs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStaticThroughFetch: the request's own URL first, then the mirrors.
func TestStaticThroughFetch(t *testing.T) {
	t.Parallel()
	file := fetchtest.Doc{Body: fetchtest.Blob(2000, 31)}
	gone := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		fetchtest.Status(w, 404, "")
	})
	m := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		o.Serve(w, r, file, -1)
	})
	s := mirror.Static{Base: gone.URL + "/os/", Mirrors: []string{m.URL + "/mirror/os"}}
	f := fetchtest.Fetcher(t, fetch.Options{Resolver: s})
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: gone.URL + "/os/a/b", Digests: fetchtest.Digests(file.Body)})
	if err != nil {
		t.Fatal(err)
	}
	if want := m.URL + "/mirror/os/a/b"; res.URL != want {
		t.Errorf("URL: got %s; want %s", res.URL, want)
	}
	if gone.Hits.Load() != 1 {
		t.Errorf("own URL: got %d requests; want 1", gone.Hits.Load())
	}
}

func TestJoin(t *testing.T) {
	for _, tc := range []struct{ base, rel, want string }{
		{"http://h/os", "a b/c", "http://h/os/a%20b/c"},
		{"http://h/os/?k=v#frag", "p/q", "http://h/os/p/q?k=v"},
		{"ftp://h/", "", "ftp://h/"},
	} {
		u, err := url.Parse(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		if got := mirror.Join(u, tc.rel); got != tc.want {
			t.Errorf("Join(%s, %q): got %s; want %s", tc.base, tc.rel, got, tc.want)
		}
	}
}
