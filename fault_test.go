package fetch_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"go.uber.org/goleak"
)

var faultSeed = flag.Uint64("fault.seed", 0, "seed of the fault suite's random bytes and moments (0: from the clock)")

// Protocols of the fault suite. https is TLS with HTTP/2, which the
// Fetcher's own client negotiates.
var faultProtocols = []string{"http", "https", "ftp"}

// Sinks of the fault suite. "kept" is a Path with Options.KeepPartial.
var faultSinks = []string{"path", "writer", "both", "kept"}

// The fault suite's settings: short enough to keep it fast, long enough
// for a loaded machine.
const (
	faultStall         = 200 * time.Millisecond
	faultMaxRetryAfter = 50 * time.Millisecond
	faultFileSize      = 256 << 10
	overLong           = 4 << 20 // bytes past the end of an over-long body
)

// expect is what a fault may end in.
type expect struct {
	ok   bool             // a verified file is right
	err  func(error) bool // an error matching it is right; nil: none is
	what string           // the errors matched, for failure messages
}

// fault is one way for a server or a destination to go wrong.
type fault struct {
	name string
	na   map[string]string // protocol → why the fault cannot happen there
	// http serves request n (1, 2, ...) that the server got.
	http func(fx *fixture, n int, w http.ResponseWriter, r *http.Request)
	// ftp starts an FTP server that serves fx.content at /file, and
	// returns its URL.
	ftp func(t *testing.T, fx *fixture) string
	// setup, if set, adjusts the request and the fixture before Fetch.
	setup func(t *testing.T, fx *fixture, req *fetch.Request)
	// check, if set, makes further checks after Fetch.
	check func(t *testing.T, fx *fixture, res fetch.Result)
	// planted, if set, checks and removes, right after Fetch and before
	// the checks of every case, what setup planted beside Path.
	planted func(t *testing.T, fx *fixture, req fetch.Request)
	want    expect
	// stall is Options.StallTimeout (0: faultStall). A fault that ends
	// in one attempt takes the default: on a loaded machine a transfer
	// was silent for faultStall, and its retry made a second attempt.
	stall time.Duration
}

var httpOnly = map[string]string{"ftp": "HTTP only"}

// FTP servers of the fault suite: goftpd serving the file, or
// misbehaving in a way it cannot.
func ftpServes(t *testing.T, fx *fixture) string {
	return startGoftpd(t, map[string][]byte{"/file": fx.content}, nil).URL
}

func ftpRetr(retr func(fx *fixture, n int) (cut int64, reply string, hang bool)) func(*testing.T, *fixture) string {
	return func(t *testing.T, fx *fixture) string {
		return (&rawFTPD{file: fx.content, retr: func(n int) (int64, string, bool) { return retr(fx, n) }}).start(t).URL
	}
}

var faults = []fault{
	{
		name: "reset at a random byte",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				fx.serve(w, r)
				return
			}
			k := fx.rng.IntN(len(fx.content))
			fx.startBody(w, len(fx.content))
			w.Write(fx.content[:k])
			http.NewResponseController(w).Flush()
			fx.srv.Reset(r)
		},
		ftp: ftpRetr(func(fx *fixture, n int) (int64, string, bool) {
			if n > 1 {
				return -1, "226 done", false
			}
			return fx.rng.Int64N(fx.size()), "426 connection reset", false
		}),
		want: expect{ok: true},
	},
	{
		name: "stall",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				fx.serve(w, r)
				return
			}
			fx.srv.Stall(w, r, fx.doc(), fx.rng.IntN(len(fx.content)))
		},
		ftp: ftpRetr(func(fx *fixture, n int) (int64, string, bool) {
			if n > 1 {
				return -1, "226 done", false
			}
			return fx.rng.Int64N(fx.size()), "", true
		}),
		want: expect{ok: true},
	},
	{
		// Every response ends at half the file and the server ignores
		// ranges: a file restarts and runs out of attempts, a Writer cannot
		// be restarted.
		name: "truncated body",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			fx.startBody(w, len(fx.content))
			w.Write(fx.content[:len(fx.content)/2])
			http.NewResponseController(w).Flush()
			fx.srv.Hangup(r)
		},
		// The data connection ends at half the file with "226", every
		// time, whatever the offset asked.
		ftp: ftpRetr(func(fx *fixture, n int) (int64, string, bool) {
			return fx.size() / 2, "226 done", false
		}),
		// Closing a socket with unread bytes in it resets the connection:
		// the client of an HTTP/2 server may see a reset, not an end.
		want: expect{err: anyOf(errIs(io.ErrUnexpectedEOF), errIs(syscall.ECONNRESET), errIs(fetch.ErrCannotResume)),
			what: "io.ErrUnexpectedEOF, ECONNRESET or ErrCannotResume"},
	},
	{
		name: "over-long body",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			// No Content-Length: only Request.Size can stop it.
			w.Write(fx.content)
			w.Write(make([]byte, overLong))
		},
		// FTP announces the size (SIZE): the transfer is refused before it.
		ftp: func(t *testing.T, fx *fixture) string {
			long := append(bytes.Clone(fx.content), make([]byte, overLong)...)
			return startGoftpd(t, map[string][]byte{"/file": long}, nil).URL
		},
		check: func(t *testing.T, fx *fixture, res fetch.Result) {
			var se *fetch.SizeError
			if errors.As(res.Err, &se) && se.Actual != fx.size()+1 && se.Actual != fx.size()+overLong {
				t.Errorf("got %v; want the body cut at Size+1 = %d bytes, or refused", se, fx.size()+1)
			}
		},
		want: expect{err: isA[*fetch.SizeError], what: "*SizeError"},
	},
	{
		name: "wrong digest",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			bad := bytes.Clone(fx.content)
			bad[fx.rng.IntN(len(bad))] ^= 0x80
			http.ServeContent(w, r, "", fetchtest.ModTime, bytes.NewReader(bad))
		},
		ftp: func(t *testing.T, fx *fixture) string {
			bad := bytes.Clone(fx.content)
			bad[fx.rng.IntN(len(bad))] ^= 0x80
			return startGoftpd(t, map[string][]byte{"/file": bad}, nil).URL
		},
		check: wantAttempts(1),
		stall: fetch.DefaultStallTimeout,
		want:  expect{err: isA[*fetch.DigestError], what: "*DigestError"},
	},
	{
		name: "429 with Retry-After in seconds",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				fx.serve(w, r)
				return
			}
			fetchtest.Status(w, http.StatusTooManyRequests, "1")
		},
		check: waitedRetryAfter,
		want:  expect{ok: true},
	},
	{
		name: "503 with Retry-After as a date",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			if n > 1 {
				fx.serve(w, r)
				return
			}
			fetchtest.Status(w, http.StatusServiceUnavailable, time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
		},
		check: waitedRetryAfter,
		want:  expect{ok: true},
	},
	{
		name: "503 with Retry-After, always",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			fetchtest.Status(w, http.StatusServiceUnavailable, "0")
		},
		check: wantAttempts(1 + fetch.DefaultRetries),
		want:  expect{err: isA[*fetch.StatusError], what: "*StatusError"},
	},
	{
		name: "redirect loop",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("/file?%d", n), http.StatusFound)
		},
		check: wantAttempts(1),
		stall: fetch.DefaultStallTimeout,
		want:  expect{err: errIs(fetch.ErrRedirect), what: "ErrRedirect"},
	},
	{
		name: "redirect to another host",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fx.other.URL+"/file", http.StatusFound)
		},
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			fx.other = fx.start(t, func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
				fx.serve(w, r)
			})
			req.Header = http.Header{"Authorization": {"Bearer s3cret"}, "Cookie": {"session=s3cret"}}
		},
		check: func(t *testing.T, fx *fixture, res fetch.Result) {
			if res.URL != fx.other.URL+"/file" {
				t.Errorf("got Result.URL %s; want %s/file", res.URL, fx.other.URL)
			}
			for n := 1; n <= int(fx.other.Hits.Load()); n++ {
				if h := fx.other.Header(n); h.Get("Authorization") != "" || h.Get("Cookie") != "" {
					t.Errorf("the other host got credentials: %v", h)
				}
			}
		},
		want: expect{ok: true},
	},
	{
		name: "huge headers",
		na:   httpOnly,
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Huge", hugeHeader())
			fx.serve(w, r)
		},
		// A transport error, or a stall when reading them takes longer
		// than StallTimeout.
		want: expect{err: anyOf(isA[net.Error], errIs(fetch.ErrStalled)), what: "net.Error or ErrStalled"},
	},
	{
		// A .gz file that the server labels Content-Encoding: gzip, as
		// many do: the bytes checked and kept are the bytes served.
		name: "Content-Encoding gzip on a .gz file",
		na:   map[string]string{"ftp": "FTP has no content coding"},
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/gzip")
			fx.serve(w, r)
		},
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(fx.content)
			zw.Close()
			fx.content = buf.Bytes()
			req.URL += ".gz"
			req.Size = int64(len(fx.content))
			req.Digests = map[string]string{"sha256": fetchtest.SHA256(fx.content)}
		},
		want: expect{ok: true},
	},
	{
		name: "cancellation at a random moment",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) {
			// The body trickles, so that the moment may fall anywhere.
			fx.startBody(w, len(fx.content))
			for chunk := range slices.Chunk(fx.content, len(fx.content)/16) {
				w.Write(chunk)
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(3 * time.Millisecond):
				}
			}
		},
		// The transfer pauses half-way.
		ftp: func(t *testing.T, fx *fixture) string {
			return startGoftpd(t, map[string][]byte{"/file": fx.content}, func(string) time.Duration { return 40 * time.Millisecond }).URL
		},
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			ctx, cancel := context.WithCancel(context.Background())
			stop := time.AfterFunc(time.Duration(fx.rng.IntN(80))*time.Millisecond, cancel)
			fx.ctx = ctx
			t.Cleanup(func() { stop.Stop(); cancel() })
		},
		want: expect{ok: true, err: errIs(context.Canceled), what: "context.Canceled"},
	},
	{
		// The file's folder is on a 64 KiB tmpfs; the Writer fails
		// with ENOSPC after 64 KiB.
		name: "disk full",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) { fx.serve(w, r) },
		ftp:  ftpServes,
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			if req.Path != "" {
				req.Path = filepath.Join(fetchtest.SmallTmpfs(t, fx.dir), "file")
			}
			if fx.sink == "writer" {
				req.Writer = &failingWriter{after: 64 << 10, err: syscall.ENOSPC, w: req.Writer}
			}
		},
		check: func(t *testing.T, fx *fixture, res fetch.Result) {
			wantAttempts(1)(t, fx, res)
			// The error names the file written (Path, or its partial
			// or temporary file), not its folder.
			if p := res.Request.Path; p != "" && res.Err != nil {
				dir, base := filepath.Split(p)
				if msg := res.Err.Error(); !strings.Contains(msg, dir+base) && !strings.Contains(msg, dir+"."+base) {
					t.Errorf("error %q does not name the file %s", msg, p)
				}
			}
		},
		stall: fetch.DefaultStallTimeout,
		want:  expect{err: errIs(syscall.ENOSPC), what: "ENOSPC"},
	},
	{
		// A FIFO where the partial file of Path would be, with a read
		// end that reads nothing: it is neither written, which would
		// block the download past its context once the pipe's buffer
		// is full, nor published at Path.
		name: "FIFO at the partial path",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) { fx.serve(w, r) },
		ftp:  ftpServes,
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			if req.Path != "" {
				fx.fifo = fetchtest.PlantFIFO(t, fetch.PartialPath(req.Path))
			}
		},
		planted: func(t *testing.T, fx *fixture, req fetch.Request) {
			if fx.fifo == nil {
				return
			}
			if n := fx.fifo.Buffered(); n > 0 {
				t.Errorf("%d bytes were written to the FIFO; want none", n)
			}
			if fi, err := os.Lstat(fx.fifo.Path); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
				t.Errorf("the FIFO: %v, %v; want it left as it was", fi, err)
			}
			os.Remove(fx.fifo.Path)
		},
		want: expect{ok: true},
	},
	{
		// root writes through a read-only folder's mode bits, not
		// through a regular file: Path's parent is one. A Writer whose
		// reader went away.
		name: "unwritable destination",
		http: func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) { fx.serve(w, r) },
		ftp:  ftpServes,
		setup: func(t *testing.T, fx *fixture, req *fetch.Request) {
			if req.Path != "" {
				parent := filepath.Join(fx.dir, "not-a-dir")
				if err := os.WriteFile(parent, []byte("a regular file"), 0o644); err != nil {
					t.Fatal(err)
				}
				req.Path = filepath.Join(parent, "file")
				fx.old = nil
			}
			if fx.sink == "writer" {
				pr, pw := io.Pipe()
				pr.Close()
				req.Writer = pw
			}
		},
		check: wantAttempts(1),
		stall: fetch.DefaultStallTimeout,
		want:  expect{err: anyOf(isA[*fs.PathError], errIs(io.ErrClosedPipe)), what: "*fs.PathError or io.ErrClosedPipe"},
	},
}

// TestFaults runs every fault against every sink and protocol, and checks
// what users rely on whatever went wrong: a verified file or a typed
// error, no file at Path unless verified, a file that was there untouched
// on failure, no temporary file, no goroutine, no connection left open.
func TestFaults(t *testing.T) {
	seed := *faultSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("fault seed %d (rerun with -fault.seed=%d)", seed, seed)
	var c tally
	for i, flt := range faults {
		for _, proto := range faultProtocols {
			for _, sink := range faultSinks {
				why, isNA := flt.na[proto]
				if proto == "ftp" && flt.ftp == nil && !isNA {
					t.Fatalf("%s: no FTP server, and no reason why", flt.name)
				}
				c.run(t, flt.name+"/"+proto+"/"+sink, why, isNA, func(t *testing.T) {
					runFault(t, flt, proto, sink, rand.New(rand.NewPCG(seed, uint64(i))))
				})
			}
		}
	}
	t.Logf("faults × sinks × protocols: %v", c)
}

// tally counts the cases of a matrix by how they ended.
type tally struct{ tried, passed, na, skipped int }

// run runs case name as a subtest of t, or skips it as N/A because of
// why, and counts it; a case that -run leaves out is not counted.
func (c *tally) run(t *testing.T, name, why string, isNA bool, f func(t *testing.T)) {
	var ran, skip bool
	ok := t.Run(name, func(t *testing.T) {
		ran = true
		defer func() { skip = t.Skipped() }()
		if isNA {
			t.Skipf("N/A: %s", why)
		}
		f(t)
	})
	switch {
	case !ran: // not selected by -run
	case isNA:
		c.na++
	case skip:
		c.skipped++
	default:
		c.tried++
		if ok {
			c.passed++
		}
	}
}

func (c tally) String() string {
	return fmt.Sprintf("%d tried, %d passed, %d N/A, %d skipped", c.tried, c.passed, c.na, c.skipped)
}

func runFault(t *testing.T, flt fault, proto, sink string, rng *rand.Rand) {
	fx := &fixture{
		proto:   proto,
		sink:    sink,
		rng:     rng,
		content: genFiles(1, faultFileSize)["/f/00000"],
		dir:     t.TempDir(),
		old:     []byte("the good file that was here before"),
		ctx:     context.Background(),
	}
	// Cleanups run last first: this one after the servers closed.
	t.Cleanup(func() {
		// A server may still be sending the huge headers that the client
		// gave up on, in a handler that a loaded machine ran late: the
		// fixture's work, not the Fetcher's, and it ends (TestMain checks
		// the end).
		goleak.VerifyNone(t,
			goleak.IgnoreAnyFunction("net/http.(*http2serverConn).writeFrameAsync"),
			goleak.IgnoreAnyFunction("net/http.(*http2serverConn).runHandler"),
			goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
	})
	if proto == "ftp" {
		base := flt.ftp(t, fx)
		fx.url = base + "/file"
		fx.servers = append(fx.servers, ftpControl(strings.TrimPrefix(base, "ftp://")))
	} else {
		fx.srv = fx.start(t, flt.http)
		fx.url = fx.srv.URL + "/file"
	}
	var rec bytes.Buffer
	req := fetch.Request{URL: fx.url, Digests: map[string]string{"sha256": fetchtest.SHA256(fx.content)}, Size: int64(len(fx.content))}
	if sink == "path" || sink == "both" || sink == "kept" {
		req.Path = filepath.Join(fx.dir, "file")
	}
	if sink == "writer" || sink == "both" {
		req.Writer = &rec
	}
	if flt.setup != nil {
		flt.setup(t, fx, &req)
	}
	if req.Path != "" && fx.old != nil {
		if err := os.WriteFile(req.Path, fx.old, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	opts := fetch.Options{
		StallTimeout:  cmp.Or(flt.stall, faultStall),
		BackoffBase:   time.Millisecond,
		MaxRetryAfter: faultMaxRetryAfter,
		KeepPartial:   sink == "kept",
	}
	if fx.srv != nil && fx.srv.TLS != nil {
		opts.Client = fx.srv.Client()
	}
	f := fetch.New(opts)
	res, err := f.Fetch(fx.ctx, req)
	if flt.planted != nil {
		flt.planted(t, fx, req)
	}

	if res.Err != err {
		t.Errorf("Result.Err %v differs from the error returned %v", res.Err, err)
	}
	fx.checkResult(t, flt.want, res, err)
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows a credential", err)
	}
	if req.Path != "" {
		fx.checkPath(t, req.Path, err)
	}
	if sink == "kept" {
		keptPartial(t, req, res)
	}
	if sink == "writer" || sink == "both" {
		switch {
		case err == nil && !bytes.Equal(rec.Bytes(), fx.content):
			t.Errorf("Writer got %d bytes; want the %d bytes served", rec.Len(), len(fx.content))
		case int64(rec.Len()) > req.Size+1:
			t.Errorf("Writer got %d bytes; want at most Size+1 = %d", rec.Len(), req.Size+1)
		}
	}
	noPartials(t, fx.dir)
	if flt.check != nil {
		flt.check(t, fx, res)
	}

	closeIdle := func() {
		f.Close()
		if opts.Client != nil {
			opts.Client.CloseIdleConnections()
		}
	}
	fx.waitClosed(t, closeIdle)
}

// checkResult fails t unless a download ended as want allows: a verified
// file, the one served, or an error that want matches.
func (fx *fixture) checkResult(t *testing.T, want expect, res fetch.Result, err error) {
	t.Helper()
	switch {
	case err == nil && !want.ok:
		t.Errorf("got a verified file; want %s", want.what)
	case err != nil && (want.err == nil || !want.err(err)):
		what := "a verified file"
		if want.err != nil {
			what = want.what
		}
		t.Errorf("got error %v; want %s", err, what)
	case err == nil && (res.Digests["sha256"] != fetchtest.SHA256(fx.content) || res.Size != fx.size()):
		t.Errorf("got %d bytes of sha256 %s; want %d bytes of %s", res.Size, res.Digests["sha256"], fx.size(), fetchtest.SHA256(fx.content))
	}
}

// checkPath fails t unless the file at path is, after a download that
// ended with err, the one served, or on failure the one that was there
// before (none, if fx.old is nil).
func (fx *fixture) checkPath(t *testing.T, path string, err error) {
	t.Helper()
	got, rerr := os.ReadFile(path)
	switch {
	case err == nil && !bytes.Equal(got, fx.content):
		t.Errorf("file at Path: %d bytes, %v; want the %d bytes served", len(got), rerr, len(fx.content))
	case err != nil && fx.old != nil && !bytes.Equal(got, fx.old):
		t.Errorf("the file that was at Path became %d bytes, %v; want it untouched", len(got), rerr)
	case err != nil && fx.old == nil && !errors.Is(rerr, os.ErrNotExist) && !errors.Is(rerr, syscall.ENOTDIR):
		t.Errorf("a failed download left a file at Path (%d bytes, %v)", len(got), rerr)
	}
}

// keptPartial checks that a download with Options.KeepPartial left beside
// Path no file, or, when it failed and kept bytes, its partial file of
// that many bytes and the guard file, which it then removes.
func keptPartial(t *testing.T, req fetch.Request, res fetch.Result) {
	t.Helper()
	partial := fetch.PartialPath(req.Path)
	fi, err := os.Stat(partial)
	switch {
	case res.Err == nil || res.Partial == 0:
		if err == nil {
			t.Errorf("partial file left with %d bytes kept", res.Partial)
		}
	case err != nil:
		t.Errorf("%d bytes kept, but %v", res.Partial, err)
	case fi.Size() != res.Partial:
		t.Errorf("partial file has %d bytes; Result.Partial says %d", fi.Size(), res.Partial)
	default:
		if _, err := os.Stat(partial + ".guard"); err != nil {
			t.Errorf("no guard beside the partial file: %v", err)
		}
	}
	os.Remove(partial)
	os.Remove(partial + ".guard")
}

// fixture is the state of one case of the fault suite.
type fixture struct {
	proto, sink string
	rng         *rand.Rand
	content     []byte // the file, as served
	dir         string // holds Path
	old         []byte // the file at Path before the download; nil: none
	url         string // the file's URL
	srv, other  *fetchtest.Server
	servers     []faultTarget // every server of the case
	ctx         context.Context
	fifo        *fetchtest.FIFO // planted by the case, if any
}

func (fx *fixture) size() int64 { return int64(len(fx.content)) }

// doc is the file, as served.
func (fx *fixture) doc() fetchtest.Doc {
	return fetchtest.Doc{Body: fx.content, Mod: fetchtest.ModTime}
}

// serve serves the file well: ranges, Last-Modified.
func (fx *fixture) serve(w http.ResponseWriter, r *http.Request) {
	http.ServeContent(w, r, "", fetchtest.ModTime, bytes.NewReader(fx.content))
}

// startBody sends the headers of a whole-file response of n bytes.
func (fx *fixture) startBody(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.Header().Set("Last-Modified", fetchtest.ModTime.Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
}

// hugeHeader is a header value past the 10 MiB of headers that net/http's
// client reads, made once for every handler that sends it.
var hugeHeader = sync.OnceValue(func() string { return strings.Repeat("x", 11<<20) })

// faultTarget is a server of the fault suite: it can tell how many
// connections are open on its side.
type faultTarget interface {
	Addr() string
	OpenConns() int
}

// waitClosed fails t unless every connection to the fixture's servers
// closes soon once the client's idle connections are closed (by
// closeIdle): none may stay in use. closeIdle is called again while
// waiting, because an HTTP/2 connection whose stream was reset is busy
// until the server answers the PING that follows the reset, and only then
// idle.
func (fx *fixture) waitClosed(t *testing.T, closeIdle func()) {
	t.Helper()
	open := func() (n int) {
		for _, s := range fx.servers {
			n += s.OpenConns()
		}
		return n
	}
	// Long enough for a handler that a loaded machine runs late to see
	// its connection gone; a pass does not wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for closeIdle(); open() > 0 && time.Now().Before(deadline); closeIdle() {
		time.Sleep(5 * time.Millisecond)
	}
	for _, s := range fx.servers {
		if n := s.OpenConns(); n != 0 {
			t.Errorf("server %s has %d connections open after Close; want 0", s.Addr(), n)
		}
	}
}

// ftpControl is the address of an FTP server; it counts the control
// connections open on the server's side, from /proc/net/tcp: those
// established, or closed by the client and not yet by the server.
type ftpControl string

func (a ftpControl) Addr() string { return "ftp://" + string(a) }

func (a ftpControl) OpenConns() int {
	_, port, _ := net.SplitHostPort(string(a))
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf("0100007F:%04X", p) // 127.0.0.1, as the kernel writes it
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		panic(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == local && (f[3] == "01" || f[3] == "03" || f[3] == "08") { // ESTABLISHED, SYN_RECV, CLOSE_WAIT
			n++
		}
	}
	return n
}

// start starts a server of the case's protocol (https: TLS and HTTP/2)
// that answers request n with h, among the case's servers.
func (fx *fixture) start(t *testing.T, h func(fx *fixture, n int, w http.ResponseWriter, r *http.Request)) *fetchtest.Server {
	kind := fetchtest.HTTP
	if fx.proto == "https" {
		kind = fetchtest.H2
	}
	s := fetchtest.Start(t, kind, func(_ *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { h(fx, n, w, r) })
	fx.servers = append(fx.servers, httpTarget{s})
	return s
}

// httpTarget is an HTTP server of the fault suite.
type httpTarget struct{ *fetchtest.Server }

func (s httpTarget) Addr() string   { return s.URL }
func (s httpTarget) OpenConns() int { return int(s.Open.Load()) }

// failingWriter passes bytes to w until after of them went, then fails
// with err.
type failingWriter struct {
	after int
	err   error
	w     io.Writer
}

func (fw *failingWriter) Write(p []byte) (int, error) {
	if len(p) > fw.after {
		n, _ := fw.w.Write(p[:fw.after])
		fw.after = 0
		return n, fw.err
	}
	fw.after -= len(p)
	return fw.w.Write(p)
}

func anyOf(preds ...func(error) bool) func(error) bool {
	return func(err error) bool {
		for _, p := range preds {
			if p(err) {
				return true
			}
		}
		return false
	}
}

func wantAttempts(n int) func(*testing.T, *fixture, fetch.Result) {
	return func(t *testing.T, fx *fixture, res fetch.Result) {
		if res.Attempts != n {
			t.Errorf("got %d attempts; want %d", res.Attempts, n)
		}
	}
}

// waitedRetryAfter checks that the retry came no sooner than the capped
// Retry-After (a lower bound: a slow machine only waits longer).
func waitedRetryAfter(t *testing.T, fx *fixture, res fetch.Result) {
	if n := fx.srv.Hits.Load(); n < 2 {
		t.Fatalf("server saw %d requests; want 2", n)
	}
	if gap := fx.srv.Arrived(2).Sub(fx.srv.Arrived(1)); gap < faultMaxRetryAfter {
		t.Errorf("retried after %v; want at least the capped Retry-After %v", gap, faultMaxRetryAfter)
	}
}
