// Command gen writes the benchmark's data: n files of size bytes of random
// data under dir/prefix, named 00000, 00001, ..., and prints a manifest line
// "prefix/name sha256 size" for each.
//
//	go run ./bench/gen -dir DATA -prefix small -n 10000 -size 4096
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fetchkit/fetch/bench/internal/payload"
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
		sum, err := payload.Write(filepath.Join(*dir, name), *size, uint64(i))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(out, "%s %x %d\n", name, sum, *size)
	}
}
