package fetch

import (
	"net/url"
	"strings"
)

// RedactURL returns rawURL with the password of its userinfo replaced by
// "xxxxx", as url.URL.Redacted does. A string that does not parse as a URL
// is redacted by its text: whatever stands between the first ":" of the
// userinfo and the last "@" before the query is replaced, so that a
// password is never shown, even one with characters a URL does not allow.
// So is a URL without "//" that has an "@" ("user:password@host/path"
// parses as the scheme "user").
// The command and every error and log line of the package name URLs this
// way.
func RedactURL(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return redactURL(rawURL, u)
}

// redactURL is [RedactURL] for rawURL parsed already as u (nil when it
// does not parse).
func redactURL(rawURL string, u *url.URL) string {
	if u != nil && !strings.Contains(u.Opaque, "@") {
		return u.Redacted()
	}
	start := 0
	if i := strings.Index(rawURL, "://"); i >= 0 {
		start = i + len("://")
	}
	// The userinfo ends at the last "@" before the query or fragment: a
	// password may hold a "/" that should have been escaped.
	end := len(rawURL)
	if i := strings.IndexAny(rawURL[start:], "?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(rawURL[start:end], "@")
	if at < 0 {
		return rawURL
	}
	at += start
	colon := strings.Index(rawURL[start:at], ":")
	if colon < 0 {
		return rawURL
	}
	colon += start
	return rawURL[:colon+1] + "xxxxx" + rawURL[at:]
}
