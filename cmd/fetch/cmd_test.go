package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// newRepo serves files, by name, whole with their length and no
// validator, until the test ends.
func newRepo(t *testing.T, files map[string][]byte) *fetchtest.Repo {
	served := map[string]fetchtest.File{}
	for name, body := range files {
		served["/"+name] = fetchtest.File{Doc: fetchtest.Doc{Body: body}}
	}
	return fetchtest.StartRepo(t, fetchtest.HTTP, served)
}

// newSlowRepo serves files, by name, with ranges and a strong ETag, each
// body at most rate bytes a second (r.Rate), until the test ends.
func newSlowRepo(t *testing.T, rate int64, files map[string][]byte) *fetchtest.Repo {
	served := map[string]fetchtest.File{}
	for name, body := range files {
		served["/"+name] = fetchtest.Ranged(body)
	}
	r := fetchtest.StartRepo(t, fetchtest.HTTP, served)
	r.Rate.Store(rate)
	return r
}

// fileHits returns the requests r answered for files other than the
// manifest.
func fileHits(r *fetchtest.Repo) int {
	n := 0
	for _, a := range r.Asked() {
		if a.Path != "/PULP_MANIFEST" {
			n++
		}
	}
	return n
}

// ranges returns the Range header of each request r answered for files
// other than the manifest, "" for none.
func ranges(r *fetchtest.Repo) []string {
	var rs []string
	for _, a := range r.Asked() {
		if a.Path != "/PULP_MANIFEST" {
			rs = append(rs, a.Header.Get("Range"))
		}
	}
	return rs
}

// withManifest returns files and their PULP_MANIFEST.
func withManifest(files map[string][]byte, extra ...string) map[string][]byte {
	all := maps.Clone(files)
	all["PULP_MANIFEST"] = manifest(files, extra...)
	return all
}

// manifest returns the PULP_MANIFEST of files, with extra lines after the
// first one.
func manifest(files map[string][]byte, extra ...string) []byte {
	var lines []string
	for name, body := range files {
		lines = append(lines, manifestLine(name, body))
	}
	slices.Sort(lines)
	lines = slices.Insert(lines, min(1, len(lines)), extra...)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func manifestLine(name string, body []byte) string {
	return fmt.Sprintf("%s,%s,%d", name, fetchtest.SHA256(body), len(body))
}

func md5Hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// genFiles returns n files in a few folders, of various sizes.
func genFiles(n int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("d%d/f%03d.bin", i%4, i)
		if i%5 == 0 {
			name = fmt.Sprintf("top %d.txt", i) // a space, escaped in the URL
		}
		files[name] = fetchtest.Blob((i*7919)%50000, uint64(i))
	}
	return files
}

// checkFiles checks that dir holds every file of files.
func checkFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes %.20q; want %d bytes %.20q", name, len(got), got, len(want), want)
		}
	}
}

// writing returns how many files in the folder dir the process pid holds
// open with bytes in them, as /proc tells (0 where there is no /proc).
func writing(pid int, dir string) int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	n := 0
	for _, fd := range fds {
		p := fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())
		if target, err := os.Readlink(p); err != nil || filepath.Dir(target) != dir {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			n++
		}
	}
	return n
}

// checkPlain checks that output meant for a file or pipe has no control
// characters of a terminal.
func checkPlain(t *testing.T, out string) {
	t.Helper()
	if i := strings.IndexAny(out, "\x1b\r\b"); i >= 0 {
		t.Errorf("output has control character %q at %d:\n%s", out[i], i, out)
	}
}

func TestGetList(t *testing.T) {
	files := map[string][]byte{"a.txt": fetchtest.Blob(1000, 1), "dir/b.bin": fetchtest.Blob(70000, 2), "c.txt": fetchtest.Blob(10, 3)}
	r := newRepo(t, files)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	list := filepath.Join(dir, "list.txt")
	lines := strings.Join([]string{
		"# three files",
		r.URL + "/a.txt" + " sha256=" + fetchtest.SHA256(files["a.txt"]) + " size=1000",
		"",
		r.URL + "/dir/b.bin" + " out=sub/b.bin md5=" + md5Hex(files["dir/b.bin"]) + "   # a comment",
		r.URL + "/c.txt",
	}, "\n")
	if err := os.WriteFile(list, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}

	res := fetchProc(t, "", "-i", list, "-o", out)
	if res.code != 0 || !strings.Contains(res.stderr, "3 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d, stderr %q; want 0 and 3 done", res.code, res.stderr)
	}
	checkPlain(t, res.stderr)
	checkFiles(t, out, map[string][]byte{"a.txt": files["a.txt"], "sub/b.bin": files["dir/b.bin"], "c.txt": files["c.txt"]})

	// Again: the files with a digest are in place; c.txt has none to
	// tell, so it is fetched again.
	before := fileHits(r)
	res = fetchProc(t, "", "-o", out, "-i", list)
	if res.code != 0 || !strings.Contains(res.stderr, "1 done, 2 skipped, 0 failed") {
		t.Fatalf("second run: exit %d, stderr %q; want 0 and 1 done, 2 skipped", res.code, res.stderr)
	}
	if got := fileHits(r) - before; got != 1 {
		t.Errorf("second run made %d requests; want 1", got)
	}
}

func TestGetStdinAndOperands(t *testing.T) {
	files := map[string][]byte{"a.txt": fetchtest.Blob(100, 1), "b.txt": fetchtest.Blob(200, 2)}
	r := newRepo(t, files)
	out := t.TempDir()
	res := fetchRun(t, t.Context(), r.URL+"/b.txt"+"\n", "-o", out, "-i", "-", r.URL+"/a.txt")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, files)
}

func TestGetFailures(t *testing.T) {
	files := map[string][]byte{"good.txt": fetchtest.Blob(100, 4), "bad.txt": fetchtest.Blob(100, 5)}
	r := newRepo(t, files)
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	lines := strings.Join([]string{
		r.URL + "/good.txt",
		r.URL + "/missing.txt",
		r.URL + "/bad.txt" + " sha256=" + fetchtest.SHA256([]byte("other bytes")),
		r.URL + "/x.txt" + " colour=red",
		r.URL + "/dir/",
	}, "\n")
	if err := os.WriteFile(list, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	res := fetchProc(t, "", "-o", dir, "-i", list, "-retries", "0")
	if res.code != 1 {
		t.Errorf("exit %d; want 1", res.code)
	}
	for _, want := range []string{
		"FAIL " + r.URL + "/missing.txt" + ": status 404",
		"FAIL " + r.URL + "/bad.txt" + ": sha256 mismatch",
		"FAIL " + list + `:4: unknown key "colour"`,
		"FAIL " + list + ":5: " + r.URL + "/dir/" + ": no file name",
		"1 done, 0 skipped, 4 failed",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	checkPlain(t, res.stderr)
	checkFiles(t, dir, map[string][]byte{"good.txt": files["good.txt"]})
	for _, name := range []string{"missing.txt", "bad.txt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s exists; want no file for a failed download", name)
		}
	}
	if p := fetchtest.Partials(t, dir); len(p) > 0 {
		t.Errorf("temporary files left: %v", p)
	}
}

func TestSync(t *testing.T) {
	files := genFiles(40)
	r := newRepo(t, withManifest(files, "# a comment", ""))
	dir := filepath.Join(t.TempDir(), "mirror")

	res := fetchProc(t, "", "sync", "-j", "4", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "40 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d, stderr %q; want 0 and 40 done", res.code, res.stderr)
	}
	checkPlain(t, res.stderr)
	checkFiles(t, dir, files)
	checkFiles(t, dir, map[string][]byte{"PULP_MANIFEST": manifest(files, "# a comment", "")})
	if got := fileHits(r); got != 40 {
		t.Errorf("%d requests for files; want 40", got)
	}
	// Files get the mode of any new file (0666 less the umask), so
	// that DIR can be served.
	ref := filepath.Join(t.TempDir(), "ref")
	if err := os.WriteFile(ref, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	refInfo, _ := os.Stat(ref)
	for _, name := range []string{"d1/f001.bin", "PULP_MANIFEST"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != refInfo.Mode() {
			t.Errorf("%s has mode %v; want %v", name, fi.Mode(), refInfo.Mode())
		}
	}

	// A finished sync downloads nothing.
	res = fetchProc(t, "", "sync", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "0 done, 40 skipped, 0 failed") {
		t.Fatalf("second sync: exit %d, stderr %q; want 0 and 40 skipped", res.code, res.stderr)
	}
	if want := "in place: 40 trusted, 0 hashed"; fetchtest.Records(t, dir) && !strings.Contains(res.stderr, want) {
		t.Errorf("second sync: stderr %q; want %q: no file read again", res.stderr, want)
	}
	if got := fileHits(r); got != 40 {
		t.Errorf("second sync made %d requests for files; want none", got-40)
	}

	// A file changed in place (same size) is fetched again, and only it.
	name := "d1/f001.bin"
	bad := fetchtest.Blob(len(files[name]), 99)
	if err := os.WriteFile(filepath.Join(dir, name), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	res = fetchRun(t, t.Context(), "", "sync", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "1 done, 39 skipped, 0 failed") {
		t.Fatalf("third sync: exit %d, stderr %q; want 0 and 1 done", res.code, res.stderr)
	}
	checkFiles(t, dir, files)
	if !fetchtest.Records(t, dir) {
		return
	}
	if want := "in place: 39 trusted, 0 hashed"; !strings.Contains(res.stderr, want) {
		t.Errorf("third sync: stderr %q; want %q", res.stderr, want)
	}

	// One changed with its modification time set back is trusted, but
	// by -verify, which reads every file.
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, name), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	res = fetchRun(t, t.Context(), "", "sync", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "0 done, 40 skipped, 0 failed; in place: 40 trusted, 0 hashed") {
		t.Fatalf("sync after a change with the time set back: exit %d, stderr %q; want 0 and 40 trusted", res.code, res.stderr)
	}
	res = fetchRun(t, t.Context(), "", "sync", "-verify", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "1 done, 39 skipped, 0 failed; in place: 0 trusted, 39 hashed") {
		t.Fatalf("sync -verify: exit %d, stderr %q; want 0, 1 done and 39 hashed", res.code, res.stderr)
	}
	checkFiles(t, dir, files)
}

func TestSyncLocalAndDirectoryURL(t *testing.T) {
	// A local path, as the README's quick start gives it.
	src := filepath.Join("testdata", "repo")
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", filepath.Join(src, "PULP_MANIFEST"), dir)
	if res.code != 0 || !strings.Contains(res.stderr, "4 done") {
		t.Fatalf("exit %d; want 0 and 4 done", res.code)
	}
	want := map[string][]byte{}
	for _, name := range []string{"PULP_MANIFEST", "hello.txt", "data.bin", "docs/README.txt", "docs/zeros.txt"} {
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = b
	}
	checkFiles(t, dir, want)

	// A URL ending in "/" names the PULP_MANIFEST in it.
	files := genFiles(3)
	r := newRepo(t, withManifest(files))
	dir = t.TempDir()
	if res := fetchRun(t, t.Context(), "", "sync", r.URL+"/", dir); res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, dir, files)
}

func TestSyncMirror(t *testing.T) {
	files := genFiles(6)
	primary, mirror := newRepo(t, withManifest(files)), newRepo(t, files)
	primary.Set("/d1/f001.bin", fetchtest.File{Status: http.StatusServiceUnavailable})

	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", "-retries", "0", "-mirror", mirror.URL+"/", primary.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, dir, files)
	// Which other files come from the mirror is the Fetcher's choice
	// (a host that failed is tried last for a while).
	got := 0
	for _, a := range mirror.Asked() {
		if a.Path == "/d1/f001.bin" {
			got++
		}
	}
	if got != 1 {
		t.Errorf("mirror had %d requests for the file the primary failed; want 1", got)
	}
}

func TestSyncRefused(t *testing.T) {
	good := "ok.txt," + fetchtest.SHA256(nil) + ",0"
	sum := fetchtest.SHA256([]byte("x"))
	tests := []struct {
		name    string
		line    string
		symlink bool // DIR/link points outside DIR
		want    string
	}{
		{name: "dotdot", line: "../x," + sum + ",1", want: `line 2: path "../x" escapes the directory`},
		{name: "deep dotdot", line: "a/b/../../../x," + sum + ",1", want: `line 2: path "a/b/../../../x" escapes the directory`},
		{name: "absolute", line: "/etc/passwd," + sum + ",1", want: `line 2: path "/etc/passwd" escapes the directory`},
		{name: "symlink", line: "link/x," + sum + ",1", symlink: true, want: `line 2: path "link/x" escapes the directory`},
		{name: "two fields", line: "x," + sum, want: "line 2: 2 fields; want 3"},
		{name: "bad digest", line: "x,abc,1", want: `line 2: sha256 "abc": want 64 hex digits`},
		{name: "bad size", line: "x," + sum + ",ten", want: `line 2: size "ten"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, map[string][]byte{
				"PULP_MANIFEST": []byte(good + "\n" + tt.line + "\n" + good + "\n"),
				"ok.txt":        {},
				"x":             []byte("x"),
			})
			dir, outside := t.TempDir(), t.TempDir()
			if tt.symlink {
				if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
					t.Fatal(err)
				}
			}
			res := fetchProc(t, "", "sync", r.URL+"/PULP_MANIFEST", dir)
			if res.code != 1 {
				t.Errorf("exit %d; want 1", res.code)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr lacks %q", tt.want)
			}
			checkPlain(t, res.stderr)
			if got := fileHits(r); got != 0 {
				t.Errorf("%d requests for files; want none for a refused manifest", got)
			}
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				t.Errorf("%d files written outside DIR", len(entries))
			}
			if p := fetchtest.Partials(t, dir); len(p) > 0 {
				t.Errorf("temporary files left: %v", p)
			}
		})
	}
}

func TestSyncInterrupt(t *testing.T) {
	tests := []struct {
		sig    syscall.Signal
		name   string
		code   int
		noKeep bool // -no-continue
	}{
		{syscall.SIGINT, "SIGINT", 130, false},
		{syscall.SIGTERM, "SIGTERM", 143, false},
		{syscall.SIGINT, "SIGINT", 130, true},
	}
	for _, tt := range tests {
		name := tt.name
		if tt.noKeep {
			name += "/no-continue"
		}
		t.Run(name, func(t *testing.T) {
			files := genFiles(12)
			r := newRepo(t, withManifest(files))
			var stalled []string
			for name, body := range files {
				if strings.HasPrefix(name, "d2/") {
					r.Set("/"+name, fetchtest.File{Doc: fetchtest.Doc{Body: body}, Stall: true})
					stalled = append(stalled, name)
				}
			}
			dir := t.TempDir()
			args := []string{"sync", "-stall", "10m", r.URL + "/PULP_MANIFEST", dir}
			if tt.noKeep {
				args = append(args, "-no-continue")
			}
			cmd := exec.Command(fetchBin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			run := fetchtest.StartProcess(t, cmd)
			// Wait until the stalled files are being written: each of
			// them, not any others that are in flight. On Linux they are
			// unnamed files until the interrupt names the partial files.
			d2, err := filepath.EvalSymlinks(filepath.Join(dir, "d2"))
			for err != nil {
				time.Sleep(10 * time.Millisecond)
				d2, err = filepath.EvalSymlinks(filepath.Join(dir, "d2"))
			}
			written := func() bool {
				if n := writing(cmd.Process.Pid, d2); n > 0 {
					return tt.noKeep || n == len(stalled)
				}
				if tt.noKeep {
					return len(fetchtest.Partials(t, dir)) > 0
				}
				for _, name := range stalled {
					fi, err := os.Stat(filepath.Join(dir, fetch.PartialPath(filepath.FromSlash(name))))
					if err != nil || fi.Size() == 0 {
						return false
					}
				}
				return true
			}
			for !written() {
				select {
				case <-run.Exited:
					t.Fatalf("fetch ended before it was interrupted: %s", stderr.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			<-run.Exited
			t.Logf("stderr:\n%s", stderr.String())
			if got := cmd.ProcessState.ExitCode(); got != tt.code {
				t.Errorf("exit %d; want %d", got, tt.code)
			}
			if want := "fetch: interrupted by " + tt.name + ": "; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks the summary %q", want)
			}
			checkPlain(t, stderr.String())
			// The stalled files keep their bytes, unless -no-continue, and
			// so may others cut short.
			p := fetchtest.Partials(t, dir)
			switch {
			case tt.noKeep && len(p) > 0:
				t.Errorf("temporary files left: %v", p)
			case !tt.noKeep:
				for _, name := range stalled {
					if want := filepath.Join(dir, fetch.PartialPath(filepath.FromSlash(name))); !slices.Contains(p, want) {
						t.Errorf("partial files %v lack %s", p, want)
					}
				}
				if s := fmt.Sprintf("; %d partial files kept; run again to resume", len(p)); !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q", s)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "PULP_MANIFEST")); err == nil {
				t.Errorf("PULP_MANIFEST saved by an unfinished sync")
			}
			for _, name := range stalled {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s exists; want no file for a download cut short", name)
				}
			}
			// The next run completes, and leaves no partial file.
			for _, name := range stalled {
				r.Set("/"+name, fetchtest.File{Doc: fetchtest.Doc{Body: files[name]}})
			}
			res := fetchProc(t, "", append(args[:len(args):len(args)], "-q")...)
			if res.code != 0 {
				t.Errorf("second run: exit %d; want 0", res.code)
			}
			checkFiles(t, dir, files)
			if p := fetchtest.Partials(t, dir); len(p) > 0 {
				t.Errorf("second run left: %v", p)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	r := fetchtest.StartRepo(t, fetchtest.HTTP, map[string]fetchtest.File{"/slow": {Doc: fetchtest.Doc{Body: fetchtest.Blob(1000, 6)}, Stall: true}})
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", dir, "-timeout", "200ms", r.URL+"/slow")
	if res.code != 1 || !strings.Contains(res.stderr, "fetch: timed out after 200ms: 0 done") {
		t.Errorf("exit %d, stderr %q; want 1 and timed out", res.code, res.stderr)
	}
	if p := fetchtest.Partials(t, dir); len(p) > 0 {
		t.Errorf("temporary files left: %v", p)
	}
}

func TestSignalStatus(t *testing.T) {
	tests := []struct {
		cause error
		want  int
	}{
		{interrupted{syscall.SIGINT}, 130},
		{interrupted{syscall.SIGTERM}, 143},
		{context.Canceled, 130},
	}
	r := newRepo(t, map[string][]byte{"a": fetchtest.Blob(10, 1)})
	for _, tt := range tests {
		t.Run(tt.cause.Error(), func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(tt.cause)
			res := fetchRun(t, ctx, "", "-o", t.TempDir(), r.URL+"/a")
			if res.code != tt.want {
				t.Errorf("exit %d; want %d", res.code, tt.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no URL to fetch"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-j", "0", "http://h/a"}, "-j 0: want at least 1"},
		{[]string{"-retries", "-1", "http://h/a"}, "-retries -1"},
		{[]string{"-segments", "0", "http://h/a"}, "-segments 0: want at least 1"},
		{[]string{"-adapt-segments", "http://h/a"}, "-adapt-segments with -segments 1: want -segments 3 or more"},
		{[]string{"h/a"}, "h/a: not an absolute URL"},
		{[]string{"-mirror", "m", "http://h/a"}, "-mirror m: not an absolute URL"},
		{[]string{"-base", "http://h/", "http://h/a"}, "-base without -mirror"},
		{[]string{"-i", "/nonexistent/list"}, "no such file"},
		{[]string{"sync", "http://h/PULP_MANIFEST"}, "sync: want URL and DIR, got 1 operands"},
		{[]string{"sync", "-o", "x", "http://h/PULP_MANIFEST", "d"}, "flag provided but not defined: -o"},
		{[]string{"sync", "http:///PULP_MANIFEST", "d"}, "URL has no host"},
		{[]string{"sync", "-component", "main", "http://h/", "d"}, "give its -dist"},
		{[]string{"sync", "-dist", "../x", "http://h/", "d"}, "-dist ../x"},
		{[]string{"sync", "-dist", "s", "-keyring", "/nonexistent/key.gpg", "http://h/", "d"}, "-keyring: open /nonexistent/key.gpg"},
		{[]string{"sync", "-dist", "s", "-keyring", "cmd_test.go", "http://h/", "d"}, "-keyring cmd_test.go: keyring"},
		{[]string{"sync", "-format", "deb", "http://h/", "d"}, "-format deb: give the distributions"},
		{[]string{"sync", "-format", "rpm", "-dist", "s", "http://h/", "d"}, "-dist names a Debian archive's distribution"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := fetchRun(t, t.Context(), "", tt.args...)
			if res.code != 2 || !strings.Contains(res.stderr, tt.want) || !strings.Contains(res.stderr, "-h' for usage") {
				t.Errorf("exit %d, stderr %q; want 2 and %q", res.code, res.stderr, tt.want)
			}
		})
	}
	for _, args := range [][]string{{"-h"}, {"sync", "-h"}, {"-o", "x", "-help"}} {
		res := fetchRun(t, t.Context(), "", args...)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "Usage:") {
			t.Errorf("fetch %v: exit %d, stdout %.30q; want 0 and the usage", args, res.code, res.stdout)
		}
	}
}

func TestFlagsAnywhere(t *testing.T) {
	files := genFiles(2)
	r := newRepo(t, withManifest(files))
	dir := t.TempDir()
	res := fetchRun(t, t.Context(), "", "sync", r.URL+"/PULP_MANIFEST", "-j", "1", dir, "-q")
	if res.code != 0 || res.stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing (quiet)", res.code, res.stderr)
	}
	checkFiles(t, dir, files)
}

func TestGetFileURL(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "repo", "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	list := "file://" + filepath.ToSlash(src) + " out=copy/hello.txt sha256=" + fetchtest.SHA256(want) + "\n"
	res := fetchRun(t, t.Context(), list, "-o", out, "-i", "-")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"copy/hello.txt": want})
}

func TestGetMirror(t *testing.T) {
	files := map[string][]byte{"pub/a/one.iso": fetchtest.Blob(500, 7)}
	primary := newRepo(t, map[string][]byte{})
	mirror := newRepo(t, files)
	tests := []struct {
		name string
		args []string
	}{
		// The URL's directory is the base: the mirror has the file at
		// its top.
		{"directory", []string{"-mirror", mirror.URL + "/pub/a/", primary.URL + "/x/one.iso"}},
		// -base maps the rest of the path.
		{"base", []string{"-base", primary.URL + "/repo/", "-mirror", mirror.URL + "/pub/", primary.URL + "/repo/a/one.iso"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			res := fetchRun(t, t.Context(), "", append([]string{"-o", out}, tt.args...)...)
			if res.code != 0 {
				t.Fatalf("exit %d; want 0", res.code)
			}
			checkFiles(t, out, map[string][]byte{"one.iso": files["pub/a/one.iso"]})
		})
	}
}

// TestGetSegments: -segments splits a large file over range requests, and
// the file in place is the whole, verified one.
func TestGetSegments(t *testing.T) {
	body := fetchtest.Blob(3<<20, 8)
	var ranges atomic.Int64
	ranged := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Range") != "" {
			ranges.Add(1)
			once.Do(func() { close(ranged) })
			http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(body))
			return
		}
		// The whole file waits after its header for a range request
		// (5s at most), so that the download runs in segments.
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-ranged:
		case <-time.After(5 * time.Second):
		case <-req.Context().Done():
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	out := t.TempDir()
	list := srv.URL + "/big out=big sha256=" + fetchtest.SHA256(body) + "\n"
	res := fetchRun(t, t.Context(), list, "-q", "-segments", "3", "-o", out, "-i", "-")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"big": body})
	if got := ranges.Load(); got < 1 || got > 2 {
		t.Errorf("range requests: got %d; want 1 or 2", got)
	}
}
