//go:build !linux

package fetch_test

import "testing"

// smallTmpfs skips t: a small tmpfs for a full disk is mounted on Linux only.
func smallTmpfs(t *testing.T, dir string) string {
	t.Skip("a full disk is made with a small tmpfs, on Linux only")
	return ""
}
