package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

func TestFileURLs(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	content := []byte("local bytes")
	fetchtest.WriteTree(t, root, map[string][]byte{"a": content})
	fetchtest.WriteTree(t, outside, map[string][]byte{"secret": []byte("no")})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}

	f := fetchtest.Fetcher(t, fetch.Options{FileRoots: []string{root}})
	var buf bytes.Buffer
	res, err := f.Fetch(context.Background(), fetch.Request{
		URL: fileURL(filepath.Join(root, "a")), Writer: &buf, Size: int64(len(content)),
		Digests: map[string]string{"sha256": fetchtest.SHA256(content)},
	})
	if err != nil || !bytes.Equal(buf.Bytes(), content) || res.Header.Get("Last-Modified") == "" {
		t.Fatalf("got %q, %v, header %v; want the file's bytes and a Last-Modified", buf.Bytes(), err, res.Header)
	}
	tests := []struct {
		url  string
		want error
	}{
		{fileURL(filepath.Join(root, "missing")), fetch.ErrNotFound},
		{fileURL(filepath.Join(outside, "secret")), fetch.ErrInvalidRequest},
		{fileURL(filepath.Join(root, "link")), fetch.ErrInvalidRequest},
		{fileURL(filepath.Join(root, "..", filepath.Base(outside), "secret")), fetch.ErrInvalidRequest},
		{fileURL(root), fetch.ErrInvalidRequest},
	}
	for _, tt := range tests {
		if _, err := f.Fetch(context.Background(), fetch.Request{URL: tt.url, Writer: &bytes.Buffer{}}); !errors.Is(err, tt.want) {
			t.Errorf("Fetch(%s): got %v; want %v", tt.url, err, tt.want)
		}
	}

	// Without FileRoots, file URLs are refused.
	none := fetchtest.Fetcher(t, fetch.Options{})
	if _, err := none.Fetch(context.Background(), fetch.Request{URL: fileURL(filepath.Join(root, "a"))}); !errors.Is(err, fetch.ErrInvalidRequest) {
		t.Errorf("file URL without FileRoots: got %v; want ErrInvalidRequest", err)
	}
}
