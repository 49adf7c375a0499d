package proxy_test

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// These tests run real package clients through a Cache, each against an
// upstream that changes: what they see must follow the change.

// need skips the test when a program it runs is not installed.
func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (apt-get install apt-utils dpkg python3-pip)", p)
		}
	}
}

// run runs a command in dir and returns its output, failing the test when
// it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fileOrigin serves dir as an upstream, counting nothing.
func fileOrigin(t *testing.T, dir string) *httptest.Server {
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

func TestAptGetThroughCache(t *testing.T) {
	need(t, "apt-get", "apt-cache", "dpkg-deb", "apt-ftparchive")
	archive := fetchtest.NewDebArchive(t, t.TempDir(), "stable", []string{"amd64"}, nil)
	publish := func(version string, at time.Time) {
		archive.Build(fetchtest.DebPackage{Name: "hello-fetch", Version: version, Arch: "all",
			Files: map[string][]byte{"usr/share/doc/hello-fetch/README": []byte("hello " + version + "\n")}})
		archive.Publish(at)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	publish("1.0", start)
	fx := newCache(t, fileOrigin(t, archive.Dir).URL)

	apt := fetchtest.NewApt(t, "amd64", "deb [trusted=yes] "+fx.front.URL+"/ stable main\n")
	candidate := func() string {
		apt.Must(apt.Root, "apt-get", "update")
		return apt.Candidate("hello-fetch")
	}
	if got := candidate(); got != "1.0" {
		t.Fatalf("first update: candidate %s; want 1.0", got)
	}
	if got := candidate(); got != "1.0" {
		t.Fatalf("second update: candidate %s; want 1.0", got)
	}
	publish("1.1", start.Add(time.Minute))
	if got := candidate(); got != "1.1" {
		t.Errorf("update after 1.1 was published: candidate %s; want 1.1", got)
	}
}

func TestGoListThroughCache(t *testing.T) {
	need(t, "go")
	up := newOrigin(t)
	up.Set("/example.com/mod/@v/list", originFile([]byte("v1.0.0\n"), nil))
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		// For the retractions that go list reads from the latest version.
		up.Set("/example.com/mod/@v/"+v+".info", originFile([]byte(`{"Version":"`+v+`","Time":"2026-01-02T03:04:05Z"}`), nil))
		up.Set("/example.com/mod/@v/"+v+".mod", originFile([]byte("module example.com/mod\n"), nil))
	}
	fx := newCache(t, up.URL)
	env := []string{"GOPROXY=" + fx.front.URL, "GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GOFLAGS=", "GO111MODULE=on",
		"GOTOOLCHAIN=local", "GOMODCACHE=" + t.TempDir()}
	dir := t.TempDir()
	list := func() string {
		return strings.TrimSpace(run(t, dir, env, "go", "list", "-m", "-versions", "example.com/mod"))
	}
	if got := list(); got != "example.com/mod v1.0.0" {
		t.Fatalf("go list -m -versions: got %q; want %q", got, "example.com/mod v1.0.0")
	}
	up.Set("/example.com/mod/@v/list", originFile([]byte("v1.0.0\nv1.1.0\n"), nil))
	if got := list(); got != "example.com/mod v1.0.0 v1.1.0" {
		t.Errorf("go list -m -versions after v1.1.0: got %q; want %q", got, "example.com/mod v1.0.0 v1.1.0")
	}

	// go mod download gets the zip through the cache, twice into empty
	// module caches: the upstream is asked for it once.
	const zipPath = "/example.com/mod/@v/v1.1.0.zip"
	up.Set(zipPath, originFile(moduleZip(t, "example.com/mod", "v1.1.0", map[string]string{
		"go.mod": "module example.com/mod\n",
		"mod.go": "package mod\n\nconst Version = \"v1.1.0\"\n",
	}), nil))
	for i := range 2 {
		modCache := t.TempDir()
		env := append(env, "GOMODCACHE="+modCache)
		run(t, dir, env, "go", "mod", "download", "example.com/mod@v1.1.0")
		src, err := os.ReadFile(filepath.Join(modCache, "example.com", "mod@v1.1.0", "mod.go"))
		if err != nil || !strings.Contains(string(src), `"v1.1.0"`) {
			t.Fatalf("go mod download %d: mod.go: %q, %v; want the module's file", i+1, src, err)
		}
		// The module cache is read-only; let TempDir remove it.
		run(t, dir, env, "go", "clean", "-modcache")
	}
	if gets := up.Gets(zipPath); gets != 1 {
		t.Errorf("upstream got %d requests for the zip; want 1", gets)
	}
}

// moduleZip returns the zip of the module path at version, as the Go
// module proxy serves it, with files (by name in the module).
func moduleZip(t *testing.T, path, version string, files map[string]string) []byte {
	named := make(map[string]string, len(files))
	for name, body := range files {
		named[path+"@"+version+"/"+name] = body
	}
	return zipOf(t, named)
}

// zipOf returns a zip archive of files, by name.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, body := range files {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPipDownloadThroughCache(t *testing.T) {
	need(t, "python3")
	if err := exec.Command("python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skip("pip is not installed (apt-get install python3-pip)")
	}
	repo := t.TempDir()
	wheel := buildWheel(t, "pkg", "1.0")
	fetchtest.WriteTree(t, repo, map[string][]byte{"simple/pkg/pkg-1.0-py3-none-any.whl": wheel})
	// http.FileServer answers /simple/pkg with a redirect to /simple/pkg/,
	// and that with a listing whose links are relative.
	fx := newCache(t, fileOrigin(t, repo).URL)
	out := t.TempDir()
	run(t, out, []string{"PIP_CONFIG_FILE=/dev/null"}, "python3", "-m", "pip", "download", "--no-deps", "--no-index",
		"--no-cache-dir", "--disable-pip-version-check", "--find-links", fx.front.URL+"/simple/pkg", "-d", out, "pkg==1.0")
	got, err := os.ReadFile(filepath.Join(out, "pkg-1.0-py3-none-any.whl"))
	if err != nil || !bytes.Equal(got, wheel) {
		t.Errorf("pip download: got %d bytes, %v; want the %d bytes of the wheel", len(got), err, len(wheel))
	}
}

// buildWheel returns a pure-Python wheel of name at version.
func buildWheel(t *testing.T, name, version string) []byte {
	info := name + "-" + version + ".dist-info/"
	return zipOf(t, map[string]string{
		name + "/__init__.py": "",
		info + "METADATA":     "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n",
		info + "WHEEL":        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		info + "RECORD":       "",
	})
}
