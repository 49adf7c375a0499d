// Command rpmgen writes a synthetic rpm-md repository for the benchmarks:
// N packages of SIZE pseudo-random bytes each (not real rpms: the mirrors
// benchmarked check sizes and checksums, not rpm headers) below
// DIR/Packages/, and the repodata/ that lists them, as createrepo_c
// writes it: primary, filelists and other, gzipped, named by their
// sha256, and repomd.xml.
//
//	rpmgen -dir DIR -n 10000 -size 4096
package main

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "the repository's folder")
	n := flag.Int("n", 10000, "packages")
	size := flag.Int("size", 4096, "bytes of each package")
	flag.Parse()
	if *dir == "" {
		log.Fatal("rpmgen: -dir DIR is required")
	}
	pkgs := filepath.Join(*dir, "Packages")
	repodata := filepath.Join(*dir, "repodata")
	for _, d := range []string{pkgs, repodata} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	primary, filelists, other := newXML(), newXML(), newXML()
	fmt.Fprintf(primary.w, `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">
`, *n)
	fmt.Fprintf(filelists.w, `<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="%d">
`, *n)
	fmt.Fprintf(other.w, `<?xml version="1.0" encoding="UTF-8"?>
<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="%d">
`, *n)
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, *size)
	for i := range *n {
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("pkg%06d", i)
		href := fmt.Sprintf("Packages/%s-1.0-1.noarch.rpm", name)
		if err := os.WriteFile(filepath.Join(*dir, href), body, 0o644); err != nil {
			log.Fatal(err)
		}
		h := sha256.Sum256(body)
		sum := hex.EncodeToString(h[:])
		fmt.Fprintf(primary.w, `<package type="rpm">
  <name>%s</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <checksum type="sha256" pkgid="YES">%s</checksum>
  <summary>package %d</summary>
  <description>package %d</description>
  <packager></packager>
  <url></url>
  <time file="1" build="1"/>
  <size package="%d" installed="%d" archive="%d"/>
  <location href="%s"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>bench</rpm:buildhost>
    <rpm:sourcerpm>%s-1.0-1.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="5000"/>
    <rpm:provides><rpm:entry name="%s" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides>
  </format>
</package>
`, name, sum, i, i, *size, *size, *size, href, name, name)
		fmt.Fprintf(filelists.w, `<package pkgid="%s" name="%s" arch="noarch"><version epoch="0" ver="1.0" rel="1"/><file>/usr/share/%s/data</file></package>
`, sum, name, name)
		fmt.Fprintf(other.w, `<package pkgid="%s" name="%s" arch="noarch"><version epoch="0" ver="1.0" rel="1"/></package>
`, sum, name)
	}
	fmt.Fprint(primary.w, "</metadata>\n")
	fmt.Fprint(filelists.w, "</filelists>\n")
	fmt.Fprint(other.w, "</otherdata>\n")
	var data string
	for _, f := range []struct {
		kind string
		x    *xmlFile
	}{{"primary", primary}, {"filelists", filelists}, {"other", other}} {
		data += f.x.write(repodata, f.kind)
	}
	repomd := `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
` + data + "</repomd>\n"
	if err := os.WriteFile(filepath.Join(repodata, "repomd.xml"), []byte(repomd), 0o644); err != nil {
		log.Fatal(err)
	}
}

// xmlFile is a data file being written: its gzip, in a temporary file,
// and the sums of both forms.
type xmlFile struct {
	tmp        *os.File
	gz         *gzip.Writer
	w          *bufio.Writer
	open, comp *hashCount
}

type hashCount struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *hashCount) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func newXML() *xmlFile {
	tmp, err := os.CreateTemp("", "rpmgen")
	if err != nil {
		log.Fatal(err)
	}
	x := &xmlFile{tmp: tmp, open: &hashCount{h: sha256.New()}, comp: &hashCount{h: sha256.New()}}
	x.gz = gzip.NewWriter(io.MultiWriter(tmp, x.comp))
	x.w = bufio.NewWriterSize(io.MultiWriter(x.gz, x.open), 1<<20)
	return x
}

// write moves the file into repodata as createrepo_c names it and
// returns its <data> element.
func (x *xmlFile) write(repodata, kind string) string {
	if err := x.w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := x.gz.Close(); err != nil {
		log.Fatal(err)
	}
	x.tmp.Close()
	sum := hex.EncodeToString(x.comp.h.Sum(nil))
	href := fmt.Sprintf("repodata/%s-%s.xml.gz", sum, kind)
	if err := os.Rename(x.tmp.Name(), filepath.Join(filepath.Dir(repodata), href)); err != nil {
		log.Fatal(err)
	}
	os.Chmod(filepath.Join(filepath.Dir(repodata), href), 0o644)
	return fmt.Sprintf(`  <data type="%s">
    <checksum type="sha256">%s</checksum>
    <open-checksum type="sha256">%s</open-checksum>
    <location href="%s"/>
    <timestamp>1</timestamp>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
`, kind, sum, hex.EncodeToString(x.open.h.Sum(nil)), href, x.comp.n, x.open.n)
}
