package fetch

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The seed corpora are in testdata/fuzz; run a target with
//
//	go test -run '^$' -fuzz FuzzRetryAfter -fuzztime 1m

// FuzzRetryAfter checks that no Retry-After value gives a negative wait,
// and that delay-seconds and HTTP dates give the wait they say.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got := retryAfter(v, now)
		if got < 0 {
			t.Fatalf("retryAfter(%q) = %v; want >= 0", v, got)
		}
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 && delaySeconds.MatchString(v) {
			if want := time.Duration(min(secs, 24*60*60)) * time.Second; got != want {
				t.Fatalf("retryAfter(%q) = %v; want %v", v, got, want)
			}
		}
		if at, err := http.ParseTime(v); err == nil {
			if want := max(0, at.Sub(now)); got != want {
				t.Fatalf("retryAfter(%q) = %v; want %v", v, got, want)
			}
		}
	})
}

var delaySeconds = regexp.MustCompile(`^[0-9]+$`)

// FuzzParseContentRange checks that every Content-Range parseContentRange
// accepts is sound (a start within the file), and that it accepts every
// well-formed "bytes first-last/complete" with the values it holds.
func FuzzParseContentRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		start, size, ok := parseContentRange(s)
		if ok && (start < 0 || size != -1 && size <= start) {
			t.Fatalf("parseContentRange(%q) = %d, %d, true; want 0 <= start < size", s, start, size)
		}
		m := contentRange.FindStringSubmatch(s)
		if m == nil {
			return
		}
		first, err1 := strconv.ParseInt(m[1], 10, 64)
		last, err2 := strconv.ParseInt(m[2], 10, 64)
		complete, err3 := strconv.ParseInt(m[3], 10, 64)
		if m[3] == "*" {
			complete, err3 = -1, nil
		}
		if err1 != nil || err2 != nil || err3 != nil || last < first || complete != -1 && complete <= last {
			if ok {
				t.Fatalf("parseContentRange(%q) = %d, %d, true; want not ok", s, start, size)
			}
			return
		}
		if !ok || start != first || size != complete {
			t.Fatalf("parseContentRange(%q) = %d, %d, %v; want %d, %d, true", s, start, size, ok, first, complete)
		}
	})
}

var contentRange = regexp.MustCompile(`^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$`)
