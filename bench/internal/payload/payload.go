// Package payload writes the benchmarks' files: pseudo-random bytes from a
// ChaCha8 stream (several GB/s), the same for the same seed.
package payload

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
)

// Write fills path with size bytes from a ChaCha8 stream seeded by seed
// and returns their sha256.
func Write(path string, size int64, seed uint64) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return h.Sum(nil), f.Close()
}
