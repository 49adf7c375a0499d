package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestPlantedFIFO plants a FIFO where a download keeps its partial file
// (or its guard): the download never reads or writes it, never publishes
// it at Path, and, cancelled, returns: a write to a pipe that nobody reads
// would block it past its context.
func TestPlantedFIFO(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		guard  bool // the FIFO is the guard, beside a partial file
		cancel bool // the server stalls half-way, and the download is cancelled
	}{
		{"small", 1 << 10, false, false},
		{"large", 4 << 20, false, false},
		{"large, cancelled", 4 << 20, false, true},
		{"guard", 4 << 20, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fetchtest.Blob(tc.size, 1)
			doc := fetchtest.Doc{Body: data, ETag: `"v1"`}
			s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				if tc.cancel {
					s.Stall(w, r, doc, len(data)/2)
					return
				}
				s.Serve(w, r, doc, -1)
			})
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			at := fetch.PartialPath(path)
			if tc.guard {
				if err := os.WriteFile(at, data[:1000], 0o644); err != nil {
					t.Fatal(err)
				}
				at += ".guard"
			}
			fifo := fetchtest.PlantFIFO(t, at)
			f := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true, Retries: -1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			written := make(chan struct{}) // closed once 1 MiB was written
			var once sync.Once
			req := fetch.Request{URL: s.URL + "/f", Path: path, Size: int64(len(data)),
				Digests: map[string]string{"sha256": fetchtest.SHA256(data)},
				Progress: func(n, total int64) {
					if n >= 1<<20 {
						once.Do(func() { close(written) })
					}
				}}
			done := make(chan error, 1)
			go func() {
				_, err := f.Fetch(ctx, req)
				done <- err
			}()
			// Cancelled once 1 MiB was written, or once the FIFO holds
			// bytes; for good, the download is blocked on its buffer.
			var err error
			for wait := time.Minute; ; wait -= 10 * time.Millisecond {
				if tc.cancel && fifo.Buffered() > 0 {
					cancel()
				}
				select {
				case err = <-done:
				case <-written:
					if tc.cancel {
						cancel()
					}
					written = nil
					continue
				case <-time.After(10 * time.Millisecond):
					if wait > 0 {
						continue
					}
					// Not a measure of speed: the download is blocked on
					// the pipe. Its goroutine is left blocked.
					t.Fatalf("Fetch has not returned after a minute (cancelled: %v; %d bytes in the FIFO)", ctx.Err() != nil, fifo.Buffered())
				}
				break
			}
			switch {
			case tc.cancel && !errors.Is(err, context.Canceled):
				t.Errorf("got %v; want context.Canceled", err)
			case !tc.cancel && err != nil:
				t.Errorf("got %v; want the file", err)
			}
			fi, lerr := os.Lstat(path)
			switch {
			case tc.cancel && lerr == nil:
				t.Errorf("a cancelled download left a %v at Path", fi.Mode().Type())
			case !tc.cancel && (lerr != nil || !fi.Mode().IsRegular()):
				t.Errorf("Path: %v, %v; want a regular file", fi, lerr)
			case !tc.cancel:
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
					t.Errorf("Path: %d bytes, %v; want the %d bytes served", len(got), err, len(data))
				}
			}
			if n := fifo.Buffered(); n > 0 {
				t.Errorf("%d bytes were written to the FIFO; want none", n)
			}
		})
	}
}

// TestRemoveLeftoversPlanted: what is planted under the names of partial
// and guard files (a FIFO, symbolic links to a file inside and outside the
// tree, a guard beside a link) goes with the leftovers, without an error,
// and nothing a link leads to is touched.
func TestRemoveLeftoversPlanted(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "target")
	fetchtest.WriteTree(t, dir, map[string][]byte{"a/x": []byte("x"), "a/.l.part.guard": []byte("{}"), "a/.o.part.guard": []byte("{}")})
	if err := os.WriteFile(target, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	fetchtest.PlantFIFO(t, filepath.Join(dir, "a", ".f.part"))
	for name, to := range map[string]string{"a/.l.part": "x", "a/.o.part": target, ".d.part": "a"} {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	removed, err := fetch.RemoveLeftovers(root, nil)
	slices.Sort(removed)
	if want := []string{".d.part", "a/.f.part", "a/.l.part", "a/.l.part.guard", "a/.o.part", "a/.o.part.guard"}; err != nil || !slices.Equal(removed, want) {
		t.Errorf("removed %q, %v; want %q", removed, err, want)
	}
	for _, p := range []string{filepath.Join(dir, "a", "x"), target} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a link's target: %v", err)
		}
	}
}
