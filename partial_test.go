package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// versioned serves one file whose content the test may change, with a
// strong ETag (unless noValidator), ranges, and a cut after cut bytes of
// the next response. It records the Range of each request.
type versioned struct {
	mu          sync.Mutex
	body        []byte
	noValidator bool
	cut         int
	ranges      []string
}

func (v *versioned) set(body []byte, cut int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.body, v.cut = body, cut
}

func (v *versioned) requests() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.ranges)
}

func (v *versioned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	body, cut := v.body, v.cut
	v.cut = 0
	v.ranges = append(v.ranges, r.Header.Get("Range"))
	v.mu.Unlock()
	if !v.noValidator {
		w.Header().Set("Etag", `"`+fetchtest.SHA256(body)[:16]+`"`)
	}
	if cut == 0 {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body[:cut])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func TestKeepPartial(t *testing.T) {
	v1, v2 := fetchtest.Blob(300000, 1), fetchtest.Blob(300000, 2)
	tests := []struct {
		name        string
		noValidator bool
		digests     bool
		change      bool // the file changes between the runs
		wantRange   string
		want        []byte
	}{
		{name: "etag", wantRange: "bytes=100000-", want: v1},
		{name: "etag and digest", digests: true, wantRange: "bytes=100000-", want: v1},
		{name: "digest only", noValidator: true, digests: true, wantRange: "bytes=100000-", want: v1},
		{name: "changed, etag", change: true, wantRange: "bytes=100000-", want: v2},
		{name: "changed, digest only", noValidator: true, digests: true, change: true, wantRange: "bytes=100000-", want: v2},
		{name: "nothing guards", noValidator: true, wantRange: "", want: v1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &versioned{noValidator: tt.noValidator}
			v.set(v1, 100000)
			s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			req := fetch.Request{URL: s.URL + "/file", Path: path}
			if tt.digests {
				req.Digests = fetchtest.Digests(v1)
				if tt.change {
					req.Digests = fetchtest.Digests(v2)
				}
			}
			res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true, Retries: -1}).Fetch(fetchtest.Context(t), req)
			if err == nil {
				t.Fatal("first run: no error; want a cut body")
			}
			kept := tt.digests || !tt.noValidator
			if want := int64(100000); kept && res.Partial != want || !kept && res.Partial != 0 {
				t.Errorf("Result.Partial %d; want %d kept: %v", res.Partial, want, kept)
			}
			if got := dirNames(t, dir); kept && len(got) != 2 || !kept && len(got) != 0 {
				t.Errorf("after the first run: %q", got)
			}
			if kept {
				if _, err := os.Stat(fetch.PartialPath(path)); err != nil {
					t.Error(err)
				}
			}

			if tt.change {
				v.set(v2, 0)
			}
			if !kept {
				// Nothing was kept: the second run starts from zero.
				tt.wantRange = ""
			}
			res, err = fetchtest.Fetcher(t, fetch.Options{KeepPartial: true, Retries: -1}).Fetch(fetchtest.Context(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); !bytes.Equal(got, tt.want) {
				t.Errorf("got %d bytes; want the %d of the file served last", len(got), len(tt.want))
			}
			if res.Size != int64(len(tt.want)) || res.Digests["sha256"] != fetchtest.SHA256(tt.want) {
				t.Errorf("Result: size %d, sha256 %s; want those of the whole file", res.Size, res.Digests["sha256"])
			}
			if got := v.requests(); got[1] != tt.wantRange {
				t.Errorf("second run asked for %q; want %q (all: %q)", got[1], tt.wantRange, got)
			}
			if got := dirNames(t, dir, "file"); len(got) > 0 {
				t.Errorf("left behind: %q", got)
			}
		})
	}
}

func TestKeepPartialCancelled(t *testing.T) {
	content := fetchtest.Blob(1<<20, 3)
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	v := &versioned{}
	v.set(content, 0)
	var once sync.Once
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	req := fetch.Request{URL: s.URL + "/file", Path: path, Progress: func(written, total int64) {
		if written > 200000 {
			once.Do(cancel)
		}
	}}
	res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true}).Fetch(ctx, req)
	if !errors.Is(err, context.Canceled) || res.Partial == 0 {
		t.Fatalf("got %v, %d bytes kept; want context.Canceled and bytes kept", err, res.Partial)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a partial download is at Path")
	}
	req.Progress = nil
	req.Digests = fetchtest.Digests(content)
	// Another expected digest: the kept bytes are not resumed.
	if res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true}).Fetch(fetchtest.Context(t), req); err != nil || res.Size != int64(len(content)) {
		t.Fatalf("second run: %d bytes, %v", res.Size, err)
	}
	if got := v.requests(); got[1] != "" {
		t.Errorf("second run, with a digest the kept bytes did not expect, asked for %q; want the whole file", got[1])
	}
	onlyFiles(t, dir, "file")
}

// TestKeepPartialGuardWritten: while a download runs, the guard of its
// partial file is on disk (so that a process killed outright leaves bytes
// a later run can resume) once a MiB came, not before: a small file writes
// no second file. A download that ends keeps its bytes either way.
func TestKeepPartialGuardWritten(t *testing.T) {
	for _, tc := range []struct {
		at        int64
		wantGuard bool
	}{{at: 64 << 10, wantGuard: false}, {at: 3 << 20 / 2, wantGuard: true}} {
		t.Run(strconv.FormatInt(tc.at, 10), func(t *testing.T) {
			content := fetchtest.Blob(2<<20, 4)
			v := &versioned{}
			v.set(content, 0)
			s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			guard := fetch.PartialPath(path) + ".guard"
			ctx, cancel := context.WithCancel(fetchtest.Context(t))
			var once sync.Once
			var onDisk bool
			req := fetch.Request{URL: s.URL + "/file", Path: path, Progress: func(written, total int64) {
				if written >= tc.at {
					once.Do(func() {
						_, err := os.Stat(guard)
						onDisk = err == nil
						cancel()
					})
				}
			}}
			res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true}).Fetch(ctx, req)
			if !errors.Is(err, context.Canceled) || res.Partial == 0 {
				t.Fatalf("got %v, %d bytes kept; want context.Canceled and bytes kept", err, res.Partial)
			}
			if onDisk != tc.wantGuard {
				t.Errorf("guard on disk after %d bytes: %v; want %v", tc.at, onDisk, tc.wantGuard)
			}
			if _, err := os.Stat(guard); err != nil {
				t.Errorf("no guard beside the kept bytes: %v", err)
			}
			req.Progress = nil
			if res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true}).Fetch(fetchtest.Context(t), req); err != nil || res.Size != int64(len(content)) {
				t.Fatalf("second run: %d bytes, %v", res.Size, err)
			}
			if got := v.requests(); len(got) != 2 || got[1] == "" {
				t.Errorf("requests %q; want the second to resume", got)
			}
			onlyFiles(t, dir, "file")
		})
	}
}

func TestKeepPartialOff(t *testing.T) {
	v := &versioned{}
	v.set(fetchtest.Blob(100000, 4), 50000)
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
	dir := t.TempDir()
	res, err := fetchtest.Fetcher(t, fetch.Options{Retries: -1}).Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/f", Path: filepath.Join(dir, "f")})
	if err == nil || res.Partial != 0 {
		t.Errorf("got %v, %d bytes kept; want an error and nothing kept", err, res.Partial)
	}
	onlyFiles(t, dir)
}

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"a/.x.part", "a/.x.part.guard", "a/.y.1abc.part", ".z.part", ".z.part.guard", "a/plain.part", "a/.keep.part", "a/.keep.part.guard", "a/.orphan.part.guard"} {
		if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live, liveName, err := fetch.CreateTemp(root, "a/live")
	if err != nil {
		t.Fatal(err)
	}
	removed, err := fetch.RemoveLeftovers(root, func(name string) bool { return name == "a/.keep.part" })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{".z.part", ".z.part.guard", "a/.orphan.part.guard", "a/.x.part", "a/.x.part.guard", "a/.y.1abc.part"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q; want %q", removed, want)
	}
	onlyFiles(t, filepath.Join(dir, "a"), ".keep.part", ".keep.part.guard", filepath.Base(liveName), "plain.part")
	// Once its process lets go of it, a temporary file is a leftover too.
	live.Close()
	if removed, err := fetch.RemoveLeftovers(root, nil); err != nil || len(removed) != 3 {
		t.Errorf("removed %q, %v; want the 3 files kept before", removed, err)
	}
}

func TestRemoveLeftoversOf(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("l", 250)
	// A partial file of the long name, with its guard, left by a
	// download that failed.
	v := &versioned{}
	v.set(fetchtest.Blob(100000, 5), 50000)
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
	req := fetch.Request{URL: s.URL + "/f", Path: filepath.Join(dir, long)}
	if res, _ := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true, Retries: -1}).Fetch(fetchtest.Context(t), req); res.Partial == 0 {
		t.Fatal("nothing kept")
	}
	hashed := strings.TrimSuffix(filepath.Base(fetch.PartialPath(req.Path)), ".part") + ".3k9az.part"
	for _, name := range []string{".x.part", ".x.part.guard", ".x.3k9az.part", ".other.part", ".other.3k9az.part", "x", hashed} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A temporary file of a live download stays.
	live, liveName, err := fetch.CreateTemp(nil, filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	removed, err := fetch.RemoveLeftoversOf(nil, []string{filepath.Join(dir, "x"), req.Path})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 6 {
		t.Errorf("removed %q; want 6 files", removed)
	}
	onlyFiles(t, dir, ".other.3k9az.part", ".other.part", filepath.Base(liveName), "x")
}

func TestKeepPartialNotFound(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(http.NotFoundHandler()))
	dir := t.TempDir()
	res, err := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true}).Fetch(fetchtest.Context(t), fetch.Request{
		URL: s.URL + "/f", Path: filepath.Join(dir, "a", "b", "f"), Digests: fetchtest.Digests(nil),
	})
	if !errors.Is(err, fetch.ErrNotFound) || res.Partial != 0 {
		t.Errorf("got %v, %d bytes kept; want ErrNotFound and none", err, res.Partial)
	}
	onlyFiles(t, dir) // not even a folder
}

func TestKeepPartialCancelledReadingBack(t *testing.T) {
	v := &versioned{}
	v.set(fetchtest.Blob(300000, 6), 100000)
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Handler(v))
	dir := t.TempDir()
	req := fetch.Request{URL: s.URL + "/f", Path: filepath.Join(dir, "f")}
	f := fetchtest.Fetcher(t, fetch.Options{KeepPartial: true, Retries: -1})
	if res, _ := f.Fetch(fetchtest.Context(t), req); res.Partial != 100000 {
		t.Fatalf("%d bytes kept; want 100000", res.Partial)
	}
	ctx, cancel := context.WithCancel(fetchtest.Context(t))
	cancel()
	res, err := f.Fetch(ctx, req)
	if !errors.Is(err, context.Canceled) || res.Partial != 100000 {
		t.Errorf("got %v, %d bytes kept; want context.Canceled and the 100000 bytes still kept", err, res.Partial)
	}
	if fi, err := os.Stat(fetch.PartialPath(req.Path)); err != nil || fi.Size() != 100000 {
		t.Errorf("partial file: %v; want its 100000 bytes", err)
	}
}
