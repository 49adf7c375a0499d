package mirror

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/fetchkit/fetch"
)

// Static is a [fetch.Resolver] for a tree that fixed mirrors serve at the
// same paths: a request for a URL under Base is tried at its own URL, then
// its own Mirrors, then at the same path below each of Mirrors, in order.
// Other requests keep their URL and Mirrors. The zero value has no mirrors.
// The Fetcher still moves the URLs that failed lately to the end, as it
// does for every Resolver ([fetch.Options.MirrorCooldown]).
type Static struct {
	// Base is the part of a URL that a mirror replaces. Empty means the
	// directory of each URL: the mirrors then serve every file at its own
	// name.
	Base string
	// Mirrors are the bases of the mirrors; a "/" is added to one that
	// does not end in "/".
	Mirrors []string
}

// URLs returns the URLs of rawURL on the mirrors: the part of rawURL
// after Base, appended to each mirror. A URL that is not under Base has
// none; nor has any URL when there are no mirrors.
func (s Static) URLs(rawURL string) []string {
	if len(s.Mirrors) == 0 {
		return nil
	}
	base := s.Base
	if base == "" {
		p, _, _ := strings.Cut(rawURL, "?")
		base = p[:strings.LastIndex(p, "/")+1]
	}
	rel, ok := relative(base, rawURL)
	if !ok {
		return nil
	}
	urls := make([]string, len(s.Mirrors))
	for i, m := range s.Mirrors {
		urls[i] = strings.TrimSuffix(m, "/") + "/" + rel
	}
	return urls
}

// Resolve returns req's URL and Mirrors, then the URLs of req.URL on the
// mirrors that are not among them. It never fails.
func (s Static) Resolve(_ context.Context, req fetch.Request) ([]string, error) {
	urls := append([]string{req.URL}, req.Mirrors...)
	for _, u := range s.URLs(req.URL) {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

// Join returns the URL of the file at the slash-separated path rel below
// base: rel escaped as a URL path and appended to base's path, which gets
// a "/" if it lacks one. Base's query, if any, is kept; its fragment is
// not.
func Join(base *url.URL, rel string) string {
	u := *base
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.Path += rel
	u.RawPath = ""
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// relative returns the part of rawURL below base, ignoring a password in
// rawURL, and whether rawURL is under base.
func relative(base, rawURL string) (string, bool) {
	if rel, ok := strings.CutPrefix(rawURL, base); ok {
		return rel, true
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return "", false
	}
	u.User = nil
	return strings.CutPrefix(u.String(), base)
}
