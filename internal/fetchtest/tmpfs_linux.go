package fetchtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallTmpfs mounts a 64 KiB tmpfs in dir, for a disk that fills up
// whoever writes to it (root ignores permission bits, not a full disk),
// unmounted when the test ends; it skips t where it cannot mount one.
func SmallTmpfs(t testing.TB, dir string) string {
	t.Helper()
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
