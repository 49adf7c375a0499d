package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
