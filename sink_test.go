package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

func TestLongFileName(t *testing.T) {
	content := fetchtest.Blob(70000, 1)
	for _, n := range []int{200, 237, 250, 255, 255 + 1000} {
		keep := n > 255 // the partial file of a long name, with its guard
		n = min(n, 255)
		name := strings.Repeat("é", n/2) + strings.Repeat("x", n%2) // cut between characters
		s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/f": content}))
		dir := t.TempDir()
		_, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: keep}).Fetch(fetchtest.Context(t), fetch.Request{
			URL: s.URL + "/f", Path: filepath.Join(dir, name), Digests: fetchtest.Digests(content),
		})
		if err != nil {
			t.Fatalf("%d bytes: %v", len(name), err)
		}
		if got := readFile(t, filepath.Join(dir, name)); !bytes.Equal(got, content) {
			t.Errorf("%d bytes: got %d bytes; want %d", len(name), len(got), len(content))
		}
		onlyFiles(t, dir, name)
	}
}

func TestSizeKnown(t *testing.T) {
	endless := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	})
	empty := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name    string
		handler http.Handler
		req     fetch.Request
		wantErr bool
	}{
		{name: "0 known, endless body", handler: endless, req: fetch.Request{SizeKnown: true}, wantErr: true},
		{name: "0 known, empty body", handler: empty, req: fetch.Request{SizeKnown: true, Digests: fetchtest.Digests(nil)}},
		{name: "0 unknown, empty body", handler: empty, req: fetch.Request{}},
		{name: "negative known", handler: empty, req: fetch.Request{Size: -1, SizeKnown: true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(tt.handler))
			dir := t.TempDir()
			req := tt.req
			req.URL, req.Path = s.URL+"/x", filepath.Join(dir, "x")
			res, err := fetchtest.Fetcher(t, fetch.Options{Retries: -1}).Fetch(fetchtest.Context(t), req)
			if tt.wantErr {
				var se *fetch.SizeError
				if !errors.As(err, &se) && !errors.Is(err, fetch.ErrInvalidRequest) {
					t.Fatalf("got %v; want a SizeError or ErrInvalidRequest", err)
				}
				if se != nil && (se.Expected != 0 || se.Actual != 1) {
					t.Errorf("got %+v; want expected 0, actual 1: cut at the first byte", se)
				}
				onlyFiles(t, dir)
				return
			}
			if err != nil || res.Size != 0 {
				t.Fatalf("got %d bytes, %v; want 0, nil", res.Size, err)
			}
			onlyFiles(t, dir, "x")
		})
	}
}

func TestRoot(t *testing.T) {
	content := fetchtest.Blob(50000, 2)
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/f": content}))
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in", filepath.Join(dir, "inlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "in"), filepath.Join(dir, "abslink")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f := fetchtest.Fetcher(t, fetch.Options{})
	tests := []struct {
		path    string
		invalid bool // ErrInvalidRequest, no transfer
		fails   bool
	}{
		{path: "a/b/x"},
		{path: "inlink/x"},               // a link that stays inside
		{path: "abslink/x", fails: true}, // os.Root refuses an absolute link
		{path: "link/x", fails: true},
		{path: "link/deeper/x", fails: true},
		{path: "../x", invalid: true},
		{path: filepath.Join(outside, "x"), invalid: true},
		{path: "", invalid: true},
	}
	// Fetch looks below root through os.Root; FetchAll's workers through
	// a descriptor of root's folder (openat2 on Linux): the same answers.
	fetchAll := func(ctx context.Context, req fetch.Request) (fetch.Result, error) {
		reqs := make(chan fetch.Request, 1)
		reqs <- req
		close(reqs)
		res := <-f.FetchAll(ctx, reqs)
		return res, res.Err
	}
	for _, run := range []struct {
		name  string
		fetch func(context.Context, fetch.Request) (fetch.Result, error)
	}{{"Fetch", f.Fetch}, {"FetchAll", fetchAll}} {
		for _, tt := range tests {
			os.RemoveAll(filepath.Join(dir, "a"))
			os.Remove(filepath.Join(dir, "in", "x"))
			res, err := run.fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/f", Root: root, Path: tt.path, Digests: fetchtest.Digests(content)})
			tt.path = run.name + " " + tt.path
			switch {
			case tt.invalid && !errors.Is(err, fetch.ErrInvalidRequest):
				t.Errorf("%q: got %v; want ErrInvalidRequest", tt.path, err)
			case tt.invalid && res.Attempts != 0:
				t.Errorf("%q: %d attempts; want none", tt.path, res.Attempts)
			case tt.fails && err == nil:
				t.Errorf("%q: no error; want a write refused", tt.path)
			case !tt.invalid && !tt.fails && err != nil:
				t.Errorf("%q: %v", tt.path, err)
			case !tt.invalid && !tt.fails:
				if got := readFile(t, filepath.Join(dir, strings.TrimPrefix(tt.path, run.name+" "))); !bytes.Equal(got, content) {
					t.Errorf("%q: got %d bytes; want %d", tt.path, len(got), len(content))
				}
			}
		}
	}
	onlyFiles(t, outside)
	noPartials(t, dir)
}
