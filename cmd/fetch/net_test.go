package main

import (
	"strings"
	"testing"
)

// TestMalformedURLPassword checks that a URL that does not parse is named
// without its password, as an operand, a list line and a mirror.
func TestMalformedURLPassword(t *testing.T) {
	const bad = "http://alice:pa%zzss@127.0.0.1:1/x"
	for _, args := range [][]string{
		{"-o", t.TempDir(), bad},
		{"-o", t.TempDir(), "-mirror", bad, "http://127.0.0.1:1/x"},
		{"-o", t.TempDir(), "-i", "-"},
		{"sync", bad, t.TempDir()},
	} {
		res := fetchRun(t, t.Context(), bad+" size=1\n", args...)
		if res.code == 0 {
			t.Errorf("fetch %s: exit 0; want a failure", strings.Join(args, " "))
		}
		if out := res.stdout + res.stderr; strings.Contains(out, "pa%zzss") || !strings.Contains(out, "alice:xxxxx@") {
			t.Errorf("fetch %s: output %q; want the URL without its password", strings.Join(args, " "), out)
		}
	}
}
