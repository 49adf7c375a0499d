package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// proxyRun is a run of "fetch proxy" in this process.
type proxyRun struct {
	url            string // where it listens, without the final "/"
	stop           context.CancelFunc
	code           chan int
	drained        chan struct{}
	stdout, stderr *fetchtest.Buffer
	client         *http.Client
}

// startProxy runs "fetch proxy -listen 127.0.0.1:0 args..." until the test
// ends or wait is called.
func startProxy(t testing.TB, args ...string) *proxyRun {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	run := &proxyRun{stop: stop, code: make(chan int, 1), drained: make(chan struct{}),
		stdout: &fetchtest.Buffer{}, stderr: &fetchtest.Buffer{}, client: &http.Client{Transport: &http.Transport{}}}
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
		{"bad -cache-max", []string{"-upstream", "http://example.com/", "-cache", cache, "-cache-max", "20Q"}, exitUsage, ""},
		{"negative -max-age", []string{"-upstream", "http://example.com/", "-cache", cache, "-max-age", "-1s"}, exitUsage, ""},
		{"bad -H", []string{"-upstream", "http://example.com/", "-cache", cache, "-H", "no colon"}, exitUsage, ""},
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
	data := fetchtest.Blob(1<<20, 1)
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
			resp := fetchtest.Do(t, run.client, http.MethodGet, run.url+"/big.iso", nil)
			first := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			run.stop()
			if !run.stderr.WaitFor("shutting down") {
				t.Fatalf("stderr lacks %q", "shutting down")
			}
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
			kept, temporary := fetchtest.CacheFiles(t, cache)
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
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": []byte("alpha\n")})
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

// TestProxyCacheInUse starts a second proxy on the cache of a running one.
func TestProxyCacheInUse(t *testing.T) {
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	cache := t.TempDir()
	startProxy(t, "-upstream", up.URL, "-cache", cache)
	var stdout, stderr bytes.Buffer
	code := runProxy(context.Background(), []string{"-listen", "127.0.0.1:0", "-upstream", up.URL, "-cache", cache}, &stdout, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), "in use by another proxy") {
		t.Errorf("second proxy: exit %d, stderr %q; want %d and a message that the cache is in use", code, stderr.String(), exitFailed)
	}
}

// TestProxyHeader: each -H goes with the requests to the upstream.
func TestProxyHeader(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok3n" || r.Header.Get("X-Repo") != "main" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write([]byte("a"))
	}))
	defer up.Close()
	run := startProxy(t, "-upstream", up.URL, "-cache", t.TempDir(), "-H", "Authorization: Bearer tok3n", "-H", "X-Repo: main")
	resp := fetchtest.Do(t, run.client, http.MethodGet, run.url+"/a.rpm", nil)
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "a" || err != nil {
		t.Errorf("got %d %q %v; want 200 %q", resp.StatusCode, b, err, "a")
	}
}

// TestProxyHeaderLimit: a request whose headers are larger than a
// repository client sends is refused with 431, before the cache sees it;
// one of a few KiB is served.
func TestProxyHeaderLimit(t *testing.T) {
	up := fetchtest.NewRepo(t, map[string][]byte{"/a.rpm": []byte("a")})
	run := startProxy(t, "-upstream", up.URL, "-cache", t.TempDir())
	for _, tc := range []struct {
		size   int
		status int
	}{
		{8 << 10, http.StatusOK},
		{200 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		resp := fetchtest.Do(t, run.client, http.MethodGet, run.url+"/a.rpm", http.Header{"X-Pad": {strings.Repeat("x", tc.size)}})
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != tc.status {
			t.Errorf("%d bytes of headers: got status %d; want %d", tc.size, resp.StatusCode, tc.status)
		}
	}
	if got := up.Gets("/a.rpm"); got != 1 {
		t.Errorf("upstream got %d GET requests; want 1", got)
	}
}

// TestProxyMetrics checks that -metrics serves the counters of the cache in
// the Prometheus text format, and that they move.
func TestProxyMetrics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write([]byte("abc"))
	}))
	defer up.Close()
	run := startProxy(t, "-upstream", up.URL, "-cache", t.TempDir(), "-metrics", "127.0.0.1:0")
	if !run.stderr.WaitFor("metrics at http://") {
		t.Fatalf("no metrics address in %q", run.stderr)
	}
	_, rest, _ := strings.Cut(run.stderr.String(), "metrics at http://")
	metrics, _, _ := strings.Cut(rest, "\n")
	for range 2 {
		resp := fetchtest.Do(t, run.client, http.MethodGet, run.url+"/a.rpm", nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp := fetchtest.Do(t, run.client, http.MethodGet, "http://"+metrics, nil)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET %s: %d %v", metrics, resp.StatusCode, err)
	}
	for _, want := range []string{
		`fetch_proxy_requests_total{cache="hit"} 1`,
		`fetch_proxy_requests_total{cache="miss"} 1`,
		`fetch_proxy_sent_bytes_total{cache="hit"} 3`,
		"fetch_proxy_upstream_bytes_total 3",
		"fetch_proxy_cache_files 1",
		"fetch_proxy_cache_bytes 3",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}
