package fetchtest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// An RPM is a package that BuildRPMs builds: a noarch package that holds
// one file, /usr/share/NAME/VERSION.txt, and requires Requires.
type RPM struct {
	Name, Version string
	Requires      []string
	Size          int // bytes of its file; 0: a line
}

// BuildRPMs builds pkgs with rpmbuild into dir/Packages/ and returns
// their paths relative to dir, or skips t when rpmbuild is not installed.
func BuildRPMs(t testing.TB, dir string, pkgs ...RPM) []string {
	t.Helper()
	rpmbuild := Program(t, "rpmbuild", "rpm")
	work := t.TempDir()
	var paths []string
	for _, p := range pkgs {
		var spec strings.Builder
		fmt.Fprintf(&spec, "Name: %s\nVersion: %s\nRelease: 1\nSummary: test package %s\nLicense: MIT\nBuildArch: noarch\n", p.Name, p.Version, p.Name)
		for _, r := range p.Requires {
			fmt.Fprintf(&spec, "Requires: %s\n", r)
		}
		body := p.Name + " " + p.Version + "\n"
		if p.Size > 0 {
			body = string(Blob(p.Size, uint64(len(p.Name))))
		}
		data := filepath.Join(work, p.Name+"-"+p.Version+".data")
		if err := os.WriteFile(data, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&spec, "%%description\ntest package\n%%install\nmkdir -p %%{buildroot}/usr/share/%s\ncp %s %%{buildroot}/usr/share/%s/%s.txt\n%%files\n/usr/share/%s/%s.txt\n",
			p.Name, data, p.Name, p.Version, p.Name, p.Version)
		file := filepath.Join(work, p.Name+"-"+p.Version+".spec")
		if err := os.WriteFile(file, []byte(spec.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(rpmbuild, "-bb", "--define", "_topdir "+filepath.Join(work, "top"),
			"--define", "_rpmdir "+filepath.Join(dir, "Packages"), "--define", "_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
			"--define", "__os_install_post %{nil}", file)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpmbuild %s: %v\n%s", p.Name, err, out)
		}
		paths = append(paths, "Packages/"+p.Name+"-"+p.Version+"-1.noarch.rpm")
	}
	return paths
}

// Createrepo runs createrepo_c with args on dir, or skips t when it is
// not installed.
func Createrepo(t testing.TB, dir string, args ...string) {
	t.Helper()
	bin := Program(t, "createrepo_c", "createrepo-c")
	out, err := exec.Command(bin, append(args, dir)...).CombinedOutput()
	if err != nil {
		t.Fatalf("createrepo_c: %v\n%s", err, out)
	}
}

// dataRE matches a <data> element of repomd.xml, and its location.
var dataRE = regexp.MustCompile(`(?s)<data type="(primary|filelists|other)">.*?</data>`)

// Zstd makes the primary, filelists and other of the rpm-md repository
// in dir, which createrepo_c made with gzip, zstd-compressed files
// instead, as newer createrepo_c does with --general-compress-type=zstd
// (the one of this system may not know zstd), or skips t when the zstd
// program is not installed.
func Zstd(t testing.TB, dir string) {
	t.Helper()
	zstdBin := Program(t, "zstd", "zstd")
	repomd := filepath.Join(dir, "repodata", "repomd.xml")
	md, err := os.ReadFile(repomd)
	if err != nil {
		t.Fatal(err)
	}
	hrefRE := regexp.MustCompile(`<location href="([^"]+)"/>`)
	out := dataRE.ReplaceAllFunc(md, func(data []byte) []byte {
		href := string(hrefRE.FindSubmatch(data)[1])
		gz, err := os.Open(filepath.Join(dir, filepath.FromSlash(href)))
		if err != nil {
			t.Fatal(err)
		}
		defer gz.Close()
		zr, err := gzip.NewReader(gz)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		var zst bytes.Buffer
		cmd := exec.Command(zstdBin, "-q", "-c")
		cmd.Stdin, cmd.Stdout = bytes.NewReader(plain), &zst
		if err := cmd.Run(); err != nil {
			t.Fatalf("zstd: %v", err)
		}
		sum := SHA256(zst.Bytes())
		kind := string(dataRE.FindSubmatch(data)[1])
		newHref := fmt.Sprintf("repodata/%s-%s.xml.zst", sum, kind)
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(newHref)), zst.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, filepath.FromSlash(href)))
		s := string(data)
		s = regexp.MustCompile(`<checksum type="sha256">[0-9a-f]+</checksum>`).ReplaceAllString(s, `<checksum type="sha256">`+sum+`</checksum>`)
		s = hrefRE.ReplaceAllString(s, `<location href="`+newHref+`"/>`)
		s = regexp.MustCompile(`<size>\d+</size>`).ReplaceAllString(s, fmt.Sprintf("<size>%d</size>", zst.Len()))
		return []byte(s)
	})
	if err := os.WriteFile(repomd, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
