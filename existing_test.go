package fetch_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/google/go-cmp/cmp"
)

func TestCheckExisting(t *testing.T) {
	served := genFiles(1, 20<<10)["/f/00000"]
	other := bytes.Clone(served)
	other[100] ^= 0xff // same size, other bytes
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/file.bin": served}))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	md5Hex := func(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }

	for _, tc := range []struct {
		name    string
		present []byte // the file at Path before; nil: none
		link    bool   // Path is a symbolic link to the file
		check   bool
		size    int64
		digests map[string]string
		skipped bool
	}{
		{name: "in place", present: served, check: true, size: int64(len(served)), digests: fetchtest.Digests(served), skipped: true},
		{name: "digest only", present: served, check: true, digests: map[string]string{"md5": md5Hex(served)}, skipped: true},
		{name: "size only", present: served, check: true, size: int64(len(served)), skipped: true},
		{name: "other bytes", present: other, check: true, size: int64(len(served)), digests: fetchtest.Digests(served)},
		{name: "shorter", present: served[:1000], check: true, digests: fetchtest.Digests(served)},
		{name: "longer", present: append(bytes.Clone(served), 'x'), check: true, digests: fetchtest.Digests(served)},
		{name: "nothing to check against", present: served, check: true},
		{name: "no file", check: true, digests: fetchtest.Digests(served)},
		{name: "symbolic link", present: served, link: true, check: true, digests: fetchtest.Digests(served)},
		{name: "not asked", present: served, digests: fetchtest.Digests(served)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file.bin")
			if tc.present != nil {
				target := path
				if tc.link {
					target = filepath.Join(dir, "target")
					if err := os.Symlink(target, path); err != nil {
						t.Skipf("no symbolic links here: %v", err)
					}
				}
				if err := os.WriteFile(target, tc.present, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hits := s.Hits.Load()
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{
				URL: s.URL + "/file.bin", Path: path, Size: tc.size, Digests: tc.digests, CheckExisting: tc.check,
			})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			requests := s.Hits.Load() - hits
			if res.Skipped != tc.skipped {
				t.Errorf("Skipped %v; want %v", res.Skipped, tc.skipped)
			}
			switch {
			case tc.skipped && (requests != 0 || res.Attempts != 0):
				t.Errorf("%d requests, %d attempts for a file in place; want none", requests, res.Attempts)
			case !tc.skipped && requests != 1:
				t.Errorf("%d requests; want 1", requests)
			}
			want := map[string]string{"sha256": fetchtest.SHA256(served)}
			if _, ok := tc.digests["md5"]; ok {
				want["md5"] = md5Hex(served)
			}
			if diff := cmp.Diff(want, res.Digests); diff != "" || res.Size != int64(len(served)) {
				t.Errorf("Size %d, Digests (-want +got):\n%s; want %d bytes", res.Size, diff, len(served))
			}
			if got := readFile(t, path); !bytes.Equal(got, served) {
				t.Errorf("Path holds %d bytes, not the %d served", len(got), len(served))
			}
			if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("Path is not a regular file: %v, %v", fi, err)
			}
			noPartials(t, dir)
		})
	}
}

// TestCheckExistingCancelled checks that a check cut short by ctx fails
// with ctx's error and leaves the file alone.
func TestCheckExistingCancelled(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(http.NotFoundHandler()))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	dir := t.TempDir()
	path := filepath.Join(dir, "file.bin")
	content := []byte("in place")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := f.Fetch(ctx, fetch.Request{URL: s.URL + "/file.bin", Path: path, Digests: fetchtest.Digests(content), CheckExisting: true})
	if !errors.Is(err, context.Canceled) || res.Skipped {
		t.Errorf("got Skipped %v, %v; want context.Canceled", res.Skipped, err)
	}
	if got := readFile(t, path); !bytes.Equal(got, content) {
		t.Errorf("file changed to %q", got)
	}
	if n := s.Hits.Load(); n != 0 {
		t.Errorf("%d requests; want none", n)
	}
}

// TestCheckExistingHoldsSlot checks that the check of a file in place
// waits for a transfer slot, as a download would.
func TestCheckExistingHoldsSlot(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(1, 1)}, s)
	ctx := fetchtest.Context(t)
	busy := make(chan error, 1)
	go func() {
		_, err := f.Fetch(ctx, fetch.Request{URL: s.URL + "/busy"})
		busy <- err
	}()
	<-started

	path := filepath.Join(t.TempDir(), "file.bin")
	content := []byte("in place")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	checked := make(chan fetch.Result, 1)
	go func() {
		res, _ := f.Fetch(ctx, fetch.Request{URL: s.URL + "/file.bin", Path: path, Digests: fetchtest.Digests(content), CheckExisting: true})
		checked <- res
	}()
	// A check that does not wait for the slot ends in well under this.
	time.Sleep(100 * time.Millisecond)
	select {
	case res := <-checked:
		t.Fatalf("check done (Skipped %v, %v) while the only slot was taken", res.Skipped, res.Err)
	case <-busy:
		t.Fatal("the busy transfer ended early")
	default:
	}
	close(release)
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	if res := <-checked; !res.Skipped || res.Err != nil {
		t.Errorf("got Skipped %v, %v; want the file kept", res.Skipped, res.Err)
	}
}
