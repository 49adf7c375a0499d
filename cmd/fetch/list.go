package main

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// A listEntry is one line of a URL list: "URL [key=value ...]".
type listEntry struct {
	URL     string
	Out     string // destination relative to -o DIR; empty: the URL's name
	Size    int64  // expected size, if SizeSet
	SizeSet bool   // size= was given: Size is exact, also when 0
	Digests map[string]string
	Mirrors []string
}

// algorithms are the digests a list may give: those a fetch.Request may
// name.
var algorithms = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224,
	"sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New,
}

// digestLen is the length in hex digits of each digest of algorithms.
var digestLen = func() map[string]int {
	m := make(map[string]int, len(algorithms))
	for name, newHash := range algorithms {
		m[name] = 2 * newHash().Size()
	}
	return m
}()

// parseListLine parses one line of a URL list. It reports ok false for a
// line without an entry: blank, or a comment.
func parseListLine(line string) (e listEntry, ok bool, err error) {
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.HasPrefix(f, "#") {
			fields = fields[:i]
			break
		}
	}
	if len(fields) == 0 {
		return listEntry{}, false, nil
	}
	if _, err := absoluteURL(fields[0]); err != nil {
		return listEntry{}, false, fmt.Errorf("%s: %v", redact(fields[0]), err)
	}
	e.URL = fields[0]
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		key, value, found := strings.Cut(f, "=")
		if !found {
			return listEntry{}, false, fmt.Errorf("%q: want key=value", f)
		}
		if seen[key] && key != "mirror" {
			return listEntry{}, false, fmt.Errorf("%s= given twice", key)
		}
		seen[key] = true
		switch {
		case key == "out":
			if err := checkLocal(value); err != nil {
				return listEntry{}, false, fmt.Errorf("out=%s: %v", value, err)
			}
			e.Out = value
		case key == "size":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return listEntry{}, false, fmt.Errorf("size=%s: want a number of bytes", value)
			}
			e.Size, e.SizeSet = n, true
		case key == "mirror":
			if _, err := absoluteURL(value); err != nil {
				return listEntry{}, false, fmt.Errorf("mirror=%s: %v", redact(value), err)
			}
			e.Mirrors = append(e.Mirrors, value)
		case digestLen[key] > 0:
			if !isHex(value, digestLen[key]) {
				return listEntry{}, false, fmt.Errorf("%s=%s: want %d hex digits", key, value, digestLen[key])
			}
			if e.Digests == nil {
				e.Digests = map[string]string{}
			}
			e.Digests[key] = strings.ToLower(value)
		default:
			return listEntry{}, false, fmt.Errorf("unknown key %q (want out, size, mirror, md5, sha1, sha224, sha256, sha384 or sha512)", key)
		}
	}
	return e, true, nil
}

// absoluteURL parses s and checks that it names a scheme, and a host
// unless it is a file URL.
func absoluteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.Unwrap(err) // the *url.Error repeats s
	}
	if u.Scheme == "" {
		return nil, errors.New("not an absolute URL")
	}
	if u.Host == "" && u.Scheme != "file" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// isHex reports whether s is n hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkLocal checks that the slash-separated path p stays below the
// directory it is relative to: not empty, not absolute, no ".." element,
// no backslash (a separator elsewhere) and no NUL.
func checkLocal(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.ContainsAny(p, "\\\x00"):
		return errors.New("path has a backslash or NUL")
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return errors.New(`path has a ".." element`)
		}
	}
	if path.Clean(p) == "." {
		return errors.New("path names the directory itself")
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return errors.New("not a local path")
	}
	return nil
}

// fileName returns the name of the file that u names: the last segment of
// its path, unescaped. It fails for URLs that name a directory.
func fileName(u *url.URL) (string, error) {
	p := u.EscapedPath()
	seg := p[strings.LastIndex(p, "/")+1:]
	name, err := url.PathUnescape(seg)
	if err == nil && (name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00")) {
		err = errors.New("no file name in the URL's path")
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v; give one with out= in a list", u.Redacted(), err)
	}
	return name, nil
}

// maxLine is the longest line a list or manifest may have.
const maxLine = 64 << 10

// lines calls fn with each line of r and its number (from 1), without the
// line ending, until r ends, fn returns false, or a line is longer than
// maxLine.
func lines(r io.Reader, fn func(n int, line string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if !fn(n, line) {
			return nil
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d: longer than %d bytes", n+1, maxLine)
	}
	return sc.Err()
}
