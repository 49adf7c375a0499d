package mirror

import (
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/lines"
	"github.com/fetchkit/fetch/internal/relpath"
)

// maxLine is the longest line of a mirrorlist file.
const maxLine = 64 << 10

// ParseList reads a mirrorlist file: one absolute URL a line, blank lines
// and lines starting with "#" ignored, and anything after the URL on its
// line (whitespace-separated metadata, as apt's mirror files have)
// ignored. It returns the URLs in order, or an error that matches
// [ErrMalformed] and names the first bad line.
func ParseList(r io.Reader) ([]string, error) {
	var (
		urls []string
		bad  error
	)
	err := lines.Scan(r, maxLine, func(n int, line string) bool {
		text := strings.TrimSpace(line)
		if text == "" || strings.HasPrefix(text, "#") {
			return true
		}
		field := strings.Fields(text)[0]
		if err := checkURL(field); err != nil {
			bad = fmt.Errorf("%w: line %d: %v", ErrMalformed, n, err)
			return false
		}
		urls = append(urls, field)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if bad != nil {
		return nil, bad
	}
	return urls, nil
}

// checkURL returns an error unless s is an absolute URL with a host
// (or a file URL with a path).
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL", u.Redacted())
	case u.Host == "" && !(u.Scheme == "file" && u.Path != ""):
		return fmt.Errorf("%q names no host", u.Redacted())
	}
	return nil
}

// Metalink is a Metalink 4 document (RFC 5854), as far as a download needs
// it: the files, their sizes, hashes and URLs.
type Metalink struct {
	Files []File
}

// File is a file of a Metalink document.
type File struct {
	// Name is the file's name, a relative path with "/" separators.
	Name string
	// Size is the file's size in bytes; 0 when the document does not say.
	Size int64
	// Digests are the file's hex digests by algorithm, named as
	// [fetch.Request.Digests] names them ("sha256", ...). Hashes of other
	// algorithms are left out.
	Digests map[string]string
	// URLs are the file's URLs, best priority first; those of equal
	// priority, and those without one (last), in document order.
	URLs []string
}

// Request returns a Request for the file: its first URL, the others as
// Mirrors, its size and digests. Path and Writer are left to the caller.
func (f File) Request() fetch.Request {
	req := fetch.Request{Size: f.Size, Digests: f.Digests}
	if len(f.URLs) > 0 {
		req.URL, req.Mirrors = f.URLs[0], f.URLs[1:]
	}
	return req
}

// metalinkNS is the XML namespace of Metalink 4.
const metalinkNS = "urn:ietf:params:xml:ns:metalink"

// metalinkHashes maps the hash names of RFC 5854 (IANA's "Hash Function
// Textual Names") to those of [fetch.Request.Digests].
var metalinkHashes = map[string]string{
	"md5": "md5", "sha-1": "sha1", "sha-224": "sha224",
	"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
}

// ParseMetalink reads a Metalink 4 document (RFC 5854). It keeps of each
// file its name, size, hashes of the algorithms [fetch.Request.Digests] knows, and
// URLs; other elements are ignored. A document that is not Metalink 4, has
// no file, or has a file with an unsafe or repeated name, a bad size, a
// malformed hash, a URL that is not absolute or a priority outside
// 1..999999, gives an error that matches ErrMalformed.
func ParseMetalink(r io.Reader) (*Metalink, error) {
	var doc struct {
		XMLName xml.Name `xml:"metalink"`
		Files   []struct {
			Name   string   `xml:"name,attr"`
			Size   []string `xml:"size"`
			Hashes []struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"hash"`
			URLs []struct {
				Priority string `xml:"priority,attr"`
				Value    string `xml:",chardata"`
			} `xml:"url"`
		} `xml:"file"`
	}
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if doc.XMLName.Space != metalinkNS {
		return nil, fmt.Errorf("%w: root element is in namespace %q, not %q (Metalink 4)", ErrMalformed, doc.XMLName.Space, metalinkNS)
	}
	if len(doc.Files) == 0 {
		return nil, fmt.Errorf("%w: no file in the Metalink", ErrMalformed)
	}
	ml := &Metalink{}
	names := make(map[string]bool, len(doc.Files))
	for _, df := range doc.Files {
		f := File{Name: df.Name, Digests: map[string]string{}}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: file %q: %s", ErrMalformed, f.Name, fmt.Sprintf(format, args...))
		}
		if err := relpath.Check(f.Name); err != nil {
			return nil, bad("not a safe relative path: %v", err)
		}
		if names[f.Name] {
			return nil, bad("named twice")
		}
		names[f.Name] = true
		if len(df.Size) > 1 {
			return nil, bad("%d sizes", len(df.Size))
		}
		if len(df.Size) == 1 {
			size, err := strconv.ParseInt(strings.TrimSpace(df.Size[0]), 10, 64)
			if err != nil || size < 0 {
				return nil, bad("size %q is not a number of bytes", df.Size[0])
			}
			f.Size = size
		}
		for _, h := range df.Hashes {
			name, ok := metalinkHashes[strings.ToLower(strings.TrimSpace(h.Type))]
			if !ok {
				continue
			}
			value := strings.ToLower(strings.TrimSpace(h.Value))
			size := fetch.DigestSize(name)
			if b, err := hex.DecodeString(value); err != nil || len(b) != size {
				return nil, bad("%s hash %q is not %d hex bytes", h.Type, h.Value, size)
			}
			if old, ok := f.Digests[name]; ok && old != value {
				return nil, bad("two different %s hashes", h.Type)
			}
			f.Digests[name] = value
		}
		type ranked struct {
			url      string
			priority int // 0: none
		}
		var urls []ranked
		for _, du := range df.URLs {
			u := ranked{url: strings.TrimSpace(du.Value)}
			if err := checkURL(u.url); err != nil {
				return nil, bad("%v", err)
			}
			if p := strings.TrimSpace(du.Priority); p != "" {
				n, err := strconv.Atoi(p)
				if err != nil || n < 1 || n > 999999 {
					return nil, bad("priority %q is not in 1..999999", du.Priority)
				}
				u.priority = n
			}
			urls = append(urls, u)
		}
		slices.SortStableFunc(urls, func(a, b ranked) int {
			return rank(a.priority) - rank(b.priority)
		})
		for _, u := range urls {
			f.URLs = append(f.URLs, u.url)
		}
		ml.Files = append(ml.Files, f)
	}
	return ml, nil
}

// rank orders priorities: 1 first, none (0) last.
func rank(priority int) int {
	if priority == 0 {
		return 1_000_000
	}
	return priority
}

// mirrors returns the base URLs of the mirrors that the document lists:
// each URL that ends in "/" + its file's name, without that name, in order
// of the files and of their URLs.
func (ml *Metalink) mirrors() []string {
	var bases []string
	for _, f := range ml.Files {
		for _, u := range f.URLs {
			if base, ok := strings.CutSuffix(u, "/"+f.Name); ok && !slices.Contains(bases, base+"/") {
				bases = append(bases, base+"/")
			}
		}
	}
	return bases
}
