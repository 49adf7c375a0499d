package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// download is the state of one request across its attempts and URLs.
type download struct {
	f    *Fetcher
	req  Request
	sink *sink
	urls []*url.URL // every URL of the request, in the order tried

	home      string // hostKey of the request's URL: where its credentials may go
	attempts  int
	responded bool   // OnResponse was called
	unsplit   bool   // a segmented attempt met a range it did not ask for: one connection from now on
	validator string // ETag or Last-Modified of the response the written bytes came from
	source    string // the URL that validator belongs to, redacted
	adopted   bool   // the sink holds bytes kept by an earlier download
	url       string // redacted URL of the last response
	header    http.Header
}

// target is a request's own URL, parsed once for every step that needs
// it.
type target struct {
	url  *url.URL // nil when the URL does not parse
	host string   // hostKey of url; "" when url is nil
}

func targetOf(rawURL string) target {
	u, err := url.Parse(rawURL)
	if err != nil {
		return target{}
	}
	return target{u, hostKey(u)}
}

// fetch runs req, whose URL is t, to its end and returns its Result. dir
// holds the folder of the last Root that the calling goroutine looked
// below, or is nil.
func (f *Fetcher) fetch(ctx context.Context, req Request, t target, dir *rootDir) Result {
	f.stats.inFlight.Add(1)
	res := Result{Request: req, URL: redactURL(req.URL, t.url)}
	defer f.stats.ended(&res)
	checks := req.CheckExisting && req.Path != "" && (req.hasSize() || len(req.Digests) > 0)
	var x *existing
	if checks {
		x = dir.openExisting(req)
		defer x.close()
	}
	s, err := newSink(req, dir, f.sync, f.keepPartial, f.unnamed, x.info())
	if err != nil {
		if res.URL != "" {
			err = fmt.Errorf("%s: %w", res.URL, err) // every Result.Err names its URL
		}
		res.Err = err
		return res
	}
	defer s.discard()
	if checks {
		digests, trusted, err := f.inPlace(ctx, req, t.host, s, x)
		if err != nil {
			res.Err = err
			return res
		}
		if digests != nil {
			res.Skipped, res.Trusted, res.Size, res.Digests = true, trusted, s.written, digests
			return res
		}
	}
	urls, err := f.urls(ctx, req, t.url)
	if err != nil {
		res.Err = err
		return res
	}
	d := &download{f: f, req: req, sink: s, urls: urls, home: t.host}
	if s.keep {
		g, err := s.openPartial(ctx)
		if err != nil {
			res.Err, res.Partial = fmt.Errorf("%s: %w", res.URL, err), s.kept
			return res
		}
		if g != nil {
			d.validator, d.source, d.adopted = g.Validator, g.URL, true
		}
	}
	var errs []error
	for i := 0; i < len(urls); i++ {
		u := urls[i]
		res.URL = u.Redacted()
		err = d.tryURL(ctx, u)
		if err == nil {
			err = s.commit()
		}
		if err == nil {
			break
		}
		if d.adopted && isMismatch(err) && ctx.Err() == nil {
			// The bytes kept by an earlier download were of another
			// version of the file: start again from zero, at the same URL.
			d.adopted = false
			if rerr := s.restart(); rerr != nil {
				errs = append(errs, err, rerr)
				break
			}
			f.log.Info("fetch: kept bytes do not match; starting again", "url", res.URL, "err", err)
			i--
			continue
		}
		errs = append(errs, err)
		if ctx.Err() != nil || isFinal(err) {
			break
		}
		if isMismatch(err) {
			// The bytes are wrong, not cut short: the next URL starts
			// from zero, which a Writer that has them cannot.
			if !s.canRestart() {
				if i < len(urls)-1 {
					errs[len(errs)-1] = fmt.Errorf("%w; mirrors not tried: the Writer already received the body", err)
				}
				break
			}
			if rerr := s.restart(); rerr != nil {
				errs = append(errs, rerr)
				break
			}
		}
		f.log.Info("fetch: giving up on URL", "url", res.URL, "err", err)
	}
	res.Attempts = d.attempts
	if err != nil {
		res.Err = errors.Join(errs...)
		res.Size = s.written
		s.discard()
		res.Partial = s.kept
		return res
	}
	res.URL, res.Header = d.url, d.header
	res.Size, res.Digests = s.written, s.digests()
	return res
}

// tryURL makes attempts at u until one succeeds, waiting between them as
// retryPolicy.failed decides.
func (d *download) tryURL(ctx context.Context, u *url.URL) error {
	reached := d.sink.written // the furthest byte delivered so far
	r := d.f.newRetryState(u)
	for {
		err := d.attempt(ctx, u)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", u.Redacted(), ctx.Err())
		}
		if err == nil {
			r.succeeded()
			return nil
		}
		progress := d.sink.written - reached
		reached = max(reached, d.sink.written)
		wait, gaveUp := r.failed(err, progress)
		if gaveUp != nil {
			return gaveUp
		}
		if err := d.stranded(u, err); err != nil {
			// Known now, not after the wait: no attempt will follow.
			return err
		}
		d.f.log.Info("fetch: retrying", "url", u.Redacted(), "err", err, "wait", wait, "progress", progress >= minProgress, "offset", d.sink.written)
		if !sleep(ctx, wait) {
			return fmt.Errorf("%s: %w", u.Redacted(), ctx.Err())
		}
	}
}

// retryState is what one connection has used of its retries at one URL:
// the attempts of tryURL, or the range requests of one connection of a
// segmented download. Both go through failed, so that the same rules hold
// for each.
type retryState struct {
	f    *Fetcher
	u    *url.URL
	host string

	attempts  int       // failed attempts
	failures  int       // failed attempts that made no progress
	throttled time.Time // since when u throttles, or zero
}

func (f *Fetcher) newRetryState(u *url.URL) *retryState {
	return &retryState{f: f, u: u, host: hostKey(u)}
}

// succeeded records an attempt that succeeded.
func (r *retryState) succeeded() {
	r.f.health.record(r.u, nil)
	r.f.limiter.succeeded(r.host)
	r.failures, r.throttled = 0, time.Time{}
}

// failed decides what follows an attempt that failed with err after
// delivering progress new bytes: it returns the wait before the next
// attempt, or the error that gives up the URL.
//
// Errors that no attempt can mend end at once. Only attempts that brought
// fewer than minProgress bytes use up the retries. A throttling answer (a
// 429, or a 503 with Retry-After: the server says when to come back) uses
// up none; the URL fails once it has throttled for MaxThrottled. A 429 or
// 503 also closes the host in the Limiter (see Limiter) and halves its
// allowance: the wait is then the Limiter's, shared by every request to
// the host, and failed returns 0. At most MaxAttempts are made in all.
func (r *retryState) failed(err error, progress int64) (time.Duration, error) {
	f := r.f
	f.health.record(r.u, err)
	var temp *TemporaryError
	if isFinal(err) || !isTemporary(err, &temp) {
		return 0, err
	}
	var after time.Duration // Retry-After, capped
	if temp != nil && temp.After > 0 {
		after = min(temp.After, f.maxRetryAfter)
	}
	r.attempts++
	code := congestion(err)
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable && after > 0:
		if r.throttled.IsZero() {
			r.throttled = time.Now()
		}
	case progress < minProgress:
		r.throttled = time.Time{}
		r.failures++
	default:
		r.throttled = time.Time{}
	}
	switch {
	case r.failures > f.retries, f.retries == 0:
		return 0, err
	case r.attempts >= f.maxAttempts:
		return 0, fmt.Errorf("%w (%d attempts, the most made at one URL)", err, r.attempts)
	case !r.throttled.IsZero() && time.Since(r.throttled) >= f.maxThrottled:
		return 0, fmt.Errorf("%w (too many requests for %v)", err, time.Since(r.throttled).Round(time.Second))
	}
	if code != 0 {
		// The host is closed for a while, to every request: the next
		// attempt waits for it in the Limiter.
		f.limiter.congested(r.host, func(n int) time.Duration {
			if after > 0 {
				return after
			}
			return f.hostBackoff(n)
		})
		return 0, nil
	}
	if after > 0 {
		return after, nil
	}
	return f.backoff(max(r.failures, 1)), nil
}

// sleep waits for d, and reports whether ctx is still live then.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// congestion returns the status of err when it is an HTTP 429 or 503
// answer, whatever the protocol that spoke HTTP, else 0.
func congestion(err error) int {
	var se *StatusError
	if errors.As(err, &se) && !se.FTP &&
		(se.Code == http.StatusTooManyRequests || se.Code == http.StatusServiceUnavailable) {
		return se.Code
	}
	return 0
}

// hostBackoff returns how long a host closes after its nth 429 or 503 in
// a row without Retry-After: between half and all of BackoffBase·2ⁿ⁻¹,
// capped at MaxBackoff ("equal jitter": never next to nothing, since the
// wait is every request's).
func (f *Fetcher) hostBackoff(n int) time.Duration {
	ceiling := f.maxBackoff
	if shift := n - 1; shift < 63 && f.backoffBase <= ceiling>>shift {
		ceiling = f.backoffBase << shift
	}
	if ceiling <= 1 {
		return max(ceiling, 0)
	}
	return ceiling/2 + rand.N(ceiling/2)
}

// backoff returns the wait before retry n (1, 2, ...): full jitter over an
// exponentially growing cap.
func (f *Fetcher) backoff(n int) time.Duration {
	ceiling := f.maxBackoff
	if shift := n - 1; shift < 63 && f.backoffBase <= ceiling>>shift {
		ceiling = f.backoffBase << shift // cannot overflow
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// attempt opens u once and delivers its body to the sink, in steps: the
// resume point, a slot of the Limiter, the stall timer, open, accept, the
// read loop and the checks after the last byte.
func (d *download) attempt(ctx context.Context, u *url.URL) error {
	offset, validator, err := d.resumePoint(u)
	if err != nil {
		return err
	}
	release, err := d.slot(ctx, u)
	if err != nil {
		return err
	}
	defer release()

	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := startStall(d.f.stall, cancel)
	defer stall.pause()
	fail := func(err error) error { return d.interrupted(ctx, actx, u, err) }

	var length int64
	if len(d.sink.done) > 0 && !d.unsplit {
		// Up to the first span kept by an earlier segmented download.
		length = d.sink.done[0].start - offset
	}
	resp, body, err := d.f.protocols[u.Scheme].Open(actx, &OpenRequest{
		URL: u, Offset: offset, Length: length, Validator: validator, Header: d.headers(u), Alive: stall.alive,
	})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	if resp.URL == "" {
		resp.URL = u.Redacted()
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	// The stall timer measures the server only: it waits while OnResponse
	// and the sinks take their time.
	stall.pause()
	if err := d.accept(u, offset, resp); err != nil {
		return err
	}
	stall.alive()
	if d.segmentable(u, resp) {
		a := attemptState{resp: resp, body: body, stall: stall, cancel: cancel, fail: fail, release: release}
		body = nil // closed by segmented
		err = d.segmented(ctx, u, a)
	} else if err = d.sink.dropSpans(); err == nil {
		err = d.read(actx, u, resp, body, stall, fail)
	}
	if err != nil {
		return err
	}
	if err := d.complete(u, resp); err != nil {
		return err
	}
	d.url, d.header = resp.URL, resp.Header
	return nil
}

// slot waits for a transfer slot of the Limiter for u's host and counts
// the attempt. The caller calls release when the attempt is over.
func (d *download) slot(ctx context.Context, u *url.URL) (release func(), err error) {
	release, err = d.f.limiter.Acquire(ctx, hostKey(u))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	d.attempts++
	return release, nil
}

// interrupted returns err, the failure of an attempt at u, as the stall or
// the cancellation that caused it, if one did. actx is the attempt's
// context, ctx the request's.
func (d *download) interrupted(ctx, actx context.Context, u *url.URL, err error) error {
	if context.Cause(actx) == ErrStalled && ctx.Err() == nil {
		return fmt.Errorf("%s: %w: no byte for %v", u.Redacted(), ErrStalled, d.f.stall)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", u.Redacted(), ctx.Err())
	}
	return err
}

// read copies body to the sink, at most to one byte past [Request.Size],
// reporting progress, within the Fetcher's RateLimit. Every read that
// brings bytes restarts the stall timer, which waits while the sink writes
// and the rate holds the transfer back. A failed read goes through fail; a
// failed write is the sink's error.
func (d *download) read(ctx context.Context, u *url.URL, resp *Response, body io.Reader, stall *stallTimer, fail func(error) error) error {
	r := body
	total := resp.Size
	if d.req.hasSize() {
		r = io.LimitReader(body, d.req.Size+1-resp.Offset)
		total = d.req.Size
	}
	bp := d.f.buffers.Get().(*[]byte)
	defer d.f.buffers.Put(bp)
	buf := d.f.rate.chunk(*bp)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			stall.pause()
			if err := d.f.rate.wait(ctx, n); err != nil {
				return fail(fmt.Errorf("%s: %w", u.Redacted(), err))
			}
			if _, err := d.sink.Write(buf[:n]); err != nil {
				return err
			}
			d.f.stats.bytes.Add(int64(n))
			if d.req.Progress != nil {
				d.req.Progress(d.sink.written, total)
			}
			stall.alive()
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fail(fmt.Errorf("%s: %w", u.Redacted(), rerr))
		}
	}
}

// complete checks a body that was read to its end: its length against
// what the server announced and [Request.Size], then the digests.
func (d *download) complete(u *url.URL, resp *Response) error {
	// A body that ended before the size the server announced was cut
	// short, not wrong: another attempt may resume it.
	if resp.Size >= 0 && d.sink.written < resp.Size {
		return fmt.Errorf("%s: body ended at byte %d of %d: %w", u.Redacted(), d.sink.written, resp.Size, io.ErrUnexpectedEOF)
	}
	if d.req.hasSize() && d.sink.written != d.req.Size {
		return fmt.Errorf("%s: %w", u.Redacted(), &SizeError{Expected: d.req.Size, Actual: d.sink.written})
	}
	if resp.Size >= 0 && d.sink.written != resp.Size {
		return fmt.Errorf("%s: body ran past its announced %d bytes to %d: %w", u.Redacted(), resp.Size, d.sink.written, io.ErrUnexpectedEOF)
	}
	if err := d.sink.verify(); err != nil {
		return fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	return nil
}

// stallTimer cancels an attempt with [ErrStalled] when the server shows no
// sign of life for a while. The Fetcher restarts it for every read of the
// body that brings bytes; a Protocol restarts it through
// [OpenRequest.Alive] while it opens (a redirect, a reply). It is paused
// while the Fetcher's own side (OnResponse, the sinks) takes its time.
type stallTimer struct {
	t       *time.Timer
	timeout time.Duration
}

func startStall(timeout time.Duration, cancel context.CancelCauseFunc) *stallTimer {
	return &stallTimer{t: time.AfterFunc(timeout, func() { cancel(ErrStalled) }), timeout: timeout}
}

// alive starts the timer again from its full timeout. It is safe for
// concurrent use.
func (s *stallTimer) alive() { s.t.Reset(s.timeout) }

// pause stops the timer until the next alive.
func (s *stallTimer) pause() { s.t.Stop() }

// validatorFor returns the validator that guards bytes from u: that of
// the response the bytes came from, when it was u's; else none.
func (d *download) validatorFor(u *url.URL) string {
	if d.source == u.Redacted() {
		return d.validator
	}
	return ""
}

// resumePoint returns where the next attempt at u starts, and the validator
// that guards a resume. Bytes already written are kept when a validator
// from u itself or an expected digest will catch a changed file; otherwise a
// file sink starts again from zero, and a Writer cannot go on.
func (d *download) resumePoint(u *url.URL) (int64, string, error) {
	if d.sink.written == 0 && len(d.sink.done) == 0 {
		return 0, "", nil
	}
	validator := d.validatorFor(u)
	if validator != "" || len(d.sink.want) > 0 {
		return d.sink.written, validator, nil
	}
	if err := d.stranded(u, nil); err != nil {
		return 0, "", err
	}
	if err := d.sink.restart(); err != nil {
		return 0, "", err
	}
	return 0, "", nil
}

// stranded returns the error that ends the request when its next attempt
// at u could neither resume nor start again: a Writer holds bytes and
// nothing guards a resume at u (no validator from u, no expected digest).
// cause, if not nil, is the failure that broke the transfer. Else it
// returns nil.
func (d *download) stranded(u *url.URL, cause error) error {
	if d.sink.canRestart() || d.validatorFor(u) != "" || len(d.sink.want) > 0 {
		return nil
	}
	const why = "nothing guards a resume (no strong ETag or Last-Modified, no expected digest)"
	if cause != nil {
		return fmt.Errorf("%w, and %w after %d bytes: %s", cause, ErrCannotResume, d.sink.written, why)
	}
	return fmt.Errorf("%s: %w after %d bytes: %s", u.Redacted(), ErrCannotResume, d.sink.written, why)
}

// accept checks a response before its body is read, restarts the sink if
// the server sends the file from zero, and calls OnResponse.
func (d *download) accept(u *url.URL, offset int64, resp *Response) error {
	switch {
	case resp.Offset == offset:
	case resp.Offset == 0:
		if err := d.sink.restart(); err != nil {
			return fmt.Errorf("%s: %w at byte %d: the server sent the file from the start", u.Redacted(), err, offset)
		}
	default:
		return fmt.Errorf("%s: %w: asked for byte %d, got byte %d", u.Redacted(), ErrCannotResume, offset, resp.Offset)
	}
	if d.req.hasSize() && resp.Size >= 0 && resp.Size != d.req.Size {
		return fmt.Errorf("%s: %w", u.Redacted(), &SizeError{Expected: d.req.Size, Actual: resp.Size})
	}
	if resp.Offset == 0 {
		if v := d.validatorFor(u); len(d.sink.done) > 0 && (v != "" && v != validatorOf(resp.Header) || v == "" && len(d.sink.want) == 0) {
			// The spans kept by an earlier segmented download are of
			// another version of the file.
			if err := d.sink.dropSpans(); err != nil {
				return err
			}
		}
		d.validator, d.source, d.adopted = validatorOf(resp.Header), u.Redacted(), false
		if d.sink.keep {
			if err := d.sink.setGuard(d.sink.guardOf(d.source, d.validator)); err != nil {
				return err
			}
		}
	}
	if d.req.OnResponse != nil && (!d.responded || resp.Offset == 0 && d.req.Writer == nil) {
		d.responded = true
		if err := d.req.OnResponse(*resp); err != nil {
			return &sinkError{fmt.Errorf("%s: OnResponse: %w", u.Redacted(), err)}
		}
	}
	return nil
}

// hasSize reports whether req says how many bytes to expect.
func (req *Request) hasSize() bool { return req.Size > 0 || req.SizeKnown }

// validatorOf returns the strong ETag of h, else its Last-Modified.
func validatorOf(h http.Header) string {
	if etag := h.Get("Etag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return h.Get("Last-Modified")
}

// headers returns the request's extra headers for u, without credentials
// when u is on another host than the request's URL.
func (d *download) headers(u *url.URL) http.Header {
	h := d.req.Header
	if h == nil || d.home == hostKey(u) {
		return h
	}
	h = h.Clone()
	dropCredentials(h)
	return h
}

// dropCredentials removes the headers that carry credentials from h.
func dropCredentials(h http.Header) {
	for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		h.Del(k)
	}
}

// isFinal reports whether err ends the request: no other attempt and no
// other URL can help. So does a 304 Not Modified, the answer to the
// caller's own conditional request (If-None-Match, If-Modified-Since in
// Request.Header), which is no failure of the URL.
func isFinal(err error) bool {
	var (
		se *sinkError
		st *StatusError
	)
	return errors.As(err, &se) || errors.Is(err, ErrCannotResume) ||
		errors.As(err, &st) && !st.FTP && st.Code == http.StatusNotModified
}

// isMismatch reports whether err says that a server delivered other bytes
// than expected: a digest or size mismatch.
func isMismatch(err error) bool {
	var (
		de *DigestError
		se *SizeError
	)
	return errors.As(err, &de) || errors.As(err, &se)
}

// isTemporary reports whether another attempt at the same URL may succeed,
// and sets *temp to the TemporaryError that says so, if any.
func isTemporary(err error, temp **TemporaryError) bool {
	if errors.As(err, temp) {
		return true
	}
	var (
		de  *DigestError
		se  *SizeError
		st  *StatusError
		dns *net.DNSError
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
	)
	switch {
	case errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrRedirect), errors.Is(err, ErrNotFound), errors.Is(err, ErrPoolClosed),
		errors.As(err, &de), errors.As(err, &se), errors.As(err, &st),
		errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return false
	case errors.As(err, &dns):
		return !dns.IsNotFound
	}
	return true
}

// hostKey names the host of u for the Limiter and mirror health: host and
// port, with the scheme's default port.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	case "ftp":
		return "21"
	case "ftps":
		return "990"
	}
	return ""
}
