//go:build !unix

package dirwalk

import "os"

// open opens the folder dir below root.
func open(root *os.Root, dir string) (*os.File, error) {
	return root.Open(dir)
}

// openIn opens name, a folder in the folder parent, below root.
func openIn(root *os.Root, _ *os.File, name string) (*os.File, error) {
	return root.Open(name)
}
