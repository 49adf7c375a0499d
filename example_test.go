package fetch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fetchkit/fetch"
)

// An importer downloads many files at once, each verified against its
// digest, and links each to its artifact through Tag. Run again, it finds
// the files in place (CheckExisting) and downloads nothing; Stats counts
// what the Fetcher did. The producer stops when ctx is done, since
// FetchAll then takes no more requests.
func Example_importer() {
	repo := httptest.NewServer(http.FileServerFS(os.DirFS("testdata/repo")))
	defer repo.Close()
	dir, _ := os.MkdirTemp("", "importer")
	defer os.RemoveAll(dir)

	f := fetch.New(fetch.Options{Limiter: fetch.NewLimiter(8, 4)})
	defer f.Close()

	artifacts := map[string]string{ // relative path → sha256
		"a.txt": "b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060",
		"b.txt": "f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for run := 1; run <= 2; run++ {
		reqs := make(chan fetch.Request)
		go func() {
			defer close(reqs)
			for name, sum := range artifacts {
				req := fetch.Request{
					URL:           repo.URL + "/" + name,
					Path:          filepath.Join(dir, name),
					Digests:       map[string]string{"sha256": sum},
					Tag:           name,
					CheckExisting: true,
				}
				select {
				case reqs <- req:
				case <-ctx.Done(): // FetchAll takes no more requests
					return
				}
			}
		}()
		var lines []string
		for r := range f.FetchAll(ctx, reqs) {
			switch {
			case r.Err != nil:
				lines = append(lines, r.Err.Error()) // it names the URL
			case r.Skipped:
				lines = append(lines, fmt.Sprintf("%s: %d bytes, in place", r.Request.Tag, r.Size))
			default:
				lines = append(lines, fmt.Sprintf("%s: %d bytes, downloaded and verified", r.Request.Tag, r.Size))
			}
		}
		sort.Strings(lines)
		fmt.Printf("run %d:\n%s\n", run, strings.Join(lines, "\n"))
	}
	s := f.Stats()
	fmt.Printf("%d done, %d skipped, %d failed, %d bytes\n", s.Done, s.Skipped, s.Failed, s.Bytes)
	// Output:
	// run 1:
	// a.txt: 6 bytes, downloaded and verified
	// b.txt: 4 bytes, downloaded and verified
	// run 2:
	// a.txt: 6 bytes, in place
	// b.txt: 4 bytes, in place
	// 2 done, 2 skipped, 0 failed, 10 bytes
}
