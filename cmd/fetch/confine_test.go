package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestSyncSymlinkSwap replaces DIR/sub by a symbolic link to another
// folder at a random moment of a sync: no file may ever land outside DIR,
// and every file is either in place or reported as failed.
func TestSyncSymlinkSwap(t *testing.T) {
	files := map[string][]byte{}
	for i := range 6 {
		name := fmt.Sprintf("sub/f%d.bin", i)
		if i%2 == 1 {
			name = fmt.Sprintf("sub/deeper/f%d.bin", i)
		}
		files[name] = fetchtest.Blob(20000, uint64(i))
	}
	r := newSlowRepo(t, 100000, withManifest(files)) // 20 KB: 200ms a file
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			cmd := exec.Command(fetchBin, "sync", "-j", "1", r.URL+"/PULP_MANIFEST", dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(rand.N(1200 * time.Millisecond))
			sub := filepath.Join(dir, "sub")
			if err := os.Rename(sub, sub+".moved"); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, sub); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			out := stderr.String()
			t.Logf("exit %d:\n%s", cmd.ProcessState.ExitCode(), out)

			filepath.WalkDir(outside, func(p string, d fs.DirEntry, err error) error {
				if p != outside {
					t.Errorf("written outside DIR: %s", p)
				}
				return nil
			})
			refused := strings.Contains(out, "manifest refused")
			failed := 0
			for name, body := range files {
				got, err := os.ReadFile(filepath.Join(dir, "sub.moved", strings.TrimPrefix(name, "sub/")))
				switch {
				case err == nil && bytes.Equal(got, body):
				case strings.Contains(out, "FAIL "+r.URL+"/"+name+": "):
					failed++
				case !refused:
					t.Errorf("%s neither in place nor reported failed", name)
				}
			}
			if !refused && !strings.Contains(out, fmt.Sprintf("%d failed", failed)) {
				t.Errorf("summary lacks %d failed", failed)
			}
			if failed > 0 && !strings.Contains(out, "path escapes from parent") {
				t.Errorf("stderr does not say why the files were refused")
			}
			if (failed > 0 || refused) != (cmd.ProcessState.ExitCode() == 1) {
				t.Errorf("exit %d with %d files failed", cmd.ProcessState.ExitCode(), failed)
			}
		})
	}
}
