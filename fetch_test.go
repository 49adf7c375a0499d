package fetch_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/google/go-cmp/cmp"
)

// files is a set of generated files, by path, as fetchtest.Files serves them.
type files map[string][]byte

// genFiles returns n files of size pseudo-random bytes, file i made by
// fetchtest.Blob with seed i.
func genFiles(n, size int) files {
	fs := make(files, n)
	for i := range n {
		fs[fmt.Sprintf("/f/%05d", i)] = fetchtest.Blob(size, uint64(i))
	}
	return fs
}

// noPartials fails t if dir holds a temporary file of a download.
func noPartials(t testing.TB, dir string) {
	t.Helper()
	for _, p := range fetchtest.Partials(t, dir) {
		t.Errorf("temporary file left behind: %s", p)
	}
}

func TestFetchSinks(t *testing.T) {
	content := genFiles(1, 300<<10)["/f/00000"]
	fs := files{"/file.bin": content}
	for _, kind := range []string{fetchtest.HTTP, fetchtest.HTTPS, fetchtest.H2} {
		s := fetchtest.Start(t, kind, fetchtest.Files(fs))
		f := fetchtest.Fetcher(t, fetch.Options{}, s)
		for _, sink := range []string{"path", "writer", "both", "none"} {
			t.Run(kind+"/"+sink, func(t *testing.T) {
				dir := t.TempDir()
				req := fetch.Request{
					URL:     s.URL + "/file.bin",
					Size:    int64(len(content)),
					Digests: map[string]string{"md5": fmt.Sprintf("%x", md5.Sum(content))},
					Tag:     42,
				}
				var buf bytes.Buffer
				if sink == "path" || sink == "both" {
					req.Path = filepath.Join(dir, "sub", "dir", "file.bin")
				}
				if sink == "writer" || sink == "both" {
					req.Writer = &buf
				}
				var seen []fetch.Response
				req.OnResponse = func(r fetch.Response) error {
					if buf.Len() > 0 {
						t.Errorf("OnResponse called after %d bytes reached the Writer", buf.Len())
					}
					seen = append(seen, r)
					return nil
				}
				res, err := f.Fetch(context.Background(), req)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if len(seen) != 1 || seen[0].Status != 200 || seen[0].Size != int64(len(content)) || seen[0].URL != req.URL {
					t.Errorf("OnResponse saw %+v; want one 200 response of %d bytes from %s", seen, len(content), req.URL)
				}
				want := map[string]string{"sha256": fetchtest.SHA256(content), "md5": req.Digests["md5"]}
				if diff := cmp.Diff(want, res.Digests); diff != "" {
					t.Errorf("Digests (-want +got):\n%s", diff)
				}
				if res.Size != int64(len(content)) || res.Attempts != 1 || res.URL != req.URL || res.Request.Tag != 42 || res.Err != nil {
					t.Errorf("got Size %d, Attempts %d, URL %s, Tag %v, Err %v; want %d, 1, %s, 42, nil",
						res.Size, res.Attempts, res.URL, res.Request.Tag, res.Err, len(content), req.URL)
				}
				if res.Header.Get("Last-Modified") == "" {
					t.Errorf("Result.Header has no Last-Modified: %v", res.Header)
				}
				if req.Writer != nil && !bytes.Equal(buf.Bytes(), content) {
					t.Errorf("Writer got %d bytes, not the file's %d", buf.Len(), len(content))
				}
				if req.Path != "" {
					got, err := os.ReadFile(req.Path)
					if err != nil || !bytes.Equal(got, content) {
						t.Errorf("file at Path: %d bytes, %v; want the %d bytes served", len(got), err, len(content))
					}
				}
				noPartials(t, dir)
			})
		}
	}
}

func TestFetchAllManyFiles(t *testing.T) {
	fs := genFiles(1000, 1<<10)
	s := fetchtest.Start(t, fetchtest.H2, fetchtest.Files(fs))
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(16, 16)}, s)
	dir := t.TempDir()
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for p, b := range fs {
			reqs <- fetch.Request{URL: s.URL + p, Path: filepath.Join(dir, p), Digests: map[string]string{"sha256": fetchtest.SHA256(b)}, Tag: p}
		}
	}()
	n := 0
	for r := range f.FetchAll(context.Background(), reqs) {
		n++
		if r.Err != nil {
			t.Errorf("%s: %v", r.URL, r.Err)
			continue
		}
		p := r.Request.Tag.(string)
		if got, err := os.ReadFile(filepath.Join(dir, p)); err != nil || !bytes.Equal(got, fs[p]) {
			t.Errorf("%s: file differs from what was served (%v)", p, err)
		}
	}
	if n != len(fs) {
		t.Errorf("got %d results; want %d", n, len(fs))
	}
	noPartials(t, dir)
}

// TestConnectionLimit downloads 5,000 files over NewLimiter(8, 8) and
// counts the connections the server saw.
func TestConnectionLimit(t *testing.T) {
	fs := genFiles(50, 64)
	for _, kind := range []string{fetchtest.HTTP, fetchtest.HTTPS} {
		t.Run(kind, func(t *testing.T) {
			s := fetchtest.Start(t, kind, fetchtest.Files(fs))
			// A client tuned like the Fetcher's own that counts its
			// connections: the client closes a connection before it dials
			// the next, where the server may learn of the close later.
			tr := http.DefaultTransport.(*http.Transport).Clone()
			if s.TLS != nil {
				tr = s.Client().Transport.(*http.Transport).Clone()
			}
			tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 8, 8
			conns := &connCounter{}
			tr.DialContext = conns.dial
			f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(8, 8), Client: &http.Client{Transport: tr}}, s)
			reqs := make(chan fetch.Request)
			go func() {
				defer close(reqs)
				for i := range 5000 {
					reqs <- fetch.Request{URL: fmt.Sprintf("%s/f/%05d", s.URL, i%50)}
				}
			}()
			n := 0
			for r := range f.FetchAll(context.Background(), reqs) {
				n++
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			tr.CloseIdleConnections()
			if n != 5000 || s.Hits.Load() != 5000 {
				t.Errorf("got %d results, %d requests served; want 5000", n, s.Hits.Load())
			}
			// net/http gives up a connection whose request it has not seen
			// written 50ms after its response (a loaded machine), so a few
			// more than 8 may be opened over the run; never 8 at once.
			if got := conns.opened.Load(); got > 16 {
				t.Errorf("client opened %d connections; want about 8", got)
			}
			if got := conns.maxOpen.Load(); got > 8 {
				t.Errorf("client held %d connections open at once; want at most 8", got)
			}
		})
	}
}

// connCounter dials TCP connections and counts them: opened in all, and
// the most open at once.
type connCounter struct {
	opened, open, maxOpen atomic.Int64
}

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.opened.Add(1)
	n := c.open.Add(1)
	for m := c.maxOpen.Load(); n > m && !c.maxOpen.CompareAndSwap(m, n); m = c.maxOpen.Load() {
	}
	return &countedConn{Conn: conn, c: c}, nil
}

// countedConn is a connection of a connCounter.
type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}

// whole returns a Script that sends d whole, ignoring any Range, and
// breaks the connection after cut bytes of body (cut < 0: never).
func whole(d fetchtest.Doc, cut int) fetchtest.Script {
	return func(s *fetchtest.Server, _ int, w http.ResponseWriter, _ *http.Request) { s.ServeAll(w, d, cut) }
}

// status returns a Script that answers code.
func status(code int) fetchtest.Script {
	return func(_ *fetchtest.Server, _ int, w http.ResponseWriter, _ *http.Request) {
		fetchtest.Status(w, code, "")
	}
}

func TestBadServers(t *testing.T) {
	good := genFiles(1, 100<<10)["/f/00000"]
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	tests := []struct {
		name   string
		script fetchtest.Script
		size   int64
		check  func(error) bool
		want   string
		gets   int64  // requests the server should see; 0: don't care
		sink   string // the only sink to try; "": path and writer
	}{
		{"wrong bytes", whole(fetchtest.Doc{Body: bad}, -1), 0, isA[*fetch.DigestError], "*DigestError", 1, ""},
		{"short body, no length", whole(fetchtest.Doc{Body: good[:1000], NoLength: true}, -1), int64(len(good)), isA[*fetch.SizeError], "*SizeError", 1, ""},
		{"long body, no length", whole(fetchtest.Doc{Body: append(bytes.Clone(good), 1, 2, 3), NoLength: true}, -1), int64(len(good)), isA[*fetch.SizeError], "*SizeError", 1, ""},
		{"length contradicts Size", whole(fetchtest.Doc{Body: good}, -1), int64(len(good)) - 1, isA[*fetch.SizeError], "*SizeError", 1, ""},
		{"body stops mid-way", whole(fetchtest.Doc{Body: good}, 5000), 0, errIs(io.ErrUnexpectedEOF), "io.ErrUnexpectedEOF", 4, "path"},
		// A Writer that has bytes cannot be restarted by a server that
		// ignores ranges.
		{"body stops mid-way, no ranges", whole(fetchtest.Doc{Body: good}, 5000), 0, errIs(fetch.ErrCannotResume), "ErrCannotResume", 2, "writer"},
		{"404", fetchtest.Handler(http.NotFoundHandler()), 0, errIs(fetch.ErrNotFound), "ErrNotFound", 1, ""},
		{"410", status(410), 0, errIs(fetch.ErrNotFound), "ErrNotFound", 1, ""},
		{"403", status(403), 0, isA[*fetch.StatusError], "*StatusError", 1, ""},
		{"500", status(500), 0, isA[*fetch.StatusError], "*StatusError", 4, ""},
	}
	for _, tt := range tests {
		for _, sink := range []string{"path", "writer"} {
			if tt.sink != "" && tt.sink != sink {
				continue
			}
			t.Run(tt.name+"/"+sink, func(t *testing.T) {
				s := fetchtest.Start(t, fetchtest.HTTP, tt.script)
				f := fetchtest.Fetcher(t, fetch.Options{}, s)
				dir := t.TempDir()
				path := filepath.Join(dir, "file")
				old := []byte("the good file that was here before")
				if err := os.WriteFile(path, old, 0o644); err != nil {
					t.Fatal(err)
				}
				req := fetch.Request{URL: s.URL + "/file", Size: tt.size, Digests: map[string]string{"sha256": fetchtest.SHA256(good)}}
				if sink == "path" {
					req.Path = path
				} else {
					req.Writer = io.Discard
				}
				res, err := f.Fetch(context.Background(), req)
				if err == nil || !tt.check(err) {
					t.Fatalf("got error %v; want %s", err, tt.want)
				}
				if res.Err != err {
					t.Errorf("Result.Err %v differs from the error returned %v", res.Err, err)
				}
				if !strings.Contains(err.Error(), s.URL) {
					t.Errorf("error %q does not name the URL %s", err, s.URL)
				}
				if tt.gets != 0 && s.Hits.Load() != tt.gets {
					t.Errorf("server saw %d requests; want %d", s.Hits.Load(), tt.gets)
				}
				if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
					t.Errorf("the file at Path was changed: %q", got)
				}
				noPartials(t, dir)
			})
		}
	}
}

func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func errIs(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// TestSizeErrorBeforeBody checks that a Content-Length contradicting Size
// fails before the body is read, and a long body is cut at Size+1.
func TestSizeErrorBeforeBody(t *testing.T) {
	big := make([]byte, 64<<20)
	s := fetchtest.Start(t, fetchtest.HTTP, whole(fetchtest.Doc{Body: big}, -1))
	f := fetchtest.Fetcher(t, fetch.Options{Retries: -1}, s)
	_, err := f.Fetch(context.Background(), fetch.Request{URL: s.URL, Size: 10, Writer: io.Discard})
	var se *fetch.SizeError
	if !errors.As(err, &se) || se.Expected != 10 || se.Actual != int64(len(big)) {
		t.Fatalf("got %v; want SizeError{10, %d}", err, len(big))
	}

	s = fetchtest.Start(t, fetchtest.HTTP, whole(fetchtest.Doc{Body: big, NoLength: true}, -1))
	f = fetchtest.Fetcher(t, fetch.Options{Retries: -1}, s)
	var n countWriter
	_, err = f.Fetch(context.Background(), fetch.Request{URL: s.URL, Size: 10, Writer: &n})
	if !errors.As(err, &se) || se.Actual != 11 {
		t.Fatalf("got %v; want SizeError{10, 11}", err)
	}
	if n > 11 {
		t.Errorf("Writer got %d bytes; want at most Size+1 = 11", n)
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func TestInvalidRequests(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{}))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	dir := t.TempDir()
	tests := []fetch.Request{
		{URL: s.URL, Digests: map[string]string{"sha3": "00"}},
		{URL: s.URL, Digests: map[string]string{"sha256": "xyz"}},
		{URL: s.URL, Digests: map[string]string{"md5": "0011"}},
		{URL: "gopher://example.com/x"},
		{URL: "file:///etc/passwd"},
		{URL: ""},
		{URL: "http://user:secret@[::1"},
		{URL: s.URL, Path: dir},
	}
	for _, req := range tests {
		_, err := f.Fetch(context.Background(), req)
		if !errors.Is(err, fetch.ErrInvalidRequest) {
			t.Errorf("Fetch(%+v): got %v; want ErrInvalidRequest", req, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q shows the password", err)
		}
	}
	if n := s.Hits.Load(); n != 0 {
		t.Errorf("server saw %d requests; want none", n)
	}
}

func TestPasswordRedacted(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, status(401))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	u := strings.Replace(s.URL, "http://", "http://alice:s3cret@", 1)
	res, err := f.Fetch(context.Background(), fetch.Request{URL: u + "/x"})
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(res.URL, "s3cret") {
		t.Fatalf("got error %q, URL %q; want an error without the password", err, res.URL)
	}
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("got %v; want StatusError 401", err)
	}
}

func TestOnResponseError(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/a": []byte("hello")}))
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	dir := t.TempDir()
	refuse := errors.New("refused by caller")
	var buf bytes.Buffer
	_, err := f.Fetch(context.Background(), fetch.Request{
		URL: s.URL + "/a", Path: filepath.Join(dir, "a"), Writer: &buf,
		OnResponse: func(fetch.Response) error { return refuse },
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("got %v; want the OnResponse error", err)
	}
	if buf.Len() != 0 || s.Hits.Load() != 1 {
		t.Errorf("Writer got %d bytes, server saw %d requests; want 0 and 1", buf.Len(), s.Hits.Load())
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file at Path exists after OnResponse refused it")
	}
	noPartials(t, dir)
}

// TestCancelFetchAll cancels a 1,000-file FetchAll at random moments.
func TestCancelFetchAll(t *testing.T) {
	fs := genFiles(1000, 8<<10)
	var served atomic.Int64
	serve := fetchtest.Files(fs)
	s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
		// Some files arrive slowly, so cancellation finds transfers mid-body.
		if served.Add(1)%7 == 0 {
			w.Header().Set("Content-Length", "8192")
			w.Write(fs[r.URL.Path][:4096])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(50 * time.Millisecond):
			}
			w.Write(fs[r.URL.Path][4096:])
			return
		}
		serve(s, n, w, r)
	})
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(16, 16)}, s)
	cancelRounds(t, f, 20, s.URL, fs)
}

// requestFiles returns a channel that gives a request for each file of fs,
// from base into dir, checked by its sha256; it is closed once every one
// was taken or ctx ended. sent waits for that.
func requestFiles(ctx context.Context, base, dir string, fs map[string][]byte) (reqs <-chan fetch.Request, sent func()) {
	ch := make(chan fetch.Request)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ch)
		for p, b := range fs {
			select {
			case ch <- fetch.Request{URL: base + p, Path: filepath.Join(dir, p), Digests: fetchtest.Digests(b)}:
			case <-ctx.Done():
				return
			}
		}
	})
	return ch, wg.Wait
}

// cancelRounds runs rounds of f.FetchAll of every file of fs from base,
// each cancelled at a random moment, and checks that a request ends
// verified or cancelled, that every file at a Path is the file served and
// that no temporary file is left. Every other round stops reading the
// results at once.
func cancelRounds(t *testing.T, f *fetch.Fetcher, rounds int, base string, fs map[string][]byte) {
	t.Helper()
	for round := range rounds {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(fetchtest.Context(t))
		reqs, sent := requestFiles(ctx, base, dir, fs)
		stopAfter := rand.IntN(min(len(fs)/2, 300))
		got := 0
		results := f.FetchAll(ctx, reqs)
		for r := range results {
			if r.Err == nil {
				got++
			} else if !errors.Is(r.Err, context.Canceled) {
				t.Errorf("round %d: %s: %v", round, r.Request.URL, r.Err)
			}
			if got == stopAfter {
				cancel()
				if round%2 == 0 {
					break // stop reading at once: nothing may block
				}
			}
		}
		cancel()
		for range results {
		}
		sent()
		noPartials(t, dir)
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			p := "/" + filepath.ToSlash(strings.TrimPrefix(path, dir+string(filepath.Separator)))
			if b, _ := os.ReadFile(path); !bytes.Equal(b, fs[p]) {
				t.Errorf("round %d: %s is not the file served", round, p)
			}
			return nil
		})
	}
}

func TestCancelledError(t *testing.T) {
	s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		s.Stall(w, r, fetchtest.Doc{Body: make([]byte, 100)}, 7) // until the client goes away
	})
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := f.Fetch(ctx, fetch.Request{URL: s.URL, Path: filepath.Join(dir, "x"), OnResponse: func(fetch.Response) error {
		time.AfterFunc(10*time.Millisecond, cancel)
		return nil
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("dir holds %d entries after cancellation; want none", len(entries))
	}
}

// TestFetchAllWindow checks that FetchAll holds no more requests than its
// transfer slots and its look-ahead: 5×Limiter.Max.
func TestFetchAllWindow(t *testing.T) {
	release := make(chan struct{})
	s := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		<-release
	})
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(4, 4)}, s)
	reqs := make(chan fetch.Request)
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(reqs)
		for range 100 {
			select {
			case reqs <- fetch.Request{URL: s.URL}:
				sent.Add(1)
			case <-ctx.Done():
				return
			}
		}
	})
	results := f.FetchAll(ctx, reqs)
	for s.Hits.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	// Give FetchAll time to take more than it may.
	time.Sleep(20 * time.Millisecond)
	if n := sent.Load(); n > 20 {
		t.Errorf("FetchAll took %d requests with 4 transfer slots busy; want at most 20", n)
	}
	close(release)
	n := 0
	for range results {
		n++
	}
	wg.Wait()
	if n != 100 {
		t.Errorf("got %d results; want 100", n)
	}
}
