package mirror_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/mirror"
	"github.com/google/go-cmp/cmp"
)

// TestPoolTop: of a dead mirror, one serving another repository and a good
// one, the top file comes from the good one, the other two are dropped
// and asked for no file of the run.
func TestPoolTop(t *testing.T) {
	t.Parallel()
	const current, older = "<repomd>current</repomd>", "<repomd>older</repomd>"
	pkg := fetchtest.Blob(4000, 3)
	dead := fetchtest.DeadURL(t) + "/os/"
	other := fetchtest.NewRepo(t, map[string][]byte{"/os/repodata/repomd.xml": []byte("<repomd>another</repomd>"), "/os/Packages/a.rpm": pkg})
	good := fetchtest.NewRepo(t, map[string][]byte{"/os/repodata/repomd.xml": []byte(current), "/os/Packages/a.rpm": pkg})
	ml, err := mirror.ParseMetalink(strings.NewReader(metalink3(current, older,
		`<url preference="100">`+dead+`repodata/repomd.xml</url>`,
		`<url preference="99">`+other.URL+`/os/repodata/repomd.xml</url>`,
		`<url preference="98">`+good.URL+`/os/repodata/repomd.xml</url>`)))
	if err != nil {
		t.Fatal(err)
	}
	file, _ := ml.File("repomd.xml")
	var match mirror.Match
	check := func(b []byte) error {
		d := file.Digester()
		d.Write(b)
		m, err := d.Match()
		match = m
		return err
	}
	pool := mirror.NewPool(ml.Bases())
	f := fetchtest.Fetcher(t, fetch.Options{Resolver: pool, Retries: -1})
	ctx := fetchtest.Context(t)
	body, base, err := pool.Top(ctx, f, "repodata/repomd.xml", check)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != current || base != good.URL+"/os/" || match.Alternate != 0 {
		t.Errorf("Top: got %q from %s (alternate %d); want %q from %s/os/ (alternate 0)", body, base, match.Alternate, current, good.URL)
	}
	dropped := pool.Dropped()
	t.Logf("dropped: %v", dropped)
	if len(dropped) != 2 || dropped[0].Base != dead || dropped[1].Base != other.URL+"/os/" {
		t.Fatalf("Dropped: got %+v; want the dead mirror and the other repository's", dropped)
	}
	var mismatch *mirror.MismatchError
	if !errors.As(dropped[1].Err, &mismatch) || !strings.Contains(dropped[1].Err.Error(), other.URL) {
		t.Errorf("the other repository's mirror was dropped for %v; want a MismatchError naming it", dropped[1].Err)
	}

	res, err := f.Fetch(ctx, fetch.Request{URL: dead + "Packages/a.rpm", Digests: fetchtest.Digests(pkg), Writer: &bytes.Buffer{}})
	pool.Learn(res)
	if err != nil {
		t.Fatal(err)
	}
	if res.URL != good.URL+"/os/Packages/a.rpm" || res.Attempts != 1 {
		t.Errorf("package: got %s after %d attempts; want the good mirror's at once", res.URL, res.Attempts)
	}
	if n := other.Gets("/os/Packages/a.rpm"); n != 0 {
		t.Errorf("the other repository's mirror was asked %d times for a package; want 0", n)
	}
}

// TestPoolTopNoneMatches: when no copy matches, every mirror is dropped and
// a request below them fails without a transfer.
func TestPoolTopNoneMatches(t *testing.T) {
	t.Parallel()
	other := fetchtest.NewRepo(t, map[string][]byte{"/repodata/repomd.xml": []byte("<repomd>another</repomd>"), "/a": []byte("a")})
	pool := mirror.NewPool([]string{other.URL})
	loader := fetchtest.Fetcher(t, fetch.Options{Retries: -1})
	ctx := fetchtest.Context(t)
	_, _, err := pool.Top(ctx, loader, "repodata/repomd.xml", func([]byte) error { return errors.New("not the one") })
	if err == nil || !strings.Contains(err.Error(), "repodata/repomd.xml") || !strings.Contains(err.Error(), "not the one") {
		t.Errorf("Top: got %v; want an error naming the file and why", err)
	}
	f := fetchtest.Fetcher(t, fetch.Options{Resolver: pool, Retries: -1})
	if _, err := f.Fetch(ctx, fetch.Request{URL: other.URL + "/a", Writer: &bytes.Buffer{}}); err == nil {
		t.Errorf("a file of a dropped mirror: no error")
	}
	if n := other.Gets("/a"); n != 0 {
		t.Errorf("the dropped mirror was asked %d times for a file; want 0", n)
	}
}

// TestPoolLearn: a mirror that lacked a file that the next one served with
// its digest goes to the end: the next file is asked of the other first.
func TestPoolLearn(t *testing.T) {
	t.Parallel()
	x, y := fetchtest.Blob(3000, 4), fetchtest.Blob(3000, 5)
	behind := fetchtest.NewRepo(t, map[string][]byte{"/os/y": y})
	current := fetchtest.NewRepo(t, map[string][]byte{"/os/x": x, "/os/y": y})
	pool := mirror.NewPool([]string{behind.URL + "/os", current.URL + "/os/"})
	f := fetchtest.Fetcher(t, fetch.Options{Resolver: pool, Retries: -1})
	ctx := fetchtest.Context(t)
	for _, name := range []string{"x", "y"} {
		res, err := f.Fetch(ctx, fetch.Request{URL: behind.URL + "/os/" + name, Digests: fetchtest.Digests(map[string][]byte{"x": x, "y": y}[name]), Writer: &bytes.Buffer{}})
		pool.Learn(res)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := behind.Gets("/os/y"); n != 0 {
		t.Errorf("the mirror behind was asked for y %d times after it lacked x; want 0", n)
	}
	if diff := cmp.Diff([]string{current.URL + "/os/", behind.URL + "/os/"}, pool.Mirrors()); diff != "" {
		t.Errorf("Mirrors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]mirror.Moved{{Base: behind.URL + "/os/", Path: "x", By: current.URL + "/os/"}}, pool.Moved()); diff != "" {
		t.Errorf("Moved (-want +got):\n%s", diff)
	}
}

// TestPoolResolve: URLs below a mirror get every mirror's, in order, then
// their own; others keep theirs; no password goes to another mirror.
func TestPoolResolve(t *testing.T) {
	pool := mirror.NewPool([]string{"http://a.example/os/", "https://b.example/pub/os"})
	ctx := fetchtest.Context(t)
	for _, tc := range []struct {
		req  fetch.Request
		want []string
	}{
		{fetch.Request{URL: "https://b.example/pub/os/Packages/a.rpm"},
			[]string{"http://a.example/os/Packages/a.rpm", "https://b.example/pub/os/Packages/a.rpm"}},
		{fetch.Request{URL: "https://u:secret@b.example/pub/os/a", Mirrors: []string{"http://c.example/a"}},
			[]string{"http://a.example/os/a", "https://b.example/pub/os/a", "https://u:secret@b.example/pub/os/a", "http://c.example/a"}},
		{fetch.Request{URL: "http://c.example/os/a"}, []string{"http://c.example/os/a"}},
	} {
		got, err := pool.Resolve(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Resolve(%s) (-want +got):\n%s", tc.req.URL, diff)
		}
	}
}
