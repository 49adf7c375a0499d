package relpath

import (
	"errors"
	"testing"

	"github.com/fetchkit/fetch/internal/partname"
)

func TestCheck(t *testing.T) {
	for p, ok := range map[string]bool{
		"a": true, "a/b.rpm": true, "..a/b..": true, ".hidden": true,
		"": false, "/a": false, `a\b`: false, "a\x00": false, "..": false, "a/../b": false, "../a": false,
		".": false, "./a": false, "a/./b": false, "a//b": false, "a/": false,
		// Names of the tool's own files.
		".x.part": false, "a/.x.part": false, ".x.part.guard": false, "a/.x.1k3j9.part": false,
		".fetch-staging/x": false, ".fetch-x": false,
		"x.part": true, ".x.part/y": true, ".x.guard": true, "a/.fetch-x": true, ".fetch/x": true,
	} {
		if err := Check(p); (err == nil) != ok {
			t.Errorf("Check(%q): got %v; want ok %v", p, err, ok)
		}
	}
	for _, p := range []string{".x.part", "a/.x.part.guard", ".fetch-staging/x"} {
		if err := Check(p); !errors.Is(err, partname.ErrReserved) {
			t.Errorf("Check(%q): got %v; want partname.ErrReserved", p, err)
		}
	}
}
