package fetch_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// smallTmpfs mounts a 64 KiB tmpfs in dir, for a disk that fills up
// whoever writes to it (root ignores permission bits, not a full disk).
func smallTmpfs(t *testing.T, dir string) string {
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs for a full disk: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	return mnt
}
