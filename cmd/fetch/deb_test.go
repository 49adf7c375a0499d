package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ulikunitz/xz"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/repo/deb"
)

// These tests mirror a signed Debian archive, built as a publisher builds
// one (dpkg-deb, apt-ftparchive with by-hash, gpg), with fetch sync -dist,
// and read the mirror with apt-get.

// fileServer serves dir, logging the path of every request.
func fileServer(t *testing.T, dir string) (*httptest.Server, *fetchtest.Buffer) {
	log := &fetchtest.Buffer{}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Write([]byte(r.URL.Path + "\n"))
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, log
}

// debFixture is a signed archive of two packages, hello-fetch (all),
// which depends on hello-fetch-lib (this machine's architecture).
type debFixture struct {
	archive *fetchtest.DebArchive
	key     *fetchtest.GPG
	keyFile string
	arch    string
	srv     *httptest.Server
	log     *fetchtest.Buffer
}

func newDebFixture(t *testing.T) *debFixture {
	t.Helper()
	fx := &debFixture{arch: deb.HostArch(), key: fetchtest.NewGPG(t, "Archive <archive@example.com>")}
	fx.archive = fetchtest.NewDebArchive(t, t.TempDir(), "stable", []string{fx.arch, "all"}, fx.key)
	fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch-lib", Version: "1.0", Arch: fx.arch,
		Files: map[string][]byte{"usr/lib/hello-fetch/lib.txt": []byte("the library\n")}})
	fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "1.0", Arch: "all", Depends: "hello-fetch-lib (>= 1.0)",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("hello\n")}})
	fx.archive.Publish(time.Now().Add(-time.Hour).Truncate(time.Second))
	fx.keyFile = fx.key.WriteKey(t.TempDir())
	fx.srv, fx.log = fileServer(t, fx.archive.Dir)
	return fx
}

// requested returns the paths that log holds which contain part.
func requested(log *fetchtest.Buffer, part string) []string {
	return slices.DeleteFunc(log.Lines(), func(p string) bool { return !strings.Contains(p, part) })
}

func TestSyncDebianApt(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir)
	if res.code != exitOK {
		t.Fatalf("fetch sync: exit %d; want 0\n%s", res.code, res.stderr)
	}
	if got := requested(fx.log, "/by-hash/"); len(got) == 0 {
		t.Errorf("fetch sync fetched no index by hash; requests:\n%s", fx.log.String())
	}
	for _, p := range []string{"dists/stable/InRelease", "dists/stable/Release", "dists/stable/Release.gpg",
		"dists/stable/main/binary-" + fx.arch + "/Packages.xz", "dists/stable/main/binary-all/Packages.gz",
		"pool/main/hello-fetch_1.0_all.deb", "pool/main/hello-fetch-lib_1.0_" + fx.arch + ".deb"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("the mirror lacks %s: %v", p, err)
		}
	}
	if byHash, _ := filepath.Glob(filepath.Join(dir, "dists/stable/main/binary-all/by-hash/*/*")); len(byHash) == 0 {
		t.Errorf("the mirror has no by-hash index")
	}
	if _, err := os.Stat(filepath.Join(dir, ".fetch-staging", "run")); err == nil {
		t.Errorf("a staging folder is left in the mirror")
	}

	mirror, mirrorLog := fileServer(t, dir)
	apt := fetchtest.NewApt(t, fx.arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")
	out := apt.Must(apt.Root, "apt-get", "update")
	t.Logf("apt-get update:\n%s\nupstream:\n%s\nmirror:\n%s", out, fx.log.String(), mirrorLog.String())
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "Ign") || strings.HasPrefix(line, "Err") || strings.HasPrefix(line, "W:") {
			t.Errorf("apt-get update: %s\n%s", line, out)
		}
	}
	if plain := requested(mirrorLog, "/Packages"); len(plain) > 0 {
		t.Errorf("apt-get update fetched indexes by name, not by hash: %v", plain)
	}
	if got := requested(mirrorLog, "/by-hash/"); len(got) == 0 {
		t.Errorf("apt-get update fetched no index by hash; requests:\n%s", mirrorLog.String())
	}
	if got := apt.Candidate("hello-fetch"); got != "1.0" {
		t.Errorf("candidate %s; want 1.0", got)
	}
	// Install: apt resolves the dependency and downloads both packages,
	// checked against the mirror's indexes; dpkg installs them into a root
	// of the test's own.
	apt.Must(apt.Root, "apt-get", "install", "-y", "--download-only", "hello-fetch")
	debs, _ := filepath.Glob(filepath.Join(apt.Root, "cache", "archives", "*.deb"))
	if len(debs) != 2 {
		t.Fatalf("apt-get install --download-only got %v; want hello-fetch and hello-fetch-lib", debs)
	}
	installRoot(t, debs)
}

// installRoot installs debs with dpkg into a root folder of the test's own,
// and checks that their files are there.
func installRoot(t *testing.T, debs []string) {
	t.Helper()
	dpkg := fetchtest.Program(t, "dpkg", "dpkg")
	root := t.TempDir()
	admin := filepath.Join(root, "var", "lib", "dpkg")
	fetchtest.WriteTree(t, admin, map[string][]byte{"status": nil, "available": nil, "updates/.keep": nil, "info/.keep": nil})
	args := []string{"--root=" + root, "--admindir=" + admin, "--log=/dev/null", "--force-not-root", "--force-script-chrootless", "--no-triggers", "-i"}
	out, err := exec.Command(dpkg, append(args, debs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	for _, p := range []string{"usr/share/hello-fetch/README", "usr/lib/hello-fetch/lib.txt"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
}

// mirrorFiles returns the slash paths of the files below dir, but the staging
// area's.
func mirrorFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && strings.HasPrefix(d.Name(), ".fetch-") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestSyncDebianOtherKey(t *testing.T) {
	fx := newDebFixture(t)
	other := fetchtest.NewGPG(t, "Other <other@example.com>").WriteKey(t.TempDir())
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", other, fx.srv.URL+"/", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, "InRelease") || !strings.Contains(res.stderr, "not in the keyring") {
		t.Errorf("exit %d; want 1, naming InRelease and the key:\n%s", res.code, res.stderr)
	}
	if got := requested(fx.log, "/pool/"); len(got) > 0 {
		t.Errorf("packages downloaded after the signature failed: %v", got)
	}
	if got := requested(fx.log, "Packages"); len(got) > 0 {
		t.Errorf("indexes downloaded after the signature failed: %v", got)
	}
	if got := mirrorFiles(t, dir); len(got) > 0 {
		t.Errorf("the mirror holds %v; want nothing published", got)
	}
}

func TestSyncDebianTamperedPackage(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("first sync: exit %d; want 0", res.code)
	}
	inRelease, err := os.ReadFile(filepath.Join(dir, "dists/stable/InRelease"))
	if err != nil {
		t.Fatal(err)
	}
	// Version 1.1 of both, and the package tampered with after its index
	// was written.
	app := fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "1.1", Arch: "all", Depends: "hello-fetch-lib (>= 1.1)",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("hello again\n")}})
	lib := fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch-lib", Version: "1.1", Arch: fx.arch,
		Files: map[string][]byte{"usr/lib/hello-fetch/lib.txt": []byte("the library, again\n")}})
	fx.archive.Publish(time.Now().Truncate(time.Second))
	tampered, err := os.ReadFile(filepath.Join(fx.archive.Dir, app))
	if err != nil {
		t.Fatal(err)
	}
	tampered[len(tampered)-1] ^= 1
	fetchtest.WriteTree(t, fx.archive.Dir, map[string][]byte{app: tampered})

	res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, app) {
		t.Errorf("exit %d; want 1, naming %s:\n%s", res.code, app, res.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dists/stable/InRelease")); string(got) != string(inRelease) {
		t.Errorf("the new InRelease was published after a package failed")
	}
	if _, err := os.Stat(filepath.Join(dir, lib)); err != nil {
		t.Errorf("the package that arrived was not kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, app)); err == nil {
		t.Errorf("the tampered package is in the mirror")
	}
}

func TestSyncDebianUnchanged(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		before := len(fx.log.Lines())
		if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
			t.Fatalf("sync %d: exit %d; want 0", run, res.code)
		}
		pool := slices.DeleteFunc(fx.log.Lines()[before:], func(p string) bool { return !strings.HasPrefix(p, "/pool/") })
		if want := map[int]int{1: 2, 2: 0}[run]; len(pool) != want {
			t.Errorf("sync %d downloaded %v; want %d packages", run, pool, want)
		}
	}
}

func TestSyncDebianFlat(t *testing.T) {
	key := fetchtest.NewGPG(t, "Archive <archive@example.com>")
	arch := deb.HostArch()
	archive := fetchtest.NewDebArchive(t, t.TempDir(), "", nil, key)
	archive.Build(fetchtest.DebPackage{Name: "hello-fetch-lib", Version: "1.0", Arch: arch,
		Files: map[string][]byte{"usr/lib/hello-fetch/lib.txt": []byte("the library\n")}})
	archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "1.0", Arch: "all", Depends: "hello-fetch-lib",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("hello\n")}})
	archive.PublishFlat()
	keyFile := key.WriteKey(t.TempDir())
	srv, _ := fileServer(t, archive.Dir)

	// Without -keyring: mirrored, and the summary says what went unchecked.
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "./", srv.URL+"/", dir)
	if res.code != exitOK || !strings.Contains(res.stderr, "InRelease: mirrored unchecked") {
		t.Fatalf("exit %d; want 0, saying that InRelease was not verified:\n%s", res.code, res.stderr)
	}
	for _, p := range []string{"InRelease", "Release", "Release.gpg", "Packages.gz", "pool/main/hello-fetch_1.0_all.deb"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("the mirror lacks %s: %v", p, err)
		}
	}
	mirror, _ := fileServer(t, dir)
	apt := fetchtest.NewApt(t, arch, "deb [signed-by="+keyFile+"] "+mirror.URL+"/ ./\n")
	apt.Must(apt.Root, "apt-get", "update")
	apt.Must(apt.Root, "apt-get", "install", "-y", "--download-only", "hello-fetch")
	debs, _ := filepath.Glob(filepath.Join(apt.Root, "cache", "archives", "*.deb"))
	installRoot(t, debs)
}

func TestSyncDebianReleaseGPG(t *testing.T) {
	fx := newDebFixture(t)
	// An archive without InRelease: Release and Release.gpg.
	if err := os.Remove(filepath.Join(fx.archive.Dir, "dists/stable/InRelease")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("exit %d; want 0", res.code)
	}
	mirror, _ := fileServer(t, dir)
	apt := fetchtest.NewApt(t, fx.arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")
	apt.Must(apt.Root, "apt-get", "update")
	if got := apt.Candidate("hello-fetch"); got != "1.0" {
		t.Errorf("candidate %s; want 1.0", got)
	}

	// A Release.gpg by another key fails, with nothing published.
	other := fetchtest.NewGPG(t, "Other <other@example.com>")
	release, err := os.ReadFile(filepath.Join(fx.archive.Dir, "dists/stable/Release"))
	if err != nil {
		t.Fatal(err)
	}
	fetchtest.WriteTree(t, fx.archive.Dir, map[string][]byte{"dists/stable/Release.gpg": other.DetachSign(release, true)})
	dir = t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, "Release.gpg") {
		t.Errorf("exit %d; want 1, naming Release.gpg:\n%s", res.code, res.stderr)
	}
	if got := mirrorFiles(t, dir); len(got) > 0 {
		t.Errorf("the mirror holds %v; want nothing published", got)
	}
}

// writeDist writes an unsigned distribution dists/stable with one
// component main, in dir: each of indexes (a path relative to the
// distribution, without .gz: its text) gzipped, and a Release that lists
// them in the sections named (SHA256, SHA512) and says Acquire-By-Hash,
// with their by-hash copies.
func writeDist(t *testing.T, dir, arch string, indexes map[string]string, sections ...string) {
	t.Helper()
	rel := "Suite: stable\nCodename: stable\nComponents: main\nArchitectures: " + arch + "\nAcquire-By-Hash: yes\n"
	files := map[string][]byte{}
	lists := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(indexes)) {
		var gz strings.Builder
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(indexes[name]))
		zw.Close()
		index := []byte(gz.String())
		files[name+".gz"] = index
		for _, s := range sections {
			sum := fetchtest.SHA256(index)
			if s == "SHA512" {
				h := sha512.Sum512(index)
				sum = hex.EncodeToString(h[:])
			}
			files[path.Dir(name)+"/by-hash/"+s+"/"+sum] = index
			lists[s] += " " + sum + " " + strconv.Itoa(len(index)) + " " + name + ".gz\n"
		}
	}
	for _, s := range sections {
		rel += s + ":\n" + lists[s]
	}
	files["Release"] = []byte(rel)
	tree := map[string][]byte{}
	for p, b := range files {
		tree["dists/stable/"+p] = b
	}
	fetchtest.WriteTree(t, dir, tree)
}

// packageStanza returns a Packages paragraph for the file body at name.
func packageStanza(name string, body []byte, digest string) string {
	sum := fetchtest.SHA256(body)
	if digest == "SHA512" {
		h := sha512.Sum512(body)
		sum = hex.EncodeToString(h[:])
	}
	return "Package: p\nVersion: 1\nArchitecture: all\nFilename: " + name + "\nSize: " + strconv.Itoa(len(body)) + "\n" + digest + ": " + sum + "\n\n"
}

func TestSyncDebianOnlySHA512(t *testing.T) {
	up := t.TempDir()
	arch := deb.HostArch()
	body := []byte("a package\n")
	fetchtest.WriteTree(t, up, map[string][]byte{"pool/main/p_1_all.deb": body})
	writeDist(t, up, arch, map[string]string{"main/binary-" + arch + "/Packages": packageStanza("pool/main/p_1_all.deb", body, "SHA512")}, "SHA512")
	srv, log := fileServer(t, up)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-format", "deb", "-dist", "stable", srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("exit %d; want 0", res.code)
	}
	if got := requested(log, "/by-hash/SHA512/"); len(got) != 1 {
		t.Errorf("got %v; want Packages.gz fetched once, by its SHA512", got)
	}
	want := []string{"dists/stable/Release", "dists/stable/main/binary-" + arch + "/Packages.gz", "pool/main/p_1_all.deb"}
	got := mirrorFiles(t, dir)
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("the mirror lacks %s; it has %v", p, got)
		}
	}
	if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "/by-hash/SHA512/") }) {
		t.Errorf("the mirror has no by-hash/SHA512 copy: %v", got)
	}
}

func TestSyncDebianPathLeavesDir(t *testing.T) {
	up := t.TempDir()
	arch := deb.HostArch()
	body := []byte("a package\n")
	fetchtest.WriteTree(t, up, map[string][]byte{"pool/main/p_1_all.deb": body})
	writeDist(t, up, arch, map[string]string{"main/binary-" + arch + "/Packages": packageStanza("pool/main/p_1_all.deb", body, "SHA256") + packageStanza("pool/../../evil.deb", body, "SHA256")}, "SHA256")
	srv, log := fileServer(t, up)
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "stable", srv.URL+"/", dir)
	index := "dists/stable/main/binary-" + arch + "/Packages.gz"
	if res.code != exitFailed || !strings.Contains(res.stderr, index+":11:") || !strings.Contains(res.stderr, "pool/../../evil.deb") {
		t.Errorf("exit %d; want 1, naming %s:11 and the path:\n%s", res.code, index, res.stderr)
	}
	if got := requested(log, "/pool/"); len(got) > 0 {
		t.Errorf("packages downloaded from a refused index: %v", got)
	}
	if got := mirrorFiles(t, dir); len(got) > 0 {
		t.Errorf("the mirror holds %v; want nothing published", got)
	}
}

// TestSyncDebianReadWhileSyncing runs apt-get update against the mirror in
// a loop while a sync of a new version of the archive runs, held up in its
// packages: every update succeeds, and finds the new version once the sync
// ends.
func TestSyncDebianReadWhileSyncing(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("first sync: exit %d; want 0", res.code)
	}
	fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "1.1", Arch: "all", Depends: "hello-fetch-lib (>= 1.0)",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("hello again\n")}})
	fx.archive.Publish(time.Now().Truncate(time.Second))

	// The new archive's packages wait until the client has read the mirror
	// a few times.
	gate := make(chan struct{})
	files := http.FileServer(http.Dir(fx.archive.Dir))
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/pool/") {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		files.ServeHTTP(w, r)
	}))
	defer slow.Close()
	mirror, _ := fileServer(t, dir)
	apt := fetchtest.NewApt(t, fx.arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")

	done := make(chan result, 1)
	go func() {
		cmd := exec.Command(fetchBin, "sync", "-dist", "stable", "-keyring", fx.keyFile, slow.URL+"/", dir)
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			code = -1
			if cmd.ProcessState != nil {
				code = cmd.ProcessState.ExitCode()
			}
		}
		done <- result{code: code, stderr: string(out)}
	}()
	update := func(n int) {
		t.Helper()
		if out, err := apt.Run(apt.Root, "apt-get", "update"); err != nil || strings.Contains(out, "Err:") || strings.Contains(out, "W:") {
			t.Errorf("apt-get update %d during the sync: %v\n%s", n, err, out)
		}
	}
	n := 0
	for ; n < 3; n++ {
		update(n)
	}
	close(gate)
	var res result
	for running := true; running; n++ {
		select {
		case res = <-done:
			running = false
		default:
			update(n)
		}
	}
	if res.code != exitOK {
		t.Fatalf("second sync: exit %d; want 0\n%s", res.code, res.stderr)
	}
	apt.Must(apt.Root, "apt-get", "update")
	if got := apt.Candidate("hello-fetch"); got != "1.1" {
		t.Errorf("after the sync: candidate %s; want 1.1", got)
	}
}

func TestSyncDebianDelete(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("first sync: exit %d; want 0", res.code)
	}
	// hello-fetch 1.0 gives way to 1.1 upstream.
	old := "pool/main/hello-fetch_1.0_all.deb"
	if err := os.Remove(filepath.Join(fx.archive.Dir, old)); err != nil {
		t.Fatal(err)
	}
	fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "1.1", Arch: "all", Depends: "hello-fetch-lib",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("hello again\n")}})
	fx.archive.Publish(time.Now().Truncate(time.Second))
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("sync without -delete: exit %d; want 0", res.code)
	}
	if _, err := os.Stat(filepath.Join(dir, old)); err != nil {
		t.Errorf("without -delete, the package that upstream removed is gone: %v", err)
	}
	res := fetchProc(t, "", "sync", "-delete", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir)
	if res.code != exitOK || !strings.Contains(res.stderr, "deleted 1 file") {
		t.Fatalf("sync -delete: exit %d; want 0, deleting 1 file:\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, old)); err == nil {
		t.Errorf("with -delete, %s is still in the mirror", old)
	}
	for _, p := range []string{"pool/main/hello-fetch_1.1_all.deb", "pool/main/hello-fetch-lib_1.0_" + fx.arch + ".deb", "dists/stable/InRelease"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("-delete removed %s: %v", p, err)
		}
	}
}

// TestSyncDebianSource mirrors the Sources and the source packages with
// -source, the Contents with -contents, and neither without them.
func TestSyncDebianSource(t *testing.T) {
	up := t.TempDir()
	arch := deb.HostArch()
	bin, dsc, orig := []byte("a package\n"), []byte("a source description\n"), []byte("the upstream source\n")
	fetchtest.WriteTree(t, up, map[string][]byte{"pool/main/p/p_1_all.deb": bin, "pool/main/p/p_1.dsc": dsc, "pool/main/p/p_1.orig.tar.gz": orig})
	sources := "Package: p\nVersion: 1\nDirectory: pool/main/p\nChecksums-Sha256:\n " +
		fetchtest.SHA256(dsc) + " " + strconv.Itoa(len(dsc)) + " p_1.dsc\n " + fetchtest.SHA256(orig) + " " + strconv.Itoa(len(orig)) + " p_1.orig.tar.gz\n"
	writeDist(t, up, arch, map[string]string{
		"main/binary-" + arch + "/Packages": packageStanza("pool/main/p/p_1_all.deb", bin, "SHA256"),
		"main/source/Sources":               sources,
		"main/Contents-" + arch:             "usr/share/doc/p/README main/p\n",
	}, "SHA256")
	srv, _ := fileServer(t, up)
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{"pool/main/p/p_1_all.deb"}},
		{[]string{"-source"}, []string{"dists/stable/main/source/Sources.gz", "pool/main/p/p_1.dsc", "pool/main/p/p_1.orig.tar.gz", "pool/main/p/p_1_all.deb"}},
		{[]string{"-contents"}, []string{"dists/stable/main/Contents-" + arch + ".gz", "pool/main/p/p_1_all.deb"}},
	} {
		dir := t.TempDir()
		args := append(append([]string{"sync", "-dist", "stable"}, tc.flags...), srv.URL+"/", dir)
		if res := fetchProc(t, "", args...); res.code != exitOK {
			t.Fatalf("%v: exit %d; want 0", tc.flags, res.code)
		}
		got := slices.DeleteFunc(mirrorFiles(t, dir), func(p string) bool {
			return strings.Contains(p, "by-hash") || strings.Contains(p, "binary-") || strings.HasSuffix(p, "Release")
		})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%v: the mirror's files (-want +got):\n%s", tc.flags, diff)
		}
	}
}

// syncDebianList serves the mirror list list and syncs fx's distribution
// from its mirrors, with fx's keyring and flags, into a new folder; the
// sync must succeed.
func syncDebianList(t *testing.T, fx *debFixture, list string, flags ...string) (string, result) {
	t.Helper()
	docs := newRepo(t, map[string][]byte{"mirrorlist": []byte(list)})
	dir := t.TempDir()
	args := append([]string{"sync", "-retries", "0", "-mirrorlist", docs.URL + "/mirrorlist", "-dist", "stable", "-keyring", fx.keyFile}, flags...)
	res := fetchProc(t, "", append(args, dir)...)
	if res.code != exitOK {
		t.Fatalf("fetch sync: exit %d; want 0\n%s", res.code, res.stderr)
	}
	return dir, res
}

// TestSyncDebianMirrorlist: a mirror list of a Debian archive's roots, a
// comment and a dead mirror first: each mirror is asked for InRelease, the
// dead one is dropped, and the archive of the next one is mirrored, its
// signature checked, for apt to read.
func TestSyncDebianMirrorlist(t *testing.T) {
	fx := newDebFixture(t)
	dead := newDeadMirror(t)
	dir, res := syncDebianList(t, fx, "# mirrors of the archive\n"+dead.URL+"/debian/\n"+fx.srv.URL+"/\n")
	if got := dead.asked(); !slices.Equal(got, []string{"/debian/dists/stable/InRelease"}) {
		t.Errorf("the dead mirror was asked for %q; want InRelease only", got)
	}
	if want := "mirror " + dead.URL + "/debian/ dropped"; !strings.Contains(res.stderr, want) {
		t.Errorf("the summary does not say %q\n%s", want, res.stderr)
	}
	published, err := os.ReadFile(filepath.Join(dir, "dists/stable/InRelease"))
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := os.ReadFile(filepath.Join(fx.archive.Dir, "dists/stable/InRelease"))
	if !bytes.Equal(published, upstream) {
		t.Errorf("the published InRelease is not the archive's")
	}

	mirror, _ := fileServer(t, dir)
	apt := fetchtest.NewApt(t, fx.arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")
	out := apt.Must(apt.Root, "apt-get", "update")
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "Ign") || strings.HasPrefix(line, "Err") || strings.HasPrefix(line, "W:") {
			t.Errorf("apt-get update: %s\n%s", line, out)
		}
	}
	if got := apt.Candidate("hello-fetch"); got != "1.0" {
		t.Errorf("candidate %s; want 1.0", got)
	}
}

// TestSyncDebianMirrorlistOtherKey: a mirror whose InRelease the keyring
// does not verify is dropped, and the next one mirrored.
func TestSyncDebianMirrorlistOtherKey(t *testing.T) {
	fx := newDebFixture(t)
	other := fetchtest.NewGPG(t, "Other <other@example.com>")
	forged := fetchtest.NewDebArchive(t, t.TempDir(), "stable", []string{fx.arch, "all"}, other)
	forged.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: "9.0", Arch: "all",
		Files: map[string][]byte{"usr/share/hello-fetch/README": []byte("forged\n")}})
	forged.Publish(time.Now().Add(-time.Hour).Truncate(time.Second))
	bad, badLog := fileServer(t, forged.Dir)
	dir, res := syncDebianList(t, fx, bad.URL+"/\n"+fx.srv.URL+"/\n")
	if got := badLog.Lines(); !slices.Equal(got, []string{"/dists/stable/InRelease"}) {
		t.Errorf("the mirror signed with another key was asked for %q; want InRelease only", got)
	}
	if want := "mirror " + bad.URL + "/ dropped"; !strings.Contains(res.stderr, want) {
		t.Errorf("the summary does not say %q\n%s", want, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "pool/main/hello-fetch_1.0_all.deb")); err != nil {
		t.Errorf("the mirror lacks the archive's package: %v", err)
	}
}

// TestSyncDebianMirrorlistBehind: a mirror that lacks a package, which the
// next one serves, goes to the end for the rest of the run.
func TestSyncDebianMirrorlistBehind(t *testing.T) {
	fx := newDebFixture(t)
	behindDir := t.TempDir()
	if err := os.CopyFS(behindDir, os.DirFS(fx.archive.Dir)); err != nil {
		t.Fatal(err)
	}
	lacked := "pool/main/hello-fetch_1.0_all.deb"
	if err := os.Remove(filepath.Join(behindDir, lacked)); err != nil {
		t.Fatal(err)
	}
	behind, _ := fileServer(t, behindDir)
	// One transfer at a time: hello-fetch (which sorts first) is asked of
	// the mirror behind before hello-fetch-lib is.
	dir, res := syncDebianList(t, fx, behind.URL+"/\n"+fx.srv.URL+"/\n", "-j", "1")
	want := "mirror " + behind.URL + "/ moved to the end: it failed " + lacked + ", which " + fx.srv.URL + "/ served"
	if !strings.Contains(res.stderr, want) {
		t.Errorf("the summary does not say %q\n%s", want, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, lacked)); err != nil {
		t.Errorf("the mirror lacks %s: %v", lacked, err)
	}
}

// datedDist writes, in a new folder served by the returned server, the
// distribution stable of one package, whose Release says fields first
// ("Date: ...\n").
func datedDist(t *testing.T, fields string) (up string, srv *httptest.Server, log *fetchtest.Buffer) {
	t.Helper()
	up = t.TempDir()
	arch := deb.HostArch()
	body := []byte("a package\n")
	fetchtest.WriteTree(t, up, map[string][]byte{"pool/main/p_1_all.deb": body})
	writeDist(t, up, arch, map[string]string{"main/binary-" + arch + "/Packages": packageStanza("pool/main/p_1_all.deb", body, "SHA256")}, "SHA256")
	redate(t, up, fields)
	srv, log = fileServer(t, up)
	return up, srv, log
}

// redate writes the Release of the distribution stable in up again, with
// fields first in place of its dates.
func redate(t *testing.T, up, fields string) {
	t.Helper()
	file := filepath.Join(up, "dists", "stable", "Release")
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := slices.DeleteFunc(strings.SplitAfter(string(old), "\n"), func(l string) bool {
		return strings.HasPrefix(l, "Date:") || strings.HasPrefix(l, "Valid-Until:")
	})
	if err := os.WriteFile(file, []byte(fields+strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// isTopFile reports whether p is a distribution's InRelease, Release or
// Release.gpg.
func isTopFile(p string) bool {
	return slices.Contains([]string{"InRelease", "Release", "Release.gpg"}, path.Base(p))
}

func releaseDate(at time.Time) string { return at.UTC().Format(time.RFC1123) }

// TestSyncDebianExpired: a Release past its Valid-Until is refused before
// any index is fetched, and nothing is published; one still valid is
// mirrored.
func TestSyncDebianExpired(t *testing.T) {
	now := time.Now()
	up, srv, log := datedDist(t, "Date: "+releaseDate(now.Add(-48*time.Hour))+"\nValid-Until: "+releaseDate(now.Add(-24*time.Hour))+"\n")
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-dist", "stable", srv.URL+"/", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, "dists/stable/Release: expired: valid until") {
		t.Errorf("exit %d; want 1, saying the Release expired:\n%s", res.code, res.stderr)
	}
	if got := slices.DeleteFunc(log.Lines(), isTopFile); len(got) > 0 {
		t.Errorf("requested %v past the expired Release; want nothing", got)
	}
	if got := mirrorFiles(t, dir); len(got) > 0 {
		t.Errorf("the mirror holds %v; want nothing published", got)
	}
	redate(t, up, "Date: "+releaseDate(now.Add(-48*time.Hour))+"\nValid-Until: "+releaseDate(now.Add(24*time.Hour))+"\n")
	if res := fetchProc(t, "", "sync", "-dist", "stable", srv.URL+"/", dir); res.code != exitOK {
		t.Errorf("a Release still valid: exit %d; want 0\n%s", res.code, res.stderr)
	}
}

// TestSyncDebianOlder: a Release dated before the mirror's is refused,
// the mirror left as it was, but with -allow-older.
func TestSyncDebianOlder(t *testing.T) {
	now := time.Now()
	newer := "Date: " + releaseDate(now.Add(-time.Hour)) + "\n"
	up, srv, log := datedDist(t, newer)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("first sync: exit %d; want 0\n%s", res.code, res.stderr)
	}
	older := "Date: " + releaseDate(now.Add(-48*time.Hour)) + "\n"
	redate(t, up, older)
	before := len(log.Lines())
	res := fetchProc(t, "", "sync", "-dist", "stable", srv.URL+"/", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, "older than the mirror's") {
		t.Errorf("exit %d; want 1, saying the Release is older than the mirror's:\n%s", res.code, res.stderr)
	}
	if got := slices.DeleteFunc(log.Lines()[before:], isTopFile); len(got) > 0 {
		t.Errorf("requested %v past the older Release; want nothing", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dists", "stable", "Release")); !strings.HasPrefix(string(got), newer) {
		t.Errorf("the mirror's Release is now\n%s\nwant the newer one kept", got)
	}
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-allow-older", srv.URL+"/", dir); res.code != exitOK {
		t.Errorf("-allow-older: exit %d; want 0\n%s", res.code, res.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "dists", "stable", "Release")); !strings.HasPrefix(string(got), older) {
		t.Errorf("-allow-older: the mirror's Release is now\n%s\nwant the older one", got)
	}
}

// gzipped returns b compressed with gzip.
func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// aptTargets configures apt as appstream's and command-not-found's
// packages do (/etc/apt/apt.conf.d/50appstream, 50command-not-found): it
// asks for the dep11 and cnf files of every component, when the Release
// lists them.
const aptTargets = `#clear Acquire::Languages;
Acquire::Languages { "en"; "de"; };
Acquire::IndexTargets {
  deb::DEP-11 {
    MetaKey "$(COMPONENT)/dep11/Components-$(NATIVE_ARCHITECTURE).yml";
    ShortDescription "Components-$(NATIVE_ARCHITECTURE)";
    Description "$(RELEASE)/$(COMPONENT) $(NATIVE_ARCHITECTURE) DEP-11 Metadata";
    KeepCompressed "true";
    KeepCompressedAs "gz";
  };
  deb::DEP-11-icons-small {
    MetaKey "$(COMPONENT)/dep11/icons-48x48.tar";
    ShortDescription "icons-48x48";
    Description "$(RELEASE)/$(COMPONENT) DEP-11 48x48 Icons";
    KeepCompressed "true";
    KeepCompressedAs "gz";
  };
  deb::CNF {
    MetaKey "$(COMPONENT)/cnf/Commands-$(NATIVE_ARCHITECTURE)";
    ShortDescription "Commands-$(NATIVE_ARCHITECTURE)";
    Description "$(RELEASE)/$(COMPONENT) $(NATIVE_ARCHITECTURE) c-n-f Metadata";
  };
};
`

// TestSyncDebianEveryIndex mirrors an archive whose Release lists, besides
// Packages, the dep11, cnf, i18n and debian-installer files of a real
// archive, and runs apt-get update against the mirror with the dep11 and
// cnf targets of appstream and command-not-found and two languages: apt
// finds every file it asks for. -udeb adds the debian-installer indexes and
// their udebs; -lang leaves out the other languages, which apt then misses.
func TestSyncDebianEveryIndex(t *testing.T) {
	fx := newDebFixture(t)
	arch := fx.arch
	udeb := []byte("an installer package\n")
	fetchtest.WriteTree(t, fx.archive.Dir, map[string][]byte{"pool/main/di-fetch_1.0_" + arch + ".udeb": udeb})
	translation := func(lang, text string) []byte {
		return []byte("Package: hello-fetch\nDescription-md5: 0123456789abcdef0123456789abcdef\nDescription-" + lang + ": " + text + "\n\n")
	}
	// Each file as Debian's Release lists it: uncompressed (which apt
	// looks for in the Release), and compressed (which apt fetches).
	fx.archive.Indexes = map[string][]byte{}
	for name, body := range map[string][]byte{
		"main/dep11/Components-" + arch + ".yml": []byte("---\nFile: DEP-11\nVersion: '0.16'\nOrigin: fetch-main\n"),
		"main/dep11/icons-48x48.tar":             make([]byte, 1024),
		"main/cnf/Commands-" + arch:              []byte("suite: stable\ncomponent: main\narch: " + arch + "\n\nname: hello-fetch\nversion: 1.0\ncommands: hello-fetch\n"),
		"main/i18n/Translation-en":               translation("en", "a package for fetch's tests"),
		"main/i18n/Translation-de":               translation("de", "ein Paket für die Tests von fetch"),
		"main/debian-installer/binary-" + arch + "/Packages": []byte(strings.Replace(
			packageStanza("pool/main/di-fetch_1.0_"+arch+".udeb", udeb, "SHA256"), "Package: p", "Package: di-fetch", 1)),
	} {
		fx.archive.Indexes[name] = body
		if strings.Contains(name, "/cnf/") {
			fx.archive.Indexes[name+".xz"] = xzipped(t, body)
		} else {
			fx.archive.Indexes[name+".gz"] = gzipped(body)
		}
	}
	fx.archive.Publish(time.Now().Add(-time.Minute).Truncate(time.Second))

	sync := func(flags ...string) string {
		t.Helper()
		dir := t.TempDir()
		args := append(append([]string{"sync", "-dist", "stable", "-keyring", fx.keyFile}, flags...), fx.srv.URL+"/", dir)
		if res := fetchProc(t, "", args...); res.code != exitOK {
			t.Fatalf("fetch sync %v: exit %d; want 0\n%s", flags, res.code, res.stderr)
		}
		return dir
	}
	update := func(dir string) (string, *fetchtest.Buffer) {
		t.Helper()
		mirror, log := fileServer(t, dir)
		apt := fetchtest.NewApt(t, arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")
		conf := filepath.Join(apt.Root, "targets.conf")
		fetchtest.WriteTree(t, apt.Root, map[string][]byte{"targets.conf": []byte(aptTargets)})
		apt.Opts = append(apt.Opts, "-c", conf)
		out, _ := apt.Run(apt.Root, "apt-get", "update")
		t.Logf("apt-get update:\n%s\nmirror:\n%s", out, log.String())
		return out, log
	}

	dir := sync()
	out, log := update(dir)
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "Ign") || strings.HasPrefix(line, "Err") || strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:") {
			t.Errorf("apt-get update: %s", line)
		}
	}
	for _, want := range []string{"/dep11/by-hash/", "/cnf/by-hash/", "/i18n/by-hash/"} {
		if got := requested(log, want); len(got) == 0 {
			t.Errorf("apt-get update asked for nothing in %s", want)
		}
	}
	for _, want := range []string{"Components-" + arch, "icons-48x48", "Commands-" + arch, "Translation-en", "Translation-de"} {
		if lists, _ := filepath.Glob(filepath.Join(dir, "dists", "stable", "main", "*", want+"*")); len(lists) == 0 {
			t.Errorf("the mirror lacks %s", want)
		}
	}
	for _, p := range mirrorFiles(t, dir) {
		if strings.Contains(p, "debian-installer") || strings.HasSuffix(p, ".udeb") {
			t.Errorf("without -udeb the mirror holds %s", p)
		}
	}

	dir = sync("-udeb")
	for _, p := range []string{"dists/stable/main/debian-installer/binary-" + arch + "/Packages.gz", "pool/main/di-fetch_1.0_" + arch + ".udeb"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("-udeb: the mirror lacks %s", p)
		}
	}

	dir = sync("-lang", "en")
	if _, err := os.Stat(filepath.Join(dir, "dists/stable/main/i18n/Translation-de.gz")); err == nil {
		t.Errorf("-lang en: the mirror holds Translation-de")
	}
	if out, _ := update(dir); !strings.Contains(out, "Translation-de") {
		t.Errorf("apt-get update against a mirror without Translation-de does not say so:\n%s", out)
	}
}

// xzipped returns b compressed with xz.
func xzipped(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	zw, err := xz.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSyncDebianPdiffs: a Release that lists Packages.diff/Index, as
// Debian's updates and testing do, is mirrored without it (its patches are
// listed nowhere), and apt with PDiffs on, holding the lists of the
// previous sync, updates from the mirror without an error: it falls back
// to the whole Packages.
func TestSyncDebianPdiffs(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	sync := func() {
		t.Helper()
		if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
			t.Fatalf("fetch sync: exit %d; want 0\n%s", res.code, res.stderr)
		}
	}
	sync()
	mirror, log := fileServer(t, dir)
	apt := fetchtest.NewApt(t, fx.arch, "deb [signed-by="+fx.keyFile+"] "+mirror.URL+"/ stable main\n")
	for i, o := range apt.Opts {
		if o == "Acquire::PDiffs=false" {
			apt.Opts[i] = "Acquire::PDiffs=true"
		}
	}
	apt.Must(apt.Root, "apt-get", "update")

	fx.archive.Build(fetchtest.DebPackage{Name: "hello-fetch-lib", Version: "1.1", Arch: fx.arch,
		Files: map[string][]byte{"usr/lib/hello-fetch/lib.txt": []byte("the library, again\n")}})
	index := "main/binary-" + fx.arch + "/Packages.diff/Index"
	fx.archive.Indexes = map[string][]byte{index: []byte("SHA256-Current: " + strings.Repeat("0", 64) + " 1\n")}
	fx.archive.Publish(time.Now().Truncate(time.Second))
	if rel, _ := os.ReadFile(filepath.Join(fx.archive.Dir, "dists", "stable", "Release")); !strings.Contains(string(rel), index) {
		t.Fatalf("the Release does not list %s:\n%s", index, rel)
	}
	sync()
	if _, err := os.Stat(filepath.Join(dir, "dists", "stable", filepath.FromSlash(index))); err == nil {
		t.Errorf("the mirror holds %s", index)
	}
	out := apt.Must(apt.Root, "apt-get", "update")
	t.Logf("apt-get update:\n%s\nmirror:\n%s", out, log.String())
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "Err") || strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:") {
			t.Errorf("apt-get update: %s", line)
		}
	}
	if got := apt.Candidate("hello-fetch-lib"); got != "1.1" {
		t.Errorf("candidate %s; want 1.1", got)
	}
	if got := requested(log, "Packages.diff/Index"); len(got) == 0 {
		t.Errorf("apt-get update did not ask for the pdiffs' Index; the test proves nothing")
	}
}

// TestSyncDebianMirrorlistOlder: a mirror whose InRelease, well signed, is
// older than the one DIR holds is passed over for the next one.
func TestSyncDebianMirrorlistOlder(t *testing.T) {
	fx := newDebFixture(t)
	dir := t.TempDir()
	if res := fetchProc(t, "", "sync", "-dist", "stable", "-keyring", fx.keyFile, fx.srv.URL+"/", dir); res.code != exitOK {
		t.Fatalf("first sync: exit %d; want 0\n%s", res.code, res.stderr)
	}
	behindDir := t.TempDir()
	if err := os.CopyFS(behindDir, os.DirFS(fx.archive.Dir)); err != nil {
		t.Fatal(err)
	}
	redate(t, behindDir, "Date: "+releaseDate(time.Now().Add(-30*24*time.Hour))+"\n")
	dist := filepath.Join(behindDir, "dists", "stable")
	release, err := os.ReadFile(filepath.Join(dist, "Release"))
	if err != nil {
		t.Fatal(err)
	}
	fetchtest.WriteTree(t, dist, map[string][]byte{"InRelease": fx.key.Clearsign(release), "Release.gpg": fx.key.DetachSign(release, true)})
	behind, behindLog := fileServer(t, behindDir)

	docs := newRepo(t, map[string][]byte{"mirrorlist": []byte(behind.URL + "/\n" + fx.srv.URL + "/\n")})
	res := fetchProc(t, "", "sync", "-retries", "0", "-mirrorlist", docs.URL+"/mirrorlist", "-dist", "stable", "-keyring", fx.keyFile, dir)
	if res.code != exitOK {
		t.Fatalf("exit %d; want 0, from the mirror not behind\n%s", res.code, res.stderr)
	}
	if want := "mirror " + behind.URL + "/ dropped: "; !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "older than the mirror's") {
		t.Errorf("the summary does not say %q ... older than the mirror's:\n%s", want, res.stderr)
	}
	if got := slices.DeleteFunc(behindLog.Lines(), isTopFile); len(got) > 0 {
		t.Errorf("asked the mirror behind for %v", got)
	}
}
