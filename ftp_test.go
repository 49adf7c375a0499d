package fetch_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// withUser returns rawURL with user and password in it.
func withUser(rawURL, user, password string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func TestFTPSingleFile(t *testing.T) {
	content := fetchtest.Blob(300<<10, 1)
	d := startGoftpd(t, map[string][]byte{"/pub/file.bin": content}, nil)
	for _, tc := range []struct {
		name         string
		url          string
		path, writer bool
	}{
		{"anonymous to path", d.URL + "/pub/file.bin", true, false},
		{"anonymous to writer", d.URL + "/pub/file.bin", false, true},
		{"user to path and writer", withUser(d.URL, ftpUser, ftpPassword) + "/pub/file.bin", true, true},
		{"absolute path", d.URL + "/%2Fpub/file.bin", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fetchtest.Fetcher(t, fetch.Options{})
			dest := filepath.Join(t.TempDir(), "file.bin")
			var buf bytes.Buffer
			var resp fetch.Response
			req := fetch.Request{URL: tc.url, Digests: fetchtest.Digests(content),
				OnResponse: func(r fetch.Response) error { resp = r; return nil }}
			if tc.path {
				req.Path = dest
			}
			if tc.writer {
				req.Writer = &buf
			}
			res, err := f.Fetch(fetchtest.Context(t), req)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Size != int64(len(content)) || res.Attempts != 1 {
				t.Errorf("got Size %d, Attempts %d; want %d, 1", res.Size, res.Attempts, len(content))
			}
			if tc.path && !bytes.Equal(readFile(t, dest), content) {
				t.Errorf("file at Path is not the file served")
			}
			if tc.writer && !bytes.Equal(buf.Bytes(), content) {
				t.Errorf("Writer got %d bytes that are not the file served", buf.Len())
			}
			wantHeader := http.Header{
				"Content-Length": {strconv.Itoa(len(content))},
				"Last-Modified":  {fetchtest.ModTime.Format(http.TimeFormat)},
			}
			if resp.Status != http.StatusOK || resp.Size != int64(len(content)) || resp.Offset != 0 ||
				fmt.Sprint(resp.Header) != fmt.Sprint(wantHeader) {
				t.Errorf("got Response %+v; want status 200, size %d, header %v", resp, len(content), wantHeader)
			}
			if strings.Contains(resp.URL, ftpPassword) || strings.Contains(res.URL, ftpPassword) {
				t.Errorf("got URLs %q, %q; want the password redacted", resp.URL, res.URL)
			}
			if fmt.Sprint(res.Header) != fmt.Sprint(wantHeader) {
				t.Errorf("got Result.Header %v; want %v", res.Header, wantHeader)
			}
		})
	}
}

// TestFTPManyFiles fetches 1,000 files through FetchAll and counts the
// control connections the server saw: never more than perHost, reused
// across all the files.
func TestFTPManyFiles(t *testing.T) {
	fs := genFiles(1000, 4<<10)
	d := startGoftpd(t, fs, nil)
	const perHost = 4
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(8, perHost)})
	dir := t.TempDir()
	fetchAllOK(t, f, d.URL, dir, fs)
	opened, maxOpen := d.Opened()
	if opened < 1 || opened > perHost || maxOpen > perHost {
		t.Errorf("got %d control connections, at most %d at once; want 1 to %d", opened, maxOpen, perHost)
	}
}

// TestFTPUsersShareHost fetches files as two users from one host, in turn:
// each user needs connections of its own, and the pool closes an idle one
// of the other user before it opens one, so that the connections the
// client holds to the host never exceed perHost.
func TestFTPUsersShareHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counting the connections a client holds needs Linux's TCP_INFO")
	}
	fs := genFiles(200, 4<<10)
	d := startGoftpd(t, fs, nil)
	const perHost = 2
	f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(4, perHost)})
	ctx := fetchtest.Context(t)
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		i := 0
		for p, b := range fs {
			base := d.URL
			if i++; i%2 == 0 {
				base = withUser(d.URL, ftpUser, ftpPassword)
			}
			select {
			case reqs <- fetch.Request{URL: base + p, Digests: fetchtest.Digests(b)}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for r := range f.FetchAll(ctx, reqs) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Request.URL, r.Err)
		}
	}
	if opened, maxOpen := d.Opened(); maxOpen > perHost || opened < 2 {
		t.Errorf("got %d connections, at most %d held at once; want at least 2, at most %d at once", opened, maxOpen, perHost)
	}
}

// fetchAllOK fetches every file of fs from base into dir through FetchAll
// and checks each.
func fetchAllOK(t *testing.T, f *fetch.Fetcher, base, dir string, fs map[string][]byte) {
	t.Helper()
	ctx := fetchtest.Context(t)
	reqs, sent := requestFiles(ctx, base, dir, fs)
	defer sent()
	n := 0
	for r := range f.FetchAll(ctx, reqs) {
		n++
		if r.Err != nil {
			t.Errorf("%s: %v", r.Request.URL, r.Err)
			continue
		}
		if r.Digests["sha256"] != r.Request.Digests["sha256"] {
			t.Errorf("%s: got sha256 %s; want %s", r.Request.URL, r.Digests["sha256"], r.Request.Digests["sha256"])
		}
	}
	if n != len(fs) {
		t.Fatalf("got %d results; want %d", n, len(fs))
	}
	for p, b := range fs {
		if got := readFile(t, filepath.Join(dir, p)); !bytes.Equal(got, b) {
			t.Fatalf("%s: file on disk is not the file served", p)
		}
	}
	noPartials(t, dir)
}

func TestFTPErrors(t *testing.T) {
	content := fetchtest.Blob(64<<10, 2)
	d := startGoftpd(t, map[string][]byte{"/file": content}, nil)
	wrong := fetchtest.Digests(fetchtest.Blob(10, 3))
	for _, tc := range []struct {
		name    string
		url     string
		digests map[string]string
		check   func(error) bool
	}{
		{"wrong digest", d.URL + "/file", wrong, isA[*fetch.DigestError]},
		{"missing file", d.URL + "/nothing-here", nil, errIs(fetch.ErrNotFound)},
		{"wrong password", withUser(d.URL, ftpUser, "hunter2-wrong") + "/file", nil, func(err error) bool {
			var se *fetch.StatusError
			return errors.As(err, &se) && se.Code == 530 && !errors.Is(err, fetch.ErrNotFound)
		}},
		{"no file name", d.URL + "/", nil, errIs(fetch.ErrInvalidRequest)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fetchtest.Fetcher(t, fetch.Options{})
			dir := t.TempDir()
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: tc.url, Path: filepath.Join(dir, "file"), Digests: tc.digests})
			if !tc.check(err) {
				t.Fatalf("got error %v (%T)", err, errors.Unwrap(err))
			}
			if tc.name != "no file name" && res.Attempts != 1 {
				t.Errorf("got %d attempts; want 1 (not retried)", res.Attempts)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
			onlyFiles(t, dir)
		})
	}
}

// TestFTPBrokenTransfers breaks data connections mid-file and checks that
// the transfer resumes with REST where that is safe, restarts or fails
// cleanly where it is not.
func TestFTPBrokenTransfers(t *testing.T) {
	content := fetchtest.Blob(256<<10, 4)
	const cut = 100 << 10
	cutFirst := func(reply string) func(int) (int64, string, bool) {
		return func(n int) (int64, string, bool) {
			if n == 1 {
				return cut, reply, false
			}
			return -1, "226 done", false
		}
	}
	sameTime := func(int) string { return "20260102030405" }
	newTime := func(n int) string { return fmt.Sprintf("2026010203040%d", n%10) }
	for _, tc := range []struct {
		name        string
		noSize      bool
		mdtm        func(int) string
		retr        func(int) (int64, string, bool)
		writer      bool
		digests     bool
		wantErr     func(error) bool // nil: success
		wantOffsets []int64
	}{
		{"writer resumes, digest guards", false, nil, cutFirst("426 Connection closed; transfer aborted."), true, true, nil, []int64{0, cut}},
		{"path resumes, MDTM guards", false, sameTime, cutFirst("426 Connection closed; transfer aborted."), false, false, nil, []int64{0, cut}},
		{"no SIZE: the 426 tells", true, sameTime, cutFirst("426 Connection closed; transfer aborted."), false, false, nil, []int64{0, cut}},
		{"lying 226 after a cut", false, nil, cutFirst("226 done"), true, true, nil, []int64{0, cut}},
		{"file changed: path restarts", false, newTime, cutFirst("451 local error"), false, false, nil, []int64{0, 0}},
		{"file changed: writer cannot resume", false, newTime, cutFirst("451 local error"), true, false, errIs(fetch.ErrCannotResume), []int64{0, 0}},
		{"no guard: writer cannot resume", false, nil, cutFirst("426 aborted"), true, false, errIs(fetch.ErrCannotResume), []int64{0}},
		// The first RETR made progress and uses up no retry; the two
		// retries go to the RETRs that delivered nothing.
		{"always cut", false, sameTime, func(int) (int64, string, bool) { return cut, "426 aborted", false }, false, true,
			func(err error) bool { return err != nil }, []int64{0, cut, cut, cut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&rawFTPD{file: content, noSize: tc.noSize, mdtm: tc.mdtm, retr: tc.retr, offsets: make(chan int64, 10)}).start(t)
			f := fetchtest.Fetcher(t, fetch.Options{Retries: 2})
			dir := t.TempDir()
			dest := filepath.Join(dir, "file")
			var buf bytes.Buffer
			req := fetch.Request{URL: s.URL + "/file", Path: dest}
			if tc.writer {
				req.Path, req.Writer = "", &buf
			}
			if tc.digests {
				req.Digests = fetchtest.Digests(content)
			}
			res, err := f.Fetch(fetchtest.Context(t), req)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Fetch: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("got error %v", err)
			}
			var offsets []int64
			for len(s.offsets) > 0 {
				offsets = append(offsets, <-s.offsets)
			}
			if fmt.Sprint(offsets) != fmt.Sprint(tc.wantOffsets) {
				t.Errorf("got RETR at offsets %v; want %v", offsets, tc.wantOffsets)
			}
			// The response that completed the file announced what it sent.
			last := tc.wantOffsets[len(tc.wantOffsets)-1]
			if got, want := res.Header.Get("Content-Length"), strconv.Itoa(len(content)-int(last)); err == nil && !tc.noSize && got != want {
				t.Errorf("got Content-Length %q; want %q", got, want)
			}
			switch {
			case tc.wantErr != nil:
				onlyFiles(t, dir)
			case tc.writer && !bytes.Equal(buf.Bytes(), content):
				t.Errorf("Writer got %d bytes that are not the file", buf.Len())
			case !tc.writer && !bytes.Equal(readFile(t, dest), content):
				t.Errorf("file at Path is not the file")
			}
		})
	}
}

// TestFTPUnfinishedNotReused stops transfers before their end without
// cancelling anything: their control connection must be closed, not handed
// to the next transfer mid-file.
func TestFTPUnfinishedNotReused(t *testing.T) {
	big, small := fetchtest.Blob(4<<20, 10), fetchtest.Blob(1<<10, 11)
	refuse := errors.New("not this one")
	for _, tc := range []struct {
		name string
		req  fetch.Request
		want func(error) bool
	}{
		{"OnResponse refuses", fetch.Request{OnResponse: func(fetch.Response) error { return refuse }}, errIs(refuse)},
		{"size announced differs", fetch.Request{Size: 1000}, isA[*fetch.SizeError]},
		{"digest mismatch", fetch.Request{Digests: fetchtest.Digests(small)}, isA[*fetch.DigestError]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startGoftpd(t, map[string][]byte{"/big": big, "/small": small}, nil)
			f := fetchtest.Fetcher(t, fetch.Options{Retries: -1, StallTimeout: 5 * time.Second})
			req := tc.req
			req.URL = d.URL + "/big"
			if _, err := f.Fetch(fetchtest.Context(t), req); !tc.want(err) {
				t.Fatalf("got error %v", err)
			}
			var buf bytes.Buffer
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: d.URL + "/small", Writer: &buf, Digests: fetchtest.Digests(small)})
			if err != nil || res.Attempts != 1 || !bytes.Equal(buf.Bytes(), small) {
				t.Fatalf("next transfer: got error %v after %d attempts, %d bytes; want the file at once", err, res.Attempts, buf.Len())
			}
			// A transfer read to its end leaves its connection reusable.
			want := 2
			if tc.name == "digest mismatch" {
				want = 1
			}
			if opened, _ := d.Opened(); opened != want {
				t.Errorf("got %d connections; want %d", opened, want)
			}
		})
	}
}

// TestFTPServerStops checks that a server that stops answering, on the
// control or the data connection, cannot make a transfer hang.
func TestFTPServerStops(t *testing.T) {
	content := fetchtest.Blob(64<<10, 5)
	hang := func(int) (int64, string, bool) { return 1000, "", true }
	for _, tc := range []struct {
		name     string
		server   *rawFTPD
		stall    time.Duration
		deadline time.Duration
		want     error
	}{
		{"silent from the start", &rawFTPD{silent: true}, 100 * time.Millisecond, time.Minute, fetch.ErrStalled},
		{"silent mid-file", &rawFTPD{file: content, retr: hang}, 100 * time.Millisecond, time.Minute, fetch.ErrStalled},
		{"silent until the deadline", &rawFTPD{silent: true}, time.Minute, 100 * time.Millisecond, context.DeadlineExceeded},
		{"mid-file until the deadline", &rawFTPD{file: content, retr: hang}, time.Minute, 100 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.server.start(t)
			f := fetchtest.Fetcher(t, fetch.Options{StallTimeout: tc.stall, Retries: -1})
			ctx, cancel := context.WithTimeout(fetchtest.Context(t), tc.deadline)
			defer cancel()
			dir := t.TempDir()
			_, err := f.Fetch(ctx, fetch.Request{URL: s.URL + "/file", Path: filepath.Join(dir, "file")})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got error %v; want %v", err, tc.want)
			}
			onlyFiles(t, dir)
		})
	}
}

// TestFTPTemporaryReplies checks that 4xx replies are retried.
func TestFTPTemporaryReplies(t *testing.T) {
	content := fetchtest.Blob(10<<10, 6)
	for _, tc := range []struct {
		name   string
		server *rawFTPD
	}{
		{"421 too many connections", &rawFTPD{file: content, greet: func(n int) string {
			if n == 1 {
				return "421 Too many connections"
			}
			return "220 welcome"
		}}},
		{"421 on USER", &rawFTPD{file: content, user: func(n int) string {
			if n == 1 {
				return "421 Too many users, try later"
			}
			return "331 password please"
		}}},
		{"425 on RETR", &rawFTPD{file: content, retr: func(n int) (int64, string, bool) {
			if n == 1 {
				return 0, "425 Cannot open data connection", false
			}
			return -1, "226 done", false
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.server.start(t)
			f := fetchtest.Fetcher(t, fetch.Options{})
			var buf bytes.Buffer
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/file", Writer: &buf, Digests: fetchtest.Digests(content)})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Attempts != 2 || !bytes.Equal(buf.Bytes(), content) {
				t.Errorf("got %d attempts, %d bytes; want 2 attempts and the file", res.Attempts, buf.Len())
			}
		})
	}
}

// TestFTPUserRefused: a USER refused with 530 fails at once, with that
// code.
func TestFTPUserRefused(t *testing.T) {
	s := (&rawFTPD{file: []byte("x"), user: func(int) string { return "530 Not allowed here" }}).start(t)
	f := fetchtest.Fetcher(t, fetch.Options{})
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + "/file", Writer: &bytes.Buffer{}})
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != 530 || !se.FTP || res.Attempts != 1 {
		t.Errorf("got %v after %d attempts; want an FTP status 530 after 1", err, res.Attempts)
	}
}

// TestFTPCancel cancels FetchAll at random moments, with some transfers
// paused half-way: nothing is left behind, and the connections that go
// back to the pool are in a state to serve the next round.
func TestFTPCancel(t *testing.T) {
	fs := genFiles(300, 16<<10)
	d := startGoftpd(t, fs, func(path string) time.Duration {
		if path[len(path)-1]%5 == 0 {
			return 20 * time.Millisecond
		}
		return 0
	})
	cancelFetchAll(t, d.URL, fs)
	waitFor(t, "the server to see every control connection closed", func() bool { return d.Open() == 0 })
}

// cancelFetchAll runs cancelRounds over FTP through a pool of its own,
// and closes the pool.
func cancelFetchAll(t *testing.T, base string, fs map[string][]byte) {
	t.Helper()
	pool := fetch.NewFTPPool(fetch.FTPPoolOptions{MaxIdlePerHost: 4})
	f := fetchtest.Fetcher(t, fetch.Options{FTP: pool, Limiter: fetch.NewLimiter(8, 4)})
	cancelRounds(t, f, 12, base, fs)
	pool.Close()
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFTPPoolIdleTimeout(t *testing.T) {
	content := fetchtest.Blob(1<<10, 7)
	d := startGoftpd(t, map[string][]byte{"/file": content}, nil)
	pool := fetch.NewFTPPool(fetch.FTPPoolOptions{IdleTimeout: 10 * time.Millisecond})
	defer pool.Close()
	f := fetchtest.Fetcher(t, fetch.Options{FTP: pool})
	for i := range 2 {
		if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: d.URL + "/file", Digests: fetchtest.Digests(content)}); err != nil {
			t.Fatalf("Fetch %d: %v", i, err)
		}
		waitFor(t, "the idle connection to be closed", func() bool { return d.Open() == 0 })
	}
	if opened, _ := d.Opened(); opened != 2 {
		t.Errorf("got %d connections; want 2", opened)
	}
}

func TestFTPPoolClose(t *testing.T) {
	content := fetchtest.Blob(1<<10, 8)
	d := startGoftpd(t, map[string][]byte{"/file": content}, nil)
	pool := fetch.NewFTPPool(fetch.FTPPoolOptions{})
	f := fetchtest.Fetcher(t, fetch.Options{FTP: pool})
	req := fetch.Request{URL: d.URL + "/file", Digests: fetchtest.Digests(content)}
	for range 3 {
		if _, err := f.Fetch(fetchtest.Context(t), req); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
	}
	if opened, _ := d.Opened(); opened != 1 {
		t.Errorf("got %d connections for 3 files in a row; want 1", opened)
	}
	pool.Close()
	waitFor(t, "the pool's connection to be closed", func() bool { return d.Open() == 0 })
	res, err := f.Fetch(fetchtest.Context(t), req)
	if !errors.Is(err, fetch.ErrPoolClosed) || res.Attempts != 1 {
		t.Errorf("after Close: got error %v after %d attempts; want ErrPoolClosed after 1", err, res.Attempts)
	}
}

func TestFTPExplicitTLS(t *testing.T) {
	fs := genFiles(20, 32<<10)
	base, trusting := startGoftpdTLS(t, fs)
	plain := startGoftpd(t, fs, nil)
	for _, tc := range []struct {
		name string
		opts fetch.FTPPoolOptions
		want func(error) bool // nil: success
	}{
		{"AUTH TLS", fetch.FTPPoolOptions{TLSConfig: trusting, ExplicitTLS: true}, nil},
		{"untrusted certificate", fetch.FTPPoolOptions{TLSConfig: &tls.Config{}, ExplicitTLS: true}, func(err error) bool { return err != nil }},
		{"server without TLS", fetch.FTPPoolOptions{TLSConfig: trusting, ExplicitTLS: true}, isA[*fetch.StatusError]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := fetch.NewFTPPool(tc.opts)
			defer pool.Close()
			f := fetchtest.Fetcher(t, fetch.Options{FTP: pool})
			if tc.want == nil {
				fetchAllOK(t, f, base, t.TempDir(), fs)
				return
			}
			u := base
			if tc.name == "server without TLS" {
				u = plain.URL
			}
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: u + "/f/00000"})
			if !tc.want(err) || res.Attempts != 1 {
				t.Errorf("got error %v after %d attempts; want one attempt", err, res.Attempts)
			}
		})
	}
}

// TestVsftpd runs the core cases against vsftpd, when it is installed.
func TestVsftpd(t *testing.T) {
	v, _ := startVsftpd(t, vsftpdPlain)
	fs := genFiles(1000, 4<<10)
	v.put(t, fs)
	big := fetchtest.Blob(1<<20, 9)
	v.put(t, map[string][]byte{"/big": big})

	t.Run("single file", func(t *testing.T) {
		f := fetchtest.Fetcher(t, fetch.Options{})
		dest := filepath.Join(t.TempDir(), "big")
		var buf bytes.Buffer
		var resp fetch.Response
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: v.URL + "/big", Path: dest, Writer: &buf, Digests: fetchtest.Digests(big),
			OnResponse: func(r fetch.Response) error { resp = r; return nil }})
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if !bytes.Equal(readFile(t, dest), big) || !bytes.Equal(buf.Bytes(), big) || res.Size != int64(len(big)) {
			t.Errorf("got %d bytes; want the file", res.Size)
		}
		if got, want := resp.Header.Get("Last-Modified"), fetchtest.ModTime.Format(http.TimeFormat); got != want || resp.Size != int64(len(big)) {
			t.Errorf("got Last-Modified %q, Size %d; want %q, %d", got, resp.Size, want, len(big))
		}
	})
	t.Run("1000 files", func(t *testing.T) {
		f := fetchtest.Fetcher(t, fetch.Options{Limiter: fetch.NewLimiter(8, 4)})
		fetchAllOK(t, f, v.URL, t.TempDir(), fs)
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			url   string
			check func(error) bool
		}{
			{"missing file", v.URL + "/nothing-here", errIs(fetch.ErrNotFound)},
			{"user refused", withUser(v.URL, "bob", "hunter2-wrong") + "/big", func(err error) bool {
				var se *fetch.StatusError
				return errors.As(err, &se) && se.Code == 530
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := fetchtest.Fetcher(t, fetch.Options{})
				dir := t.TempDir()
				res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: tc.url, Path: filepath.Join(dir, "file")})
				if !tc.check(err) || res.Attempts != 1 {
					t.Fatalf("got error %v after %d attempts", err, res.Attempts)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
				onlyFiles(t, dir)
			})
		}
	})
	t.Run("cancel", func(t *testing.T) {
		sub := make(map[string][]byte, 300)
		for p, b := range fs {
			if len(sub) == 300 {
				break
			}
			sub[p] = b
		}
		cancelFetchAll(t, v.URL, sub)
	})
}

// TestVsftpdTLS fetches from vsftpd over explicit (AUTH TLS) and implicit
// (ftps://) TLS, when vsftpd is installed.
func TestVsftpdTLS(t *testing.T) {
	fs := genFiles(20, 32<<10)
	for _, tc := range []struct {
		name     string
		mode     vsftpdTLS
		explicit bool
	}{
		{"explicit", vsftpdExplicit, true},
		{"implicit", vsftpdImplicit, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, trusting := startVsftpd(t, tc.mode)
			v.put(t, fs)
			pool := fetch.NewFTPPool(fetch.FTPPoolOptions{TLSConfig: trusting, ExplicitTLS: tc.explicit})
			defer pool.Close()
			f := fetchtest.Fetcher(t, fetch.Options{FTP: pool})
			fetchAllOK(t, f, v.URL, t.TempDir(), fs)
		})
	}
}
