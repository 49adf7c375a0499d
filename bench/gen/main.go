// Command gen writes the benchmark's data: n files of size bytes of random
// data under dir/prefix, named 00000, 00001, ..., and prints a manifest line
// "prefix/name sha256 size" for each.
//
//	go run ./bench/gen -dir DATA -prefix small -n 10000 -size 4096
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", ".", "directory to write into")
	prefix := flag.String("prefix", "f", "subdirectory of dir for the files")
	n := flag.Int("n", 1, "number of files")
	size := flag.Int64("size", 4096, "size of each file in bytes")
	flag.Parse()
	log.SetFlags(0)

	if err := os.MkdirAll(filepath.Join(*dir, *prefix), 0o755); err != nil {
		log.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i := range *n {
		name := filepath.Join(*prefix, fmt.Sprintf("%05d", i))
		sum, err := write(filepath.Join(*dir, name), *size, uint64(i))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(out, "%s %x %d\n", name, sum, *size)
	}
}

// write fills path with size bytes from a ChaCha8 stream seeded by seed
// (fast: several GB/s) and returns their sha256.
func write(path string, size int64, seed uint64) ([]byte, error) {
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
