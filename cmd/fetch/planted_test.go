package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestSyncOwnNames: a manifest that names a file as fetch names its own
// (the partial file of another of its files, a guard, a temporary file,
// the staging folder) is refused, line by line, before any file is
// downloaded: such a file would be swept as a leftover after the run, and
// the mirror would claim to be complete without it.
func TestSyncOwnNames(t *testing.T) {
	x := []byte("x")
	for _, name := range []string{".x.part", "d/.x.part.guard", ".x.k3j9q.part", ".fetch-staging/y"} {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, withManifest(map[string][]byte{"x": x, name: x}))
			dir := t.TempDir()
			res := fetchProc(t, "", "sync", r.URL+"/PULP_MANIFEST", dir)
			if res.code != 1 {
				t.Errorf("exit %d; want 1", res.code)
			}
			if want := `path "` + name + `" refused: a name fetch gives its own files`; !strings.Contains(res.stderr, want) {
				t.Errorf("stderr lacks %q", want)
			}
			if got := fileHits(r); got != 0 {
				t.Errorf("%d requests for files; want none for a refused manifest", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "PULP_MANIFEST")); err == nil {
				t.Errorf("the manifest was kept; want it kept only once every file it names is in place")
			}
			if p := fetchtest.Partials(t, dir); len(p) > 0 {
				t.Errorf("temporary files left: %v", p)
			}
		})
	}
}

// TestPlantedFIFOInterrupt plants a FIFO at the partial path of a file
// and runs fetch as a process with the file's sha256. A small file is
// downloaded as a regular file, and the FIFO is not published in its
// place; a large one, whose server stalls half-way, ends at the first
// SIGINT, with exit status 130: a write to a pipe that nobody reads
// would block it.
func TestPlantedFIFOInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		interrupt bool
	}{
		{"small", 1 << 10, false},
		{"large, SIGINT", 4 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fetchtest.Blob(tc.size, 1)
			doc := fetchtest.Doc{Body: data}
			s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if tc.interrupt {
					s.Stall(w, r, doc, len(data)/2)
					return
				}
				s.Serve(w, r, doc, -1)
			})
			dir := t.TempDir()
			fifo := fetchtest.PlantFIFO(t, filepath.Join(dir, fetch.PartialPath("f")))
			list := filepath.Join(t.TempDir(), "list")
			if err := os.WriteFile(list, []byte(s.URL+"/f sha256="+fetchtest.SHA256(data)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(fetchBin, "-i", list, "-o", dir, "-stall", "10m")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			run := fetchtest.StartProcess(t, cmd)
			if tc.interrupt {
				// Interrupted once the download writes (an unnamed
				// file, or the FIFO), or the FIFO holds bytes.
				for writing(cmd.Process.Pid, dir) == 0 && fifo.Buffered() == 0 {
					select {
					case <-run.Exited:
						t.Fatalf("fetch ended before it was interrupted: %s", stderr.String())
					case <-time.After(10 * time.Millisecond):
					}
				}
				if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-run.Exited:
			case <-time.After(time.Minute):
				// Not a measure of speed: fetch is blocked on the pipe.
				run.Kill()
				t.Fatalf("fetch has not ended a minute after SIGINT; %d bytes in the FIFO; stderr:\n%s", fifo.Buffered(), stderr.String())
			}
			t.Logf("stderr:\n%s", stderr.String())
			code := cmd.ProcessState.ExitCode()
			fi, lerr := os.Lstat(filepath.Join(dir, "f"))
			switch {
			case tc.interrupt && code != 130:
				t.Errorf("exit %d; want 130", code)
			case tc.interrupt && lerr == nil:
				t.Errorf("an interrupted download left a %v at the file's path", fi.Mode().Type())
			case !tc.interrupt && code != 0:
				t.Errorf("exit %d; want 0", code)
			case !tc.interrupt && (lerr != nil || !fi.Mode().IsRegular()):
				t.Errorf("the file: %v, %v; want a regular file", fi, lerr)
			}
			if n := fifo.Buffered(); n > 0 {
				t.Errorf("%d bytes were written to the FIFO; want none", n)
			}
		})
	}
}
