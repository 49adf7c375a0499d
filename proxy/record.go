package proxy

import (
	"encoding/json"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fetchkit/fetch"
)

// recordSuffix ends the name of the record of a kept file.
const recordSuffix = ".json"

// recordVersion is the version of the record format. A record of another
// version (those written before every header field was stored have none)
// is not read: its file is downloaded again, and the record replaced.
const recordVersion = 2

// record is what the Cache knows of a kept response; it is stored beside
// its body, as JSON.
type record struct {
	Version int         `json:"version"`
	URL     string      `json:"url"` // redacted
	Status  int         `json:"status"`
	Size    int64       `json:"size"`
	SHA256  string      `json:"sha256"` // of the body, computed as it was written
	Header  http.Header `json:"-"`      // the stored header fields (RFC 9111 section 3.1)
	// Fields is Header as stored, without loss: see fieldValue.
	Fields map[string][]fieldValue `json:"header"`
	// Vary holds the values that the request sent upstream had for the
	// fields that the response's Vary lists: its secondary key.
	Vary map[string]string `json:"vary,omitempty"`
	// Index, in the record of a URL whose responses vary, lists the fields
	// they vary on: each is kept under [Cache.variantPath], and this
	// record has no file.
	Index []string `json:"index,omitempty"`
	// Requested and Stored are when the request that brought the response
	// (or its last validation) was sent, and when the response came: the
	// request_time and response_time of RFC 9111 section 4.2.3.
	Requested time.Time `json:"requested"`
	Stored    time.Time `json:"stored"`

	parsed *parsedFields // Header's fields that each use reads, parsed once read
}

// parsedFields are the fields of a stored response that each use of it
// reads, parsed.
type parsedFields struct {
	cc                 cacheControl
	date, expires      time.Time
	hasDate, hasExpire bool // hasExpire: one valid Expires
	expiresGiven       bool // any Expires, valid or not
	lastModified       time.Time
	hasLastModified    bool
	// modTime is Last-Modified as http.ServeContent is given it (its
	// first value, as http.ParseTime reads it).
	modTime    time.Time
	hasModTime bool
}

// parseFields parses the fields of h that parsedFields holds.
func parseFields(h http.Header) *parsedFields {
	p := &parsedFields{cc: parseCacheControl(h.Values("Cache-Control")), expiresGiven: len(h.Values("Expires")) > 0}
	p.date, p.hasDate = httpDate(h, "Date")
	p.expires, p.hasExpire = httpDate(h, "Expires")
	p.lastModified, p.hasLastModified = httpDate(h, "Last-Modified")
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		p.modTime, p.hasModTime = t, true
	}
	return p
}

// fields returns the parsed fields of the stored response: those parsed
// when the record was read, or else parsed now.
func (rec *record) fields() *parsedFields {
	if rec.parsed != nil {
		return rec.parsed
	}
	return parseFields(rec.Header)
}

// cacheControl returns the Cache-Control of the stored response, parsed.
func (rec *record) cacheControl() cacheControl {
	return rec.fields().cc
}

// newRecord returns the record of the response that res downloaded, of
// status, to a request sent at requested.
func newRecord(res fetch.Result, status int, requested, stored time.Time) *record {
	rec := &record{Version: recordVersion, URL: fetch.RedactURL(res.Request.URL), Status: status, Size: res.Size,
		SHA256: res.Digests["sha256"], Header: storedHeader(res.Header), Vary: secondaryKey(res.Header, res.Request.Header),
		Requested: requested, Stored: stored}
	return rec
}

// storedHeader returns the header fields of h that a cache stores (RFC 9111
// section 3.1): all but those that describe a connection and Connection
// names, and Content-Length, which comes from the stored body.
func storedHeader(h http.Header) http.Header {
	out := forwardHeader(h)
	if v, ok := h["Accept-Ranges"]; ok {
		out["Accept-Ranges"] = slices.Clone(v)
	}
	return out
}

// update takes the header fields of a 304 Not Modified (RFC 9111 section
// 4.3.4) or of a response to HEAD (section 4.3.5) that validated the
// stored response: they replace the stored ones, but for Content-Length;
// requested and at are when its request was sent and it came.
func (rec *record) update(h http.Header, requested, at time.Time) {
	for k, vs := range storedHeader(h) {
		rec.Header[k] = vs
	}
	rec.Requested, rec.Stored = requested, at
	rec.parsed = nil // parsed again from the new fields
}

// fieldValue is a header field value as a record stores it: a JSON string
// when it is UTF-8, else (obs-text, RFC 9110 section 5.5: a Latin-1 file
// name, say) {"base64": "..."}, which JSON carries without loss.
type fieldValue string

func (v fieldValue) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(v)) {
		return json.Marshal(string(v))
	}
	return json.Marshal(struct {
		Base64 []byte `json:"base64"`
	}{[]byte(v)})
}

func (v *fieldValue) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(v))
	}
	var raw struct {
		Base64 []byte `json:"base64"`
	}
	err := json.Unmarshal(b, &raw)
	*v = fieldValue(raw.Base64)
	return err
}

// readRecord reads the record of file, which must be that of rawURL.
func readRecord(file, rawURL string) (*record, bool) {
	b, err := readKept(file + recordSuffix)
	if err != nil {
		return nil, false
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || rec.Version != recordVersion || rec.URL != fetch.RedactURL(rawURL) || rec.Fields == nil {
		return nil, false
	}
	rec.Header = make(http.Header, len(rec.Fields))
	for k, vs := range rec.Fields {
		for _, v := range vs {
			rec.Header[k] = append(rec.Header[k], string(v))
		}
	}
	rec.parsed = parseFields(rec.Header)
	return &rec, true
}

// write stores the record of file, replacing any other at once.
func (rec *record) write(file string) error {
	rec.Fields = make(map[string][]fieldValue, len(rec.Header))
	for k, vs := range rec.Header {
		rec.Fields[k] = make([]fieldValue, 0, len(vs))
		for _, v := range vs {
			rec.Fields[k] = append(rec.Fields[k], fieldValue(v))
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp, name, err := fetch.CreateTemp(nil, file+recordSuffix) // the mode of the data files
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, file+recordSuffix)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// varies reports whether the stored response has a secondary key (RFC
// 9111 section 4.1): when it has not, it matches every request.
func (rec *record) varies() bool {
	return len(rec.Vary) > 0 || len(rec.Header.Values("Vary")) > 0
}

// matches reports whether the stored response may answer a request whose
// header sent upstream would be req: its secondary key is the same.
func (rec *record) matches(req http.Header) bool {
	if varyStar(rec.Header) {
		return false
	}
	key := secondaryKey(rec.Header, req)
	if len(key) != len(rec.Vary) {
		return false
	}
	for k, v := range key {
		if rec.Vary[k] != v {
			return false
		}
	}
	return true
}

// lifetime returns the freshness lifetime of the stored response of the
// file at rel (RFC 9111 section 4.2.1): forever for a name that never
// changes, 0 for repository metadata (see [Cache]); else its s-maxage,
// max-age, or Expires less Date, or for a response without explicit
// freshness, a fraction of the time since its Last-Modified (section
// 4.2.2) but at least def, or else def; a negative def means no heuristic
// freshness.
func (rec *record) lifetime(rel string, def time.Duration) time.Duration {
	switch {
	case immutableName(rel):
		return maxDelta
	case isMetadata(rel):
		return 0
	}
	pf := rec.fields()
	cc := pf.cc
	date := pf.date
	if !pf.hasDate {
		date = rec.Stored
	}
	switch {
	case cc.sMaxAge >= 0:
		return cc.sMaxAge
	case cc.maxAge >= 0:
		return cc.maxAge
	case pf.expiresGiven:
		if !pf.hasExpire {
			return 0 // an invalid Expires means "already expired"
		}
		return max(pf.expires.Sub(date), 0)
	case cc.immutable:
		return maxDelta
	case !heuristicStatus(rec.Status) && !cc.public, def < 0:
		return 0
	}
	if lm := pf.lastModified; pf.hasLastModified && lm.Before(date) {
		return max(min(date.Sub(lm)*heuristicFraction/100, heuristicMax), def)
	}
	return def
}

// age returns the current age of the stored response at now (RFC 9111
// section 4.2.3).
func (rec *record) age(now time.Time) time.Duration {
	var apparent time.Duration
	if pf := rec.fields(); pf.hasDate {
		apparent = max(rec.Stored.Sub(pf.date), 0)
	}
	corrected := ageValue(rec.Header) + max(rec.Stored.Sub(rec.Requested), 0)
	return max(apparent, corrected) + max(now.Sub(rec.Stored), 0)
}

// ageValue returns the Age that h says: its first value when that is
// delta-seconds, else 0 (an invalid Age is ignored).
func ageValue(h http.Header) time.Duration {
	vs := h.Values("Age")
	if len(vs) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(vs[0], ",")
	first, _, _ = strings.Cut(first, ";") // parameters set aside
	first = strings.TrimSpace(first)
	if first == "" || strings.Trim(first, "0123456789") != "" {
		return 0
	}
	d, _ := deltaSeconds(first)
	return d
}

// immutableName reports whether rel names a file that never changes under
// its name: a Go module version (MODULE/@v/VERSION.info, .mod, .zip), whose
// bytes the checksum database pins, or a file named by its digest
// ([digestName]).
func immutableName(rel string) bool {
	if _, _, ok := digestName(rel); ok {
		return true
	}
	dir, name := path.Split(rel)
	if !strings.HasSuffix(dir, "/@v/") || !strings.HasPrefix(name, "v") {
		return false
	}
	ext := path.Ext(name)
	return ext == ".info" || ext == ".mod" || ext == ".zip"
}

// digestName returns the digest that rel names, if it is a Debian by-hash
// path (.../by-hash/SHA256/HEX, or SHA512): the algorithm, as package fetch
// names it, and the hex digest.
func digestName(rel string) (alg, digest string, ok bool) {
	rest, name := path.Split(rel)
	rest, kind := path.Split(strings.TrimSuffix(rest, "/"))
	if path.Base(strings.TrimSuffix(rest, "/")) != "by-hash" {
		return "", "", false
	}
	var digits int
	switch kind {
	case "SHA256":
		digits = 64
	case "SHA512":
		digits = 128
	}
	if digits == 0 || !isLowerHex(name, digits) {
		return "", "", false
	}
	return strings.ToLower(kind), name, true
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789abcdef") == ""
}

// isMetadata reports whether rel, a path below the upstream base, names a
// file of repository metadata: one that changes under its name, and so is
// revalidated on every request.
func isMetadata(rel string) bool {
	name := path.Base(rel)
	switch name {
	case "PULP_MANIFEST", // Pulp file repositories
		"repomd.xml", "repomd.xml.asc", "repomd.xml.key", // RPM (repodata/)
		"Release", "Release.gpg", "InRelease", "Index", // Debian dists/
		"list", "@latest", // Go module proxy: MODULE/@v/list, MODULE/@latest
		"APKINDEX.tar.gz", // Alpine
		"index.yaml":      // Helm
		return name != "list" || strings.HasSuffix(rel, "/@v/list")
	}
	for _, prefix := range []string{"Packages", "Sources", "Contents-", "Translation-", "Components-", "icons-"} {
		if strings.HasPrefix(name, prefix) && !strings.Contains(rel, "/by-hash/") {
			return true // Debian indexes, compressed or not
		}
	}
	// PEP 503 index pages: /simple/ and /simple/PROJECT/.
	return rel == "simple" || strings.HasPrefix(rel, "simple/") || strings.Contains(rel, "/simple/")
}
