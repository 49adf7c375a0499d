package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/relpath"
)

func TestParseManifestLine(t *testing.T) {
	tests := []struct {
		line string
		want manifestEntry
		ok   bool
		err  string
	}{
		{line: ""},
		{line: "  "},
		{line: "# comment"},
		{line: "a.iso," + sha256A + ",12", ok: true, want: manifestEntry{Path: "a.iso", SHA256: sha256A, Size: 12}},
		{line: " d/e f.iso , " + strings.ToUpper(sha256A) + " , 0 ", ok: true, want: manifestEntry{Path: "d/e f.iso", SHA256: sha256A, Size: 0}},
		{line: "a.iso," + sha256A, err: "2 fields; want 3"},
		{line: "a,b.iso," + sha256A + ",12", err: "4 fields; want 3"},
		{line: "a.iso,xyz,12", err: `sha256 "xyz"`},
		{line: "a.iso," + sha256A + ",-1", err: `size "-1"`},
		{line: "a.iso," + sha256A + ",", err: `size ""`},
		{line: "../x," + sha256A + ",1", err: "escapes"},
		{line: "a/../../x," + sha256A + ",1", err: "escapes"},
		{line: "/etc/passwd," + sha256A + ",1", err: "escapes"},
		{line: `..\x,` + sha256A + ",1", err: "escapes"},
		{line: "," + sha256A + ",1", err: "escapes"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok, err := parseManifestLine(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseManifestLine(%q) error = %v; want one containing %q", tt.line, err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.ok || got != tt.want {
				t.Fatalf("parseManifestLine(%q) = %+v, %v, %v; want %+v, %v, nil", tt.line, got, ok, err, tt.want, tt.ok)
			}
		})
	}
}

func TestCheckInside(t *testing.T) {
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
			err := checkInside(root, tt.rel)
			if (err == nil) != tt.ok {
				t.Fatalf("checkInside(root, %q) = %v; want ok %v", tt.rel, err, tt.ok)
			}
		})
	}
}

// FuzzParseManifest checks that any line either fails or gives an entry
// whose path stays in its folder, and that an entry written back reads the
// same.
func FuzzParseManifest(f *testing.F) {
	f.Add("a/b.iso," + sha256A + ",12")
	f.Add("../b.iso," + sha256A + ",12")
	f.Add("# comment")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := parseManifestLine(line)
		if err != nil || !ok {
			return
		}
		if err := relpath.Check(e.Path); err != nil {
			t.Fatalf("path %q: %v", e.Path, err)
		}
		if !isHex(e.SHA256, 64) || e.SHA256 != strings.ToLower(e.SHA256) || e.Size < 0 {
			t.Fatalf("entry %+v", e)
		}
		again, ok, err := parseManifestLine(fmt.Sprintf("%s,%s,%d", e.Path, e.SHA256, e.Size))
		if err != nil || !ok || again != e {
			t.Fatalf("written back: %+v, %v, %v; want %+v", again, ok, err, e)
		}
	})
}
