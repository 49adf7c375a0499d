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

// TestInsideSequence checks paths one after another, as a list gives them:
// what the check remembers of one never lets the next out.
func TestInsideSequence(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "pool/main/in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(outside, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		filepath.Join(root, "pool/main/out"): outside,                     // a folder of the pool leads out
		filepath.Join(root, "x"):             outside,                     // x leads out ...
		filepath.Join(outside, "b/back"):     filepath.Join(root, "pool"), // ... and x/b/back back in
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	c := &Inside{Root: root}
	for _, tt := range []struct {
		rel string
		ok  bool
	}{
		{"pool/main/p/p1/p1.deb", true},
		{"pool/main/p/p2/p2.deb", true}, // a new folder beside the last's
		{"pool/main/q/q1/q1.deb", true},
		{"pool/main/in/i.deb", true},
		{"pool/main/out/o.deb", false},
		{"pool/main/out/new/o.deb", false},
		{"pool/main/r/r1/r1.deb", true},
		{"x/b/back/f", true}, // resolves inside ...
		{"x/b/f", false},     // ... its folders on the way do not
		{"x/c/f", false},
		{"top", true},
		{"x/b/back/g", true},
		{"x/f", false},
	} {
		if err := c.Check(tt.rel); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v; want ok %v", tt.rel, err, tt.ok)
		}
	}
}
