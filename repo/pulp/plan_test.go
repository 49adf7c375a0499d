package pulp

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/repo"
)

// TestPlanCounted checks that the Plan of a manifest is the count that
// Open made as the manifest arrived, and that Plan.Keep knows the
// partial files of its packages.
func TestPlanCounted(t *testing.T) {
	files := map[string][]byte{"/a/one": fetchtest.Blob(10, 1), "/two": fetchtest.Blob(2000, 2), "/b/c/three": fetchtest.Blob(300, 3)}
	var manifest strings.Builder
	manifest.WriteString("# a comment\n\n")
	for p, b := range files {
		fmt.Fprintf(&manifest, "%s,%s,%d\n", p[1:], fetchtest.SHA256(b), len(b))
	}
	files["/"+Manifest] = []byte(manifest.String())
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files))
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	base, _ := url.Parse(s.URL + "/")
	sync := &repo.Sync{Fetcher: fetchtest.Fetcher(t, fetch.Options{}), Format: Format{}, URL: base, Root: root}
	defer sync.Close()
	ctx := fetchtest.Context(t)
	if err := sync.Open(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := sync.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Files != 3 || plan.Bytes != 2310 {
		t.Errorf("Plan: %d files, %d bytes; want 3, 2310", plan.Files, plan.Bytes)
	}
	for name, want := range map[string]bool{
		"a/.one.part":                     true,
		".two.part":                       true,
		"b/c/.three.part":                 true,
		"b/c/.four.part":                  false,
		".fetch-staging/run-1/.lock.part": false,
	} {
		if got := plan.Keep(name); got != want {
			t.Errorf("Keep(%q) = %v; want %v", name, got, want)
		}
	}
}
