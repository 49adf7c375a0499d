package rpm_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing/fstest"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/rpm"
)

// Example mirrors an rpm-md repository into a folder as fetch sync does:
// the metadata staged and checked, every package downloaded with
// FetchAll, and the metadata published only once every package is in
// place.
func Example() {
	srv := serveRepository() // an rpm-md repository, as createrepo_c makes one
	defer srv.Close()
	dir, err := os.MkdirTemp("", "mirror")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	root, err := os.OpenRoot(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close()
	f := fetch.New(fetch.Options{})
	defer f.Close()
	base, err := url.Parse(srv.URL + "/")
	if err != nil {
		log.Fatal(err)
	}
	s := &repo.Sync{Fetcher: f, Format: rpm.Format{}, URL: base, Root: root}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Open(ctx); err != nil { // repomd.xml and its data files, checked
		log.Fatal(err)
	}

	pkgs := s.Packages() // read from primary as a stream
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for e := range pkgs.All() {
			select {
			case reqs <- s.Request(e):
			case <-ctx.Done():
				return
			}
		}
	}()
	var got []string
	failed := 0
	for res := range f.FetchAll(ctx, reqs) {
		if res.Err != nil {
			log.Print(res.Err) // one line naming the file
			failed++
			continue
		}
		e := res.Request.Tag.(repo.Entry)
		got = append(got, fmt.Sprintf("%s %s %s", e.Name, e.Version, e.Arch))
	}
	if err := pkgs.Err(); err != nil {
		log.Fatal(err)
	}
	if failed > 0 {
		log.Fatalf("%d packages failed: the mirror keeps its last metadata", failed)
	}
	if err := s.Publish(); err != nil {
		log.Fatal(err)
	}
	slices.Sort(got)
	for _, p := range got {
		fmt.Println(p)
	}
	if _, err := fs.Stat(root.FS(), rpm.RepomdPath); err == nil {
		fmt.Println("published", rpm.RepomdPath)
	}
	// Output:
	// hello 0:1.0-1 noarch
	// libgreet 2:0.3-1 x86_64
	// published repodata/repomd.xml
}

// serveRepository serves a small rpm-md repository over HTTP on loopback.
func serveRepository() *httptest.Server {
	files := fstest.MapFS{}
	var primary string
	for _, p := range []struct{ name, epoch, ver, arch, body string }{
		{"hello", "0", "1.0", "noarch", "an rpm of hello"},
		{"libgreet", "2", "0.3", "x86_64", "an rpm of libgreet"},
	} {
		href := fmt.Sprintf("Packages/%s-%s-1.%s.rpm", p.name, p.ver, p.arch)
		files[href] = &fstest.MapFile{Data: []byte(p.body)}
		primary += fmt.Sprintf(`<package type="rpm"><name>%s</name><arch>%s</arch><version epoch="%s" ver="%s" rel="1"/>
<checksum type="sha256" pkgid="YES">%s</checksum><size package="%d"/><location href="%s"/></package>
`, p.name, p.arch, p.epoch, p.ver, sum(p.body), len(p.body), href)
	}
	primary = `<metadata xmlns="http://linux.duke.edu/metadata/common" packages="2">` + "\n" + primary + "</metadata>\n"
	href := "repodata/" + sum(primary) + "-primary.xml"
	files[href] = &fstest.MapFile{Data: []byte(primary)}
	files[rpm.RepomdPath] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`<repomd xmlns="http://linux.duke.edu/metadata/repo">
<data type="primary"><checksum type="sha256">%s</checksum><location href="%s"/><size>%d</size></data>
</repomd>
`, sum(primary), href, len(primary)))}
	return httptest.NewServer(http.FileServerFS(files))
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
