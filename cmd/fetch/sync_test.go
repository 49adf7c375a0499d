package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestSyncDelete checks that a file no longer named upstream stays
// without -delete, and goes with it, once the new manifest is in place.
func TestSyncDelete(t *testing.T) {
	files := genFiles(3)
	r := newRepo(t, withManifest(files))
	dir := t.TempDir()
	if res := fetchRun(t, t.Context(), "", "sync", r.URL+"/", dir); res.code != 0 {
		t.Fatalf("first sync: exit %d; want 0", res.code)
	}
	gone := "d1/f001.bin"
	delete(files, gone)
	r.Set("/PULP_MANIFEST", fetchtest.File{Doc: fetchtest.Doc{Body: manifest(files)}})
	r.Remove("/" + gone)
	// A file that no manifest named: DIR is the Pulp repository's tree, so
	// -delete removes it too.
	outside := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(outside, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	if res := fetchRun(t, t.Context(), "", "sync", r.URL+"/", dir); res.code != 0 || strings.Contains(res.stderr, "deleted") {
		t.Fatalf("second sync: exit %d; want 0 and nothing deleted", res.code)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); err != nil {
		t.Errorf("without -delete: %v", err)
	}
	res := fetchRun(t, t.Context(), "", "sync", "-delete", r.URL+"/", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "deleted 2 files") {
		t.Fatalf("sync -delete: exit %d; want 0 and 2 files deleted", res.code)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
		t.Errorf("-delete left %s", gone)
	}
	checkFiles(t, dir, withManifest(files))
}
