// Command debgen writes the Debian benchmark's archive: n packages of size
// bytes of random data in dir/pool/main/ (not real .debs: mirrors check
// sizes and digests, not contents), their Packages, Packages.gz and
// Packages.xz in dists/DIST/main/binary-ARCH/ with by-hash copies, and a
// Release that lists them with SHA256 and says Acquire-By-Hash. Signing
// the Release is left to gpg.
//
//	go run ./bench/debgen -dir ARCHIVE -dist bench -arch amd64 -n 10000 -size 4096
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/fetchkit/fetch/bench/internal/payload"
)

func main() {
	dir := flag.String("dir", ".", "the archive's root")
	dist := flag.String("dist", "bench", "the distribution")
	arch := flag.String("arch", "amd64", "the architecture")
	n := flag.Int("n", 10000, "number of packages")
	size := flag.Int64("size", 4096, "size of each package in bytes")
	flag.Parse()
	log.SetFlags(0)

	var packages bytes.Buffer
	for i := range *n {
		name := fmt.Sprintf("p%06d", i)
		rel := fmt.Sprintf("pool/main/%s/%s/%s_1.0_%s.deb", name[:4], name, name, *arch)
		file := filepath.Join(*dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			log.Fatal(err)
		}
		sum, err := payload.Write(file, *size, uint64(i))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(&packages, "Package: %s\nVersion: 1.0\nArchitecture: %s\nMaintainer: Nobody <nobody@example.com>\n"+
			"Installed-Size: 4\nFilename: %s\nSize: %d\nSHA256: %x\nSection: misc\nPriority: optional\n"+
			"Description: benchmark package %d\n a package of random bytes\n\n", name, *arch, rel, *size, sum, i)
	}
	var gz, xzb bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(packages.Bytes())
	zw.Close()
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		log.Fatal(err)
	}
	xw.Write(packages.Bytes())
	xw.Close()

	distDir := filepath.Join(*dir, "dists", *dist)
	indexDir := "main/binary-" + *arch
	var sums bytes.Buffer
	for _, f := range []struct {
		name string
		data []byte
	}{{"Packages", packages.Bytes()}, {"Packages.gz", gz.Bytes()}, {"Packages.xz", xzb.Bytes()}} {
		sum := sha256.Sum256(f.data)
		for _, p := range []string{f.name, fmt.Sprintf("by-hash/SHA256/%x", sum)} {
			if err := writeFile(filepath.Join(distDir, indexDir, p), f.data); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Fprintf(&sums, " %x %d %s/%s\n", sum, len(f.data), indexDir, f.name)
	}
	release := fmt.Sprintf("Origin: bench\nLabel: bench\nSuite: %s\nCodename: %s\nDate: %s\nAcquire-By-Hash: yes\n"+
		"Architectures: %s\nComponents: main\nSHA256:\n%s", *dist, *dist, time.Now().UTC().Format(time.RFC1123Z), *arch, sums.String())
	if err := writeFile(filepath.Join(distDir, "Release"), []byte(release)); err != nil {
		log.Fatal(err)
	}
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
