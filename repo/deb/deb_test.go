package deb_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"go.uber.org/goleak"

	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/deb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// paragraphs reads every paragraph of text as field lists.
func paragraphs(t *testing.T, r *deb.Reader) ([][]deb.Field, error) {
	t.Helper()
	var out [][]deb.Field
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p.Fields)
	}
}

func TestReader(t *testing.T) {
	text := "# a comment\nPackage: a\nDescription: short\n long line\n .\n\tmore\n\n\n  \nPackage: b\r\nDepends: a\r\n\r\nPackage: c\nSHA256:\n 01 2 x\n 03 4 y"
	got, err := paragraphs(t, deb.NewReader(strings.NewReader(text), "Packages"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]deb.Field{
		{{Name: "Package", Value: "a", Line: 2}, {Name: "Description", Value: "short\nlong line\n.\nmore", Line: 3}},
		{{Name: "Package", Value: "b", Line: 10}, {Name: "Depends", Value: "a", Line: 11}},
		{{Name: "Package", Value: "c", Line: 13}, {Name: "SHA256", Value: "\n01 2 x\n03 4 y", Line: 14}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paragraphs (-want +got):\n%s", diff)
	}
	p := &deb.Paragraph{Fields: want[0]}
	if p.Value("package") != "a" || p.Value("Size") != "" {
		t.Errorf("Value: fields are not found without regard to case, or a missing one is not empty")
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line, col  int
		maxLine    int
	}{
		{"continuation first", "Package: a\n\n more\n", 3, 1, 0},
		{"no colon", "Package: a\nnot a field\n", 2, 1, 0},
		{"space in name", "Package: a\nFile name: x\n", 2, 5, 0},
		{"field twice", "Package: a\nFilename: x\nfilename: y\n", 3, 1, 0},
		{"long line", "Package: a\nDescription: " + strings.Repeat("x", 100) + "\n", 2, 65, 64},
		{"long last line", "Package: a\nDescription: " + strings.Repeat("x", 100), 2, 65, 64},
		{"large paragraph", "Package: a\nB: 1234567890\nC: 1234567890\nD: 1234567890\nE: 1234567890\nF: 1\n", 6, 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deb.NewReader(strings.NewReader(tc.text), "Packages")
			if tc.maxLine > 0 {
				r.MaxLine = tc.maxLine
			}
			if tc.maxLine < 0 {
				r.MaxParagraph = 64
			}
			_, err := paragraphs(t, r)
			var fe *repo.FormatError
			if !errors.As(err, &fe) || !errors.Is(err, repo.ErrMalformed) {
				t.Fatalf("got %v; want a FormatError", err)
			}
			if fe.File != "Packages" || fe.Line != tc.line || fe.Column != tc.col {
				t.Errorf("got %v at %s:%d:%d; want Packages:%d:%d", err, fe.File, fe.Line, fe.Column, tc.line, tc.col)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next after an error: got %v; want the same error", again)
			}
		})
	}
}

const releaseText = `Origin: Test
Label: Test
Suite: stable
Codename: bookworm
Date: Mon, 07 Dec 2026 03:04:42 +0000
Acquire-By-Hash: yes
Architectures: amd64 arm64 all
Components: main contrib
Description: a test archive
MD5Sum:
 11111111111111111111111111111111 100 main/binary-amd64/Packages
 22222222222222222222222222222222 40 main/binary-amd64/Packages.gz
SHA256:
 a100000000000000000000000000000000000000000000000000000000000000 100 main/binary-amd64/Packages
 a200000000000000000000000000000000000000000000000000000000000000 40 main/binary-amd64/Packages.gz
 a300000000000000000000000000000000000000000000000000000000000000 30 main/binary-amd64/Packages.xz
 a400000000000000000000000000000000000000000000000000000000000000 90 main/binary-amd64/Release
 a500000000000000000000000000000000000000000000000000000000000000 20 main/binary-all/Packages.xz
 a600000000000000000000000000000000000000000000000000000000000000 20 main/binary-arm64/Packages.xz
 a700000000000000000000000000000000000000000000000000000000000000 20 main/i18n/Translation-en.bz2
 a800000000000000000000000000000000000000000000000000000000000000 20 main/source/Sources.xz
 a900000000000000000000000000000000000000000000000000000000000000 20 main/Contents-amd64.gz
 aa00000000000000000000000000000000000000000000000000000000000000 20 Contents-arm64.gz
 ab00000000000000000000000000000000000000000000000000000000000000 20 contrib/binary-amd64/Packages.gz
 ac00000000000000000000000000000000000000000000000000000000000000 20 main/dep11/Components-amd64.yml.gz
`

func TestParseRelease(t *testing.T) {
	rel, err := deb.ParseRelease(strings.NewReader(releaseText), "dists/stable/Release")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Suite != "stable" || rel.Codename != "bookworm" || !rel.AcquireByHash ||
		!cmp.Equal(rel.Components, []string{"main", "contrib"}) || !cmp.Equal(rel.Architectures, []string{"amd64", "arm64", "all"}) {
		t.Errorf("got %+v; want the fields of the text", rel)
	}
	f, ok := rel.File("main/binary-amd64/Packages.gz")
	want := deb.ReleaseFile{Path: "main/binary-amd64/Packages.gz", Size: 40, Line: 12,
		Digests: map[string]string{"md5": "22222222222222222222222222222222", "sha256": "a200000000000000000000000000000000000000000000000000000000000000"}}
	if diff := cmp.Diff(want, f); !ok || diff != "" {
		t.Errorf("File (-want +got):\n%s", diff)
	}
	if len(rel.Files) != 12 {
		t.Errorf("got %d files; want 12", len(rel.Files))
	}
}

func TestParseReleaseOnlySHA512(t *testing.T) {
	sum := strings.Repeat("ab", 64)
	rel, err := deb.ParseRelease(strings.NewReader("Suite: s\nComponents: main\nArchitectures: amd64\nAcquire-By-Hash: yes\nSHA512:\n "+sum+" 7 main/binary-amd64/Packages.xz\n"), "Release")
	if err != nil {
		t.Fatal(err)
	}
	got, err := rel.Select("dists/s", deb.Selection{Architectures: []string{"amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []deb.IndexFile{{Path: "dists/s/main/binary-amd64/Packages.xz", Size: 7, Digest: "sha512", Sum: sum, Kind: "Packages",
		ByHash: "dists/s/main/binary-amd64/by-hash/SHA512/" + sum}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Select (-want +got):\n%s", diff)
	}
}

func TestParseReleaseErrors(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for name, tc := range map[string]struct {
		text string
		line int
	}{
		"empty":          {"", 0},
		"leaves the dir": {"SHA256:\n " + sum + " 7 ../../etc/passwd\n", 2},
		"absolute":       {"SHA256:\n " + sum + " 7 /etc/passwd\n", 2},
		"two sizes":      {"MD5Sum:\n 00 7 main/Packages\nSHA256:\n " + sum + " 8 main/Packages\n", 4},
		"three fields":   {"SHA256:\n " + sum + " 7\n", 2},
		"not a size":     {"SHA256:\n " + sum + " x main/Packages\n", 2},
		"not hex":        {"SHA256:\n xyz 7 main/Packages\n", 2},
		"only MD5":       {"Suite: s\nMD5Sum:\n 00 7 main/Packages\n", 3},
		"malformed":      {"Suite: s\n  \n more\n", 3},
	} {
		_, err := deb.ParseRelease(strings.NewReader(tc.text), "Release")
		var fe *repo.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v; want a FormatError", name, err)
		} else if fe.Line != tc.line {
			t.Errorf("%s: got %v; want it at line %d", name, err, tc.line)
		}
	}
}

func TestSelect(t *testing.T) {
	rel, err := deb.ParseRelease(strings.NewReader(releaseText), "Release")
	if err != nil {
		t.Fatal(err)
	}
	paths := func(sel deb.Selection) []string {
		t.Helper()
		files, err := rel.Select("dists/stable", sel)
		if err != nil {
			t.Fatalf("%+v: %v", sel, err)
		}
		var out []string
		for _, f := range files {
			out = append(out, f.Path)
		}
		return out
	}
	amd64 := deb.Selection{Architectures: []string{"amd64"}}
	for _, tc := range []struct {
		name string
		sel  deb.Selection
		want []string
	}{
		{"amd64, and all", amd64, []string{
			"dists/stable/main/binary-amd64/Packages.gz", "dists/stable/main/binary-amd64/Packages.xz", "dists/stable/main/binary-amd64/Release",
			"dists/stable/main/binary-all/Packages.xz", "dists/stable/main/i18n/Translation-en.bz2", "dists/stable/contrib/binary-amd64/Packages.gz",
			"dists/stable/main/dep11/Components-amd64.yml.gz"}},
		{"main, arm64 and all", deb.Selection{Components: []string{"main"}, Architectures: []string{"arm64", "all"}}, []string{
			"dists/stable/main/binary-all/Packages.xz", "dists/stable/main/binary-arm64/Packages.xz", "dists/stable/main/i18n/Translation-en.bz2"}},
		{"source and contents", deb.Selection{Components: []string{"main"}, Architectures: []string{"arm64"}, Source: true, Contents: true}, []string{
			"dists/stable/main/binary-all/Packages.xz", "dists/stable/main/binary-arm64/Packages.xz", "dists/stable/main/i18n/Translation-en.bz2", "dists/stable/main/source/Sources.xz",
			"dists/stable/Contents-arm64.gz"}},
	} {
		if diff := cmp.Diff(tc.want, paths(tc.sel)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	if deb.HostArch() == "amd64" {
		want := []string{"dists/stable/main/binary-amd64/Packages.gz", "dists/stable/main/binary-amd64/Packages.xz", "dists/stable/main/binary-amd64/Release",
			"dists/stable/main/binary-all/Packages.xz", "dists/stable/main/i18n/Translation-en.bz2", "dists/stable/contrib/binary-amd64/Packages.gz",
			"dists/stable/main/dep11/Components-amd64.yml.gz"}
		if diff := cmp.Diff(want, paths(deb.Selection{})); diff != "" {
			t.Errorf("default: this machine's architecture and all (-want +got):\n%s", diff)
		}
	}
	files, _ := rel.Select("dists/stable", amd64)
	if f := files[6]; f.ByHash != "dists/stable/main/dep11/by-hash/SHA256/"+f.Sum || f.Kind != "Components" {
		t.Errorf("got %+v; want dep11's Components by SHA256 hash", f)
	}
	if f := files[0]; f.ByHash != "dists/stable/main/binary-amd64/by-hash/SHA256/"+f.Sum || f.Digest != "sha256" || f.Kind != "Packages" {
		t.Errorf("got %+v; want by SHA256 hash", f)
	}
	if f := files[2]; f.ByHash != "" || f.Kind != "Release" {
		t.Errorf("got %+v; want a Release, not by hash", f)
	}
	for _, sel := range []deb.Selection{{Components: []string{"non-free"}}, {Architectures: []string{"riscv64"}}} {
		if _, err := rel.Select("dists/stable", sel); err == nil {
			t.Errorf("%+v: got no error; want one for what Release does not list", sel)
		}
	}
}

func TestSelectSecurity(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	rel, err := deb.ParseRelease(strings.NewReader("Components: updates/main updates/contrib\nArchitectures: amd64\nSHA256:\n "+sum+" 7 main/binary-amd64/Packages.xz\n "+sum+" 7 contrib/binary-amd64/Packages.xz\n"), "Release")
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range []deb.Selection{{Architectures: []string{"amd64"}, Components: []string{"main"}}, {Architectures: []string{"amd64"}, Components: []string{"updates/main"}}} {
		files, err := rel.Select("dists/bookworm-security", sel)
		if err != nil || len(files) != 1 || files[0].Path != "dists/bookworm-security/main/binary-amd64/Packages.xz" {
			t.Errorf("%v: got %+v, %v; want main/binary-amd64/Packages.xz", sel.Components, files, err)
		}
	}
}

func TestSelectFlat(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	rel, err := deb.ParseRelease(strings.NewReader("SHA256:\n "+sum+" 7 Packages\n "+sum+" 5 Packages.gz\n "+sum+" 5 Sources.gz\n"), "Release")
	if err != nil {
		t.Fatal(err)
	}
	files, err := rel.Select("", deb.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != "Packages.gz" || files[0].ByHash != "" {
		t.Errorf("got %+v; want Packages.gz alone", files)
	}
}

const packagesText = `Package: hello
Version: 1:2.10-3
Architecture: amd64
Depends: libc6
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53244
MD5sum: 00
SHA256: AB01
Description: hello
 world

Package: flat
Version: 1
Architecture: all
Filename: ./flat_1_all.deb
Size: 3
SHA512: cd02
`

func TestPackages(t *testing.T) {
	r := deb.NewPackages(strings.NewReader(packagesText), "Packages")
	var got []repo.Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	want := []repo.Entry{
		{Path: "pool/main/h/hello/hello_2.10-3_amd64.deb", Size: 53244, Digests: map[string]string{"sha256": "ab01"}, Name: "hello", Version: "1:2.10-3", Arch: "amd64"},
		{Path: "flat_1_all.deb", Size: 3, Digests: map[string]string{"sha512": "cd02"}, Name: "flat", Version: "1", Arch: "all"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
}

func TestPackagesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		line int
	}{
		"leaves the dir":  {"Package: a\nFilename: pool/../../../etc/passwd\nSize: 1\nSHA256: ab\n", 2},
		"absolute":        {"Package: a\nFilename: /etc/passwd\nSize: 1\nSHA256: ab\n", 2},
		"no filename":     {"Package: a\nSize: 1\nSHA256: ab\n", 1},
		"no size":         {"Package: a\nFilename: a.deb\nSHA256: ab\n", 1},
		"bad size":        {"Package: a\nFilename: a.deb\nSize: -1\nSHA256: ab\n", 3},
		"only MD5":        {"Package: a\nFilename: a.deb\nSize: 1\nMD5sum: ab\n", 1},
		"second is wrong": {"Package: a\nFilename: a.deb\nSize: 1\nSHA256: ab\n\nPackage: b\nFilename: ../b.deb\nSize: 1\nSHA256: ab\n", 7},
	} {
		r := deb.NewPackages(strings.NewReader(tc.text), "main/binary-amd64/Packages.xz")
		var err error
		for err == nil {
			_, err = r.Next()
		}
		var fe *repo.FormatError
		if !errors.As(err, &fe) || fe.Line != tc.line || fe.File != "main/binary-amd64/Packages.xz" {
			t.Errorf("%s: got %v; want a FormatError at line %d", name, err, tc.line)
		}
	}
}

func TestSources(t *testing.T) {
	text := "Package: hello\nVersion: 2.10-3\nDirectory: pool/main/h/hello\nFiles:\n 00 10 hello_2.10-3.dsc\nChecksums-Sha256:\n AA 10 hello_2.10-3.dsc\n BB 20 hello_2.10.orig.tar.gz\n"
	r := deb.NewSources(strings.NewReader(text), "Sources")
	var got []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Path+" "+e.Digests["sha256"])
	}
	want := []string{"pool/main/h/hello/hello_2.10-3.dsc aa", "pool/main/h/hello/hello_2.10.orig.tar.gz bb"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	_, err := deb.NewSources(strings.NewReader("Package: x\nDirectory: pool/../..\nChecksums-Sha256:\n AA 1 x.dsc\n"), "Sources").Next()
	if !errors.Is(err, repo.ErrMalformed) {
		t.Errorf("a Directory that leaves the archive: got %v; want ErrMalformed", err)
	}
}

func TestDecompress(t *testing.T) {
	text := []byte(packagesText)
	var gz, xzb, zst bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text)
	zw.Close()
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(text)
	xw.Close()
	sw, _ := zstd.NewWriter(&zst)
	sw.Write(text)
	sw.Close()
	// bzip2 of "Package: a\n": the standard library reads bzip2 only.
	bz2 := []byte("BZh91AY&SY\x97u\x02\xbc\x00\x00\x01\xdb\x00\x00\x10@\x00\x00\x10@\x00*\x88 \x00\"\x06\x13B\x0c\x98\x82\x18*9\x93\xc5\xdc\x91N\x14$%\xdd@\xaf\x00")
	for _, tc := range []struct {
		name string
		data []byte
		want []byte
	}{
		{"Packages.gz", gz.Bytes(), text},
		{"Packages.xz", xzb.Bytes(), text},
		{"Packages.zst", zst.Bytes(), text},
		{"Packages.bz2", bz2, []byte("Package: a\n")},
		{"Packages", text, text},
	} {
		for _, max := range []int64{-1, int64(len(tc.want))} {
			r, err := repo.Decompress(bytes.NewReader(tc.data), tc.name, max)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("%s, bound %d: got %q, %v; want the text", tc.name, max, got, err)
			}
		}
		r, err := repo.Decompress(bytes.NewReader(tc.data), tc.name, int64(len(tc.want)-1))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = io.ReadAll(r)
		r.Close()
		if !errors.Is(err, repo.ErrMalformed) {
			t.Errorf("%s, one byte more than the bound: got %v; want ErrMalformed", tc.name, err)
		}
	}
	r, err := repo.Decompress(strings.NewReader("not xz at all"), "Packages.xz", -1)
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, repo.ErrMalformed) {
		t.Errorf("a corrupt .xz: got %v; want ErrMalformed", err)
	}
	if _, err := repo.Decompress(strings.NewReader(""), "Packages.lz4", -1); err == nil {
		t.Errorf(".lz4: got no error; want one")
	}
}

// archiveFiles are files as Debian's and Ubuntu's Release files list
// them, for the rule of Select.
var archiveFiles = []string{
	"main/binary-amd64/Packages", "main/binary-amd64/Packages.xz", "main/binary-amd64/Release",
	"main/binary-all/Packages.xz", "main/binary-arm64/Packages.xz",
	"main/binary-hurd-i386/Packages.xz",
	"main/debian-installer/binary-amd64/Packages.xz", "main/debian-installer/binary-arm64/Packages.xz",
	"main/dep11/Components-amd64.yml", "main/dep11/Components-amd64.yml.gz", "main/dep11/Components-arm64.yml.gz",
	"main/dep11/icons-48x48.tar", "main/dep11/icons-48x48.tar.gz", "main/dep11/icons-64x64@2.tar.gz",
	"main/cnf/Commands-amd64.xz", "main/cnf/Commands-arm64.xz",
	"main/i18n/Index", "main/i18n/Translation-en", "main/i18n/Translation-en.xz",
	"main/i18n/Translation-de.bz2", "main/i18n/Translation-de_DE.bz2", "main/i18n/Translation-pt_BR.bz2",
	"main/source/Release", "main/source/Sources.xz",
	"main/Contents-amd64.gz", "main/Contents-all.gz", "main/Contents-source.gz", "main/Contents-udeb-amd64.gz", "main/Contents-arm64.gz",
	"main/installer-amd64/current/images/SHA256SUMS",
	"main/binary-amd64/Packages.diff/Index", "main/i18n/Translation-en.diff/Index", "main/Contents-amd64.diff/Index",
	"contrib/binary-amd64/Packages.xz", "contrib/dep11/Components-amd64.yml.gz",
	"Contents-amd64.gz", "Release",
}

func TestSelectEveryIndex(t *testing.T) {
	text := "Architectures: all amd64 arm64 i386 hurd-i386\nComponents: main contrib\nAcquire-By-Hash: yes\nSHA256:\n"
	for i, p := range archiveFiles {
		text += fmt.Sprintf(" %064x %d %s\n", i+1, 10+i, p)
	}
	rel, err := deb.ParseRelease(strings.NewReader(text), "Release")
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"main/binary-amd64/Packages.xz", "main/binary-amd64/Release", "main/binary-all/Packages.xz",
		"main/dep11/Components-amd64.yml.gz", "main/dep11/icons-48x48.tar.gz", "main/dep11/icons-64x64@2.tar.gz",
		"main/cnf/Commands-amd64.xz", "main/i18n/Index"}
	for _, tc := range []struct {
		name string
		sel  deb.Selection
		want []string
	}{
		{"amd64", deb.Selection{Architectures: []string{"amd64"}}, append(slices.Clone(common),
			"main/i18n/Translation-en.xz", "main/i18n/Translation-de.bz2", "main/i18n/Translation-de_DE.bz2", "main/i18n/Translation-pt_BR.bz2",
			"contrib/binary-amd64/Packages.xz", "contrib/dep11/Components-amd64.yml.gz")},
		{"main, amd64, en and pt", deb.Selection{Components: []string{"main"}, Architectures: []string{"amd64"}, Languages: []string{"en", "pt"}}, append(slices.Clone(common),
			"main/i18n/Translation-en.xz", "main/i18n/Translation-pt_BR.bz2")},
		{"every flag", deb.Selection{Components: []string{"main"}, Architectures: []string{"amd64"}, Languages: []string{"de_DE"}, Source: true, Contents: true, Udeb: true}, []string{
			"main/binary-amd64/Packages.xz", "main/binary-amd64/Release", "main/binary-all/Packages.xz",
			"main/debian-installer/binary-amd64/Packages.xz",
			"main/dep11/Components-amd64.yml.gz", "main/dep11/icons-48x48.tar.gz", "main/dep11/icons-64x64@2.tar.gz",
			"main/cnf/Commands-amd64.xz", "main/i18n/Index", "main/i18n/Translation-de_DE.bz2",
			"main/source/Release", "main/source/Sources.xz",
			"main/Contents-amd64.gz", "main/Contents-all.gz", "main/Contents-source.gz", "main/Contents-udeb-amd64.gz", "Contents-amd64.gz"}},
		{"contents, not udeb", deb.Selection{Components: []string{"contrib", "main"}, Architectures: []string{"arm64"}, Languages: []string{"pt"}, Contents: true}, []string{
			"main/binary-all/Packages.xz", "main/binary-arm64/Packages.xz", "main/dep11/Components-arm64.yml.gz",
			"main/dep11/icons-48x48.tar.gz", "main/dep11/icons-64x64@2.tar.gz", "main/cnf/Commands-arm64.xz", "main/i18n/Index",
			"main/i18n/Translation-pt_BR.bz2", "main/Contents-all.gz", "main/Contents-arm64.gz"}},
		{"hurd-i386, not i386", deb.Selection{Components: []string{"main"}, Architectures: []string{"hurd-i386"}, Languages: []string{"de"}}, []string{
			"main/binary-all/Packages.xz", "main/binary-hurd-i386/Packages.xz", "main/dep11/icons-48x48.tar.gz", "main/dep11/icons-64x64@2.tar.gz", "main/i18n/Index",
			"main/i18n/Translation-de.bz2", "main/i18n/Translation-de_DE.bz2"}},
	} {
		files, err := rel.Select("", tc.sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	for _, sel := range []deb.Selection{{Architectures: []string{"amd64"}, Languages: []string{"fr"}}, {Architectures: []string{"i386"}}} {
		if _, err := rel.Select("", sel); err == nil {
			t.Errorf("%+v: got no error; want one: Release lists no such Translation, no such Packages", sel)
		}
	}
}

func TestParseReleaseDates(t *testing.T) {
	for _, tc := range []struct {
		text       string
		date, till string // RFC 3339; "" for none
	}{
		{"Date: Sat, 11 Jul 2026 10:16:37 UTC\n", "2026-07-11T10:16:37Z", ""},
		{"Date: Mon, 07 Dec 2026 05:29:38 +0000\nValid-Until: Mon, 14 Dec 2026 05:29:38 +0000\n", "2026-12-07T05:29:38Z", "2026-12-14T05:29:38Z"},
		{"Date: Sat, 5 Dec 2026 03:33:28 GMT\nValid-Until: Sat, 12 Dec 2026 03:33:28 UTC\n", "2026-12-05T03:33:28Z", "2026-12-12T03:33:28Z"},
		{"Suite: s\n", "", ""},
	} {
		rel, err := deb.ParseRelease(strings.NewReader(tc.text), "Release")
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		format := func(at time.Time) string {
			if at.IsZero() {
				return ""
			}
			return at.UTC().Format(time.RFC3339)
		}
		if format(rel.Dated) != tc.date || format(rel.ValidUntil) != tc.till {
			t.Errorf("%q: got %v, %v; want %s, %s", tc.text, rel.Dated, rel.ValidUntil, tc.date, tc.till)
		}
	}
	for _, text := range []string{"Date: yesterday\n", "Suite: s\nValid-Until: Sat, 12 Dec 2026 03:33:28 CET\n"} {
		_, err := deb.ParseRelease(strings.NewReader(text), "Release")
		var fe *repo.FormatError
		if !errors.As(err, &fe) || fe.Line != strings.Count(text, "\n") {
			t.Errorf("%q: got %v; want a FormatError at its last line", text, err)
		}
	}
}

func TestStaleError(t *testing.T) {
	expired := &deb.StaleError{File: "InRelease", ValidUntil: time.Unix(1, 0), Now: time.Unix(2, 0)}
	older := &deb.StaleError{File: "InRelease", Date: time.Unix(1, 0), Published: time.Unix(2, 0)}
	for _, tc := range []struct {
		err       error
		is, isNot error
	}{{expired, repo.ErrExpired, repo.ErrOlder}, {older, repo.ErrOlder, repo.ErrExpired}} {
		err := fmt.Errorf("dists/s: %w", tc.err)
		if !errors.Is(err, tc.is) || errors.Is(err, tc.isNot) {
			t.Errorf("%v: want it to match %v only", err, tc.is)
		}
	}
}
