//go:build !linux

package fetch

import (
	"errors"
	"os"
)

// Elsewhere than on Linux, the bytes of a download go to a named
// temporary file beside Path, renamed over it once they are verified.

func canUnnamed() bool { return false }

type folder struct{}

func openFolder(place, string) (*folder, error) { return nil, errors.ErrUnsupported }
func makeFolder(place, string) (*folder, error) { return nil, errors.ErrUnsupported }
func (*folder) close() error                    { return nil }
func (*folder) create(string) (*os.File, error) { return nil, errors.ErrUnsupported }
func (*folder) link(*os.File, string) error     { return errors.ErrUnsupported }
func (*folder) rename(string, string) error     { return errors.ErrUnsupported }
func (*folder) remove(string) error             { return errors.ErrUnsupported }
