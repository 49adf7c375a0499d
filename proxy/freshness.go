package proxy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cacheControl is what the Cache-Control fields of a response or a request
// say to a shared cache (RFC 9111 section 5.2). A duration is -1 when the
// directive is absent; a malformed value counts as 0, the most cautious.
type cacheControl struct {
	noStore, private, public, immutable bool
	noCache                             bool     // without field names: revalidate every time
	noCacheFields                       []string // no-cache="FIELD, ...": those fields are not served
	mustRevalidate                      bool     // must-revalidate or proxy-revalidate
	mustUnderstand                      bool
	onlyIfCached                        bool // request: answer from the cache or 504
	maxAge, sMaxAge, minFresh           time.Duration
	maxStale                            time.Duration // request: any staleness when maxStaleAny
	maxStaleAny                         bool
	staleWhileRevalidate, staleIfError  time.Duration
}

// maxDelta is the largest delta-seconds value taken, 2^31 seconds (RFC 9111
// section 1.2.2).
const maxDelta = 2147483648 * time.Second

// parseCacheControl reads the Cache-Control values vs. A directive given
// twice counts with its larger value, as most caches read it; one whose
// value is not delta-seconds is ignored, but one with spaces around its
// "=" counts as 0.
func parseCacheControl(vs []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, minFresh: -1, maxStale: -1, staleWhileRevalidate: -1, staleIfError: -1}
	least := func(d *time.Duration, arg string, ok bool) {
		v, valid := time.Duration(0), false
		if ok {
			v, valid = deltaSeconds(arg)
			valid = valid || strings.HasPrefix(arg, "-") // negative: 0, stale
		}
		if valid || !ok {
			*d = max(*d, v)
		}
	}
	for _, v := range vs {
		for _, dir := range splitDirectives(v) {
			name, arg, hasArg := strings.Cut(dir, "=")
			name = strings.ToLower(name)
			if strings.ContainsAny(name, " \t") || strings.HasPrefix(arg, " ") {
				name, arg, hasArg = strings.TrimSpace(name), "", false // "max-age =1": malformed, so 0
			}
			quoted := false
			if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
				arg, quoted = strings.ReplaceAll(arg[1:len(arg)-1], `\`, ""), true
			}
			switch name {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				if !hasArg || !quoted && arg == "" {
					cc.noCache = true
					break
				}
				for f := range strings.SplitSeq(arg, ",") {
					if f = strings.TrimSpace(f); f != "" {
						cc.noCacheFields = append(cc.noCacheFields, textproto.CanonicalMIMEHeaderKey(f))
					}
				}
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "immutable":
				cc.immutable = true
			case "must-understand":
				cc.mustUnderstand = true
			case "must-revalidate", "proxy-revalidate":
				cc.mustRevalidate = true
			case "only-if-cached":
				cc.onlyIfCached = true
			case "max-age":
				least(&cc.maxAge, arg, hasArg)
			case "s-maxage":
				least(&cc.sMaxAge, arg, hasArg)
			case "min-fresh":
				least(&cc.minFresh, arg, hasArg)
			case "max-stale":
				if !hasArg {
					cc.maxStaleAny = true
				} else {
					least(&cc.maxStale, arg, true)
				}
			case "stale-while-revalidate":
				least(&cc.staleWhileRevalidate, arg, hasArg)
			case "stale-if-error":
				least(&cc.staleIfError, arg, hasArg)
			}
		}
	}
	return cc
}

// splitDirectives splits a Cache-Control value at the commas that are not
// inside a quoted string, trimming each directive.
func splitDirectives(v string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if d := strings.TrimSpace(v[start:]); d != "" || len(out) > 0 {
		out = append(out, d)
	}
	return out
}

// deltaSeconds parses a delta-seconds value (digits only); valid is false
// for a malformed one, and a larger one than maxDelta means maxDelta.
func deltaSeconds(s string) (d time.Duration, valid bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > int64(maxDelta/time.Second) {
		return maxDelta, true
	}
	return time.Duration(n) * time.Second, true
}

// requestCacheControl is what a client's request says of the reuse of
// stored responses: its Cache-Control, or "Pragma: no-cache" when it has
// no Cache-Control (RFC 9111 section 5.4).
func requestCacheControl(h http.Header) cacheControl {
	cc := parseCacheControl(h.Values("Cache-Control"))
	if len(h.Values("Cache-Control")) == 0 {
		for _, v := range h.Values("Pragma") {
			for _, d := range splitDirectives(v) {
				if strings.EqualFold(d, "no-cache") {
					cc.noCache = true
				}
			}
		}
	}
	return cc
}

// Heuristic freshness (RFC 9111 section 4.2.2): a response with a
// Last-Modified date and no explicit freshness is fresh for
// heuristicFraction of the time between that date and its Date, at most
// heuristicMax (and at least CacheOptions.MaxAge).
const (
	heuristicFraction = 10 // percent
	heuristicMax      = 24 * time.Hour
)

// heuristicStatus reports whether status is heuristically cacheable (RFC
// 9110 section 15.1): a response with it may be stored and reused without
// explicit freshness.
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether the Cache knows the caching rules of
// status, which "must-understand" asks (RFC 9111 section 5.2.2.3).
func understoodStatus(status int) bool {
	return heuristicStatus(status) || status == http.StatusFound || status == http.StatusTemporaryRedirect
}

// httpDate parses an HTTP date (RFC 9110 section 5.6.7); ok is false for
// an absent or malformed value.
func httpDate(h http.Header, name string) (t time.Time, ok bool) {
	vs := h.Values(name)
	if len(vs) != 1 {
		return time.Time{}, false // absent, or several: invalid
	}
	v := strings.TrimSpace(vs[0])
	if n := len(v); n > 4 && strings.EqualFold(v[n-4:], " GMT") {
		v = v[:n-4] + " GMT"
	}
	// IMF-fixdate has a fixed length; the obsolete forms are parsed as
	// they are (RFC 9110 section 5.6.7).
	if t, err := time.Parse(http.TimeFormat, v); err == nil && len(v) == len(http.TimeFormat) {
		return t, true
	}
	for _, layout := range []string{time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// explicitFreshness reports whether a response with header h says how long
// it is fresh: s-maxage, max-age or Expires.
func explicitFreshness(h http.Header) bool {
	cc := parseCacheControl(h.Values("Cache-Control"))
	return cc.sMaxAge >= 0 || cc.maxAge >= 0 || len(h.Values("Expires")) > 0
}

// storableResponse reports whether a shared cache may store a response of
// status with header h to a request with header req (RFC 9111 section 3):
// not no-store or private, not "Vary: *", not to a request with
// Authorization unless the response allows it (section 3.5), and of a
// status that is heuristically cacheable or has explicit freshness or
// "public".
func storableResponse(status int, h, req http.Header) bool {
	cc := parseCacheControl(h.Values("Cache-Control"))
	rcc := requestCacheControl(req)
	switch {
	case cc.noStore && !(cc.mustUnderstand && understoodStatus(status)), cc.private, rcc.noStore, varyStar(h):
		return false
	case status == http.StatusPartialContent, status == http.StatusNotModified:
		return false
	case req.Get("Authorization") != "" && !cc.public && cc.sMaxAge < 0 && !cc.mustRevalidate:
		return false
	}
	return heuristicStatus(status) || cc.public || explicitFreshness(h)
}

// varyStar reports whether h has "Vary: *": the response may never be
// reused.
func varyStar(h http.Header) bool {
	for _, f := range varyFields(h) {
		if f == "*" {
			return true
		}
	}
	return false
}

// varyFields returns the field names that the Vary fields of h list,
// canonical.
func varyFields(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	return out
}

// secondaryKey returns the values that the request header req has for the
// fields that a response's Vary lists (RFC 9111 section 4.1), by
// [varyValue].
func secondaryKey(resp, req http.Header) map[string]string {
	fields := varyFields(resp)
	if len(fields) == 0 {
		return nil
	}
	key := make(map[string]string, len(fields))
	for _, f := range fields {
		key[f] = varyValue(req, f)
	}
	return key
}

// varyValue returns the value of the field f of the request header req as
// a secondary key compares it: its values joined, with the whitespace
// normalised; the tags of Accept-Language as a set.
func varyValue(req http.Header, f string) string {
	if len(req.Values(f)) == 0 {
		return "\x00absent"
	}
	var parts []string
	for _, v := range req.Values(f) {
		for p := range strings.SplitSeq(v, ",") {
			parts = append(parts, strings.TrimSpace(p))
		}
	}
	if f == "Accept-Language" {
		for i := range parts {
			parts[i] = strings.ToLower(parts[i])
		}
		slices.Sort(parts)
	}
	return strings.Join(parts, ",")
}
