package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/relpath"
	"github.com/google/go-cmp/cmp"
)

// The digests of "a".
const (
	sha256A = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
	md5A    = "0cc175b9c0f1b6a831c399e269772661"
)

func TestParseListLine(t *testing.T) {
	tests := []struct {
		line string
		want listEntry
		ok   bool
		err  string // part of the error; "" for none
	}{
		{line: "", ok: false},
		{line: "   \t ", ok: false},
		{line: "# a comment", ok: false},
		{line: "  # indented comment", ok: false},
		{line: "https://h/a", ok: true, want: listEntry{URL: "https://h/a"}},
		{line: "https://h/a#frag", ok: true, want: listEntry{URL: "https://h/a#frag"}},
		{line: "https://h/a  # trailing comment out=x", ok: true, want: listEntry{URL: "https://h/a"}},
		{line: "ftp://h/a out=d/b.iso size=12 sha256=" + strings.ToUpper(sha256A) + " md5=" + md5A + " mirror=http://m1/a mirror=http://m2/a",
			ok: true, want: listEntry{URL: "ftp://h/a", Out: "d/b.iso", Size: 12, SizeSet: true,
				Digests: map[string]string{"sha256": sha256A, "md5": md5A}, Mirrors: []string{"http://m1/a", "http://m2/a"}}},
		{line: "file:///srv/a", ok: true, want: listEntry{URL: "file:///srv/a"}},
		{line: "http://h/empty size=0", ok: true, want: listEntry{URL: "http://h/empty", SizeSet: true}},
		{line: "h/a", err: "not an absolute URL"},
		{line: "http:///a", err: "no host"},
		{line: "http://h/%zz", err: "invalid URL escape"},
		{line: "http://h/a out", err: "want key=value"},
		{line: "http://h/a color=red", err: `unknown key "color"`},
		{line: "http://h/a out=x out=y", err: "out= given twice"},
		{line: "http://h/a size=-1", err: "size=-1"},
		{line: "http://h/a size=1k", err: "size=1k"},
		{line: "http://h/a sha256=abc", err: "want 64 hex digits"},
		{line: "http://h/a md5=" + sha256A, err: "want 32 hex digits"},
		{line: "http://h/a sha1=" + strings.Repeat("g", 40), err: "want 40 hex digits"},
		{line: "http://h/a mirror=m/a", err: "mirror=m/a"},
		{line: "http://h/a out=../x", err: `".." element`},
		{line: "http://h/a out=a/../../x", err: `".." element`},
		{line: "http://h/a out=/etc/passwd", err: "absolute path"},
		{line: `http://h/a out=a\b`, err: "backslash"},
		{line: "http://h/a out=.", err: "directory itself"},
		{line: "http://h/a out=", err: "empty path"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok, err := parseListLine(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseListLine(%q) error = %v; want one containing %q", tt.line, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseListLine(%q) error = %v; want none", tt.line, err)
			}
			if ok != tt.ok {
				t.Fatalf("parseListLine(%q) ok = %v; want %v", tt.line, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseListLine(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestFileName(t *testing.T) {
	tests := []struct {
		url, want, err string
	}{
		{url: "http://h/dir/a.iso", want: "a.iso"},
		{url: "http://h/a%20b.iso?x=1", want: "a b.iso"},
		{url: "ftp://h/pub/f", want: "f"},
		{url: "http://h/", err: "no file name"},
		{url: "http://h", err: "no file name"},
		{url: "http://h/dir/..", err: "no file name"},
		{url: "http://h/a%2Fb", err: "no file name"},
		{url: "http://h/a%5Cb", err: "no file name"},
		{url: "http://h/.a.iso.part", err: "a name fetch gives its own files"},
		{url: "http://h/.a.iso.part.guard", err: "a name fetch gives its own files"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fileName(u)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("fileName(%s) = %q, %v; want error containing %q", tt.url, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("fileName(%s) = %q, %v; want %q", tt.url, got, err, tt.want)
			}
		})
	}
}

// FuzzParseList checks that any line either fails or gives an entry that
// the command can use as it is.
func FuzzParseList(f *testing.F) {
	f.Add("https://h/a out=d/b size=3 sha256=" + sha256A + " mirror=ftp://m/a # c")
	f.Add("http://h/a out=../x")
	f.Add("# comment")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := parseListLine(line)
		if err != nil || !ok {
			return
		}
		if _, err := absoluteURL(e.URL); err != nil {
			t.Errorf("URL %q: %v", e.URL, err)
		}
		for _, m := range e.Mirrors {
			if _, err := absoluteURL(m); err != nil {
				t.Errorf("mirror %q: %v", m, err)
			}
		}
		if e.Out != "" {
			if err := relpath.Check(e.Out); err != nil {
				t.Errorf("out %q: %v", e.Out, err)
			}
		}
		if e.Size < 0 {
			t.Errorf("size %d", e.Size)
		}
		for name, d := range e.Digests {
			if !hexdigest.Valid(d, 2*fetch.DigestSize(name)) || d != strings.ToLower(d) {
				t.Errorf("%s digest %q", name, d)
			}
		}
	})
}
