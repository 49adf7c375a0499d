// Package lines reads the line-based lists of the module: mirrorlist files
// and the command's URL lists and manifests.
package lines

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Scan calls fn with each line of r and its number (from 1), without its
// line ending ("\n" or "\r\n") and, on the first line, without a byte
// order mark, until r ends or fn returns false. A line longer than max
// bytes ends the scan with an error that names it; so does an error of r.
func Scan(r io.Reader, max int, fn func(n int, line string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, min(4096, max)), max)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if !fn(n, line) {
			return nil
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d: longer than %d bytes", n+1, max)
	}
	if sc.Err() != nil {
		return fmt.Errorf("after line %d: %w", n, sc.Err())
	}
	return nil
}
