package fetch_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

const recordName = "user.fetch.verified"

// recordsIn returns a temporary folder whose file system keeps user
// extended attributes, or skips t.
func recordsIn(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if !fetchtest.Records(t, dir) {
		t.Skipf("no user extended attributes in %s", dir)
	}
	return dir
}

// reads counts, by path, the files in place that a Fetcher read.
type reads struct {
	mu    sync.Mutex
	paths map[string]int
}

func countReads(f *fetch.Fetcher) *reads {
	r := &reads{paths: map[string]int{}}
	fetch.OnRead(f, func(path string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.paths[path]++
	})
	return r
}

func (r *reads) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.paths {
		n += c
	}
	return n
}

// check fetches the file served at /file.bin to path with CheckExisting,
// and returns its Result, the files read in place and the requests made.
func check(t *testing.T, f *fetch.Fetcher, r *reads, s *fetchtest.Server, path string, body []byte, hash bool) (res fetch.Result, read int, requests int64) {
	t.Helper()
	before, hits := r.total(), s.Hits.Load()
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{
		URL: s.URL + "/file.bin", Path: path, Size: int64(len(body)), SizeKnown: true,
		Digests: fetchtest.Digests(body), CheckExisting: true, HashExisting: hash,
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return res, r.total() - before, s.Hits.Load() - hits
}

// downloaded downloads body, served at /file.bin by s, to path with f,
// whose reads of files in place r counts.
func downloaded(t *testing.T, body []byte) (f *fetch.Fetcher, r *reads, s *fetchtest.Server, path string) {
	t.Helper()
	s = fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/file.bin": body}))
	f = fetchtest.Fetcher(t, fetch.Options{}, s)
	r = countReads(f)
	path = filepath.Join(recordsIn(t), "file.bin")
	check(t, f, r, s, path, body, false)
	return f, r, s, path
}

// TestRecordTrusted checks that a file that fetch wrote, however it wrote
// it, is not read again by a later CheckExisting, nor by one after a read
// that found it matching.
func TestRecordTrusted(t *testing.T) {
	small := genFiles(1, 20<<10)["/f/00000"]
	large := fetchtest.Blob(3<<20, 7) // past the guard of a kept partial file: a named one
	for _, tc := range []struct {
		name string
		body []byte
		opts fetch.Options
	}{
		{name: "unnamed", body: small},
		{name: "kept partial file", body: large, opts: fetch.Options{KeepPartial: true}},
		{name: "segments", body: large, opts: fetch.Options{Segments: 3, MinSegmentSize: 1 << 20}},
		{name: "sync", body: small, opts: fetch.Options{Sync: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/file.bin": tc.body}))
			f := fetchtest.Fetcher(t, tc.opts, s)
			r := countReads(f)
			path := filepath.Join(recordsIn(t), "file.bin")
			if res, _, requests := check(t, f, r, s, path, tc.body, false); res.Skipped || requests == 0 {
				t.Fatalf("first fetch Skipped %v after %d requests; want a download", res.Skipped, requests)
			}
			res, read, requests := check(t, f, r, s, path, tc.body, false)
			if !res.Skipped || !res.Trusted || read != 0 || requests != 0 {
				t.Errorf("Skipped %v, Trusted %v, %d files read, %d requests; want trusted, nothing read or asked", res.Skipped, res.Trusted, read, requests)
			}
			if res.Size != int64(len(tc.body)) || res.Digests["sha256"] != fetchtest.SHA256(tc.body) {
				t.Errorf("Size %d, Digests %v; want those of the file", res.Size, res.Digests)
			}
			res, read, _ = check(t, f, r, s, path, tc.body, true)
			if !res.Skipped || res.Trusted || read != 1 {
				t.Errorf("HashExisting: Skipped %v, Trusted %v, %d files read; want the file hashed", res.Skipped, res.Trusted, read)
			}
		})
	}
}

// TestRecordChanged checks that a file changed behind fetch's back is read
// and downloaded again when its modification time moved, and only with
// HashExisting when it was set back.
func TestRecordChanged(t *testing.T) {
	body := genFiles(1, 20<<10)["/f/00000"]
	other := bytes.Clone(body)
	other[100] ^= 0xff
	for _, tc := range []struct {
		name     string
		restored bool // the modification time is set back
		hash     bool
		caught   bool
	}{
		{name: "mtime moved", caught: true},
		{name: "mtime moved, HashExisting", hash: true, caught: true},
		{name: "mtime restored", restored: true},
		{name: "mtime restored, HashExisting", restored: true, hash: true, caught: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, r, s, path := downloaded(t, body)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, other, 0o644); err != nil { // in place: same inode
				t.Fatal(err)
			}
			mtime := fi.ModTime().Add(time.Second)
			if tc.restored {
				mtime = fi.ModTime()
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			res, read, requests := check(t, f, r, s, path, body, tc.hash)
			switch {
			case tc.caught && (res.Skipped || read != 1 || requests != 1):
				t.Errorf("Skipped %v, %d files read, %d requests; want the file read and downloaded again", res.Skipped, read, requests)
			case !tc.caught && (!res.Trusted || read != 0 || requests != 0):
				t.Errorf("Trusted %v, %d files read, %d requests; want the record trusted", res.Trusted, read, requests)
			}
			if want := map[bool][]byte{true: body, false: other}[tc.caught]; !bytes.Equal(readFile(t, path), want) {
				t.Errorf("file holds other bytes than expected")
			}
			if tc.caught {
				if res, read, _ := check(t, f, r, s, path, body, false); !res.Trusted || read != 0 {
					t.Errorf("after the download again: Trusted %v, %d files read; want the new record trusted", res.Trusted, read)
				}
			}
		})
	}
}

// TestRecordIgnored checks that a record that is corrupt, or that was
// written for another path or inode, is ignored: the file is read, kept
// when it matches, and recorded again.
func TestRecordIgnored(t *testing.T) {
	body := genFiles(1, 20<<10)["/f/00000"]
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string) string // returns the path to check
	}{
		{name: "empty", spoil: setRecord(nil)},
		{name: "another version", spoil: setRecord([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
		{name: "garbage", spoil: setRecord(bytes.Repeat([]byte{0xff}, 200))},
		{name: "cut short", spoil: func(t *testing.T, path string) string {
			rec := getRecord(t, path)
			return setRecord(rec[:len(rec)-5])(t, path)
		}},
		{name: "a digest flipped", spoil: func(t *testing.T, path string) string {
			rec := getRecord(t, path)
			rec[len(rec)-1] ^= 1
			return setRecord(rec)(t, path)
		}},
		{name: "another path", spoil: func(t *testing.T, path string) string {
			moved := filepath.Join(filepath.Dir(path), "moved.bin") // same inode, size and time
			if err := os.Rename(path, moved); err != nil {
				t.Fatal(err)
			}
			return moved
		}},
		{name: "another inode", spoil: func(t *testing.T, path string) string {
			rec, fi := getRecord(t, path), stat(t, path)
			copied := path + ".copy"
			if err := os.WriteFile(copied, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(copied, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(copied, path); err != nil {
				t.Fatal(err)
			}
			return setRecord(rec)(t, path)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, r, s, path := downloaded(t, body)
			path = tc.spoil(t, path)
			res, read, requests := check(t, f, r, s, path, body, false)
			if !res.Skipped || res.Trusted || read != 1 || requests != 0 {
				t.Errorf("Skipped %v, Trusted %v, %d files read, %d requests; want the file read and kept", res.Skipped, res.Trusted, read, requests)
			}
			if res, read, _ := check(t, f, r, s, path, body, false); !res.Trusted || read != 0 {
				t.Errorf("checked again: Trusted %v, %d files read; want the record written anew and trusted", res.Trusted, read)
			}
		})
	}
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func getRecord(t *testing.T, path string) []byte {
	t.Helper()
	buf := make([]byte, 1024)
	n, err := syscall.Getxattr(path, recordName, buf)
	if err != nil {
		t.Fatalf("record of %s: %v", path, err)
	}
	return buf[:n]
}

func setRecord(rec []byte) func(t *testing.T, path string) string {
	return func(t *testing.T, path string) string {
		t.Helper()
		if err := syscall.Setxattr(path, recordName, rec, 0); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// TestRecordProcesses checks that two processes fetching the same files
// into one folder at once leave every file with a record that a later
// check trusts.
func TestRecordProcesses(t *testing.T) {
	const n = 200
	fs := genFiles(n, 4<<10)
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(fs))
	dir := recordsIn(t)
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestRecordChild$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), "FETCH_RECORD_CHILD="+s.URL, "FETCH_RECORD_DIR="+dir, fmt.Sprint("FETCH_RECORD_N=", n))
	}
	var out [2]bytes.Buffer
	for i, c := range cmds {
		c.Stdout, c.Stderr = &out[i], &out[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, out[i].Bytes())
		}
	}
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	r := countReads(f)
	var trusted atomic.Int64
	for res := range f.FetchAll(fetchtest.Context(t), recordRequests(s.URL, dir, fs)) {
		if res.Err != nil || !res.Skipped {
			t.Errorf("%s: Skipped %v, %v; want the file in place", res.Request.Path, res.Skipped, res.Err)
		}
		if res.Trusted {
			trusted.Add(1)
		}
	}
	if trusted.Load() != n || r.total() != 0 {
		t.Errorf("%d files trusted, %d read; want %d trusted, none read", trusted.Load(), r.total(), n)
	}
}

// TestRecordChild is a process of TestRecordProcesses.
func TestRecordChild(t *testing.T) {
	url := os.Getenv("FETCH_RECORD_CHILD")
	if url == "" {
		t.Skip("run by TestRecordProcesses")
	}
	var n int
	fmt.Sscan(os.Getenv("FETCH_RECORD_N"), &n)
	f := fetchtest.Fetcher(t, fetch.Options{})
	for res := range f.FetchAll(fetchtest.Context(t), recordRequests(url, os.Getenv("FETCH_RECORD_DIR"), genFiles(n, 4<<10))) {
		if res.Err != nil {
			t.Error(res.Err)
		}
	}
}

func recordRequests(url, dir string, fs files) <-chan fetch.Request {
	reqs := make(chan fetch.Request, len(fs))
	for p, b := range fs {
		reqs <- fetch.Request{URL: url + p, Path: filepath.Join(dir, filepath.FromSlash(p)), Digests: fetchtest.Digests(b), CheckExisting: true}
	}
	close(reqs)
	return reqs
}

// TestRecordOtherDigest checks that a record without a digest that a
// request asks for does not spare the read, and gains that digest.
func TestRecordOtherDigest(t *testing.T) {
	body := genFiles(1, 20<<10)["/f/00000"]
	f, r, s, path := downloaded(t, body) // sha256 only
	sum := md5.Sum(body)
	req := fetch.Request{URL: s.URL + "/file.bin", Path: path, Digests: map[string]string{"md5": hex.EncodeToString(sum[:])}, CheckExisting: true}
	for i, want := range []bool{false, true} {
		res, err := f.Fetch(fetchtest.Context(t), req)
		if err != nil || !res.Skipped || res.Trusted != want {
			t.Errorf("check %d: Skipped %v, Trusted %v, %v; want the file in place, trusted %v", i+1, res.Skipped, res.Trusted, err, want)
		}
		if res.Digests["md5"] != req.Digests["md5"] || res.Digests["sha256"] != fetchtest.SHA256(body) {
			t.Errorf("check %d: Digests %v; want its md5 and sha256", i+1, res.Digests)
		}
	}
	if n := r.total(); n != 1 {
		t.Errorf("%d reads; want 1", n)
	}
}

// TestRecordRootWays checks that a file in place below a Root gets the
// same Result from FetchAll, whose workers open it in one system call
// below the Root's folder, as from Fetch, which walks the Root: whatever
// stands at Path, and wherever a link on the way leads.
func TestRecordRootWays(t *testing.T) {
	body := genFiles(1, 20<<10)["/f/00000"]
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/file.bin": body}))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	outside := recordsIn(t)
	for _, tc := range []struct {
		name  string
		path  string                 // of the request, below the Root
		plant func(dir string) error // after f/file.bin was fetched
	}{
		{name: "in place", path: "f/file.bin"},
		{name: "link to it", path: "f/link.bin", plant: func(dir string) error {
			return os.Symlink("file.bin", filepath.Join(dir, "f/link.bin"))
		}},
		{name: "folder link", path: "g/file.bin", plant: func(dir string) error {
			return os.Symlink("f", filepath.Join(dir, "g"))
		}},
		{name: "absolute folder link", path: "g/file.bin", plant: func(dir string) error {
			return os.Symlink(filepath.Join(dir, "f"), filepath.Join(dir, "g"))
		}},
		{name: "folder link out", path: "g/file.bin", plant: func(dir string) error {
			if err := os.WriteFile(filepath.Join(outside, "file.bin"), body, 0o644); err != nil {
				return err
			}
			return os.Symlink(outside, filepath.Join(dir, "g"))
		}},
		{name: "FIFO", path: "f/fifo.bin", plant: func(dir string) error {
			fetchtest.PlantFIFO(t, filepath.Join(dir, "f/fifo.bin"))
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			for i, all := range []bool{false, true} {
				dir := recordsIn(t)
				root, err := os.OpenRoot(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer root.Close()
				if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/file.bin", Root: root, Path: "f/file.bin", Digests: fetchtest.Digests(body)}); err != nil {
					t.Fatal(err)
				}
				if tc.plant != nil {
					if err := tc.plant(dir); err != nil {
						t.Fatal(err)
					}
				}
				req := fetch.Request{URL: s.URL + "/file.bin", Root: root, Path: tc.path, Size: int64(len(body)), SizeKnown: true,
					Digests: fetchtest.Digests(body), CheckExisting: true}
				var res fetch.Result
				if all {
					reqs := make(chan fetch.Request, 1)
					reqs <- req
					close(reqs)
					for r := range f.FetchAll(fetchtest.Context(t), reqs) {
						res = r
					}
				} else {
					res, _ = f.Fetch(fetchtest.Context(t), req)
				}
				got[i] = fmt.Sprintf("Skipped %v, Trusted %v, Err %v", res.Skipped, res.Trusted, res.Err != nil)
			}
			if got[0] != got[1] {
				t.Errorf("Fetch: %s; FetchAll: %s", got[0], got[1])
			}
			if want := "Skipped true, Trusted true, Err false"; tc.name == "in place" && got[1] != want {
				t.Errorf("%s; want %s", got[1], want)
			}
		})
	}
}

// BenchmarkTrusted measures a check of files in place that fetch
// verified, as a re-sync makes it: FetchAll with CheckExisting below a
// Root, every file trusted by its record. Its figures per file are those
// of one request, the system calls and allocations of the trusted path:
//
//	go test -run '^$' -bench Trusted -benchmem .
func BenchmarkTrusted(b *testing.B) {
	const n = 1000
	fs := genFiles(n, 4<<10)
	s := fetchtest.Start(b, fetchtest.HTTP, fetchtest.Files(fs))
	f := fetchtest.Fetcher(b, fetch.Options{Limiter: fetch.NewLimiter(16, 16)}, s)
	root, err := os.OpenRoot(recordsIn(b))
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	reqs := make([]fetch.Request, 0, n)
	for p, body := range fs {
		reqs = append(reqs, fetch.Request{URL: s.URL + p, Root: root, Path: filepath.FromSlash(p[1:]),
			Size: int64(len(body)), SizeKnown: true, Digests: fetchtest.Digests(body), CheckExisting: true})
	}
	run := func(trusted bool) {
		in := make(chan fetch.Request, n)
		for _, req := range reqs {
			in <- req
		}
		close(in)
		for res := range f.FetchAll(context.Background(), in) {
			if res.Err != nil || trusted && !res.Trusted {
				b.Fatalf("%s: Trusted %v, %v; want trusted", res.Request.Path, res.Trusted, res.Err)
			}
		}
	}
	run(false)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		run(true)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/file")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/file")
}
