package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/rpm"
)

// rpmUpstream serves an rpm-md repository from a folder, counting the
// requests for each path; it can serve other bytes for a file (tamper)
// and hold each package back (delay).
type rpmUpstream struct {
	dir   string
	srv   *httptest.Server
	delay atomic.Int64 // of each .rpm, in nanoseconds

	mu     sync.Mutex
	gets   map[string]int
	tamper map[string][]byte
}

func newRPMUpstream(t *testing.T) *rpmUpstream {
	u := &rpmUpstream{dir: t.TempDir(), gets: map[string]int{}, tamper: map[string][]byte{}}
	files := http.FileServer(http.Dir(u.dir))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.gets[r.URL.Path]++
		body, tampered := u.tamper[r.URL.Path]
		u.mu.Unlock()
		if d := time.Duration(u.delay.Load()); d > 0 && strings.HasSuffix(r.URL.Path, ".rpm") {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if tampered {
			w.Write(body)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// get returns the number of requests for path.
func (u *rpmUpstream) get(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gets[path]
}

// dataGets returns the number of requests for data files: those in
// repodata/ but repomd.xml and its signature and key.
func (u *rpmUpstream) dataGets() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for p, c := range u.gets {
		if strings.HasPrefix(p, "/repodata/") && !strings.HasPrefix(p, "/"+rpm.RepomdPath) {
			n += c
		}
	}
	return n
}

// rpmGets returns the number of requests for packages.
func (u *rpmUpstream) rpmGets() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for p, c := range u.gets {
		if strings.HasSuffix(p, ".rpm") {
			n += c
		}
	}
	return n
}

// build builds pkgs into the repository and runs createrepo_c on it with
// args.
func (u *rpmUpstream) build(t *testing.T, args []string, pkgs ...fetchtest.RPM) []string {
	paths := fetchtest.BuildRPMs(t, u.dir, pkgs...)
	fetchtest.Createrepo(t, u.dir, args...)
	return paths
}

// helloRPMs are a package and its dependency.
var helloRPMs = []fetchtest.RPM{{Name: "hello", Version: "1.0", Requires: []string{"libgreet"}}, {Name: "libgreet", Version: "1.0"}}

// checkMirror checks that every file of the upstream folder, but those
// listed in skip, is in dir with the same bytes.
func checkMirror(t *testing.T, upstream, dir string, skip ...string) {
	t.Helper()
	err := filepath.WalkDir(upstream, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(upstream, p)
		for _, s := range skip {
			if filepath.ToSlash(rel) == s {
				return nil
			}
		}
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: not mirrored (%v)", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dnfInstall installs names with dnf from the rpm-md repository in dir,
// into a new root, or skips when dnf is not installed.
func dnfInstall(t *testing.T, dir string, names ...string) string {
	t.Helper()
	dnf := fetchtest.Program(t, "dnf", "dnf")
	root := t.TempDir()
	// No plugins: dnf-plugins-core's "local" keeps the packages it installs
	// in a repository of its own, and offers them to the next run.
	args := append([]string{"-y", "-q", "--noplugins", "--installroot", root, "--setopt=reposdir=/nonexistent", "--setopt=cachedir=" + filepath.Join(root, "cache"),
		"--repofrompath=mirror,file://" + dir, "--setopt=gpgcheck=0", "--releasever=1", "--setopt=install_weak_deps=False", "install"}, names...)
	out, err := exec.Command(dnf, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dnf install %v: %v\n%s", names, err, out)
	}
	return root
}

func TestSyncRPM(t *testing.T) {
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			u := newRPMUpstream(t)
			u.build(t, []string{"--general-compress-type", "gz"}, helloRPMs...)
			if compression == "zstd" {
				fetchtest.Zstd(t, u.dir)
			}
			dir := t.TempDir()
			// The folder's URL without its "/": found to be rpm-md.
			res := fetchRun(t, t.Context(), "", "sync", u.srv.URL, dir)
			if res.code != 0 || !strings.Contains(res.stderr, "2 done, 0 skipped, 0 failed") {
				t.Fatalf("exit %d; want 0 and 2 done", res.code)
			}
			checkMirror(t, u.dir, dir)
			if compression == "zstd" {
				if m, _ := filepath.Glob(filepath.Join(dir, "repodata", "*-primary.xml.zst")); len(m) != 1 {
					t.Errorf("zstd primary: %v", m)
				}
			}

			// A second sync of the unchanged repository downloads no
			// package, and no data file: only repomd.xml and the probes
			// of its signature and key.
			data := u.dataGets()
			res = fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir)
			if res.code != 0 || !strings.Contains(res.stderr, "0 done, 2 skipped, 0 failed") || u.rpmGets() != 2 {
				t.Fatalf("second sync: exit %d, %d package requests in all; want 0, 2 skipped, and 2", res.code, u.rpmGets())
			}
			if n := u.dataGets() - data; n > 0 {
				t.Errorf("second sync: %d requests for data files; want none", n)
			}
			checkMirror(t, u.dir, dir)

			root := dnfInstall(t, dir, "hello")
			for _, f := range []string{"usr/share/hello/1.0.txt", "usr/share/libgreet/1.0.txt"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("dnf installed no %s: %v", f, err)
				}
			}
		})
	}
}

func TestSyncRPMTampered(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	dir := t.TempDir()
	if res := fetchRun(t, t.Context(), "", "sync", "-delete", u.srv.URL+"/", dir); res.code != 0 {
		t.Fatalf("first sync: exit %d; want 0", res.code)
	}
	oldRepomd, _ := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))

	// The next generation: hello 1.1 (tampered on the way) and a new
	// package; hello 1.0 goes.
	os.Remove(filepath.Join(u.dir, "Packages", "hello-1.0-1.noarch.rpm"))
	paths := u.build(t, nil, fetchtest.RPM{Name: "hello", Version: "1.1", Requires: []string{"libgreet"}}, fetchtest.RPM{Name: "extra", Version: "1"})
	good, _ := os.ReadFile(filepath.Join(u.dir, paths[0]))
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	u.mu.Lock()
	u.tamper["/"+paths[0]] = bad
	u.mu.Unlock()

	res := fetchRun(t, t.Context(), "", "sync", "-delete", "-retries", "0", u.srv.URL+"/", dir)
	if res.code != 1 {
		t.Fatalf("tampered: exit %d; want 1", res.code)
	}
	var fails []string
	for _, l := range strings.Split(res.stderr, "\n") {
		if strings.HasPrefix(l, "FAIL ") {
			fails = append(fails, l)
		}
	}
	if len(fails) != 1 || !strings.Contains(fails[0], paths[0]) || !strings.Contains(fails[0], "sha256") {
		t.Errorf("failures %q; want one line naming %s", fails, paths[0])
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml")); !bytes.Equal(got, oldRepomd) {
		t.Error("the new repomd.xml was published")
	}
	if _, err := os.Stat(filepath.Join(dir, paths[0])); err == nil {
		t.Error("the tampered package is in DIR")
	}
	// The rest kept for the next run; nothing deleted before publication.
	for _, p := range []string{paths[1], "Packages/hello-1.0-1.noarch.rpm"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}

	u.mu.Lock()
	delete(u.tamper, "/"+paths[0])
	u.mu.Unlock()
	res = fetchRun(t, t.Context(), "", "sync", "-delete", u.srv.URL+"/", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "1 done, 2 skipped") || !strings.Contains(res.stderr, "deleted 1 file") {
		t.Fatalf("mended: exit %d; want 0, 1 done, 2 skipped, 1 file deleted", res.code)
	}
	checkMirror(t, u.dir, dir)
	if _, err := os.Stat(filepath.Join(dir, "Packages", "hello-1.0-1.noarch.rpm")); err == nil {
		t.Error("-delete kept hello 1.0")
	}
}

// TestSyncRPMGenerations checks that a package removed upstream stays
// without -delete, and that the data files of the generation before stay
// until the next sync publishes.
func TestSyncRPMGenerations(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	dir := t.TempDir()
	data := func() map[string]bool {
		m, _ := filepath.Glob(filepath.Join(dir, "repodata", "*.gz"))
		got := map[string]bool{}
		for _, p := range m {
			got[filepath.Base(p)] = true
		}
		return got
	}
	// The data files that each sync brought.
	gens := []map[string]bool{}
	seen := map[string]bool{}
	for i, pkg := range []fetchtest.RPM{{Name: "second", Version: "1"}, {Name: "third", Version: "1"}} {
		if res := fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir); res.code != 0 {
			t.Fatalf("sync %d: exit %d", i, res.code)
		}
		brought := map[string]bool{}
		for name := range data() {
			if !seen[name] {
				brought[name] = true
				seen[name] = true
			}
		}
		gens = append(gens, brought)
		os.Remove(filepath.Join(u.dir, "Packages", "hello-1.0-1.noarch.rpm"))
		u.build(t, nil, pkg)
	}
	if res := fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir); res.code != 0 {
		t.Fatalf("last sync: exit %d", res.code)
	}
	now := data()
	for name := range gens[1] {
		if !now[name] {
			t.Errorf("%s, of the generation before, removed", name)
		}
	}
	for name := range gens[0] {
		if now[name] {
			t.Errorf("%s, of two generations before, kept", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "Packages", "hello-1.0-1.noarch.rpm")); err != nil {
		t.Errorf("without -delete, a package removed upstream: %v", err)
	}
	checkMirror(t, u.dir, dir)
}

// writeRPMMD writes an rpm-md repository by hand into dir: primary (the
// text of its <package> elements) gzipped, and a repomd.xml that lists
// it.
func writeRPMMD(t *testing.T, dir, packages string, n int) {
	text := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">
%s</metadata>
`, n, packages)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	sum := fetchtest.SHA256(gz.Bytes())
	href := "repodata/" + sum + "-primary.xml.gz"
	repomd := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1</revision>
  <data type="primary">
    <checksum type="sha256">%s</checksum>
    <location href="%s"/>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
</repomd>
`, sum, href, gz.Len(), len(text))
	fetchtest.WriteTree(t, dir, map[string][]byte{href: gz.Bytes(), rpm.RepomdPath: []byte(repomd)})
}

// packageXML returns the <package> of primary for body at href, with
// base as its xml:base when not "".
func packageXML(name, href, base string, body []byte) string {
	attr := ""
	if base != "" {
		attr = fmt.Sprintf(` xml:base="%s"`, base)
	}
	return fmt.Sprintf(`<package type="rpm">
  <name>%s</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
  <checksum type="sha256" pkgid="YES">%s</checksum>
  <size package="%d"/>
  <location%s href="%s"/>
</package>
`, name, fetchtest.SHA256(body), len(body), attr, href)
}

func TestSyncRPMPathEscapes(t *testing.T) {
	u := newRPMUpstream(t)
	a := []byte("package a")
	fetchtest.WriteTree(t, u.dir, map[string][]byte{"a.rpm": a})
	writeRPMMD(t, u.dir, packageXML("a", "a.rpm", "", a)+packageXML("evil", "../../evil.rpm", "", a), 2)
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir)
	if res.code != 1 || !strings.Contains(res.stderr, `-primary.xml.gz:9: package "evil": location href "../../evil.rpm"`) {
		t.Errorf("exit %d; want 1 and the href refused with its file and line", res.code)
	}
	if n := u.rpmGets(); n > 0 {
		t.Errorf("%d packages downloaded from a refused primary", n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("DIR holds %d files; want none", len(entries))
	}
}

func TestSyncRPMXMLBase(t *testing.T) {
	u, other := newRPMUpstream(t), newRPMUpstream(t)
	a, b := []byte("package a"), []byte("package b, elsewhere")
	fetchtest.WriteTree(t, u.dir, map[string][]byte{"a.rpm": a})
	fetchtest.WriteTree(t, other.dir, map[string][]byte{"os/Packages/b.rpm": b})
	writeRPMMD(t, u.dir, packageXML("a", "a.rpm", "", a)+packageXML("b", "Packages/b.rpm", other.srv.URL+"/os/", b), 2)
	dir := t.TempDir()
	if res := fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir); res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, dir, map[string][]byte{"a.rpm": a, "Packages/b.rpm": b})
	if other.get("/os/Packages/b.rpm") != 1 || u.get("/Packages/b.rpm") != 0 {
		t.Errorf("b.rpm asked %d times of its xml:base, %d times of the repository; want 1 and 0", other.get("/os/Packages/b.rpm"), u.get("/Packages/b.rpm"))
	}
}

func TestSyncRPMSigned(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	g, other := fetchtest.NewGPG(t, "Repo <repo@example.org>"), fetchtest.NewGPG(t, "Other <other@example.org>")
	md, err := os.ReadFile(filepath.Join(u.dir, filepath.FromSlash(rpm.RepomdPath)))
	if err != nil {
		t.Fatal(err)
	}
	fetchtest.WriteTree(t, u.dir, map[string][]byte{rpm.SignaturePath: g.DetachSign(md, true), rpm.KeyPath: g.Export(true)})
	keys := t.TempDir()
	good, bad := g.WriteKey(keys), other.WriteKey(t.TempDir())

	// Another key: nothing downloaded past repomd.xml and its signature.
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-keyring", bad, u.srv.URL+"/", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "repomd.xml.asc") {
		t.Errorf("other key: exit %d; want 1 and the signature named", res.code)
	}
	u.mu.Lock()
	for p := range u.gets {
		if !strings.HasPrefix(p, "/repodata/repomd.xml") && p != "/PULP_MANIFEST" { // and the probe of a Pulp repository
			t.Errorf("other key: %s fetched", p)
		}
	}
	u.mu.Unlock()
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("other key: DIR holds %d files; want none", len(entries))
	}

	res = fetchRun(t, t.Context(), "", "sync", "-keyring", good, u.srv.URL+"/", dir)
	if res.code != 0 || strings.Contains(res.stderr, "unchecked") {
		t.Fatalf("the repository's key: exit %d; want 0", res.code)
	}
	checkMirror(t, u.dir, dir)

	res = fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", t.TempDir())
	if res.code != 0 || !strings.Contains(res.stderr, "repodata/repomd.xml.asc: mirrored unchecked") {
		t.Errorf("no -keyring: exit %d; want 0 and the signature said unchecked", res.code)
	}
}

func TestSyncDetect(t *testing.T) {
	empty := newRPMUpstream(t)
	res := fetchRun(t, t.Context(), "", "sync", empty.srv.URL+"/", t.TempDir())
	want := "no repository found: tried a Pulp repository (" + empty.srv.URL + "/PULP_MANIFEST: not found), an rpm-md repository (" + empty.srv.URL + "/repodata/repomd.xml: not found)"
	if res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d; want 1 and %q", res.code, want)
	}

	if res := fetchRun(t, t.Context(), "", "sync", t.TempDir(), t.TempDir()); res.code != 1 || !strings.Contains(res.stderr, "no repository found: tried a Pulp repository (file://") {
		t.Errorf("an empty local folder: exit %d; want 1 and what was tried", res.code)
	}

	// A local folder, found to be rpm-md; -format rpm on the same.
	u := newRPMUpstream(t)
	a := []byte("package a")
	fetchtest.WriteTree(t, u.dir, map[string][]byte{"a.rpm": a})
	writeRPMMD(t, u.dir, packageXML("a", "a.rpm", "", a), 1)
	for _, args := range [][]string{{u.dir}, {"-format", "rpm", u.dir}} {
		dir := t.TempDir()
		if res := fetchRun(t, t.Context(), "", append([]string{"sync"}, append(args, dir)...)...); res.code != 0 {
			t.Errorf("sync %v: exit %d; want 0", args, res.code)
		}
		checkMirror(t, u.dir, dir)
	}
	if res := fetchRun(t, t.Context(), "", "sync", "-format", "yum", u.dir, t.TempDir()); res.code != exitUsage || !strings.Contains(res.stderr, "-format yum: want one of pulp, rpm") {
		t.Errorf("-format yum: exit %d; want %d", res.code, exitUsage)
	}
}

// TestSyncRPMConsistent reads the mirror in a loop, as a client does,
// while a sync of a changed repository runs against a slow upstream:
// every file that the repomd.xml in place names, and every package of its
// primary, is there at every instant; and dnf, when installed, reads it.
func TestSyncRPMConsistent(t *testing.T) {
	u := newRPMUpstream(t)
	u.build(t, nil, helloRPMs...)
	dir := t.TempDir()
	if res := fetchRun(t, t.Context(), "", "sync", u.srv.URL+"/", dir); res.code != 0 {
		t.Fatalf("first sync: exit %d", res.code)
	}
	os.Remove(filepath.Join(u.dir, "Packages", "hello-1.0-1.noarch.rpm"))
	var next []fetchtest.RPM
	for i := range 6 {
		next = append(next, fetchtest.RPM{Name: fmt.Sprintf("new%d", i), Version: "1", Size: 20000})
	}
	u.build(t, []string{"--general-compress-type", "gz"}, append(next, fetchtest.RPM{Name: "hello", Version: "2.0", Requires: []string{"libgreet"}})...)
	u.delay.Store(int64(1500 * time.Millisecond)) // a sync of some seconds: dnf makecache takes one or two

	ctx, cancel := context.WithCancel(t.Context())
	var checks atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for ctx.Err() == nil {
				if err := checkRPMMirror(dir); err != nil {
					return err
				}
				checks.Add(1)
			}
			return nil
		}()
	}()
	var dnfRuns int
	var dnfErr error
	dnfDone := make(chan struct{})
	go func() {
		defer close(dnfDone)
		dnf, err := exec.LookPath("dnf")
		if err != nil {
			return
		}
		cache := t.TempDir()
		for ctx.Err() == nil {
			out, err := exec.Command(dnf, "-q", "--noplugins", "--installroot", cache, "--setopt=reposdir=/nonexistent", "--setopt=cachedir="+cache+"/c",
				"--repofrompath=mirror,file://"+dir, "--releasever=1", "--setopt=metadata_expire=0", "makecache").CombinedOutput()
			if err != nil {
				dnfErr = fmt.Errorf("dnf makecache: %v\n%s", err, out)
				return
			}
			dnfRuns++
		}
	}()
	res := fetchRun(t, t.Context(), "", "sync", "-delete", "-j", "2", u.srv.URL+"/", dir)
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	<-dnfDone
	if dnfErr != nil {
		t.Error(dnfErr)
	}
	t.Logf("%d checks of the mirror, %d dnf makecache runs, during the sync", checks.Load(), dnfRuns)
	if res.code != 0 {
		t.Fatalf("sync: exit %d; want 0", res.code)
	}
	if err := checkRPMMirror(dir); err != nil {
		t.Error(err)
	}
	checkMirror(t, u.dir, dir)
}

// checkRPMMirror checks that every file that the repomd.xml in dir names,
// and every package of its primary, is in dir. A package that -delete
// removed after the repomd.xml read was replaced is no failure: a client
// that reads the new one does not ask for it.
func checkRPMMirror(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	before, err := root.ReadFile(filepath.FromSlash(rpm.RepomdPath))
	if err != nil {
		return err
	}
	err = checkRPMFiles(root)
	if after, _ := root.ReadFile(filepath.FromSlash(rpm.RepomdPath)); err != nil && !bytes.Equal(before, after) {
		return checkRPMMirror(dir)
	}
	return err
}

// checkRPMFiles is checkRPMMirror on root, once.
func checkRPMFiles(root *os.Root) error {
	f, err := root.Open(filepath.FromSlash(rpm.RepomdPath))
	if err != nil {
		return err
	}
	defer f.Close()
	md, err := rpm.ReadRepomd(f, rpm.RepomdPath)
	if err != nil {
		return err
	}
	for _, d := range md.Data {
		if _, err := root.Stat(filepath.FromSlash(d.Path)); err != nil {
			return fmt.Errorf("repomd.xml names %s: %v", d.Path, err)
		}
		if d.Type != "primary" {
			continue
		}
		pf, err := root.Open(filepath.FromSlash(d.Path))
		if err != nil {
			return err
		}
		dec, err := repo.Decompress(pf, d.Path, d.OpenSize)
		if err != nil {
			pf.Close()
			return err
		}
		pr := rpm.NewPackageReader(dec, d.Path, nil)
		for {
			e, err := pr.Next()
			if err != nil {
				dec.Close()
				pf.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			if _, err := root.Stat(filepath.FromSlash(e.Path)); err != nil {
				dec.Close()
				pf.Close()
				return fmt.Errorf("primary names %s: %v", e.Path, err)
			}
		}
	}
	return nil
}
