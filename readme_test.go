package fetch_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/mirror"
	"github.com/fetchkit/fetch/proxy"
)

// TestREADMESnippets: every Go snippet of README.md is, as written, in a
// test file of the module (indented as a whole at most), where the
// compiler builds it and a test or an example runs it. A snippet edited in
// README.md alone fails here.
func TestREADMESnippets(t *testing.T) {
	t.Parallel()
	snippets := goBlocks(t, "README.md")
	if len(snippets) == 0 {
		t.Fatal("README.md: no Go snippet found")
	}
	var sources [][]string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sources = append(sources, strings.Split(string(b), "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snippets {
		found := false
		for _, lines := range sources {
			if containsBlock(lines, s.lines) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md:%d: the Go snippet that starts %q is in no test file as written", s.line, s.lines[0])
		}
	}
}

// snippet is a fenced Go block of a Markdown file.
type snippet struct {
	line  int // of its first line of code
	lines []string
}

// goBlocks returns the ```go blocks of the Markdown file name.
func goBlocks(t *testing.T, name string) []snippet {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out []snippet
		cur *snippet
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = &snippet{line: n + 1}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, strings.TrimRight(line, " \t"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: a Go snippet that does not end", name, cur.line)
	}
	return out
}

// containsBlock reports whether block is in lines, each of its non-empty
// lines behind the same indentation of tabs.
func containsBlock(lines, block []string) bool {
	for i := range lines {
		if i+len(block) > len(lines) {
			return false
		}
		indent, ok := strings.CutSuffix(strings.TrimRight(lines[i], " \t"), block[0])
		if !ok || strings.Trim(indent, "\t") != "" {
			continue
		}
		match := true
		for k, want := range block {
			got := strings.TrimRight(lines[i+k], " \t")
			if want == "" && got == "" || got == indent+want {
				continue
			}
			match = false
			break
		}
		if match {
			return true
		}
	}
	return false
}

// artifact is a file that README.md's importer downloads.
type artifact struct {
	URL     string
	Mirrors []string
	Path    string
	Size    int64
	SHA256  string
}

// TestREADMEImporter runs README.md's importer, cancelled midway, as an
// importer cancelled by its user is: the producer stops, FetchAll ends,
// and no goroutine is left behind. It runs alone, so that goleak sees only
// its goroutines.
func TestREADMEImporter(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // the last cleanup: after the server's
	files := make(map[string][]byte)
	for i := range 400 {
		files[fmt.Sprintf("/pool/%03d.rpm", i)] = fetchtest.Blob(2000+i, uint64(i))
	}
	repo := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files))
	dir := t.TempDir()
	var artifacts []artifact
	for name, b := range files {
		artifacts = append(artifacts, artifact{
			URL: repo.URL + name, Path: filepath.Join(dir, name), Size: int64(len(b)), SHA256: fetchtest.SHA256(b),
		})
	}
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	defer cancel()
	linked := 0
	link := func(tag any, sha256 string) {
		if a := tag.(artifact); a.SHA256 != sha256 {
			t.Errorf("%s: linked with sha256 %s; want %s", a.URL, sha256, a.SHA256)
		}
		if linked++; linked == 20 {
			cancel() // the user gives up
		}
	}
	var failures bytes.Buffer
	log.SetOutput(&failures)
	defer log.SetOutput(os.Stderr)
	flags := log.Flags()
	log.SetFlags(0)
	defer log.SetFlags(flags)

	f := fetch.New(fetch.Options{Limiter: fetch.NewLimiter(16, 8)}) // 16 transfers, 8 per host
	defer f.Close()

	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for _, a := range artifacts { // read from a database, a manifest, ...
			req := fetch.Request{
				URL:           a.URL,
				Mirrors:       a.Mirrors,
				Path:          a.Path,
				Size:          a.Size,
				Digests:       map[string]string{"sha256": a.SHA256},
				Tag:           a,    // handed back in Result.Request.Tag
				CheckExisting: true, // a second run keeps the files in place
			}
			select {
			case reqs <- req:
			case <-ctx.Done(): // FetchAll takes no more requests
				return
			}
		}
	}()
	for r := range f.FetchAll(ctx, reqs) {
		if r.Err != nil {
			log.Print(r.Err) // it names the URL
			continue
		}
		link(r.Request.Tag, r.Digests["sha256"])
	}

	if linked < 20 || linked >= len(artifacts) {
		t.Errorf("linked %d files; want the run cut after 20 of %d", linked, len(artifacts))
	}
	for _, line := range strings.Split(strings.TrimSpace(failures.String()), "\n") {
		if line == "" {
			continue
		}
		if !strings.Contains(line, repo.URL+"/pool/") || !strings.HasSuffix(line, context.Canceled.Error()) {
			t.Errorf("failure line %q; want its URL once, cancelled", line)
		}
		if strings.Count(line, repo.URL) != 1 {
			t.Errorf("failure line %q names its URL %d times; want once", line, strings.Count(line, repo.URL))
		}
	}
}

// TestREADMEStreamer serves a file with README.md's proxy.Streamer.
func TestREADMEStreamer(t *testing.T) {
	t.Parallel()
	body := fetchtest.Blob(3000, 45)
	upstream := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(map[string][]byte{"/a.rpm": body})).URL
	f := fetchtest.Fetcher(t, fetch.Options{})

	s := proxy.NewStreamer(f, proxy.StreamerOptions{})
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.Serve(w, r, fetch.Request{URL: upstream + r.URL.Path})
	})

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for name, want := range map[string]int{"/a.rpm": http.StatusOK, "/missing.rpm": http.StatusNotFound} {
		resp, err := http.Get(srv.URL + name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != want || want == http.StatusOK && !bytes.Equal(b, body) {
			t.Errorf("%s: %d, %d bytes, %v; want %d", name, resp.StatusCode, len(b), err, want)
		}
	}
}

// TestREADMEMirrorList builds README.md's Fetcher with a mirror.List: a
// URL outside the List's base keeps its own URL, without a load of the
// list.
func TestREADMEMirrorList(t *testing.T) {
	t.Parallel()
	body := fetchtest.Blob(1000, 46)
	o := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(map[string][]byte{"/a": body}))

	list := mirror.NewList("https://repo.example/os/", "https://repo.example/mirrorlist", mirror.Options{})
	f := fetch.New(fetch.Options{Resolver: list})

	defer f.Close()
	var got bytes.Buffer
	if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/a", Writer: &got}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("got %d other bytes; want the file", got.Len())
	}
}

// TestErrNamesURL: Result.Err names the request's URL, also when the
// request fails before any transfer, so that a failure line prints it
// alone.
func TestErrNamesURL(t *testing.T) {
	t.Parallel()
	const u = "http://127.0.0.1:9/pool/a.rpm"
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f := fetchtest.Fetcher(t, fetch.Options{})
	for _, tc := range []struct {
		name string
		req  fetch.Request
	}{
		{"unknown algorithm", fetch.Request{URL: u, Digests: map[string]string{"crc32": "00"}}},
		{"malformed digest", fetch.Request{URL: u, Digests: map[string]string{"sha256": "00"}}},
		{"path outside Root", fetch.Request{URL: u, Path: "../a.rpm", Root: root}},
		{"unsupported scheme", fetch.Request{URL: "gopher://127.0.0.1:9/pool/a.rpm"}},
	} {
		_, err := f.Fetch(fetchtest.Context(t), tc.req)
		if !errors.Is(err, fetch.ErrInvalidRequest) || strings.Count(err.Error(), tc.req.URL) != 1 {
			t.Errorf("%s: got %v; want ErrInvalidRequest naming %s once", tc.name, err, tc.req.URL)
		}
	}
}
