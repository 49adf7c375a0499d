//go:build !linux

package dirwalk

import "os"

// openIn opens name, a folder in the folder parent, below root.
func openIn(root *os.Root, _ *os.File, name string) (*os.File, error) {
	return root.Open(name)
}
