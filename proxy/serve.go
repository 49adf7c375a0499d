package proxy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fetchkit/fetch/internal/regular"
	"github.com/fetchkit/fetch/mirror"
)

// serveKept answers r with the kept response that rec describes, and
// reports whether it did; cache is what the access log is to say, in ex. The
// stored header fields are sent, with Age computed (RFC 9111 section
// 4.2.3), but for those that a no-cache directive names.
func (c *Cache) serveKept(w http.ResponseWriter, r *http.Request, file string, rec *record, cache string, ex *exchange) bool {
	defer c.kept.release(c.kept.acquire(file))
	var content io.ReadSeeker
	body := c.records.body(file, rec)
	held := body != nil // read and checked before: from memory
	if held {
		content = bytes.NewReader(body)
	} else {
		f, size, err := openHit(file)
		if errors.Is(err, regular.ErrNotRegular) {
			c.forget(file) // not the Cache's: downloaded again
		}
		if err != nil {
			return false
		}
		defer f.Close()
		if size != rec.Size {
			return false
		}
		content = f
		if c.records.room(size) {
			body, err := c.readBody(f, rec)
			if errors.Is(err, errCorrupt) {
				// Found before a byte is sent: downloaded again.
				c.corrupt(file, rec, err)
				return false
			}
			if err == nil {
				c.records.holdBody(file, rec, body)
				content, held = bytes.NewReader(body), true
			}
		}
	}
	ex.cache = cache
	h := w.Header()
	hidden := rec.cacheControl().noCacheFields
	// The stored values, copied into one array: each field's slice is cut
	// to its length, so that an append to it copies.
	n := 0
	for _, vs := range rec.Header {
		n += len(vs)
	}
	values := make([]string, 0, n)
	for k, vs := range rec.Header {
		if !slices.Contains(hidden, k) {
			start := len(values)
			values = append(values, vs...)
			h[k] = values[start:len(values):len(values)]
		}
	}
	h.Set("Age", strconv.FormatInt(int64(min(rec.age(time.Now()), maxDelta)/time.Second), 10))
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server named no type: none is guessed
	}
	if rec.Status != http.StatusOK {
		// Another status kept (RFC 9110 section 15.1): sent as it came,
		// without ranges.
		h.Del("Accept-Ranges")
		if bodyAllowed(rec.Status) {
			h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
		}
		w.WriteHeader(rec.Status)
		if r.Method != http.MethodHead && bodyAllowed(rec.Status) {
			io.Copy(w, content)
		}
		return true
	}
	if etag := h.Get("Etag"); etag != "" && noneMatch(r.Header.Values("If-None-Match"), etag) {
		// The client holds this response (RFC 9110 section 13.1.2),
		// compared as the stored tag is written, whatever its form.
		for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Accept-Ranges"} {
			h.Del(k)
		}
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	if r = hitRange(w, r, rec.Size, rec.Header, &ex.err); r == nil {
		return true
	}
	var modTime time.Time
	if pf := rec.fields(); pf.hasModTime && !slices.Contains(hidden, "Last-Modified") {
		modTime = pf.modTime
		h.Del("Last-Modified") // ServeContent sets it from modTime
	}
	var vr *verifiedReader
	if c.verify && !held {
		vr = c.verified(content, rec)
		content = vr
	}
	lw := &lengthWriter{ResponseWriter: w, size: rec.Size}
	http.ServeContent(lw, r, "", modTime, content)
	if vr != nil && vr.corrupt {
		ex.err = vr.err()
		c.corrupt(file, rec, ex.err)
		panic(http.ErrAbortHandler)
	}
	return true
}

// corrupt removes the kept file that rec describes, whose bytes were
// found not to be those recorded (err says how).
func (c *Cache) corrupt(file string, rec *record, err error) {
	c.forget(file)
	c.log.Error("kept copy is corrupt: removed", "url", rec.URL, "err", err)
}

// readBody reads the whole kept file f, which rec describes, and returns
// its bytes, then seeks f back to its start. With Verify, bytes that are
// not of the sha256 that rec gives are an error that matches errCorrupt.
func (c *Cache) readBody(f io.ReadSeeker, rec *record) ([]byte, error) {
	var r io.Reader = f
	var vr *verifiedReader
	if c.verify {
		vr = c.verified(f, rec)
		r = vr
	}
	b := make([]byte, rec.Size)
	_, err := io.ReadFull(r, b)
	if vr != nil && vr.corrupt {
		err = vr.err()
	}
	if _, serr := f.Seek(0, io.SeekStart); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// verified returns a reader of the kept file f, which rec describes, that
// checks its sha256 ([verifiedReader]).
func (c *Cache) verified(f io.ReadSeeker, rec *record) *verifiedReader {
	return &verifiedReader{f: f, size: rec.Size, want: rec.SHA256, h: sha256.New()}
}

// noneMatch reports whether the If-None-Match values vs name the entity tag
// etag: "*", or a member equal to it once any weakness prefix is set aside
// (the weak comparison).
func noneMatch(vs []string, etag string) bool {
	opaque := func(t string) string {
		t = strings.TrimSpace(t)
		if len(t) > 2 && (t[0] == 'W' || t[0] == 'w') && (t[1] == '/' || t[1] == '\\') {
			return t[2:]
		}
		if len(t) > 1 && t[0] == 'W' && t[1] == '"' {
			return t[1:]
		}
		return t
	}
	for _, v := range vs {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m == "*" || m == etag || opaque(m) == opaque(etag) {
				return true
			}
		}
	}
	return false
}

// safeMethod reports whether method is safe (RFC 9110 section 9.2.1): it
// changes nothing on the server.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// notPassed are the client's request fields that passOther does not send
// upstream: those of the connection, and those the outgoing request sets
// itself.
var notPassed = fieldSet(hopByHop, []string{"Content-Length", "Accept-Ranges", "Alt-Svc", "Host", "Expect"})

// passOther passes r, of a method other than GET and HEAD, to the upstream
// and its response to the client, and forgets the kept responses that an
// unsafe method that succeeded made stale: that of the path, and those of
// its Location and Content-Location below the base (RFC 9111 section 4.4).
// Nothing is kept. The request carries the client's own header fields and
// none of the Cache's credentials ([CacheOptions.Header], a password in the
// upstream's URL), which are for reading: a client changes the upstream
// only with credentials of its own.
func (c *Cache) passOther(w http.ResponseWriter, r *http.Request, rel string, ex *exchange) {
	base := *c.bases[0]
	base.User = nil
	target := mirror.Join(&base, rel)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, r.Body)
	if err != nil {
		ex.err = err
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out.ContentLength = r.ContentLength
	out.Header = endToEnd(r.Header, notPassed)
	resp, err := c.client.Do(out)
	if err != nil {
		ex.err = err
		c.stats.upstreamErrors.Add(1)
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range forwardHeader(resp.Header) {
		h[k] = vs
	}
	from, _ := url.Parse(target)
	for _, k := range []string{"Location", "Content-Location"} {
		v := resp.Header.Get(k)
		if v == "" {
			continue
		}
		u, err := from.Parse(v)
		if err != nil {
			continue
		}
		rest, ok := c.below(u)
		if !ok {
			continue
		}
		if k == "Location" {
			h.Set(k, mountPoint(r)+"/"+rest)
		}
		if !safeMethod(r.Method) && resp.StatusCode < 400 {
			c.forgetURL(mirror.Join(c.bases[0], stripQuery(rest)))
		}
	}
	if !safeMethod(r.Method) && resp.StatusCode < 400 {
		c.forgetURL(target)
	}
	if resp.ContentLength >= 0 && bodyAllowed(resp.StatusCode) {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, resp.Body)
	c.stats.fromUpstream.Add(n)
}

// forgetURL forgets the kept response of rawURL, if any.
func (c *Cache) forgetURL(rawURL string) {
	file := c.cachePath(rawURL)
	if _, err := os.Stat(file + recordSuffix); err == nil {
		c.forget(file)
	}
}

// stripQuery returns the escaped path p without its query.
func stripQuery(p string) string {
	if u, err := url.Parse(p); err == nil {
		return u.Path
	}
	return p
}
