package repo

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFormatError(t *testing.T) {
	for _, tc := range []struct {
		err  *FormatError
		want string
	}{
		{&FormatError{File: "Packages", Line: 3, Column: 1, Err: errors.New("no colon")}, "Packages:3:1: no colon"},
		{&FormatError{File: "Packages", Line: 3, Err: errors.New("no colon")}, "Packages:3: no colon"},
		{&FormatError{File: "primary.xml.gz", Offset: 9, Err: errors.New("bad")}, "primary.xml.gz: at byte 9: bad"},
		{&FormatError{File: "repomd.xml", Err: errors.New("bad")}, "repomd.xml: bad"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q; want %q", got, tc.want)
		}
		if !errors.Is(tc.err, ErrMalformed) {
			t.Errorf("%v: not ErrMalformed", tc.err)
		}
	}
}

func TestEntryRequest(t *testing.T) {
	base, _ := url.Parse("http://h/repo/")
	e := Entry{Path: "pool/a b+1.rpm", Size: 0, Digests: map[string]string{"sha256": "ab"}}
	req := e.Request(base)
	if req.URL != "http://h/repo/pool/a%20b+1.rpm" || !req.SizeKnown || req.Size != 0 {
		t.Errorf("got URL %q size %d known %v; want the escaped path, size 0 known", req.URL, req.Size, req.SizeKnown)
	}
	if diff := cmp.Diff(e, req.Tag); diff != "" {
		t.Errorf("Tag (-want +got):\n%s", diff)
	}
	e = Entry{Path: "a.rpm", URL: "http://other/a.rpm", Size: -1}
	if req := e.Request(base); req.URL != "http://other/a.rpm" || req.SizeKnown {
		t.Errorf("got URL %q known %v; want the Entry's URL, size unknown", req.URL, req.SizeKnown)
	}
}

func TestPublishOrder(t *testing.T) {
	e := func(paths ...string) []Entry {
		var es []Entry
		for _, p := range paths {
			es = append(es, Entry{Path: p})
		}
		return es
	}
	got := publishOrder(e("repodata/p.xml.gz", "repodata/f.xml.gz"), e("repodata/repomd.xml", "repodata/repomd.xml.asc", "repodata/repomd.xml.key"))
	want := []string{"repodata/p.xml.gz", "repodata/f.xml.gz", "repodata/repomd.xml.key", "repodata/repomd.xml.asc", "repodata/repomd.xml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	// A top file also listed as metadata goes once, with the top files.
	got = publishOrder(e("Release", "Packages"), e("InRelease", "Release"))
	want = []string{"Packages", "Release", "InRelease"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestNameSet(t *testing.T) {
	s := newNameSet()
	for i := range 10000 {
		s.Add(fmt.Sprintf("Packages/p%05d.rpm", i))
	}
	for i := range 10000 {
		if !s.Has(fmt.Sprintf("Packages/p%05d.rpm", i)) {
			t.Fatalf("p%05d added, not there", i)
		}
	}
	wrong := 0
	for i := range 10000 {
		if s.Has(fmt.Sprintf("Packages/q%05d.rpm", i)) {
			wrong++
		}
	}
	if wrong > 1 {
		t.Errorf("%d of 10,000 names never added found", wrong)
	}
}
