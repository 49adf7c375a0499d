package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// killMidway starts fetch with args, waits until the partial file of path
// holds at least half of size bytes, and kills the process (SIGKILL).
func killMidway(t *testing.T, path string, size int, args ...string) {
	t.Helper()
	cmd := exec.Command(fetchBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	run := fetchtest.StartProcess(t, cmd)
	partial := fetch.PartialPath(path)
	deadline := time.After(time.Minute)
	for {
		if fi, err := os.Stat(partial); err == nil && fi.Size() >= int64(size/2) {
			break
		}
		select {
		case <-run.Exited:
			t.Fatalf("fetch ended before it was killed: %s", stderr.String())
		case <-deadline:
			run.Kill()
			t.Fatalf("the partial file held less than %d bytes after a minute: %s", size/2, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	run.Kill()
	if _, err := os.Stat(partial + ".guard"); err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
}

// onlyFiles fails t unless dir holds exactly the files named, in order.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q; want %q", dir, got, names)
	}
}

// checkResumed checks that the requests after the first ones asked only
// for the bytes missing, and that the server sent at most 10% more than
// size bytes in all.
func checkResumed(t *testing.T, r *fetchtest.Repo, first int, size int) {
	t.Helper()
	reqs := ranges(r)
	for _, rng := range reqs[first:] {
		if n, ok := strings.CutPrefix(rng, "bytes="); !ok || strings.HasPrefix(n, "0-") {
			t.Errorf("second run asked for %q; want a range after the bytes kept (requests: %q)", rng, reqs)
		}
	}
	if sent := r.Served.Load(); sent > int64(size)*11/10 {
		t.Errorf("server sent %d bytes for %d bytes of files; want at most 10%% more", sent, size)
	}
	t.Logf("server sent %d bytes for %d bytes of files, over %d requests: %q", r.Served.Load(), size, len(reqs), reqs)
}

func TestGetResumeAfterKill(t *testing.T) {
	for _, changed := range []bool{false, true} {
		t.Run("changed="+strconv.FormatBool(changed), func(t *testing.T) {
			body := fetchtest.Blob(4<<20, 8)
			r := newSlowRepo(t, 2<<20, map[string][]byte{"big.bin": body}) // 2 s
			dir := t.TempDir()
			path := filepath.Join(dir, "big.bin")
			killMidway(t, path, len(body), "-o", dir, r.URL+"/big.bin")

			r.Rate.Store(0)
			want := body
			if changed {
				want = fetchtest.Blob(len(body), 12)
				r.Set("/big.bin", fetchtest.Ranged(want))
			}
			// Leftovers: of the file (a run with -no-continue, killed),
			// removed; of another file, left alone in -o DIR.
			for _, name := range []string{".big.bin.3k9az.part", ".other.bin.part"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("left"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := r.Served.Load()
			res := fetchProc(t, "", "-o", dir, r.URL+"/big.bin")
			if res.code != 0 {
				t.Fatalf("second run: exit %d; want 0", res.code)
			}
			checkFiles(t, dir, map[string][]byte{"big.bin": want})
			if changed {
				// The range was asked with If-Range, and the server sent
				// the new file whole.
				if sent := r.Served.Load() - before; sent != int64(len(want)) {
					t.Errorf("second run got %d bytes; want the whole changed file, %d", sent, len(want))
				}
				if strings.Contains(res.stderr, "received") {
					t.Errorf("summary %q: want no bytes received apart, the file came whole", res.stderr)
				}
			} else {
				checkResumed(t, r, 1, len(body))
				// The summary's rate is that of the bytes received.
				sent := r.Served.Load() - before
				if want := ", " + formatBytes(sent) + " received ("; !strings.Contains(res.stderr, want) {
					t.Errorf("summary %q; want %q", res.stderr, want)
				}
			}
			onlyFiles(t, dir, ".other.bin.part", "big.bin")
		})
	}
}

func TestSyncResumeAfterKill(t *testing.T) {
	for _, changed := range []bool{false, true} {
		t.Run("changed="+strconv.FormatBool(changed), func(t *testing.T) {
			files := map[string][]byte{"big/one.bin": fetchtest.Blob(4<<20, 7), "small.txt": fetchtest.Blob(1000, 13)}
			size := 0
			for _, body := range files {
				size += len(body)
			}
			r := newSlowRepo(t, 2<<20, withManifest(files))
			dir := t.TempDir()
			// A leftover of a run killed long ago, of a file the manifest does
			// not name: removed.
			fetchtest.WriteTree(t, dir, map[string][]byte{".gone.bin.1x2y.part": []byte("old")})
			killMidway(t, filepath.Join(dir, "big", "one.bin"), 4<<20, "sync", r.URL+"/PULP_MANIFEST", dir)
			first := len(ranges(r))

			r.Rate.Store(0)
			if changed {
				files["big/one.bin"] = fetchtest.Blob(4<<20, 14)
				r.Set("/big/one.bin", fetchtest.Ranged(files["big/one.bin"]))
				r.Set("/PULP_MANIFEST", fetchtest.Ranged(manifest(files)))
			}
			res := fetchProc(t, "", "sync", r.URL+"/PULP_MANIFEST", dir)
			if res.code != 0 {
				t.Fatalf("second run: exit %d; want 0", res.code)
			}
			checkFiles(t, dir, files)
			if !changed {
				checkResumed(t, r, first, size)
			} else if reqs := ranges(r); reqs[len(reqs)-1] != "" {
				t.Errorf("the changed file was asked for with %q; want the whole file", reqs[len(reqs)-1])
			}
			if p := fetchtest.Partials(t, dir); len(p) > 0 {
				t.Errorf("left behind: %v", p)
			}
		})
	}
}

// TestSyncLiveRunUntouched runs a second sync into the DIR of a sync that
// is still downloading: the sweeps of the second leave the first one's
// partial file alone, and both complete.
func TestSyncLiveRunUntouched(t *testing.T) {
	big := fetchtest.Blob(2<<20, 8)
	small := fetchtest.Blob(1000, 13)
	r := newSlowRepo(t, 1<<20, map[string][]byte{
		"a/PULP_MANIFEST": manifest(map[string][]byte{"big.bin": big}),
		"a/big.bin":       big,
		"b/PULP_MANIFEST": manifest(map[string][]byte{"small.txt": small}),
		"b/small.txt":     small,
	})
	dir := t.TempDir()
	first := exec.Command(fetchBin, "sync", r.URL+"/a/PULP_MANIFEST", dir)
	var stderr bytes.Buffer
	first.Stderr = &stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	partial := fetch.PartialPath(filepath.Join(dir, "big.bin"))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(partial); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("no partial file after a minute: %s", stderr.String())
		}
	}
	for _, args := range [][]string{{"-no-continue"}, nil} {
		res := fetchProc(t, "", append([]string{"sync", r.URL + "/b/PULP_MANIFEST", dir}, args...)...)
		if res.code != 0 {
			t.Errorf("second sync: exit %d; want 0", res.code)
		}
	}
	err := first.Wait()
	t.Logf("first sync: %v\n%s", err, stderr.String())
	if err != nil {
		t.Errorf("first sync: %v; want success", err)
	}
	checkFiles(t, dir, map[string][]byte{"big.bin": big, "small.txt": small})
	if p := fetchtest.Partials(t, dir); len(p) > 0 {
		t.Errorf("left behind: %v", p)
	}
}

// TestResumeAfterKillNginx is TestGetResumeAfterKill against nginx with
// limit_rate: its access log shows that the second run asked only for the
// rest (206), and what it sent in all.
func TestResumeAfterKillNginx(t *testing.T) {
	root := t.TempDir()
	body := fetchtest.Blob(8<<20, 15)
	fetchtest.WriteTree(t, root, map[string][]byte{"big.bin": body})
	base, accessLog := startNginx(t, root, "", "limit_rate 4m;") // 2 s
	for _, changed := range []bool{false, true} {
		t.Run("changed="+strconv.FormatBool(changed), func(t *testing.T) {
			if err := os.Truncate(accessLog, 0); err != nil {
				t.Fatal(err)
			}
			want := body
			fetchtest.WriteTree(t, root, map[string][]byte{"big.bin": want})
			dir := t.TempDir()
			path := filepath.Join(dir, "big.bin")
			killMidway(t, path, len(body), "-o", dir, base+"/big.bin")
			if changed {
				want = fetchtest.Blob(len(body), 12)
				fetchtest.WriteTree(t, root, map[string][]byte{"big.bin": want})
				// nginx's ETag is the modification time in seconds and
				// the size: make the time differ.
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(filepath.Join(root, "big.bin"), later, later); err != nil {
					t.Fatal(err)
				}
			}
			res := fetchProc(t, "", "-o", dir, base+"/big.bin")
			if res.code != 0 {
				t.Fatalf("second run: exit %d; want 0", res.code)
			}
			checkFiles(t, dir, map[string][]byte{"big.bin": want})
			onlyFiles(t, dir, "big.bin")

			// The combined log format: "GET /big.bin HTTP/1.1" STATUS BYTES.
			log, err := os.ReadFile(accessLog)
			if err != nil {
				t.Fatal(err)
			}
			var statuses []string
			var sent int64
			for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
				_, after, _ := strings.Cut(line, `HTTP/1.1" `)
				f := strings.Fields(after)
				if len(f) < 2 {
					t.Fatalf("access log line %q", line)
				}
				n, _ := strconv.ParseInt(f[1], 10, 64)
				statuses = append(statuses, f[0])
				sent += n
			}
			t.Logf("nginx: statuses %v, %d bytes sent for %d", statuses, sent, len(body))
			switch {
			case len(statuses) != 2:
				t.Errorf("%d requests; want 2", len(statuses))
			case !changed && statuses[1] != "206":
				t.Errorf("second run got %s; want 206, the rest only", statuses[1])
			case !changed && sent > int64(len(body))*11/10:
				t.Errorf("nginx sent %d bytes for a %d-byte file; want at most 10%% more", sent, len(body))
			case changed && statuses[1] != "200":
				t.Errorf("second run, file changed, got %s; want 200, the new file whole", statuses[1])
			}
		})
	}
}
