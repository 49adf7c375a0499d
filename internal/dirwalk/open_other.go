//go:build !unix

package dirwalk

import "os"

// open opens the folder dir below root.
func open(root *os.Root, dir string) (*os.File, error) {
	return root.Open(dir)
}
