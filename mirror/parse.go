package mirror

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/hexdigest"
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

// Metalink is a Metalink document, as far as a download needs it: the
// files, their sizes, hashes and URLs. [ParseMetalink] reads both
// versions in use: Metalink 4 (RFC 5854) and Metalink 3.0 (metalinker.org),
// the version of MirrorManager, which Fedora, EPEL and CentOS Stream
// repositories name in their metalink= setting.
type Metalink struct {
	// Version is 4 or 3.
	Version int
	// Files are the files the document describes, in document order.
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
	// Alternates are the earlier versions of the file that mirrors slightly
	// behind still serve, with their own size and digests (MirrorManager's
	// mm0:alternates, in Metalink 3 only), in document order. See
	// [File.Match].
	Alternates []Alternate
	// URLs are the file's URLs, best first: by priority (Metalink 4, 1 best)
	// or preference (Metalink 3, 100 best); those of equal rank, and those
	// without one (last), in document order. URLs of rsync, which
	// MirrorManager lists for rsync clients, are left out.
	URLs []string
	// Resources are the URLs with what the document says of each, in the
	// order of URLs.
	Resources []Resource
}

// Alternate is an earlier version of a [File]: its size (0 when not given)
// and hex digests.
type Alternate struct {
	Size    int64
	Digests map[string]string
}

// Resource is a URL of a [File], with the attributes the document gives
// it; each is empty or 0 when not given.
type Resource struct {
	URL string
	// Location is the country of the mirror, an ISO 3166-1 code ("de").
	Location string
	// Priority is a Metalink 4 URL's priority, 1..999999, 1 best.
	Priority int
	// Preference is a Metalink 3 URL's preference, 0..100, 100 best.
	Preference int
	// Protocol and Type are a Metalink 3 URL's protocol and type
	// attributes ("https").
	Protocol, Type string
}

// Request returns a Request for the file: its first URL, the others as
// Mirrors, its size and digests. Path and Writer are left to the caller.
func (f File) Request() fetch.Request {
	req := fetch.Request{Size: f.Size, SizeKnown: f.Size > 0, Digests: f.Digests}
	if len(f.URLs) > 0 {
		req.URL, req.Mirrors = f.URLs[0], f.URLs[1:]
	}
	return req
}

// The XML namespaces of the Metalink versions, and MirrorManager's.
const (
	metalinkNS      = "urn:ietf:params:xml:ns:metalink"
	metalink3NS     = "http://www.metalinker.org/"
	mirrormanagerNS = "http://fedorahosted.org/mirrormanager"
)

// hashName returns the name in [fetch.Request.Digests] of a Metalink hash
// type: RFC 5854 uses IANA's names ("sha-256"), Metalink 3 those of
// MirrorManager ("sha256"). It returns "" for an algorithm fetch does not
// know.
func hashName(typ string) string {
	name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(typ)), "-", "")
	if fetch.DigestSize(name) == 0 {
		return ""
	}
	return name
}

// xmlHash is a hash element of either version.
type xmlHash struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

// xmlURL is a url element of either version.
type xmlURL struct {
	Priority   string `xml:"priority,attr"`
	Preference string `xml:"preference,attr"`
	Location   string `xml:"location,attr"`
	Protocol   string `xml:"protocol,attr"`
	Type       string `xml:"type,attr"`
	Value      string `xml:",chardata"`
}

// xmlFile is a file element of either version: Metalink 4 has its hashes
// and URLs as children, Metalink 3 inside verification and resources.
type xmlFile struct {
	Name         string    `xml:"name,attr"`
	Size         []string  `xml:"size"`
	Hashes       []xmlHash `xml:"hash"`
	URLs         []xmlURL  `xml:"url"`
	Verification []xmlHash `xml:"verification>hash"`
	Resources    []xmlURL  `xml:"resources>url"`
	Alternates   []struct {
		Size         []string  `xml:"size"`
		Verification []xmlHash `xml:"verification>hash"`
	} `xml:"http://fedorahosted.org/mirrormanager alternates>alternate"`
}

// ParseMetalink reads a Metalink document: version 4 (RFC 5854) or 3.0,
// told apart by the namespace of the root element. It keeps of each file
// its name, size, hashes of the algorithms [fetch.Request.Digests] knows,
// Metalink 3's alternates, and URLs; other elements are ignored. A
// document that is not XML, not Metalink, has no file, or has a file with
// an unsafe or repeated name, a bad size, a hash of the wrong length or
// not hex, a URL that is not absolute or of a scheme fetch does not speak
// (http, https, ftp, ftps and file; rsync URLs are left out), or a priority
// outside 1..999999 (a preference outside 0..100), gives an error that
// matches ErrMalformed. The caller adds the name of the document.
func ParseMetalink(r io.Reader) (*Metalink, error) {
	var doc struct {
		XMLName xml.Name  `xml:"metalink"`
		Files   []xmlFile `xml:"file"`
		Files3  []xmlFile `xml:"files>file"`
	}
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: not XML: %v", ErrMalformed, err)
	}
	ml := &Metalink{}
	files := doc.Files
	switch doc.XMLName.Space {
	case metalinkNS:
		ml.Version = 4
	case metalink3NS:
		ml.Version, files = 3, doc.Files3
	default:
		return nil, fmt.Errorf("%w: root element is in namespace %q, neither Metalink 4's %q nor Metalink 3's %q", ErrMalformed, doc.XMLName.Space, metalinkNS, metalink3NS)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no file in the Metalink", ErrMalformed)
	}
	names := make(map[string]bool, len(files))
	for _, df := range files {
		f, err := parseFile(ml.Version, df)
		if err != nil {
			return nil, fmt.Errorf("%w: file %q: %v", ErrMalformed, df.Name, err)
		}
		if names[f.Name] {
			return nil, fmt.Errorf("%w: file %q: named twice", ErrMalformed, f.Name)
		}
		names[f.Name] = true
		ml.Files = append(ml.Files, f)
	}
	return ml, nil
}

// parseFile reads a file element of a document of version.
func parseFile(version int, df xmlFile) (File, error) {
	f := File{Name: df.Name}
	if err := relpath.Check(f.Name); err != nil {
		return f, fmt.Errorf("not a safe relative path: %v", err)
	}
	hashes, urls := df.Hashes, df.URLs
	if version == 3 {
		hashes, urls = df.Verification, df.Resources
	}
	var err error
	if f.Size, err = parseSize(df.Size); err != nil {
		return f, err
	}
	if f.Digests, err = parseHashes(hashes); err != nil {
		return f, err
	}
	for i, da := range df.Alternates {
		var a Alternate
		if a.Size, err = parseSize(da.Size); err != nil {
			return f, fmt.Errorf("alternate %d: %v", i+1, err)
		}
		if a.Digests, err = parseHashes(da.Verification); err != nil {
			return f, fmt.Errorf("alternate %d: %v", i+1, err)
		}
		f.Alternates = append(f.Alternates, a)
	}
	for _, du := range urls {
		res, err := parseResource(du)
		if err != nil {
			return f, err
		}
		if u, _ := url.Parse(res.URL); u.Scheme == "rsync" {
			continue
		}
		f.Resources = append(f.Resources, res)
	}
	slices.SortStableFunc(f.Resources, func(a, b Resource) int {
		if version == 3 {
			return b.Preference - a.Preference
		}
		return rank(a.Priority) - rank(b.Priority)
	})
	for _, res := range f.Resources {
		f.URLs = append(f.URLs, res.URL)
	}
	return f, nil
}

// parseSize reads the size elements of a file: none (0) or one.
func parseSize(sizes []string) (int64, error) {
	switch len(sizes) {
	case 0:
		return 0, nil
	case 1:
	default:
		return 0, fmt.Errorf("%d sizes", len(sizes))
	}
	size, err := strconv.ParseInt(strings.TrimSpace(sizes[0]), 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("size %q is not a number of bytes", sizes[0])
	}
	return size, nil
}

// parseHashes reads hash elements, leaving out those of algorithms fetch
// does not know.
func parseHashes(hashes []xmlHash) (map[string]string, error) {
	digests := map[string]string{}
	for _, h := range hashes {
		name := hashName(h.Type)
		if name == "" {
			continue
		}
		value := strings.ToLower(strings.TrimSpace(h.Value))
		size := fetch.DigestSize(name)
		if !hexdigest.Valid(value, 2*size) {
			return nil, fmt.Errorf("%s hash %q is not %d hex bytes", h.Type, h.Value, size)
		}
		if old, ok := digests[name]; ok && old != value {
			return nil, fmt.Errorf("two different %s hashes", h.Type)
		}
		digests[name] = value
	}
	return digests, nil
}

// parseResource reads a url element.
func parseResource(du xmlURL) (Resource, error) {
	res := Resource{
		URL:      strings.TrimSpace(du.Value),
		Location: strings.TrimSpace(du.Location),
		Protocol: strings.TrimSpace(du.Protocol),
		Type:     strings.TrimSpace(du.Type),
	}
	if err := checkURL(res.URL); err != nil {
		return res, err
	}
	u, _ := url.Parse(res.URL)
	switch u.Scheme {
	case "http", "https", "ftp", "ftps", "file", "rsync":
	default:
		return res, fmt.Errorf("%q: fetch does not speak %s (http, https, ftp, ftps and file)", u.Redacted(), u.Scheme)
	}
	if p := strings.TrimSpace(du.Priority); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 999999 {
			return res, fmt.Errorf("priority %q is not in 1..999999", du.Priority)
		}
		res.Priority = n
	}
	if p := strings.TrimSpace(du.Preference); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return res, fmt.Errorf("preference %q is not in 0..100", du.Preference)
		}
		res.Preference = n
	}
	return res, nil
}

// rank orders priorities: 1 first, none (0) last.
func rank(priority int) int {
	if priority == 0 {
		return 1_000_000
	}
	return priority
}

// File returns the file of the document named name, or an error that
// matches ErrMalformed.
func (ml *Metalink) File(name string) (*File, error) {
	for i := range ml.Files {
		if ml.Files[i].Name == name {
			return &ml.Files[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no file named %q in the Metalink", ErrMalformed, name)
}

// Bases returns the base URLs of the mirrors that the document lists, each
// ending in "/", in order of the files and of their URLs: each URL that
// ends in "/" + its file's name, without that name. Of a file named
// repomd.xml (a MirrorManager document of an rpm-md repository), whose
// URLs end in "repodata/repomd.xml", the base is what precedes
// "repodata/", as librepo takes it.
func (ml *Metalink) Bases() []string {
	var bases []string
	for _, f := range ml.Files {
		suffix := "/" + f.Name
		if f.Name == "repomd.xml" {
			suffix = "/repodata/repomd.xml"
		}
		for _, u := range f.URLs {
			if base, ok := strings.CutSuffix(u, suffix); ok && !slices.Contains(bases, base+"/") {
				bases = append(bases, base+"/")
			}
		}
	}
	return bases
}
