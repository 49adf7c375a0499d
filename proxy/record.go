package proxy

import (
	"encoding/json"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fetchkit/fetch"
)

// recordSuffix ends the name of the record of a kept file.
const recordSuffix = ".json"

// record is what the Cache knows of a kept file; it is stored beside the
// file, as JSON.
type record struct {
	URL    string      `json:"url"` // redacted
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256"`          // of the file, computed as it was written
	Header http.Header `json:"header"`          // those of keptHeaders that the server sent
	Stored time.Time   `json:"stored,omitzero"` // when the response, or its last revalidation, came
}

// keptHeaders are the response headers kept with a file: replayed on a
// hit, and used to tell whether the copy is fresh and to revalidate it.
var keptHeaders = []string{
	"Content-Type", "Content-Encoding", "Content-Language", "Content-Disposition",
	"Etag", "Last-Modified", "Cache-Control", "Expires", "Date", "Age",
}

// newRecord returns the record of the file that res downloaded.
func newRecord(res fetch.Result, stored time.Time) *record {
	rec := &record{URL: fetch.RedactURL(res.Request.URL), Size: res.Size, SHA256: res.Digests["sha256"], Header: http.Header{}, Stored: stored}
	rec.update(res.Header, stored)
	return rec
}

// update takes the kept headers that h has (those of a 304 Not Modified
// replace the stored ones, RFC 9111 section 4.3.4) and the time it came.
func (rec *record) update(h http.Header, at time.Time) {
	for _, k := range keptHeaders {
		if vs := h.Values(k); len(vs) > 0 {
			rec.Header[k] = vs
		}
	}
	rec.Stored = at
}

// readRecord reads the record of file, which must be that of rawURL.
func readRecord(file, rawURL string) (*record, bool) {
	b, err := readKept(file + recordSuffix)
	if err != nil {
		return nil, false
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || rec.URL != fetch.RedactURL(rawURL) || rec.Header == nil {
		return nil, false
	}
	return &rec, true
}

// write stores the record of file, replacing any other at once.
func (rec *record) write(file string) error {
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

// cacheControl is what a Cache-Control header says to a shared cache.
type cacheControl struct {
	noStore, noCache, private, immutable bool
	maxAge, sMaxAge                      time.Duration // -1 when absent
}

// parseCacheControl reads the Cache-Control values vs (RFC 9111 section 5.2).
func parseCacheControl(vs []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, v := range vs {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true // with field names too: revalidate
			case "private":
				cc.private = true
			case "immutable":
				cc.immutable = true
			case "max-age":
				cc.maxAge = seconds(arg)
			case "s-maxage":
				cc.sMaxAge = seconds(arg)
			}
		}
	}
	return cc
}

// seconds parses a delta-seconds value; a malformed one means 0: stale.
func seconds(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, int64(100*365*24*time.Hour/time.Second))) * time.Second
}

// storable reports whether a response with header h may be kept by a
// shared cache: not no-store, not private.
func storable(h http.Header) bool {
	cc := parseCacheControl(h.Values("Cache-Control"))
	return !cc.noStore && !cc.private
}

// fresh reports whether the copy of the file at rel that rec describes may
// be served without asking the upstream, at now: never for repository
// metadata (see [Cache]) or no-cache; always when immutable; else while its
// age is below its freshness lifetime, from s-maxage, max-age, or Expires,
// or else def (0 or less: never fresh).
func (rec *record) fresh(rel string, def time.Duration, now time.Time) bool {
	switch {
	case immutableName(rel):
		return true
	case isMetadata(rel):
		return false
	}
	cc := parseCacheControl(rec.Header.Values("Cache-Control"))
	switch {
	case cc.noCache:
		return false
	case cc.immutable:
		return true
	}
	date, dateErr := http.ParseTime(rec.Header.Get("Date"))
	life := def
	switch {
	case cc.sMaxAge >= 0:
		life = cc.sMaxAge
	case cc.maxAge >= 0:
		life = cc.maxAge
	case rec.Header.Get("Expires") != "":
		exp, err := http.ParseTime(rec.Header.Get("Expires"))
		if err != nil || dateErr != nil {
			return false // a malformed Expires means "already expired"
		}
		life = exp.Sub(date)
	}
	return life > rec.age(date, dateErr == nil, now)
}

// age returns the current age of the copy (RFC 9111 section 4.2.3): the
// larger of the age the upstream said (Age) and the one its Date shows when
// the response came, plus the time since.
func (rec *record) age(date time.Time, hasDate bool, now time.Time) time.Duration {
	var age time.Duration
	if hasDate && rec.Stored.After(date) {
		age = rec.Stored.Sub(date)
	}
	if v := rec.Header.Get("Age"); v != "" {
		age = max(age, seconds(v))
	}
	return age + max(now.Sub(rec.Stored), 0)
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
