package repo_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/repo"
)

// listFormat is the smallest Format: a top file INDEX whose lines,
// "path sha256 size", name lists; each list's lines name packages the
// same way. INDEX.sig, when the server has it, signs INDEX.
type listFormat struct{}

func (listFormat) Open(ctx context.Context, src *repo.Source) (repo.Index, error) {
	if _, err := src.Fetch(ctx, repo.Entry{Path: "INDEX", Size: -1}, nil); err != nil {
		return nil, err
	}
	_, err := src.Fetch(ctx, repo.Entry{Path: "INDEX.sig", Size: -1}, nil)
	switch {
	case err == nil:
		if err := src.Verify("INDEX", "INDEX.sig"); err != nil {
			return nil, err
		}
	case !errors.Is(err, fetch.ErrNotFound):
		return nil, err
	}
	f, err := src.Open("INDEX")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lists []repo.Entry
	err = readList("INDEX", f, func(e repo.Entry) bool {
		e.Metadata = true
		lists = append(lists, e)
		return true
	})
	return listIndex(lists), err
}

type listIndex []repo.Entry

func (ix listIndex) Metadata() []repo.Entry { return ix }

func (ix listIndex) InTree(p string) bool { return strings.HasPrefix(p, "pool/") }

func (ix listIndex) Packages(stage fs.FS) repo.Packages {
	return repo.NewPackages(func(yield func(repo.Entry) bool) error {
		for _, list := range ix {
			f, err := stage.Open(list.Path)
			if err != nil {
				return err
			}
			stop := false
			err = readList(list.Path, f, func(e repo.Entry) bool {
				stop = !yield(e)
				return !stop
			})
			f.Close()
			if err != nil || stop {
				return err
			}
		}
		return nil
	})
}

// readList calls fn with each line of the list r, named name.
func readList(name string, r io.Reader, fn func(repo.Entry) bool) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return &repo.FormatError{File: name, Line: n, Err: errors.New("want 3 fields")}
		}
		size, _ := strconv.ParseInt(f[2], 10, 64)
		if !fn(repo.Entry{Path: f[0], Size: size, Digests: map[string]string{"sha256": f[1]}}) {
			return nil
		}
	}
	return sc.Err()
}

func line(path string, body []byte) string {
	return fmt.Sprintf("%s %s %d\n", path, fetchtest.SHA256(body), len(body))
}

// upstream is a repository of listFormat served by a Repo.
type upstream struct {
	*fetchtest.Repo
	t *testing.T
}

// set serves packages (path: body) in one list named list, and the INDEX
// that names it.
func (u upstream) set(list string, pkgs map[string][]byte) {
	var b strings.Builder
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range pkgs {
			if !yield(p) {
				return
			}
		}
	}) {
		b.WriteString(line(p, pkgs[p]))
		u.Set("/"+p, fetchtest.File{Doc: fetchtest.Doc{Body: pkgs[p]}})
	}
	u.Set("/"+list, fetchtest.File{Doc: fetchtest.Doc{Body: []byte(b.String())}})
	u.Set("/INDEX", fetchtest.File{Doc: fetchtest.Doc{Body: []byte(line(list, []byte(b.String())))}})
}

// sync runs a sync of u into dir as the command does, and returns the
// Sync, closed, and the error of the first package that failed. With
// del, it deletes after publishing.
func (u upstream) sync(dir string, v repo.Verifier, del bool) (s *repo.Sync, pkgErr, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		u.t.Fatal(err)
	}
	defer root.Close()
	base, _ := url.Parse(u.URL + "/")
	s = &repo.Sync{Fetcher: fetchtest.Fetcher(u.t, fetch.Options{Retries: -1}), Format: listFormat{}, URL: base, Root: root, Verifier: v}
	defer s.Close()
	ctx := fetchtest.Context(u.t)
	if err := s.Open(ctx); err != nil {
		return s, nil, err
	}
	if _, err := s.Plan(ctx); err != nil {
		return s, nil, err
	}
	pkgs := s.Packages()
	for e := range pkgs.All() {
		if _, err := s.Fetcher.Fetch(ctx, s.Request(e)); err != nil && pkgErr == nil {
			pkgErr = err
		}
	}
	if err := pkgs.Err(); err != nil {
		return s, nil, err
	}
	if pkgErr != nil {
		return s, pkgErr, nil
	}
	if err := s.Publish(); err != nil {
		return s, nil, err
	}
	if del {
		if _, _, err := s.Delete(ctx); err != nil {
			return s, nil, err
		}
	}
	return s, nil, nil
}

// tree returns the files below dir, slash-separated, with their bytes.
func tree(t *testing.T, dir string) map[string]string {
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSyncGenerations(t *testing.T) {
	u := upstream{fetchtest.NewRepo(t, nil), t}
	dir := t.TempDir()
	a, b, c := []byte("package a"), []byte("package b"), []byte("package c")

	u.set("meta/1.list", map[string][]byte{"pool/a": a, "pool/b": b})
	if _, pkgErr, err := u.sync(dir, nil, false); err != nil || pkgErr != nil {
		t.Fatalf("first sync: %v, %v", err, pkgErr)
	}
	got := tree(t, dir)
	for _, p := range []string{"INDEX", "meta/1.list", "pool/a", "pool/b", repo.StagingDir + "/generations.json"} {
		if _, ok := got[p]; !ok {
			t.Errorf("first sync: %s missing", p)
		}
	}
	first := got["INDEX"]

	// A package that fails: nothing new is published, the packages that
	// arrived stay.
	u.set("meta/2.list", map[string][]byte{"pool/a": a, "pool/c": c})
	u.Set("/pool/c", fetchtest.File{Doc: fetchtest.Doc{Body: []byte("package C")}})
	_, pkgErr, err := u.sync(dir, nil, false)
	var de *fetch.DigestError
	if err != nil || !errors.As(pkgErr, &de) {
		t.Fatalf("second sync: %v, %v; want a digest error of a package", err, pkgErr)
	}
	got = tree(t, dir)
	if got["INDEX"] != first || got["meta/2.list"] != "" || got["pool/c"] != "" {
		t.Errorf("second sync, failed, published: %v", slices.Sorted(func(yield func(string) bool) {
			for p := range got {
				yield(p)
			}
		}))
	}
	for p := range got {
		if strings.HasPrefix(p, repo.StagingDir+"/run-") {
			t.Errorf("staging file %s left", p)
		}
	}

	// Mended: published; the last generation's list stays; pool/b, no
	// longer named, stays without -delete.
	u.Set("/pool/c", fetchtest.File{Doc: fetchtest.Doc{Body: c}})
	if _, pkgErr, err := u.sync(dir, nil, false); err != nil || pkgErr != nil {
		t.Fatalf("third sync: %v, %v", err, pkgErr)
	}
	got = tree(t, dir)
	for _, p := range []string{"meta/1.list", "meta/2.list", "pool/a", "pool/b", "pool/c"} {
		if _, ok := got[p]; !ok {
			t.Errorf("third sync: %s missing", p)
		}
	}
	if got["INDEX"] == first {
		t.Error("third sync: INDEX not published")
	}

	// The next generation: the list of the one before the last goes;
	// -delete removes pool/b.
	u.set("meta/3.list", map[string][]byte{"pool/a": a, "pool/c": c})
	if _, pkgErr, err := u.sync(dir, nil, true); err != nil || pkgErr != nil {
		t.Fatalf("fourth sync: %v, %v", err, pkgErr)
	}
	got = tree(t, dir)
	for p, want := range map[string]bool{"meta/1.list": false, "meta/2.list": true, "meta/3.list": true, "pool/a": true, "pool/b": false, "pool/c": true} {
		if _, ok := got[p]; ok != want {
			t.Errorf("fourth sync: %s there: %v; want %v", p, ok, want)
		}
	}
}

// sigVerifier verifies a "signature" that is the sha256 of the bytes.
type sigVerifier struct{}

func (sigVerifier) Detached(signed, sig io.Reader) error {
	data, _ := io.ReadAll(signed)
	want, _ := io.ReadAll(sig)
	if fetchtest.SHA256(data) != string(bytes.TrimSpace(want)) {
		return fmt.Errorf("made by another key: %w", repo.ErrSignature)
	}
	return nil
}

func (sigVerifier) Clearsigned(io.Reader) ([]byte, error) { return nil, repo.ErrSignature }

func TestSyncSignature(t *testing.T) {
	u := upstream{fetchtest.NewRepo(t, nil), t}
	u.set("meta/1.list", map[string][]byte{"pool/a": []byte("a")})
	index, _ := u.File("/INDEX")

	// Unchecked without a Verifier, and said so.
	u.Set("/INDEX.sig", fetchtest.File{Doc: fetchtest.Doc{Body: []byte("bad")}})
	s, pkgErr, err := u.sync(t.TempDir(), nil, false)
	if err != nil || pkgErr != nil || !slices.Equal(s.Unverified(), []string{"INDEX.sig"}) {
		t.Errorf("without a Verifier: %v, %v, unverified %q; want INDEX.sig", err, pkgErr, s.Unverified())
	}

	// A signature that does not verify: nothing past the top file is
	// fetched, nothing published.
	dir := t.TempDir()
	before := len(u.Asked())
	if _, _, err := u.sync(dir, sigVerifier{}, false); !errors.Is(err, repo.ErrSignature) {
		t.Errorf("bad signature: %v; want ErrSignature", err)
	}
	for _, a := range u.Asked()[before:] {
		if a.Path != "/INDEX" && a.Path != "/INDEX.sig" {
			t.Errorf("bad signature: %s fetched", a.Path)
		}
	}
	if got := tree(t, dir); len(got) > 0 {
		t.Errorf("bad signature: DIR holds %v", got)
	}

	u.Set("/INDEX.sig", fetchtest.File{Doc: fetchtest.Doc{Body: []byte(fetchtest.SHA256(index.Body))}})
	s, pkgErr, err = u.sync(dir, sigVerifier{}, false)
	if err != nil || pkgErr != nil || len(s.Unverified()) > 0 {
		t.Errorf("good signature: %v, %v, unverified %q", err, pkgErr, s.Unverified())
	}
	if got := tree(t, dir); got["INDEX.sig"] == "" || got["pool/a"] != "a" {
		t.Errorf("good signature: DIR holds %v", got)
	}
}

func TestSyncPathRefused(t *testing.T) {
	u := upstream{fetchtest.NewRepo(t, nil), t}
	list := line("pool/a", []byte("a")) + line("../escape", []byte("x"))
	u.Set("/pool/a", fetchtest.File{Doc: fetchtest.Doc{Body: []byte("a")}})
	u.Set("/meta.list", fetchtest.File{Doc: fetchtest.Doc{Body: []byte(list)}})
	u.Set("/INDEX", fetchtest.File{Doc: fetchtest.Doc{Body: []byte(line("meta.list", []byte(list)))}})
	dir := t.TempDir()
	_, _, err := u.sync(dir, nil, false)
	if err == nil || !strings.Contains(err.Error(), `"../escape" escapes the directory`) {
		t.Errorf("got %v; want the path refused", err)
	}
	if u.Gets("/pool/a") > 0 {
		t.Error("a package was downloaded from a refused list")
	}
	if got := tree(t, dir); len(got) > 0 {
		t.Errorf("DIR holds %v", got)
	}
}
