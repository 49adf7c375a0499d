//go:build !linux

package fetchtest

import "testing"

// FIFO is a named pipe planted where a program expects a file of its own;
// the tests that plant one run on Linux only.
type FIFO struct{ Path string }

// PlantFIFO skips t: FIFOs are planted on Linux only.
func PlantFIFO(t testing.TB, path string) *FIFO {
	t.Skip("FIFOs are planted on Linux only")
	return nil
}

// Buffered returns 0.
func (f *FIFO) Buffered() int { return 0 }
