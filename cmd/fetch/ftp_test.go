package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ftpserver "goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

const ftpPassword = "s3cret-pw"

// startFTP serves the folder root over FTP on loopback until the end of
// the test, to the user alice, and returns its URL with her credentials.
func startFTP(t *testing.T, root string) string {
	t.Helper()
	driver, err := file.NewDriver(root)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ftpserver.NewServer(&ftpserver.Options{
		Driver:   driver,
		Auth:     &ftpserver.SimpleAuth{Name: "alice", Password: ftpPassword},
		Perm:     ftpserver.NewSimplePerm("root", "root"),
		Hostname: "127.0.0.1",
		Logger:   &ftpserver.DiscardLogger{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Shutdown()
		<-served
	})
	return "ftp://alice:" + ftpPassword + "@" + ln.Addr().String()
}

func TestSyncFTP(t *testing.T) {
	files := genFiles(10)
	root := t.TempDir()
	fetchtest.WriteTree(t, filepath.Join(root, "repo"), files)
	// The last line without its newline.
	fetchtest.WriteTree(t, filepath.Join(root, "repo"), map[string][]byte{"PULP_MANIFEST": bytes.TrimSuffix(manifest(files), []byte("\n"))})
	manifest := startFTP(t, root) + "/repo/PULP_MANIFEST"
	dir := t.TempDir()

	res := fetchProc(t, "", "sync", "-j", "4", "-per-host", "2", manifest, dir)
	if res.code != 0 || !strings.Contains(res.stderr, "10 done, 0 skipped, 0 failed") {
		t.Fatalf("exit %d; want 0 and 10 done", res.code)
	}
	checkFiles(t, dir, files)

	res = fetchProc(t, "", "sync", manifest, dir)
	if res.code != 0 || !strings.Contains(res.stderr, "0 done, 10 skipped, 0 failed") {
		t.Fatalf("second sync: exit %d; want 0 and 10 skipped", res.code)
	}

	// A file gone from the server fails, named without the password.
	gone := "d1/f001.bin"
	for _, p := range []string{filepath.Join(root, "repo", gone), filepath.Join(dir, gone)} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	res = fetchProc(t, "", "sync", "-retries", "0", manifest, dir)
	if res.code != 1 || !strings.Contains(res.stderr, "9 skipped, 1 failed") {
		t.Errorf("exit %d; want 1 and 1 failed", res.code)
	}
	want := "FAIL " + strings.Replace(manifest, ftpPassword, "xxxxx", 1)
	want = strings.TrimSuffix(want, "PULP_MANIFEST") + gone
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
	if strings.Contains(res.stderr, ftpPassword) {
		t.Errorf("stderr shows the password")
	}
}

func TestGetFTP(t *testing.T) {
	files := map[string][]byte{"pub/a.iso": fetchtest.Blob(3000, 9)}
	root := t.TempDir()
	fetchtest.WriteTree(t, root, files)
	base := startFTP(t, root)
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, base+"/pub/a.iso")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"a.iso": files["pub/a.iso"]})
}
