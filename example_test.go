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
// digest, and links each to its artifact through Tag.
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
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for name, sum := range artifacts {
			reqs <- fetch.Request{
				URL:     repo.URL + "/" + name,
				Path:    filepath.Join(dir, name),
				Digests: map[string]string{"sha256": sum},
				Tag:     name,
			}
		}
	}()
	var lines []string
	for r := range f.FetchAll(context.Background(), reqs) {
		if r.Err != nil {
			lines = append(lines, fmt.Sprintf("%s: failed: %v", r.Request.Tag, r.Err))
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %d bytes, verified", r.Request.Tag, r.Size))
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// a.txt: 6 bytes, verified
	// b.txt: 4 bytes, verified
}
