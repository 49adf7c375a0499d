package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// endless serves bodies that never end, counting the bytes it sent.
type endless struct {
	srv  *httptest.Server
	sent atomic.Int64
}

// newEndless serves, at each path of fixed, its body, and at any other
// path, chunk again and again until the client goes away.
func newEndless(t *testing.T, fixed map[string]string, chunk string) *endless {
	e := &endless{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := fixed[strings.TrimPrefix(r.URL.Path, "/")]; ok {
			w.Write([]byte(body))
			return
		}
		b := []byte(strings.Repeat(chunk, 32<<10/len(chunk)+1))
		for r.Context().Err() == nil {
			n, err := w.Write(b)
			e.sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func TestSyncEmptyEntryEndlessBody(t *testing.T) {
	manifest := "empty/x," + fetchtest.SHA256(nil) + ",0\n"
	e := newEndless(t, map[string]string{"PULP_MANIFEST": manifest}, "z")
	dir := t.TempDir()
	res := fetchProc(t, "", "sync", "-retries", "0", e.srv.URL+"/PULP_MANIFEST", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "expected 0 bytes, got 1") {
		t.Errorf("exit %d, stderr %q; want 1 and a size error", res.code, res.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "empty", "x")); err == nil {
		t.Error("empty/x was written")
	}
	if p := fetchtest.Partials(t, dir); len(p) > 0 {
		t.Errorf("temporary files left: %v", p)
	}
}

func TestSyncEndlessManifest(t *testing.T) {
	tests := []struct {
		name, chunk, want string
		args              []string
	}{
		{name: "good lines", chunk: "a," + fetchtest.SHA256(nil) + ",0\n", args: []string{"-max-manifest", "1000000"},
			want: "manifest refused: larger than 1000000 bytes"},
		{name: "good lines, default cap", chunk: "a," + fetchtest.SHA256(nil) + ",0\n",
			want: "manifest refused: larger than 33554432 bytes"},
		{name: "bad lines", chunk: "junk\n", want: "manifest refused: more than 20 bad lines"},
		{name: "one line", chunk: "x", want: "manifest refused: line 1: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndless(t, nil, tt.chunk)
			dir := t.TempDir()
			args := append([]string{"sync"}, tt.args...)
			res := fetchProc(t, "", append(args, e.srv.URL+"/PULP_MANIFEST", dir)...)
			if res.code != 1 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d; want 1 and stderr with %q", res.code, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("DIR holds %d files; want none", len(entries))
			}
			// Not a timing: the bytes that the server could put in the
			// connection's buffers before the client went away.
			if sent := e.sent.Load(); sent > 64<<20 {
				t.Errorf("server sent %d bytes of manifest", sent)
			}
		})
	}
}

func TestLongName(t *testing.T) {
	name := strings.Repeat("n", 246) + ".bin" // 250 bytes
	body := fetchtest.Blob(100000, 16)
	files := withManifest(map[string][]byte{name: body, "sub/é" + name[2:]: body})
	r := newRepo(t, files)

	dir := t.TempDir()
	res := fetchProc(t, "", "-o", dir, r.URL+"/"+name)
	if res.code != 0 {
		t.Errorf("get: exit %d; want 0", res.code)
	}
	checkFiles(t, dir, map[string][]byte{name: body})

	dir = t.TempDir()
	res = fetchProc(t, "", "sync", r.URL+"/PULP_MANIFEST", dir)
	if res.code != 0 {
		t.Errorf("sync: exit %d; want 0", res.code)
	}
	checkFiles(t, dir, files)
	if p := fetchtest.Partials(t, dir); len(p) > 0 {
		t.Errorf("temporary files left: %v", p)
	}
}
