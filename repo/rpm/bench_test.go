package rpm_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/fetchkit/fetch/repo/rpm"
)

// BenchmarkPackageReader reads a primary of 10,000 packages as
// createrepo_c writes them, provides and all.
func BenchmarkPackageReader(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="10000">
`)
	for i := range 10000 {
		fmt.Fprintf(&buf, `<package type="rpm">
  <name>pkg%06d</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <checksum type="sha256" pkgid="YES">%s</checksum>
  <summary>package</summary>
  <description>a package of the benchmark, with a description of a line</description>
  <packager></packager>
  <url></url>
  <time file="1" build="1"/>
  <size package="4096" installed="4096" archive="4096"/>
  <location href="Packages/pkg%06d-1.0-1.noarch.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>bench</rpm:buildhost>
    <rpm:sourcerpm>pkg-1.0-1.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="5000"/>
    <rpm:provides><rpm:entry name="pkg%06d" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides>
    <rpm:requires><rpm:entry name="libc.so.6()(64bit)"/><rpm:entry name="rtld(GNU_HASH)"/></rpm:requires>
  </format>
</package>
`, i, sumA, i, i)
	}
	buf.WriteString("</metadata>\n")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pr := rpm.NewPackageReader(bytes.NewReader(data), "primary.xml", nil)
		n := 0
		for {
			_, err := pr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("%d packages", n)
		}
	}
}
