package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/ftpurl"
	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/partname"
	"github.com/fetchkit/fetch/internal/relpath"
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
			if err := relpath.Check(value); err != nil {
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
		case fetch.DigestSize(key) > 0:
			if n := 2 * fetch.DigestSize(key); !hexdigest.Valid(value, n) {
				return listEntry{}, false, fmt.Errorf("%s=%s: want %d hex digits", key, value, n)
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
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		// "host/path" has no scheme, and "host:port/path" parses as the
		// scheme "host", or not at all.
		if guess, ok := withScheme(s); ok {
			return nil, fmt.Errorf("no scheme; did you mean %s?", redact(guess))
		}
	}
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

// withScheme returns s with "http://" before it, when s looks like a URL
// without its scheme: a host name with a dot, an IP address or localhost,
// with a port or a path or neither.
func withScheme(s string) (string, bool) {
	if strings.Contains(s, "://") {
		return "", false
	}
	hostPort, _, _ := strings.Cut(s, "/")
	if _, userHost, ok := strings.Cut(hostPort, "@"); ok {
		hostPort = userHost
	}
	host := hostPort
	if h, port, err := net.SplitHostPort(hostPort); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", false
		}
		host = h
	}
	if host == "" || strings.ContainsAny(host, " \t") || !strings.Contains(host, ".") && host != "localhost" && net.ParseIP(host) == nil {
		return "", false
	}
	return "http://" + s, true
}

// fileName returns the name of the file that u names: the last segment of
// its path, unescaped. It fails for URLs that name a directory.
func fileName(u *url.URL) (string, error) {
	p := u.EscapedPath()
	if u.Scheme == "ftp" || u.Scheme == "ftps" {
		p, _ = ftpurl.TrimType(p)
	}
	seg := p[strings.LastIndex(p, "/")+1:]
	name, err := url.PathUnescape(seg)
	if err == nil && (name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00")) {
		err = errors.New("no file name in the URL's path")
	}
	if err == nil {
		err = partname.Check(name)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v; give one with out= in a list", u.Redacted(), err)
	}
	return name, nil
}

// maxLine is the longest line a list or manifest may have.
const maxLine = 64 << 10
