package relpath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInside(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	for _, d := range []string{"d/e", "in"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"out": outside, "in-link": filepath.Join(root, "in"), "d/up": "../..", "dangling": filepath.Join(root, "nowhere")}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		rel string
		ok  bool
	}{
		{"a", true},
		{"d/e/f", true},
		{"new/deep/f", true},
		{"in-link/f", true},
		{"out", true}, // the link itself is replaced, not followed
		{"out/f", false},
		{"out/new/f", false},
		{"d/up/f", false},
		{"dangling/f", false},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			c := &Inside{Root: root}
			err := c.Check(tt.rel)
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%q) = %v; want ok %v", tt.rel, err, tt.ok)
			}
		})
	}
	// The cache: a second file of a folder found outside is refused too.
	c := &Inside{Root: root}
	if c.Check("a") != nil || c.Check("out/f") == nil || c.Check("out/g") == nil {
		t.Error("a file beside one refused was let through")
	}
}
