//go:build !linux

package fetchtest

import "testing"

// SmallTmpfs skips t: a small tmpfs for a full disk is mounted on Linux only.
func SmallTmpfs(t testing.TB, dir string) string {
	t.Helper()
	t.Skip("a full disk is made with a small tmpfs, on Linux only")
	return ""
}
