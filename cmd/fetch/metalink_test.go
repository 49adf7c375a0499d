package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// metalink4 returns a Metalink 4 document of files, each with its size,
// sha-256 and the URLs urls(name) gives, in order of priority.
func metalink4(files map[string][]byte, names []string, urls func(name string) []string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<metalink xmlns="urn:ietf:params:xml:ns:metalink">` + "\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  <file name=%q>\n    <size>%d</size>\n    <hash type=\"sha-256\">%s</hash>\n", name, len(files[name]), fetchtest.SHA256(files[name]))
		for i, u := range urls(name) {
			fmt.Fprintf(&b, "    <url priority=\"%d\">%s</url>\n", i+1, u)
		}
		b.WriteString("  </file>\n")
	}
	b.WriteString("</metalink>\n")
	return b.String()
}

// TestGetMetalink: fetch -metalink downloads the two files of a Metalink 4
// document, each from three URLs: a dead host first, a mirror serving
// other bytes second, the good one third.
func TestGetMetalink(t *testing.T) {
	files := map[string][]byte{"one.iso": fetchtest.Blob(70<<10, 11), "sub/two.img": fetchtest.Blob(3000, 12)}
	names := []string{"one.iso", "sub/two.img"}
	dead := fetchtest.DeadURL(t)
	stale := newRepo(t, map[string][]byte{"pub/one.iso": fetchtest.Blob(70<<10, 13), "pub/sub/two.img": []byte("older")})
	good := newRepo(t, map[string][]byte{"os/one.iso": files["one.iso"], "os/sub/two.img": files["sub/two.img"]})
	doc := metalink4(files, names, func(name string) []string {
		return []string{dead + "/" + name, stale.URL + "/pub/" + name, good.URL + "/os/" + name}
	})
	local := t.TempDir() + "/files.meta4"
	if err := os.WriteFile(local, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	served := newRepo(t, map[string][]byte{"files.meta4": []byte(doc)})
	for _, where := range []string{local, served.URL + "/files.meta4"} {
		t.Run(strings.TrimPrefix(where, served.URL), func(t *testing.T) {
			out := t.TempDir()
			res := fetchRun(t, t.Context(), "", "-retries", "0", "-metalink", where, "-o", out)
			if res.code != 0 {
				t.Fatalf("exit %d; want 0", res.code)
			}
			checkFiles(t, out, files)
		})
	}
	if got := good.Gets("/os/one.iso") + good.Gets("/os/sub/two.img"); got != 4 {
		t.Errorf("the good mirror was asked %d times; want 4 (two files, two runs)", got)
	}
}

// TestGetMetalinkRefused: a Metalink that cannot be read fails naming the
// document, and nothing is downloaded.
func TestGetMetalinkRefused(t *testing.T) {
	body := []byte("the file")
	files := newRepo(t, map[string][]byte{"a": body})
	file := func(inner string) string {
		return `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a"><size>8</size>` + inner +
			`<url>` + files.URL + `/a</url></file></metalink>`
	}
	for name, doc := range map[string]string{
		"not XML":           "<html><body>Bad Gateway",
		"short hash":        file(`<hash type="sha-256">` + fetchtest.SHA256(body)[:60] + `</hash>`),
		"unknown scheme":    file(`<url priority="1">gopher://a.example/a</url>`),
		"other namespace":   `<metalink xmlns="http://example.org/"><file name="a"/></metalink>`,
		"no URL":            `<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="a"><size>8</size></file></metalink>`,
		"name out of -o":    strings.Replace(file(""), `name="a"`, `name="../a"`, 1),
		"metalink 3 no url": fetchtest.Metalink3(body, body, ""),
	} {
		t.Run(name, func(t *testing.T) {
			doc := newRepo(t, map[string][]byte{"doc.meta4": []byte(doc)})
			out := t.TempDir()
			res := fetchRun(t, t.Context(), "", "-metalink", doc.URL+"/doc.meta4", "-o", out)
			if res.code != 1 {
				t.Errorf("exit %d; want 1", res.code)
			}
			if !strings.Contains(res.stderr, doc.URL+"/doc.meta4") {
				t.Errorf("stderr does not name the document:\n%s", res.stderr)
			}
			if n := len(files.Asked()); n != 0 {
				t.Errorf("%d downloads; want none", n)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("-o DIR holds %d files; want none", len(entries))
			}
		})
	}
}

// TestProxyMetalink: fetch proxy takes its upstream and mirrors from a
// Metalink or a mirrorlist: a dead mirror first, the good one after it.
func TestProxyMetalink(t *testing.T) {
	repomd := []byte("<repomd>current</repomd>")
	pkg := fetchtest.Blob(5000, 21)
	good := newRepo(t, map[string][]byte{"os/repodata/repomd.xml": repomd, "os/Packages/a.rpm": pkg})
	dead := fetchtest.DeadURL(t)
	docs := newRepo(t, map[string][]byte{
		"metalink":   []byte(fetchtest.Metalink3(repomd, repomd, fetchtest.MetalinkURLs(dead+"/pub/os/", good.URL+"/os/"))),
		"mirrorlist": []byte("# mirrors of os\n\n" + dead + "/pub/os/\n  # the good one\n" + good.URL + "/os/\n"),
	})
	for _, kind := range []string{"metalink", "mirrorlist"} {
		t.Run(kind, func(t *testing.T) {
			run := startProxy(t, "-"+kind, docs.URL+"/"+kind, "-cache", t.TempDir(), "-retries", "0")
			for path, want := range map[string][]byte{"/repodata/repomd.xml": repomd, "/Packages/a.rpm": pkg} {
				resp, err := run.client.Get(run.url + path)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
					t.Errorf("GET %s: %d, %d bytes, %v; want 200 and the file", path, resp.StatusCode, len(body), err)
				}
			}
			if code := run.wait(t); code != exitOK {
				t.Errorf("exit %d; want 0", code)
			}
		})
	}

	// A document that cannot be read: the proxy does not start.
	bad := newRepo(t, map[string][]byte{"metalink": []byte("<html>502</html>")})
	var stderr bytes.Buffer
	if code := runProxy(t.Context(), []string{"-metalink", bad.URL + "/metalink", "-cache", t.TempDir()}, io.Discard, &stderr); code != exitFailed {
		t.Errorf("unreadable Metalink: exit %d; want %d", code, exitFailed)
	}
	if !strings.Contains(stderr.String(), bad.URL+"/metalink") {
		t.Errorf("stderr does not name the document: %s", stderr.String())
	}
}

// TestGetMetalink3: fetch -metalink takes MirrorManager's Metalink 3 too:
// its repomd.xml, from the mirror of best preference that serves it.
func TestGetMetalink3(t *testing.T) {
	repomd := []byte("<repomd>current</repomd>")
	stale := newRepo(t, map[string][]byte{"os/repodata/repomd.xml": []byte("<repomd>older</repomd>")})
	good := newRepo(t, map[string][]byte{"os/repodata/repomd.xml": repomd})
	doc := fetchtest.Metalink3(repomd, []byte("<repomd>older</repomd>"), fetchtest.MetalinkURLs(stale.URL+"/os/", good.URL+"/os/"))
	docs := newRepo(t, map[string][]byte{"metalink": []byte(doc)})
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-retries", "0", "-metalink", docs.URL+"/metalink", "-o", out)
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"repomd.xml": repomd})
}
