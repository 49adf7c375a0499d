package relpath

import "testing"

func TestCheck(t *testing.T) {
	for p, ok := range map[string]bool{
		"a": true, "a/b.rpm": true, "..a/b..": true, ".hidden": true,
		"": false, "/a": false, `a\b`: false, "a\x00": false, "..": false, "a/../b": false, "../a": false,
		".": false, "./a": false, "a/./b": false, "a//b": false, "a/": false,
	} {
		if err := Check(p); (err == nil) != ok {
			t.Errorf("Check(%q): got %v; want ok %v", p, err, ok)
		}
	}
}
