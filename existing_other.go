//go:build !linux

package fetch

// Elsewhere than on Linux a file in place is looked at through its Root,
// as any other path: no descriptor of a folder is kept.

type rootDir struct{}

func (*rootDir) close()                         {}
func (*rootDir) openExisting(Request) *existing { return nil }
func closeFd(int)                               {}

// statInfo is what the open of a file in place knows of it: nothing here.
type statInfo struct{}
