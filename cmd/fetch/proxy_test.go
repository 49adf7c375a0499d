package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// notingBuffer is a buffer safe for concurrent use that can wait for a
// text to be written.
type notingBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newNotingBuffer() *notingBuffer { return &notingBuffer{changed: make(chan struct{})} }

func (b *notingBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *notingBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer holds s.
func (b *notingBuffer) waitFor(s string) {
	for {
		b.mu.Lock()
		found, changed := strings.Contains(b.buf.String(), s), b.changed
		b.mu.Unlock()
		if found {
			return
		}
		<-changed
	}
}

// proxyRun is a run of "fetch proxy" in this process.
type proxyRun struct {
	url            string // where it listens, without the final "/"
	stop           context.CancelFunc
	code           chan int
	drained        chan struct{}
	stdout, stderr *notingBuffer
	client         *http.Client
}

// startProxy runs "fetch proxy -listen 127.0.0.1:0 args..." until the test
// ends or wait is called.
func startProxy(t testing.TB, args ...string) *proxyRun {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	run := &proxyRun{stop: stop, code: make(chan int, 1), drained: make(chan struct{}),
		stdout: newNotingBuffer(), stderr: newNotingBuffer(), client: &http.Client{Transport: &http.Transport{}}}
	go func() {
		code := runProxy(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), run.stdout, pw)
		pw.Close()
		run.code <- code
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		run.stderr.Write([]byte(line + "\n"))
		if _, addr, ok := strings.Cut(line, " at http://"); ok {
			addr, _, _ = strings.Cut(addr, "/")
			run.url = "http://" + addr
			break
		}
	}
	go func() {
		io.Copy(run.stderr, pr)
		close(run.drained)
	}()
	t.Cleanup(func() {
		run.client.Transport.(*http.Transport).CloseIdleConnections()
		if run.stop != nil {
			run.wait(t)
		}
	})
	if run.url == "" {
		code := run.wait(t)
		t.Fatalf("fetch proxy %s: exit %d before it listened:\n%s", strings.Join(args, " "), code, run.stderr)
	}
	return run
}

// wait stops the proxy and returns its exit status.
func (run *proxyRun) wait(t testing.TB) int {
	t.Helper()
	run.stop()
	run.stop = nil
	code := <-run.code
	<-run.drained
	t.Logf("fetch proxy: exit %d\nstdout:\n%sstderr:\n%s", code, run.stdout, run.stderr)
	return code
}

func (run *proxyRun) get(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, run.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := run.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// upstreamRepo serves files by path and counts the GET requests for each.
type upstreamRepo struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	gets  map[string]int
}

func newUpstreamRepo(t *testing.T, files map[string][]byte) *upstreamRepo {
	up := &upstreamRepo{files: files, gets: map[string]int{}}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		if r.Method == http.MethodGet {
			up.gets[r.URL.Path]++
		}
		data, ok := up.files[r.URL.Path]
		up.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-rpm")
		w.Header().Set("Etag", `"`+strconv.Itoa(len(data))+`"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	t.Cleanup(up.Close)
	return up
}

func (up *upstreamRepo) getsOf(path string) int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.gets[path]
}

// cacheFiles returns the files in dir: the kept ones, and the temporary.
func cacheFiles(t *testing.T, dir string) (kept, temporary []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasPrefix(d.Name(), "."):
			temporary = append(temporary, path)
		default:
			kept = append(kept, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return kept, temporary
}

func bigFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i/509)
	}
	return b
}

func TestProxyServesFromCache(t *testing.T) {
	data := bigFile(200_000)
	up := newUpstreamRepo(t, map[string][]byte{"/repo/Packages/a.rpm": data})
	cache := t.TempDir()
	run := startProxy(t, "-upstream", up.URL+"/repo", "-cache", cache, "-retries", "0")

	for _, tc := range []struct {
		name, method, path, rng string
		status                  int
		body                    []byte
	}{
		{"miss", http.MethodGet, "/Packages/a.rpm", "", http.StatusOK, data},
		{"hit", http.MethodGet, "/Packages/a.rpm", "", http.StatusOK, data},
		{"hit, query dropped", http.MethodGet, "/Packages/a.rpm?x=1", "", http.StatusOK, data},
		{"hit, range", http.MethodGet, "/Packages/a.rpm", "bytes=10-19", http.StatusPartialContent, data[10:20]},
		{"hit, head", http.MethodHead, "/Packages/a.rpm", "", http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.rng != "" {
				h.Set("Range", tc.rng)
			}
			resp := run.get(t, tc.method, tc.path, h)
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tc.status || !bytes.Equal(body, tc.body) {
				t.Fatalf("got status %d, %d bytes, error %v; want %d and %d bytes", resp.StatusCode, len(body), err, tc.status, len(tc.body))
			}
			for name, want := range map[string]string{
				"Content-Type":  "application/x-rpm",
				"Etag":          `"200000"`,
				"Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: got %q; want %q", name, got, want)
				}
			}
		})
	}
	if got := up.getsOf("/repo/Packages/a.rpm"); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
	if code := run.wait(t); code != exitOK {
		t.Errorf("exit status: got %d; want %d", code, exitOK)
	}
	kept, temporary := cacheFiles(t, cache)
	if len(kept) != 2 || len(temporary) != 0 {
		t.Errorf("cache holds %v and temporary files %v; want the file and its record", kept, temporary)
	}
	log := strings.Split(strings.TrimSpace(run.stdout.String()), "\n")
	if len(log) != 5 {
		t.Fatalf("got %d log lines; want 5, one a request", len(log))
	}
	for i, want := range []string{
		"method=GET path=/Packages/a.rpm status=200 bytes=200000",
		"method=GET path=/Packages/a.rpm status=200 bytes=200000",
	} {
		if !strings.Contains(log[i], want) {
			t.Errorf("log line %d: got %q; want it to hold %q", i+1, log[i], want)
		}
	}
	for i, line := range log {
		if want := map[bool]string{true: "cache=miss", false: "cache=hit"}[i == 0]; !strings.Contains(line, want) {
			t.Errorf("log line %d: got %q; want it to hold %q", i+1, line, want)
		}
	}
}

func TestProxyCorruptCopy(t *testing.T) {
	data := bigFile(100_000)
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": data})
	cache := t.TempDir()
	run := startProxy(t, "-upstream", up.URL, "-cache", cache, "-retries", "0")
	if body, _ := io.ReadAll(run.get(t, http.MethodGet, "/a.rpm", nil).Body); !bytes.Equal(body, data) {
		t.Fatalf("first request: got %d bytes; want %d", len(body), len(data))
	}
	kept, _ := cacheFiles(t, cache)
	for _, name := range kept {
		if !strings.HasSuffix(name, ".json") {
			bad := bytes.Clone(data)
			bad[len(bad)/2] ^= 1
			if err := os.WriteFile(name, bad, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	resp := run.get(t, http.MethodGet, "/a.rpm", nil)
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("corrupt copy: got status %d and a clean end after %d bytes; want an error", resp.StatusCode, len(body))
	}
	resp = run.get(t, http.MethodGet, "/a.rpm", nil)
	if body, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(body, data) {
		t.Fatalf("after the corrupt copy: got %d bytes, error %v; want the %d bytes of the file", len(body), err, len(data))
	}
	if got := up.getsOf("/a.rpm"); got != 2 {
		t.Errorf("upstream got %d GET requests; want 2", got)
	}
}

func TestProxyRefuses(t *testing.T) {
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	cache := t.TempDir()
	run := startProxy(t, "-upstream", up.URL, "-cache", cache, "-retries", "0")
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"missing file", http.MethodGet, "/missing.rpm", http.StatusNotFound},
		{"dot dot", http.MethodGet, "/../a.rpm", http.StatusBadRequest},
		{"post", http.MethodPost, "/a.rpm", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := run.get(t, tc.method, tc.path, nil)
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if kept, temporary := cacheFiles(t, cache); len(kept)+len(temporary) > 0 {
		t.Errorf("cache holds %v %v; want nothing", kept, temporary)
	}
	if got := up.getsOf("/a.rpm"); got != 0 {
		t.Errorf("upstream got %d GET requests for /a.rpm; want none", got)
	}
}

func TestProxyUsage(t *testing.T) {
	cache := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout
	}{
		{"help", []string{"-h"}, exitOK, "fetch proxy -upstream URL -cache DIR"},
		{"no upstream", []string{"-cache", cache}, exitUsage, ""},
		{"no cache", []string{"-upstream", "http://example.com/"}, exitUsage, ""},
		{"relative upstream", []string{"-upstream", "example.com", "-cache", cache}, exitUsage, ""},
		{"file upstream", []string{"-upstream", "file:///srv", "-cache", cache}, exitUsage, ""},
		{"operand", []string{"-upstream", "http://example.com/", "-cache", cache, "extra"}, exitUsage, ""},
		{"unknown flag", []string{"-x"}, exitUsage, ""},
		{"bad -j", []string{"-upstream", "http://example.com/", "-cache", cache, "-j", "0"}, exitUsage, ""},
		{"taken address", []string{"-upstream", "http://example.com/", "-cache", cache, "-listen", "256.0.0.1:1"}, exitFailed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runProxy(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status: got %d; want %d\nstderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.out) {
				t.Errorf("stdout: got %q; want it to hold %q", stdout.String(), tc.out)
			}
			if tc.code != exitOK && stderr.Len() == 0 {
				t.Errorf("stderr is empty; want the reason")
			}
		})
	}
}

// TestProxyShutdown cancels the proxy while a response is in flight: it
// finishes within the grace period, or is broken off after it.
func TestProxyShutdown(t *testing.T) {
	data := bigFile(1 << 20)
	for _, tc := range []struct {
		name     string
		grace    string
		finishes bool
	}{
		{"in time", "1h", true},
		{"grace over", "0s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var gets atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gets.Add(1)
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				w.Write(data[:len(data)/2])
				http.NewResponseController(w).Flush()
				select {
				case <-release:
					w.Write(data[len(data)/2:])
				case <-r.Context().Done():
				}
			}))
			defer up.Close()
			cache := t.TempDir()
			run := startProxy(t, "-upstream", up.URL, "-cache", cache, "-retries", "0", "-grace", tc.grace)
			resp := run.get(t, http.MethodGet, "/big.iso", nil)
			first := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			run.stop()
			run.stderr.waitFor("shutting down")
			if tc.finishes {
				close(release)
			}
			rest, err := io.ReadAll(resp.Body)
			code := run.wait(t)
			if tc.finishes {
				if err != nil || !bytes.Equal(append(first, rest...), data) {
					t.Errorf("got %d bytes, error %v; want the %d bytes of the file", 1+len(rest), err, len(data))
				}
				if code != exitOK {
					t.Errorf("exit status: got %d; want %d", code, exitOK)
				}
			} else {
				if err == nil {
					t.Errorf("got a clean end after %d bytes; want an error", 1+len(rest))
				}
				if code != exitFailed {
					t.Errorf("exit status: got %d; want %d", code, exitFailed)
				}
			}
			kept, temporary := cacheFiles(t, cache)
			if len(temporary) > 0 {
				t.Errorf("cache holds temporary files %v; want none", temporary)
			}
			if want := map[bool]int{true: 2, false: 0}[tc.finishes]; len(kept) != want {
				t.Errorf("cache holds %v; want %d files", kept, want)
			}
		})
	}
}

// TestProxySignal runs the command as a process, and stops it with
// SIGTERM.
func TestProxySignal(t *testing.T) {
	up := newUpstreamRepo(t, map[string][]byte{"/a.rpm": []byte("alpha\n")})
	cmd := exec.Command(fetchBin, "proxy", "-listen", "127.0.0.1:0", "-upstream", up.URL, "-cache", t.TempDir())
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && sc.Scan() {
		if _, a, ok := strings.Cut(sc.Text(), " at http://"); ok {
			addr, _, _ = strings.Cut(a, "/")
		}
	}
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the proxy did not say where it listens")
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.Transport.(*http.Transport).CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/a.rpm")
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "alpha\n" {
		t.Errorf("got %q, error %v; want %q", body, err, "alpha\n")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); err != nil || code != exitOK {
		t.Errorf("exit: got %d (%v); want %d", code, err, exitOK)
	}
	if !strings.Contains(stdout.String(), "path=/a.rpm status=200 bytes=6") {
		t.Errorf("stdout: got %q; want a line for the request", stdout.String())
	}
}

// BenchmarkProxy compares a download straight from the upstream server with
// one through "fetch proxy": a miss (downloaded, streamed and kept) and a
// hit (served from the cache). ttfb-ns is the time to the first byte of the
// body, MB/s the throughput.
func BenchmarkProxy(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		data := bigFile(size)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		}))
		cache := b.TempDir()
		run := startProxy(b, "-upstream", up.URL, "-cache", cache, "-retries", "0")
		for _, bc := range []struct {
			name, url string
			miss      bool
		}{
			{"direct", up.URL + "/f", false},
			{"miss", run.url + "/f", true},
			{"hit", run.url + "/f", false},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", bc.name, size>>10), func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{}}
				defer client.Transport.(*http.Transport).CloseIdleConnections()
				buf := make([]byte, 64<<10)
				var ttfb time.Duration
				b.SetBytes(int64(size))
				for b.Loop() {
					if bc.miss {
						b.StopTimer()
						forget(b, cache)
						b.StartTimer()
					}
					start := time.Now()
					resp, err := client.Get(bc.url)
					if err != nil {
						b.Fatal(err)
					}
					n, err := resp.Body.Read(buf)
					ttfb += time.Since(start)
					for err == nil {
						var m int
						m, err = resp.Body.Read(buf)
						n += m
					}
					resp.Body.Close()
					if err != io.EOF || n != size {
						b.Fatalf("got %d bytes, error %v; want %d", n, err, size)
					}
				}
				b.ReportMetric(float64(ttfb.Nanoseconds())/float64(b.N), "ttfb-ns/op")
			})
		}
		run.wait(b)
		up.Close()
	}
}

// forget removes every file kept in cache.
func forget(b *testing.B, cache string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(cache, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}
