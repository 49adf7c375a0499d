package mirror_test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/mirror"
	"github.com/google/go-cmp/cmp"
)

// metalink3 returns a Metalink 3 document in the shape MirrorManager gives
// for repomd.xml: current is the file, older an alternate, and urls the
// url elements.
func metalink3(current, older string, urls ...string) string {
	return fetchtest.Metalink3([]byte(current), []byte(older), strings.Join(urls, "\n")+"\n")
}

func TestParseMetalink3(t *testing.T) {
	doc := metalink3("<repomd>new</repomd>", "<repomd>old</repomd>",
		`<url protocol="http" type="http" location="US" preference="90">http://us.example/pub/repo/repodata/repomd.xml</url>`,
		`<url protocol="rsync" type="rsync" location="US" preference="100">rsync://us.example/pub/repo/repodata/repomd.xml</url>`,
		`<url protocol="https" type="https" location="DE" preference="100" mm0:private="True">https://de.example/repo/repodata/repomd.xml</url>`,
		`<url protocol="ftp" type="ftp" location="FR" preference="90">ftp://fr.example/repo/repodata/repomd.xml</url>`)
	ml, err := mirror.ParseMetalink(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	digests := func(body string) map[string]string {
		return map[string]string{
			"md5": fmt.Sprintf("%x", md5.Sum([]byte(body))), "sha1": fmt.Sprintf("%x", sha1.Sum([]byte(body))),
			"sha256": fmt.Sprintf("%x", sha256.Sum256([]byte(body))), "sha512": fmt.Sprintf("%x", sha512.Sum512([]byte(body))),
		}
	}
	want := &mirror.Metalink{Version: 3, Files: []mirror.File{{
		Name:       "repomd.xml",
		Size:       int64(len("<repomd>new</repomd>")),
		Digests:    digests("<repomd>new</repomd>"),
		Alternates: []mirror.Alternate{{Size: int64(len("<repomd>old</repomd>")), Digests: digests("<repomd>old</repomd>")}},
		URLs: []string{ // by preference, then in document order; rsync left out
			"https://de.example/repo/repodata/repomd.xml",
			"http://us.example/pub/repo/repodata/repomd.xml",
			"ftp://fr.example/repo/repodata/repomd.xml",
		},
		Resources: []mirror.Resource{
			{URL: "https://de.example/repo/repodata/repomd.xml", Location: "DE", Preference: 100, Protocol: "https", Type: "https"},
			{URL: "http://us.example/pub/repo/repodata/repomd.xml", Location: "US", Preference: 90, Protocol: "http", Type: "http"},
			{URL: "ftp://fr.example/repo/repodata/repomd.xml", Location: "FR", Preference: 90, Protocol: "ftp", Type: "ftp"},
		},
	}}}
	if diff := cmp.Diff(want, ml); diff != "" {
		t.Errorf("Metalink (-want +got):\n%s", diff)
	}
	bases := []string{"https://de.example/repo/", "http://us.example/pub/repo/", "ftp://fr.example/repo/"}
	if diff := cmp.Diff(bases, ml.Bases()); diff != "" {
		t.Errorf("Bases (-want +got):\n%s", diff)
	}
	if _, err := ml.File("primary.xml.gz"); !errors.Is(err, mirror.ErrMalformed) {
		t.Errorf("File of a name not in the document: got %v; want ErrMalformed", err)
	}
}

func TestMetalinkMatch(t *testing.T) {
	const current, older = "<repomd>new</repomd>", "<repomd>old</repomd>"
	ml, err := mirror.ParseMetalink(strings.NewReader(metalink3(current, older, `<url>http://a.example/repodata/repomd.xml</url>`)))
	if err != nil {
		t.Fatal(err)
	}
	file, err := ml.File("repomd.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		alternate  int
		mismatch   bool
	}{
		{name: "the file", body: current, alternate: 0},
		{name: "an alternate", body: older, alternate: 1},
		{name: "another repository", body: "<repomd>other</repomd>", mismatch: true},
		{name: "truncated", body: current[:10], mismatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := file.Digester()
			io.WriteString(d, tc.body)
			m, err := d.Match()
			var mis *mirror.MismatchError
			switch {
			case tc.mismatch && !errors.As(err, &mis):
				t.Errorf("got %+v, %v; want a MismatchError", m, err)
			case tc.mismatch:
				if !strings.Contains(err.Error(), "repomd.xml") || !strings.Contains(err.Error(), m.Digests["sha256"]) {
					t.Errorf("error %q: want the file's name and the sha256 of the bytes", err)
				}
			case err != nil:
				t.Fatal(err)
			case m.Alternate != tc.alternate:
				t.Errorf("Alternate: got %d; want %d", m.Alternate, tc.alternate)
			case m.Digests["sha512"] != fmt.Sprintf("%x", sha512.Sum512([]byte(tc.body))):
				t.Errorf("Digests: got %v", m.Digests)
			}
		})
	}
}

func TestParseMetalink3Errors(t *testing.T) {
	file := func(inner string) string {
		return `<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager" type="dynamic"><files><file name="repomd.xml">` +
			inner + `</file></files></metalink>`
	}
	for name, doc := range map[string]string{
		"not XML":             "<html><body>502 Bad Gateway",
		"no files":            `<metalink version="3.0" xmlns="http://www.metalinker.org/"><files/></metalink>`,
		"short sha256":        file(`<verification><hash type="sha256">abcd</hash></verification>`),
		"sha1 as long as md5": file(`<verification><hash type="sha1">d41d8cd98f00b204e9800998ecf8427e</hash></verification>`),
		"alternate's hash":    file(`<mm0:alternates><mm0:alternate><verification><hash type="md5">zz</hash></verification></mm0:alternate></mm0:alternates>`),
		"alternate's size":    file(`<mm0:alternates><mm0:alternate><size>-5</size></mm0:alternate></mm0:alternates>`),
		"gopher URL":          file(`<resources><url protocol="gopher" preference="100">gopher://a.example/repodata/repomd.xml</url></resources>`),
		"relative URL":        file(`<resources><url preference="100">repodata/repomd.xml</url></resources>`),
		"preference 101":      file(`<resources><url preference="101">http://a.example/repodata/repomd.xml</url></resources>`),
		"preference words":    file(`<resources><url preference="best">http://a.example/repodata/repomd.xml</url></resources>`),
		"unsafe name":         strings.Replace(file(""), `name="repomd.xml"`, `name="../repomd.xml"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			ml, err := mirror.ParseMetalink(strings.NewReader(doc))
			if !errors.Is(err, mirror.ErrMalformed) {
				t.Errorf("got %+v, %v; want ErrMalformed", ml, err)
			}
		})
	}
}
