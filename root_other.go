//go:build !linux

package fetch

import (
	"io/fs"
	"os"
)

func (p place) openBeneath(string, int, fs.FileMode) (*os.File, error, bool) { return nil, nil, false }

func (p place) lstatBeneath(string) (fs.FileInfo, error, bool) { return nil, nil, false }
