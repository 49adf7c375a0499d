package rpm_test

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/rpm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const sumA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
const sha1A = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"

const repomdText = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>17</revision>
  <data type="primary">
    <checksum type="sha256">` + sumA + `</checksum>
    <open-checksum type="sha256">` + sumA + `</open-checksum>
    <location href="repodata/a-primary.xml.gz"/>
    <timestamp>1</timestamp>
    <size>657</size>
    <open-size>1967</open-size>
  </data>
  <data type="group">
    <checksum type="sha">` + sha1A + `</checksum>
    <location href="repodata/comps.xml"/>
  </data>
</repomd>
`

func TestReadRepomd(t *testing.T) {
	md, err := rpm.ReadRepomd(strings.NewReader(repomdText), "repomd.xml")
	if err != nil {
		t.Fatal(err)
	}
	want := &rpm.Repomd{Revision: "17", Data: []rpm.Data{
		{Entry: repo.Entry{Path: "repodata/a-primary.xml.gz", Size: 657, Digests: map[string]string{"sha256": sumA}, Metadata: true}, Type: "primary", OpenSize: 1967, Line: 4},
		{Entry: repo.Entry{Path: "repodata/comps.xml", Size: -1, Digests: map[string]string{"sha1": sha1A}, Metadata: true}, Type: "group", OpenSize: -1, Line: 12},
	}}
	if diff := cmp.Diff(want, md); diff != "" {
		t.Errorf("repomd (-want +got):\n%s", diff)
	}
}

func TestReadRepomdErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		line             int
	}{
		{"not XML", "PULP_MANIFEST,x,1\n", "no <data> element", 0},
		{"truncated", repomdText[:300], "unexpected EOF", 6},
		{"dotdot", strings.Replace(repomdText, "repodata/comps.xml", "../comps.xml", 1), `location href "../comps.xml"`, 12},
		{"unknown checksum", strings.Replace(repomdText, `"sha"`, `"crc32"`, 1), `checksum type "crc32"`, 12},
		{"short checksum", strings.Replace(repomdText, sha1A, "abc", 1), `checksum type "sha" "abc"`, 12},
		{"bad size", strings.Replace(repomdText, "<size>657", "<size>-3", 1), `size "-3"`, 4},
		{"twice", strings.Replace(repomdText, "repodata/comps.xml", "repodata/a-primary.xml.gz", 1), "listed twice", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rpm.ReadRepomd(strings.NewReader(tc.text), "repomd.xml")
			var fe *repo.FormatError
			if !errors.As(err, &fe) || !errors.Is(err, repo.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want a FormatError with %q", err, tc.want)
			}
			if fe.File != "repomd.xml" || fe.Line != tc.line {
				t.Errorf("got %s line %d; want repomd.xml line %d", fe.File, fe.Line, tc.line)
			}
		})
	}
}

const primaryText = `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm">
  <name>hello</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <checksum type="sha256" pkgid="YES">` + sumA + `</checksum>
  <size package="6000" installed="3" archive="400"/>
  <location href="Packages/hello-1.0-1.noarch.rpm"/>
  <format><rpm:requires><rpm:entry name="libgreet"/></rpm:requires></format>
</package>
<package type="rpm">
  <name>libgreet</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="0.1" rel="3.fc40"/>
  <checksum type="sha" pkgid="YES">` + sha1A + `</checksum>
  <size package="5000"/>
  <location xml:base="http://other.example/os/" href="Packages/l/libgreet-0.1-3.fc40.x86_64.rpm"/>
</package>
<package type="rpm">
  <name>nohref</name>
  <arch>noarch</arch>
  <version ver="1" rel="1"/>
  <checksum type="sha256" pkgid="YES">` + sumA + `</checksum>
  <size package="1"/>
</package>
</metadata>
`

func TestPackageReader(t *testing.T) {
	root, _ := url.Parse("http://h/repo/")
	pr := rpm.NewPackageReader(strings.NewReader(primaryText), "primary.xml.gz", root)
	want := []repo.Entry{
		{Path: "Packages/hello-1.0-1.noarch.rpm", Size: 6000, Digests: map[string]string{"sha256": sumA}, Name: "hello", Version: "0:1.0-1", Arch: "noarch"},
		{Path: "Packages/l/libgreet-0.1-3.fc40.x86_64.rpm", URL: "http://other.example/os/Packages/l/libgreet-0.1-3.fc40.x86_64.rpm",
			Size: 5000, Digests: map[string]string{"sha1": sha1A}, Name: "libgreet", Version: "2:0.1-3.fc40", Arch: "x86_64"},
	}
	for i, w := range want {
		e, err := pr.Next()
		if err != nil {
			t.Fatalf("package %d: %v", i, err)
		}
		if diff := cmp.Diff(w, e); diff != "" {
			t.Errorf("package %d (-want +got):\n%s", i, diff)
		}
	}
	// The third has no location: it inherits none from the one before.
	_, err := pr.Next()
	var fe *repo.FormatError
	if !errors.As(err, &fe) || fe.Line != 20 || !strings.Contains(err.Error(), `package "nohref": location href ""`) {
		t.Errorf("got %v; want the package without a location refused at line 20", err)
	}
}

func TestPackageReaderErrors(t *testing.T) {
	root, _ := url.Parse("http://h/repo/")
	for _, tc := range []struct{ name, old, new, want string }{
		{"dotdot", "Packages/hello-1.0-1.noarch.rpm", "../../etc/hello.rpm", `location href "../../etc/hello.rpm"`},
		{"absolute", "Packages/hello-1.0-1.noarch.rpm", "/etc/hello.rpm", `location href "/etc/hello.rpm"`},
		{"base scheme", "http://other.example/os/", "javascript:alert(1)", `xml:base "javascript:alert(1)"`},
		{"syntax", `<size package="6000"`, `<size package=6000`, `primary.xml.gz:8:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(primaryText, tc.old, tc.new, 1)
			pr := rpm.NewPackageReader(strings.NewReader(text), "primary.xml.gz", root)
			var err error
			for err == nil {
				_, err = pr.Next()
			}
			if err == io.EOF || !errors.Is(err, repo.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}
