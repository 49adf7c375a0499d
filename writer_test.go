package fetch_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestWriterMismatchEndsRequest checks that a Writer that received a
// whole body that fails its digest ends the request, and that the error
// says why the mirror was not tried; a Path alone moves on to the mirror.
func TestWriterMismatchSaysMirrorsNotTried(t *testing.T) {
	good := []byte(strings.Repeat("good bytes ", 100))
	bad := bytes.ToUpper(good)
	primary := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/f": bad}))
	mirror := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/f": good}))
	f := fetchtest.Fetcher(t, fetch.Options{})

	var buf bytes.Buffer
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{
		URL: primary.URL + "/f", Mirrors: []string{mirror.URL + "/f"}, Writer: &buf, Digests: fetchtest.Digests(good),
	})
	if !isA[*fetch.DigestError](err) || !strings.Contains(err.Error(), "mirrors not tried: the Writer already received the body") {
		t.Errorf("got %v; want a *DigestError that says the mirrors were not tried", err)
	}
	if n := mirror.Hits.Load(); n != 0 {
		t.Errorf("the mirror got %d requests; want none", n)
	}
	if res.Size != int64(len(bad)) || buf.Len() != len(bad) {
		t.Errorf("Result.Size %d, Writer got %d bytes; want both %d", res.Size, buf.Len(), len(bad))
	}

	// The last URL has no mirror left to skip: no such words.
	buf.Reset()
	_, err = f.Fetch(fetchtest.Context(t), fetch.Request{URL: primary.URL + "/f", Writer: &buf, Digests: fetchtest.Digests(good)})
	if !isA[*fetch.DigestError](err) || strings.Contains(err.Error(), "mirrors not tried") {
		t.Errorf("got %v; want a *DigestError alone", err)
	}

	path := t.TempDir() + "/f"
	res, err = f.Fetch(fetchtest.Context(t), fetch.Request{
		URL: primary.URL + "/f", Mirrors: []string{mirror.URL + "/f"}, Path: path, Digests: fetchtest.Digests(good),
	})
	if err != nil || !bytes.Equal(readFile(t, path), good) {
		t.Errorf("a Path alone: %v; want the file from the mirror", err)
	}
}

// limitWriter takes n bytes, then fails.
type limitWriter struct {
	bytes.Buffer
	n int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		p = p[:w.n]
		w.n = 0
		w.Buffer.Write(p)
		return len(p), errors.New("full")
	}
	w.n -= len(p)
	return w.Buffer.Write(p)
}

// TestResultSizeOnFailure checks that Result.Size counts the bytes a
// Writer received when the request fails.
func TestResultSizeOnFailure(t *testing.T) {
	content := genFiles(1, 100<<10)["/f/00000"]
	s := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cut" { // no validator, no digest: nothing guards a resume
			s.ServeAll(w, fetchtest.Doc{Body: content}, 60<<10)
			return
		}
		w.Write(content)
	})
	f := fetchtest.Fetcher(t, fetch.Options{}, s)
	for _, tc := range []struct {
		name string
		path string
		w    *limitWriter
		want int
	}{
		{name: "cut", path: "/cut", w: &limitWriter{n: len(content)}, want: 60 << 10},
		{name: "writer full", path: "/f", w: &limitWriter{n: 70000}, want: 70000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: s.URL + tc.path, Writer: tc.w})
			if err == nil {
				t.Fatal("Fetch succeeded; want an error")
			}
			if res.Size != int64(tc.want) || tc.w.Len() != tc.want {
				t.Errorf("Result.Size %d, Writer got %d bytes; want both %d (%v)", res.Size, tc.w.Len(), tc.want, err)
			}
		})
	}
}

// TestUnguardedResumeNoWait: a Writer's transfer that breaks with nothing
// to guard a resume (no strong ETag or Last-Modified for If-Range, no
// expected digest) cannot go on: the request ends at once, with the break
// as its cause, without a wait or a log line that promises a retry.
func TestUnguardedResumeNoWait(t *testing.T) {
	t.Parallel()
	const cut = 40000
	d := fetchtest.Doc{Body: fetchtest.Blob(100<<10, 41), ETag: `W/"weak"`}
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.ServeAll(w, d, cut) })
	log := &logRecorder{}
	// A backoff of an hour: a wait would hold the test until its end.
	f := fetchtest.Fetcher(t, fetch.Options{Logger: slog.New(log), BackoffBase: time.Hour, MaxBackoff: time.Hour})
	var buf bytes.Buffer
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Writer: &buf})
	if !errors.Is(err, fetch.ErrCannotResume) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error: got %v; want ErrCannotResume with the cut that caused it", err)
	}
	if lines := log.lines("fetch: retrying"); len(lines) != 0 {
		t.Errorf("got %d retry lines (%v); want none", len(lines), lines)
	}
	if n := o.Hits.Load(); n != 1 || res.Attempts != 1 {
		t.Errorf("server hits %d, Result.Attempts %d; want 1 and 1", n, res.Attempts)
	}
	if !bytes.Equal(buf.Bytes(), d.Body[:cut]) {
		t.Errorf("writer got %d bytes; want the first %d once", buf.Len(), cut)
	}
}

// TestSkipSHA256 checks that a request without a Path and with SkipSHA256
// hashes only for its Digests, and that one with a Path still has its
// sha256.
func TestSkipSHA256(t *testing.T) {
	data := []byte(strings.Repeat("some bytes ", 100))
	srv := fetchtest.Start(t, fetchtest.HTTP, fetchtest.Files(files{"/f": data}))
	f := fetchtest.Fetcher(t, fetch.Options{})
	for _, tc := range []struct {
		name    string
		req     fetch.Request
		digests []string
	}{
		{"writer", fetch.Request{Writer: io.Discard}, nil},
		{"writer with md5", fetch.Request{Writer: io.Discard, Digests: map[string]string{"md5": fmt.Sprintf("%x", md5.Sum(data))}}, []string{"md5"}},
		{"path", fetch.Request{Path: t.TempDir() + "/f"}, []string{"sha256"}},
	} {
		req := tc.req
		req.URL, req.SkipSHA256 = srv.URL+"/f", true
		res, err := f.Fetch(fetchtest.Context(t), req)
		if err != nil || res.Size != int64(len(data)) {
			t.Fatalf("%s: got %d bytes, %v; want the file", tc.name, res.Size, err)
		}
		if len(res.Digests) != len(tc.digests) {
			t.Errorf("%s: Result.Digests %v; want %v", tc.name, res.Digests, tc.digests)
		}
		for _, alg := range tc.digests {
			if res.Digests[alg] == "" {
				t.Errorf("%s: Result.Digests %v; want %v", tc.name, res.Digests, tc.digests)
			}
		}
	}
}
