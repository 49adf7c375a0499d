package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// startNginx runs nginx on a free loopback port, serving root with the
// server directives extra and the http directives httpExtra, until the end
// of the test. It returns the base URL and the access log's path. It skips
// the test when nginx is not installed.
func startNginx(t *testing.T, root, httpExtra, extra string) (base, accessLog string) {
	t.Helper()
	ng := fetchtest.StartNginx(t, func(n *fetchtest.Nginx) string {
		accessLog = filepath.Join(n.Dir, "access.log")
		return fmt.Sprintf(`	access_log %s;
	%s
	server {
		listen %s;
		root %s;
		%s
	}`, accessLog, httpExtra, n.Addr, root, extra)
	})
	t.Cleanup(ng.Stop)
	return "http://" + ng.Addr, accessLog
}

// TestSyncRateLimitedServer syncs 200 files from nginx limited to 20
// requests a second (a burst of 5, 429 beyond): with default flags every
// file arrives. The ideal run takes 10 s; the time and the number of
// requests are logged (bench/RESULTS.md records them).
func TestSyncRateLimitedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s: skipped with -short")
	}
	files := map[string][]byte{}
	for i := range 200 {
		name := fmt.Sprintf("p/%03d.rpm", i)
		files[name] = fetchtest.Blob(1000+i, uint64(i))
	}
	root := t.TempDir()
	fetchtest.WriteTree(t, root, withManifest(files))
	base, accessLog := startNginx(t, root,
		"limit_req_zone $binary_remote_addr zone=perip:1m rate=20r/s;",
		"limit_req zone=perip burst=5 nodelay; limit_req_status 429;")

	dir := t.TempDir()
	start := time.Now()
	res := fetchProc(t, "", "sync", base+"/PULP_MANIFEST", dir)
	elapsed := time.Since(start)
	if res.code != 0 || !strings.Contains(res.stderr, "200 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d; want 0 and 200 done, 0 failed", res.code)
	}
	checkFiles(t, dir, files)
	log, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	requests := strings.Count(string(log), "\n")
	refused := strings.Count(string(log), "\" 429 ")
	if refused == 0 {
		t.Errorf("nginx refused no request (%d in all); want some 429s, or the test proves nothing", requests)
	}
	t.Logf("200 files from nginx at 20 r/s: %v, %d requests (%d answered 429); ideal about 10 s and 201", elapsed.Round(100*time.Millisecond), requests, refused)
}

// TestSegmentsRateLimitedServer downloads a 16 MiB file in 8 segments from
// nginx limited to 1 request a second (429 beyond) and to
// 4 MB/s a connection: the range requests that nginx refuses close the
// host for a while and use up no retry, so the file arrives whole and
// verified on the default retries.
func TestSegmentsRateLimitedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds: skipped with -short")
	}
	body := fetchtest.Blob(16<<20, 13)
	root := t.TempDir()
	fetchtest.WriteTree(t, root, map[string][]byte{"big.iso": body})
	base, accessLog := startNginx(t, root,
		"limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/s;",
		"limit_req zone=perip; limit_req_status 429; limit_rate 4m;")

	dir := t.TempDir()
	line := fmt.Sprintf("%s/big.iso sha256=%s\n", base, fetchtest.SHA256(body))
	res := fetchProc(t, line, "-segments", "8", "-per-host", "8", "-o", dir, "-i", "-")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0\n%s", res.code, res.stderr)
	}
	checkFiles(t, dir, map[string][]byte{"big.iso": body})
	log, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	ranged := strings.Count(string(log), "\" 206 ")
	refused := strings.Count(string(log), "\" 429 ")
	if refused == 0 {
		t.Errorf("nginx refused no request (%d ranges served); want some 429s, or the test proves nothing", ranged)
	}
	t.Logf("16 MiB in 8 segments from nginx at 1 r/s: %d ranges served, %d requests refused with 429", ranged, refused)
}
