package fetch_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestNoNameWhileDownloading: on Linux a download writes an unnamed file,
// so that until it is verified and linked at Path nothing stands in
// Path's folder, and a process killed meanwhile leaves nothing behind;
// with KeepPartial too, as long as no guard is due.
func TestNoNameWhileDownloading(t *testing.T) {
	body := fetchtest.Blob(100000, 1)
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			half, release := make(chan struct{}), make(chan struct{})
			s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body[:len(body)/2])
				http.NewResponseController(w).Flush()
				close(half)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				w.Write(body[len(body)/2:])
			})
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			f := fetchtest.Fetcher(t, fetch.Options{KeepPartial: keep})
			done := make(chan error, 1)
			go func() {
				_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL, Path: filepath.Join(dir, "sub", "f"), Digests: fetchtest.Digests(body)})
				done <- err
			}()
			<-half
			onlyFiles(t, filepath.Join(dir, "sub"))
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "sub", "f")); !bytes.Equal(got, body) {
				t.Errorf("got %d bytes; want %d", len(got), len(body))
			}
			onlyFiles(t, filepath.Join(dir, "sub"), "f")
		})
	}
}

// TestReplaceAtPath: a file or a symbolic link already at Path is replaced
// by the downloaded file in one step; the file a link points to is left
// alone, below a Root or not.
func TestReplaceAtPath(t *testing.T) {
	body := fetchtest.Blob(5000, 2)
	s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	})
	f := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true})
	for _, tt := range []struct {
		name string
		make func(t *testing.T, path, outside string)
	}{
		{"file", func(t *testing.T, path, _ string) {
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"link", func(t *testing.T, path, outside string) {
			if err := os.Symlink(outside, path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		for _, rooted := range []bool{false, true} {
			t.Run(tt.name+"/root="+strconv.FormatBool(rooted), func(t *testing.T) {
				dir, out := t.TempDir(), t.TempDir()
				outside := filepath.Join(out, "target")
				if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
					t.Fatal(err)
				}
				tt.make(t, filepath.Join(dir, "f"), outside)
				req := fetch.Request{URL: s.URL, Path: filepath.Join(dir, "f"), Digests: fetchtest.Digests(body)}
				if rooted {
					root, err := os.OpenRoot(dir)
					if err != nil {
						t.Fatal(err)
					}
					defer root.Close()
					req.Root, req.Path = root, "f"
				}
				if _, err := f.Fetch(fetchtest.Context(t), req); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(dir, "f")); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("Path: %v, %v; want a regular file", fi, err)
				}
				if got := readFile(t, filepath.Join(dir, "f")); !bytes.Equal(got, body) {
					t.Errorf("got %d bytes; want %d", len(got), len(body))
				}
				if got := readFile(t, outside); string(got) != "outside" {
					t.Errorf("the link's target was written: %q", got)
				}
				onlyFiles(t, dir, "f")
			})
		}
	}
}

// TestWaitingHoldsNoDescriptor: requests that wait for a connection hold
// no file descriptor, so that thousands of Fetch calls waiting on the
// Limiter cannot use up the process's descriptors; Path's folder is
// opened by the first byte.
func TestWaitingHoldsNoDescriptor(t *testing.T) {
	const waiting = 64
	body := fetchtest.Blob(1000, 3)
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			first, release := make(chan struct{}), make(chan struct{})
			s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					close(first)
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				w.Write(body)
			})
			f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(1, 1), KeepPartial: keep})
			dir := t.TempDir()
			errs := make(chan error, waiting+1)
			get := func(i int) {
				_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL, Path: filepath.Join(dir, strconv.Itoa(i)), Digests: fetchtest.Digests(body)})
				errs <- err
			}
			go get(0)
			<-first
			before := openDescriptors(t)
			for i := range waiting {
				go get(i + 1)
			}
			for f.Stats().InFlight < waiting+1 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // for each to reach the Limiter
			if n := openDescriptors(t) - before; n >= waiting/4 {
				t.Errorf("%d requests waiting for a connection hold %d more descriptors; want next to none", waiting, n)
			}
			close(release)
			for range waiting + 1 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// openDescriptors counts the descriptors the process has open.
func openDescriptors(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
