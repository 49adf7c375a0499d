//go:build !linux

package fetchtest

import "testing"

// Records reports whether files in dir can carry fetch's record of what
// it verified: never elsewhere than on Linux.
func Records(t testing.TB, dir string) bool { return false }
