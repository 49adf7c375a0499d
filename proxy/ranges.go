package proxy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fetchkit/fetch"
)

// The Range rule, one for a download in flight (newReply) and for a kept
// file (serveKept), so that the answer never depends on the cache's state:
// one satisfiable range gets 206 and its bytes; several ranges, a malformed
// header, or an If-Range that does not match get 200 and the whole file,
// never a multipart body, whose size a client could multiply at will; one
// range past the end of the file (bytes=-0, bytes=SIZE-) gets 416.

// rangeOf returns the kind of the Range of r for a file of size bytes
// whose response headers (ETag, Last-Modified, for If-Range) are h, and,
// for rangeOne, the bytes [first, end) it asks for.
func rangeOf(r *http.Request, size int64, h http.Header) (kind int, first, end int64) {
	v := r.Header.Get("Range")
	if v == "" || !ifRange(r.Header.Get("If-Range"), h) {
		return rangeNone, 0, 0
	}
	return parseRange(v, size)
}

// unsatisfiable returns the error of r, whose Range lies past the end of a
// file of size bytes.
func unsatisfiable(r *http.Request, size int64) error {
	return fmt.Errorf("%w: range %q of a file of %d bytes", fetch.ErrInvalidRequest, r.Header.Get("Range"), size)
}

// unsatisfiableHeader returns the headers of the 416 reply for a file of
// size bytes.
func unsatisfiableHeader(size int64) http.Header {
	return http.Header{
		"Content-Range": {fmt.Sprintf("bytes */%d", size)},
		"Content-Type":  {"text/plain; charset=utf-8"},
	}
}

// hitRange answers the Range of r for a kept file of size bytes whose
// recorded headers are h by the rule of rangeOf: it returns r as
// http.ServeContent is to see it, with the one range in its one spelling
// and no If-Range (already weighed), or with no Range when the whole file
// is to be sent. When the Range is not satisfiable it answers 416 itself,
// sets *cause, and returns nil.
func hitRange(w http.ResponseWriter, r *http.Request, size int64, h http.Header, cause *error) *http.Request {
	if _, ok := r.Header["Range"]; !ok {
		return r
	}
	kind, first, end := rangeOf(r, size, h)
	if kind == rangeUnsatisfiable {
		*cause = unsatisfiable(r, size)
		for k, vs := range unsatisfiableHeader(size) {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	r = r.Clone(r.Context())
	r.Header.Del("If-Range")
	r.Header.Del("Range")
	if kind == rangeOne {
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, end-1))
	}
	return r
}

// ifRange reports whether a Range may be honoured given the request's
// If-Range value v and the response headers h: v is empty, or it is the
// file's strong ETag, or its Last-Modified date.
func ifRange(v string, h http.Header) bool {
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, `"`):
		return v == h.Get("Etag")
	case strings.HasPrefix(v, "W/"):
		return false // weak tags never match for a range
	}
	return v == h.Get("Last-Modified")
}

// Kinds of Range header, from parseRange.
const (
	rangeNone          = iota // absent, malformed or several ranges: send the whole file
	rangeOne                  // one satisfiable range
	rangeUnsatisfiable        // one range that lies past the end
)

// parseRange parses the Range header value v for a file of size bytes, and
// returns its kind and, for rangeOne, the bytes [first, end) it asks for.
func parseRange(v string, size int64) (kind int, first, end int64) {
	const unit = "bytes="
	if len(v) < len(unit) || !strings.EqualFold(v[:len(unit)], unit) {
		return rangeNone, 0, 0
	}
	spec := strings.TrimSpace(v[len(unit):])
	if strings.Contains(spec, ",") {
		return rangeNone, 0, 0
	}
	a, b, ok := strings.Cut(spec, "-")
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !ok || a == "" && b == "" {
		return rangeNone, 0, 0
	}
	if a == "" { // the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return rangeNone, 0, 0
		}
		first, end = max(size-n, 0), size
	} else {
		var err error
		if first, err = strconv.ParseInt(a, 10, 64); err != nil || first < 0 {
			return rangeNone, 0, 0
		}
		end = size
		if b != "" {
			last, err := strconv.ParseInt(b, 10, 64)
			if err != nil || last < first {
				return rangeNone, 0, 0
			}
			end = size
			if last < size {
				end = last + 1 // last+1 cannot overflow: last < size
			}
		}
	}
	if first >= end {
		return rangeUnsatisfiable, 0, 0
	}
	return rangeOne, first, end
}
