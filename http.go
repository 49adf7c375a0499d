package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpProtocol opens http and https URLs with the Fetcher's client.
type httpProtocol struct {
	client    *http.Client
	userAgent string
}

func (p *httpProtocol) Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error) {
	if req.Alive != nil {
		// Each response, a redirect's too, is an answer: the server is
		// not silent.
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: req.Alive})
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, req.URL.Redacted(), errors.Unwrap(err))
	}
	for k, vs := range req.Header {
		hreq.Header[k] = vs
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", p.userAgent)
	}
	if hreq.Header.Get("Accept-Encoding") == "" {
		// The bytes checked are the bytes served: ask for no content
		// coding, which also keeps the transport from decoding one.
		hreq.Header.Set("Accept-Encoding", "identity")
	}
	ranged := req.Offset > 0 || req.Length > 0
	if ranged {
		r := "bytes=" + strconv.FormatInt(req.Offset, 10) + "-"
		if req.Length > 0 {
			r += strconv.FormatInt(req.Offset+req.Length-1, 10)
		}
		hreq.Header.Set("Range", r)
		if req.Validator != "" {
			hreq.Header.Set("If-Range", req.Validator)
		}
	}
	resp, err := p.client.Do(hreq)
	if errors.Is(err, ErrRedirect) {
		// net/http names the redirect's Location, which may be relative.
		return nil, nil, fmt.Errorf("%s: %w", req.URL.Redacted(), errors.Unwrap(err))
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// net/http names the method and the URL of the last request
		// (a redirect's target): name the URL once.
		if to := RedactURL(uerr.URL); to != req.URL.Redacted() {
			return nil, nil, fmt.Errorf("%s: redirected to %s: %w", req.URL.Redacted(), to, uerr.Err)
		}
		return nil, nil, fmt.Errorf("%s: %w", req.URL.Redacted(), uerr.Err)
	}
	if err != nil {
		return nil, nil, err
	}
	where := resp.Request.URL.Redacted()
	r := &Response{URL: where, Status: resp.StatusCode, Header: resp.Header, Size: resp.ContentLength}
	switch {
	case resp.StatusCode == http.StatusOK:
		return r, resp.Body, nil
	case resp.StatusCode == http.StatusPartialContent && ranged:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			resp.Body.Close()
			return nil, nil, fmt.Errorf("%s: %w: malformed Content-Range %q", where, ErrCannotResume, resp.Header.Get("Content-Range"))
		}
		r.Offset, r.Size = start, size
		return r, resp.Body, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && req.Offset > 0:
		// Nothing is left from Offset: the transfer broke after its last
		// byte. (The If-Range validator matched, or the server would have
		// sent the file whole.)
		if size, ok := parseCompleteLength(resp.Header.Get("Content-Range")); ok && size == req.Offset {
			io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
			r.Offset, r.Size = req.Offset, size
			return r, http.NoBody, nil
		}
	}
	if pass := passResponseOf(ctx); pass != nil && pass(*r) {
		return r, resp.Body, nil
	}
	// Read a little of an error body so that the connection can be reused.
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	err = &StatusError{URL: where, Code: resp.StatusCode, Text: http.StatusText(resp.StatusCode), Header: resp.Header}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return nil, nil, &TemporaryError{Err: err, After: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return nil, nil, err
}

// parseContentRange parses "bytes first-last/size" (size may be "*", -1).
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, last, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	if total == "*" {
		return start, -1, true
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil || size <= end {
		return 0, 0, false
	}
	return start, size, true
}

// parseCompleteLength parses the "bytes */size" of a 416 response.
func parseCompleteLength(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "bytes */")
	if !ok {
		return 0, false
	}
	size, err := strconv.ParseInt(rest, 10, 64)
	return size, err == nil && size >= 0
}

// retryAfter parses a Retry-After value, in seconds or an HTTP date, into a
// wait from now; 0 when absent or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// newClient returns the HTTP client a Fetcher owns: idle connections kept
// for every transfer slot, no more than perHost connections to a host,
// HTTP/2 where offered, no transparent decompression, TLS as cfg says (nil:
// the defaults).
func newClient(l *Limiter, cfg *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		t.TLSClientConfig = cfg.Clone()
	}
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.DisableCompression = true
	t.ForceAttemptHTTP2 = true
	t.MaxConnsPerHost = l.PerHost()
	t.MaxIdleConnsPerHost = l.PerHost()
	t.MaxIdleConns = max(100, l.Max())
	// A small file's headers and body in one read, and one write.
	t.ReadBufferSize = 32 << 10
	return &http.Client{Transport: t}
}

// maxRedirects is how many redirects a request follows, as net/http does.
const maxRedirects = 10

// redirectPolicy wraps a client's CheckRedirect: credentials go to the
// original host only, https never falls to http unless allowed, and at
// most maxRedirects are followed.
func redirectPolicy(next func(*http.Request, []*http.Request) error, allowInsecure bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if pass := passResponseOf(req.Context()); pass != nil && req.Response != nil {
			from := via[len(via)-1].URL.Redacted()
			if pass(Response{URL: from, Status: req.Response.StatusCode, Header: req.Response.Header, Size: req.Response.ContentLength}) {
				return http.ErrUseLastResponse
			}
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrRedirect, maxRedirects)
		}
		first := via[0].URL
		if first.Scheme == "https" && req.URL.Scheme == "http" && !allowInsecure {
			return fmt.Errorf("%w: from https to http (%s)", ErrRedirect, req.URL.Redacted())
		}
		if hostKey(req.URL) != hostKey(first) {
			dropCredentials(req.Header)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// passResponseKey is the context key of a transfer's [Request.PassResponse].
type passResponseKey struct{}

// withPassResponse returns ctx carrying pass to the HTTP protocol, which
// sees the request only through its context.
func withPassResponse(ctx context.Context, pass func(Response) bool) context.Context {
	if pass == nil {
		return ctx
	}
	return context.WithValue(ctx, passResponseKey{}, pass)
}

// passResponseOf returns the [Request.PassResponse] that ctx carries, or nil.
func passResponseOf(ctx context.Context) func(Response) bool {
	pass, _ := ctx.Value(passResponseKey{}).(func(Response) bool)
	return pass
}
