package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// deadMirror is a mirror that breaks off every connection, recording the
// paths it was asked for.
type deadMirror struct {
	*fetchtest.Server
	mu    sync.Mutex
	paths []string
}

func newDeadMirror(t *testing.T) *deadMirror {
	d := &deadMirror{}
	d.Server = fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, _ http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.paths = append(d.paths, r.URL.Path)
		d.mu.Unlock()
		panic(http.ErrAbortHandler)
	})
	return d
}

// asked returns the paths d was asked for.
func (d *deadMirror) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.paths)
}

// otherGets returns the requests u answered for other paths than
// repodata/repomd.xml.
func (u *rpmUpstream) otherGets() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for p, c := range u.gets {
		if p != "/repodata/repomd.xml" {
			n += c
		}
	}
	return n
}

// TestSyncMetalink: a Metalink 3 in MirrorManager's shape names a dead
// mirror first, one serving another repository second, the good one
// third. The sync takes the repomd.xml whose hash the document names; the
// other two are asked for nothing after their repomd.xml; dnf installs
// from the mirror made.
func TestSyncMetalink(t *testing.T) {
	good := newRPMUpstream(t)
	good.build(t, nil, helloRPMs...)
	other := newRPMUpstream(t)
	other.build(t, nil, fetchtest.RPM{Name: "other", Version: "2"})
	dead := newDeadMirror(t)
	repomd, err := os.ReadFile(filepath.Join(good.dir, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := fetchtest.Metalink3(repomd, []byte("<repomd>older</repomd>"), fetchtest.MetalinkURLs(dead.URL+"/", other.srv.URL+"/", good.srv.URL+"/"))
	docs := newRepo(t, map[string][]byte{"metalink": []byte(doc)})

	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-retries", "0", "-metalink", docs.URL+"/metalink", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "2 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d; want 0 and 2 done", res.code)
	}
	checkMirror(t, good.dir, dir)
	if got, _ := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml")); !bytes.Equal(got, repomd) {
		t.Errorf("repomd.xml is not the one whose hashes the Metalink gives")
	}
	if n := other.otherGets(); n != 0 {
		t.Errorf("the mirror of another repository was asked for %d files after its repomd.xml; want 0", n)
	}
	if got := dead.asked(); !slices.Equal(got, []string{"/repodata/repomd.xml"}) {
		t.Errorf("the dead mirror was asked for %q; want repomd.xml only", got)
	}
	for _, m := range []string{dead.URL, other.srv.URL} {
		if !strings.Contains(res.stderr, "mirror "+m+"/ dropped: ") {
			t.Errorf("the summary does not say why %s was dropped", m)
		}
	}

	root := dnfInstall(t, dir, "hello")
	if _, err := os.Stat(filepath.Join(root, "usr/share/hello/1.0.txt")); err != nil {
		t.Errorf("dnf installed no hello: %v", err)
	}
}

// TestSyncMetalinkNoMatch: when no mirror serves a repomd.xml that the
// Metalink names, the sync fails: nothing past repomd.xml is downloaded,
// nothing is published.
func TestSyncMetalinkNoMatch(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	doc := fetchtest.Metalink3([]byte("<repomd>newer</repomd>"), []byte("<repomd>older</repomd>"), fetchtest.MetalinkURLs(u.srv.URL+"/"))
	docs := newRepo(t, map[string][]byte{"metalink": []byte(doc)})
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-metalink", docs.URL+"/metalink", dir)
	if res.code != 1 {
		t.Errorf("exit %d; want 1", res.code)
	}
	if !strings.Contains(res.stderr, docs.URL+"/metalink") || !strings.Contains(res.stderr, "matching neither") {
		t.Errorf("stderr does not name the Metalink and the mismatch:\n%s", res.stderr)
	}
	if n := u.otherGets(); n != 0 {
		t.Errorf("%d requests past repomd.xml; want none", n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("DIR holds %d entries; want none", len(entries))
	}
}

// TestSyncMetalinkAlternate: a mirror slightly behind, whose repomd.xml is
// the Metalink's alternate, is mirrored, and the summary says so.
func TestSyncMetalinkAlternate(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	repomd, err := os.ReadFile(filepath.Join(u.dir, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := fetchtest.Metalink3([]byte("<repomd>newer</repomd>"), repomd, fetchtest.MetalinkURLs(u.srv.URL+"/"))
	docs := newRepo(t, map[string][]byte{"metalink": []byte(doc)})
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-metalink", docs.URL+"/metalink", dir)
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkMirror(t, u.dir, dir)
	if !strings.Contains(res.stderr, "alternate 1") {
		t.Errorf("the summary does not say that the alternate matched:\n%s", res.stderr)
	}
}

// TestSyncMirrorlist: a mirror list with comments whose first base is
// dead; -mirror adds a base after the list's.
func TestSyncMirrorlist(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	dead := newDeadMirror(t)
	list := "# mirrors of the repository\n\n" + dead.URL + "/pub/os/\n  # the one that works\n" + u.srv.URL + "/   country=DE\n"
	docs := newRepo(t, map[string][]byte{"mirrorlist": []byte(list)})
	extra := newDeadMirror(t)
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-retries", "0", "-mirrorlist", docs.URL+"/mirrorlist", "-mirror", extra.URL+"/os/", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "2 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d; want 0 and 2 done", res.code)
	}
	checkMirror(t, u.dir, dir)
	if got := dead.asked(); !slices.Equal(got, []string{"/pub/os/repodata/repomd.xml"}) {
		t.Errorf("the dead mirror was asked for %q; want repomd.xml only", got)
	}
	for _, p := range extra.asked() {
		if strings.HasSuffix(p, ".rpm") {
			t.Errorf("the -mirror after the list's good one was asked for %s; want no package", p)
		}
	}
}

// TestSyncMirrorlistBehind: a mirror that lacks a package, which the next
// one serves, goes to the end for the rest of the run, and the summary
// says so.
func TestSyncMirrorlistBehind(t *testing.T) {
	good := newRPMUpstream(t)
	pkgs := slices.Clone(helloRPMs)
	for i := range 8 { // after hello in primary's order
		pkgs = append(pkgs, fetchtest.RPM{Name: fmt.Sprintf("zz%d", i), Version: "1.0"})
	}
	good.build(t, nil, pkgs...)
	behind := newRPMUpstream(t)
	if err := os.CopyFS(behind.dir, os.DirFS(good.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(behind.dir, "Packages", "hello-1.0-1.noarch.rpm")); err != nil {
		t.Fatal(err)
	}
	docs := newRepo(t, map[string][]byte{"mirrorlist": []byte(behind.srv.URL + "/\n" + good.srv.URL + "/\n")})
	dir := t.TempDir()
	// One transfer at a time: hello (which sorts first) is asked of the
	// mirror behind before the others are.
	res := fetchRun(t, t.Context(), "", "sync", "-j", "1", "-retries", "0", "-mirrorlist", docs.URL+"/mirrorlist", dir)
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkMirror(t, good.dir, dir)
	want := "mirror " + behind.srv.URL + "/ moved to the end: it failed Packages/hello-1.0-1.noarch.rpm, which " + good.srv.URL + "/ served"
	if !strings.Contains(res.stderr, want) {
		t.Errorf("the summary does not say %q", want)
	}
	// The Result that moves it reaches the run after the next transfer or
	// two may have started there: not every one of the ten.
	if n := behind.rpmGets(); n > 3 {
		t.Errorf("the mirror behind was asked for %d packages; want at most 3: the one it lacked, and those started before its failure was known", n)
	}
}
