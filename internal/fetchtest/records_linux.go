package fetchtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Records reports whether files in dir can carry fetch's record of what
// it verified: whether dir's file system keeps user extended attributes.
func Records(t testing.TB, dir string) bool {
	t.Helper()
	probe, err := os.CreateTemp(dir, ".probe")
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	defer os.Remove(probe.Name())
	return syscall.Setxattr(filepath.Clean(probe.Name()), "user.probe", []byte("x"), 0) == nil
}
