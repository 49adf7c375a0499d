package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Response is what a server said about the bytes it is about to send, in
// terms that do not depend on the protocol. It is handed to
// [Request.OnResponse] before the first byte of the body reaches a sink, and a
// Protocol returns one from Open: see Protocol for what each field must
// hold.
type Response struct {
	// URL is the URL serving the bytes: a mirror, or the target of a
	// redirect. Its password, if any, is redacted.
	URL string
	// Status is the HTTP status code; ftp and file synthesize 200, or 206
	// for a transfer that starts at an offset.
	Status int
	// Header holds the HTTP response headers. For ftp and file it holds
	// Content-Length (the length of the body: the rest of the file when
	// it starts at an offset) and Last-Modified, when known, so that a
	// streamer can forward them whatever the protocol. Its strong ETag,
	// else its Last-Modified, is the validator of a resume.
	Header http.Header
	// Size is the size of the whole file in bytes, whatever the Offset, or
	// -1 when unknown (0 is an empty file).
	Size int64
	// Offset is the position in the file of the first byte of the body:
	// the offset that was asked of Protocol.Open when the server resumed,
	// 0 when it sends the whole file.
	Offset int64
}

// Result is the outcome of one Request.
type Result struct {
	// Request is the request, as given.
	Request Request
	// URL is the URL that served the bytes, or on failure the last URL
	// tried. Its password, if any, is redacted.
	URL string
	// Size is the number of bytes delivered. On failure it is the number
	// of bytes the sinks received from the last transfer: with a Writer,
	// every byte the Writer was sent (never twice, so they are the first
	// Size bytes of the file); with a Path alone, bytes of a temporary file
	// that was removed.
	Size int64
	// Digests holds the hex digests of the delivered bytes: one for every
	// algorithm the request named, and sha256 always (but see
	// [Request.SkipSHA256]).
	Digests map[string]string
	// Header holds the response headers of the attempt that succeeded.
	Header http.Header
	// Attempts counts the attempts made, over all URLs.
	Attempts int
	// Err is nil on success. When every URL failed it joins the last error
	// of each URL tried, so errors.Is and errors.As find any of them, in
	// the order tried (which Options.MirrorCooldown may change from one
	// request to the next). Its message names the URL (password redacted)
	// that each error is of, the request's own URL for a failure before any
	// transfer: a log line of Err alone says which file failed.
	Err error
	// Skipped reports that [Request.CheckExisting] found the file in place:
	// nothing was transferred, Attempts is 0, and Size and Digests are
	// those of the file at [Request.Path].
	Skipped bool
	// Trusted reports, with Skipped, that the file in place was not read:
	// its record said it is unchanged since fetch verified it (see
	// [Request.CheckExisting]). A Skipped Result without Trusted read and
	// hashed the file.
	Trusted bool
	// Partial is the number of bytes kept in the partial file of
	// [Request.Path], to be resumed by a later request, when the download
	// failed with [Options.KeepPartial]; 0 otherwise.
	Partial int64
}

// The sentinel errors, matched with errors.Is.
var (
	// ErrNotFound is matched (with errors.Is) by the error of a download whose
	// file does not exist: HTTP 404 and 410, FTP reply 550, a missing local
	// file. FTP servers also answer 550 when access is denied, so for ftp it
	// can mean "not allowed" as well as "not there".
	ErrNotFound = errors.New("not found")

	// ErrInvalidRequest is matched by the error of a Request that cannot be
	// carried out as written: a malformed URL, an unsupported scheme, an unknown
	// digest algorithm or malformed hex digest, a Path that is a directory.
	// Such a request fails before any network traffic.
	ErrInvalidRequest = errors.New("invalid request")

	// ErrRedirect is matched by the error of a request whose redirects were
	// refused: more than 10 in a row (a loop), or from https to plain http
	// without [Options.AllowInsecureRedirect]. It is not retried.
	ErrRedirect = errors.New("redirect refused")

	// ErrStalled is matched by the error of an attempt that received no byte for
	// [Options.StallTimeout]. Stalled attempts are retried.
	ErrStalled = errors.New("stalled")

	// ErrCannotResume is matched by the error of a request whose Writer already
	// received bytes when a transfer broke, and whose transfer could not be
	// continued from that offset: the server ignored the range, the file
	// changed, or nothing guarded the resume. The Writer is never sent the same
	// bytes twice.
	ErrCannotResume = errors.New("cannot resume")

	// ErrPoolClosed is matched by the error of a transfer asked of an FTPPool
	// after its Close. It is not retried.
	ErrPoolClosed = errors.New("ftp pool closed")
)

// DigestError reports that the delivered bytes do not have the expected
// digest.
type DigestError struct {
	Algorithm string
	Expected  string
	Actual    string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s mismatch: expected %s, got %s", e.Algorithm, e.Expected, e.Actual)
}

// SizeError reports that the server offered or delivered a number of bytes
// other than [Request.Size]. Actual is what the server announced when the
// transfer was refused before its body, else the bytes received (at most
// Expected+1: a longer body is cut there).
type SizeError struct {
	Expected int64
	Actual   int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("size mismatch: expected %d bytes, got %d", e.Expected, e.Actual)
}

// StatusError reports a failure status from the server: an HTTP status code,
// or an FTP reply code. It matches [ErrNotFound] for HTTP 404 and 410 and for
// FTP 550.
type StatusError struct {
	URL  string // redacted
	Code int
	// Text is the server's reason phrase or reply text, when it gave one.
	Text string
	// FTP is set when Code is an FTP reply code; otherwise it is an HTTP
	// status code. The protocol that makes the error sets it.
	FTP bool
	// Header holds the headers of an HTTP response: the validators of a
	// 304 Not Modified, the Location of a redirect. nil for FTP.
	Header http.Header
}

func (e *StatusError) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("%s: status %d: %s", e.URL, e.Code, e.Text)
	}
	return fmt.Sprintf("%s: status %d", e.URL, e.Code)
}

// Is reports whether the status means that the file does not exist.
func (e *StatusError) Is(target error) bool {
	if target != ErrNotFound {
		return false
	}
	if e.FTP {
		return e.Code == 550
	}
	return e.Code == http.StatusNotFound || e.Code == http.StatusGone
}

// TemporaryError marks an error from a Protocol as worth another attempt at
// the same URL, optionally no sooner than After (a server's Retry-After).
// Protocols wrap the failures they know to be transient in it: HTTP 408,
// 429 and 5xx, FTP 4xx replies. Network errors and bodies that end early are
// retried without it.
type TemporaryError struct {
	Err   error
	After time.Duration
}

func (e *TemporaryError) Error() string { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }
