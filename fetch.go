// Package fetch downloads many files at once over HTTP, HTTPS, FTP and FTPS,
// verifies them while they stream, keeps within strict connection limits, and
// stops cleanly the moment its context is cancelled.
//
// A [Fetcher] holds what all downloads share: one [http.Client], one
// [FTPPool] and one [Limiter]. [Fetcher.Fetch] downloads one [Request] and
// returns when it is done; [Fetcher.FetchAll] downloads the requests it
// receives on a channel, as many at once as the Limiter allows, and sends
// each [Result] as it completes:
//
//	f := fetch.New(fetch.Options{})
//	defer f.Close()
//	for r := range f.FetchAll(ctx, reqs) {
//		if r.Err != nil { ... }
//	}
//
// A request's bytes go to a file ([Request.Path]), to an [io.Writer]
// ([Request.Writer]), or to both. A file is written to a temporary file beside
// Path (on Linux an unnamed one) and renamed over it (linked there) only
// after every check passed, so a file at Path
// is always complete and verified, and a good file already there survives a
// failed download. With [Options.KeepPartial] the bytes of a failed or
// cancelled download stay in a partial file beside Path, under a guard, for
// a later request (also of a later process) to resume. With [Request.Root],
// every file the request makes is made through that [os.Root], so that no
// symbolic link can lead a write outside it. With [Request.CheckExisting], a
// file already at Path that has the expected size and digests is kept, and
// nothing is downloaded.
//
// A new scheme is a [Protocol] in [Options.Protocols]; mirrors are a
// [Resolver] in [Options.Resolver]. Package
// [github.com/fetchkit/fetch/mirror] has Resolvers for mirror lists,
// Metalink documents and fixed mirrors; package
// [github.com/fetchkit/fetch/proxy] serves downloads over HTTP.
//
// # Concurrency
//
// A Fetcher is safe for concurrent use. Each transfer holds a slot of the
// Limiter for as long as it holds a connection, and gives it back while it
// waits to retry. FetchAll runs at most [Limiter.Max] requests at once, on
// as many worker goroutines, and holds at most 4×[Limiter.Max] more waiting
// for a slot, so its memory does not grow with the number of requests. A
// request whose host is at its cap waits without holding a slot while
// requests to other hosts start. Every request FetchAll takes gets its
// Result, also when its context is cancelled. [Fetcher.Stats] counts the
// requests of a Fetcher, ended and in flight, and their bytes.
//
// # Errors
//
// [Result.Err] is nil on success. Failures are typed, and wrapped so that
// [errors.As] and [errors.Is] find them; never test them by message:
//
//   - [*DigestError]: the bytes do not have the expected digest.
//   - [*SizeError]: the server offered or sent another size than [Request.Size].
//   - [*StatusError]: an HTTP status or FTP reply refused the transfer.
//   - [*TemporaryError]: a Protocol's failure that another attempt may mend.
//   - [ErrNotFound]: the file does not exist (HTTP 404 and 410, FTP 550).
//   - [ErrInvalidRequest]: the request cannot be carried out as written.
//   - [ErrRedirect]: a redirect was refused.
//   - [ErrStalled]: no byte came for [Options.StallTimeout].
//   - [ErrCannotResume]: a Writer's transfer broke and could not go on.
//   - [ErrPoolClosed]: the [FTPPool] was closed.
//
// When every URL of a request failed, [Result.Err] joins the last error of
// each URL. Messages carry URLs with their passwords redacted
// ([RedactURL]).
//
// # Cancellation
//
// Cancelling the context given to Fetch or FetchAll stops every transfer at
// once: connections in use are closed (an FTP control connection that was
// mid-transfer is closed, never returned to its pool), temporary files are
// removed (partial files kept, with [Options.KeepPartial]; never at Path),
// no goroutine is left behind, and the error matches [context.Canceled] (or
// [context.DeadlineExceeded]).
package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Defaults used for zero fields of Options.
const (
	DefaultRetries       = 3
	DefaultMaxAttempts   = 1000
	DefaultStallTimeout  = 30 * time.Second
	DefaultBackoffBase   = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
	DefaultMaxThrottled  = 5 * time.Minute

	// DefaultMinSegmentSize is the smallest part of a file that a segmented
	// download fetches on a connection of its own, used for a zero
	// [Options.MinSegmentSize].
	DefaultMinSegmentSize = 1 << 20

	// DefaultMirrorCooldown is how long a URL that failed is tried after the
	// others, when [Options.MirrorCooldown] is zero.
	DefaultMirrorCooldown = 5 * time.Minute
)

// minProgress is the number of new bytes an attempt must deliver before
// it fails for the failure not to use up one of [Options.Retries]. A server
// that sends a few bytes on each connection makes no progress by this
// measure, and runs out of retries as one that sends none.
const minProgress = 64 << 10

// Options configures a Fetcher. The zero value of each field means its
// documented default.
type Options struct {
	// Client is the HTTP client shared by every transfer. Nil means one the
	// Fetcher owns, tuned to the Limiter: idle connections kept and reused,
	// at most [Limiter.PerHost] connections to a host, HTTP/2 where the
	// server offers it, no transparent decompression, proxies from the
	// environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), a 30s connect
	// timeout. A client given here is used as it is, but for its redirect
	// policy, which the Fetcher wraps (see AllowInsecureRedirect); it is not
	// closed by Close. Give its Transport MaxIdleConnsPerHost and
	// MaxConnsPerHost of at least the Limiter's PerHost, or connections are
	// closed and opened again between transfers.
	Client *http.Client

	// FTP is the FTP connection pool shared by every ftp and ftps transfer.
	// Nil means one the Fetcher owns, with the FTPPoolOptions defaults,
	// closed by Close.
	FTP *FTPPool

	// Limiter caps transfers and connections; it may be shared with other
	// Fetchers. Nil means NewLimiter(0, 0): DefaultMaxTransfers and
	// DefaultPerHost.
	Limiter *Limiter

	// RateLimit caps the bytes per second that the Fetcher's transfers
	// receive, all together (a download with Segments counts every
	// connection); it may be shared with other Fetchers. Nil means no
	// limit. Waiting for the rate does not count as a stall.
	RateLimit *RateLimit

	// Retries is the number of extra attempts made at each URL after a
	// transient failure that made no progress: a network error, a stall,
	// HTTP 408, 429 or 5xx, an FTP 4xx reply. An answer that throttles, a
	// 429 (too many requests) or a 503 (unavailable) with Retry-After, uses
	// up no retry: MaxThrottled bounds it instead; a 503 without
	// Retry-After is a failure like any 5xx. An attempt that delivered at
	// least 64 KiB of new bytes before it failed (a connection cut after
	// a few megabytes, resumed with an HTTP range or FTP REST) does not use
	// up a retry: the next attempt resumes where it stopped; each
	// connection of a segmented download counts the same way. 0 means
	// DefaultRetries, as the zero value of every field means its default;
	// negative means none, and then the first failure ends the URL, with or
	// without progress. (The command's -retries counts as it reads:
	// -retries 0 is none, which it passes here as -1.)
	Retries int

	// MaxThrottled is how long a URL may keep answering 429 (too many
	// requests), or 503 with Retry-After, before the request gives up on
	// it; the wait before each next attempt is the Retry-After (capped at
	// MaxRetryAfter), else a backoff. A 429 or 503 answer
	// also lowers the transfers allowed to its host and makes every
	// request to the host wait (see Limiter): a polite server's rate limit
	// slows a run down rather than failing its files. 0 means
	// DefaultMaxThrottled.
	MaxThrottled time.Duration

	// MaxAttempts caps the attempts made at one URL, those that made
	// progress included, so that a server that cuts every connection
	// cannot keep a request going forever: with cuts every 8 MB, the
	// default lets a file of up to 8 GB through. 0 means
	// DefaultMaxAttempts.
	MaxAttempts int

	// StallTimeout aborts (and retries) an attempt that receives no byte
	// for this long, from its start to its end: connecting, waiting for a
	// response, reading the body. 0 means DefaultStallTimeout.
	StallTimeout time.Duration

	// BackoffBase and MaxBackoff shape the wait before a retry: a random
	// time between zero and BackoffBase·2ⁿ⁻¹ for the nth retry ("full
	// jitter"), capped at MaxBackoff. 0 means DefaultBackoffBase and
	// DefaultMaxBackoff.
	BackoffBase time.Duration
	MaxBackoff  time.Duration

	// MaxRetryAfter caps the wait that a server's Retry-After asks for.
	// 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration

	// Protocols adds or replaces the Protocol for a URL scheme (the key,
	// lower case). The built-in ones are http, https, ftp, ftps, and file
	// where FileRoots allows it.
	Protocols map[string]Protocol

	// Resolver turns a request into the ordered list of URLs to try. Nil
	// means the request's URL followed by its Mirrors.
	Resolver Resolver

	// MirrorCooldown is how long a URL that failed is tried after the
	// others. What failed decides which URLs move:
	//
	//   - A failure of the host, one that Retries retries (no connection, a
	//     reset, a stall, HTTP 408, 429 or 5xx, a transient FTP reply),
	//     moves every URL on that host to the end of the list, for every
	//     request of the Fetcher: the next file comes from a mirror.
	//   - A failure of one file (not found: HTTP 404 or 410, FTP 550; bytes
	//     that fail their size or digest) moves on to the next URL the
	//     request that met it, and moves that URL alone to the end, for the
	//     next requests of the same file. Other files at that host are still
	//     asked of it first: one file missing or stale on the primary sends
	//     no other file to a mirror.
	//
	// A success at a URL clears both. Of the URLs moved, the one that
	// failed longest ago comes first. 0 means DefaultMirrorCooldown;
	// negative turns reordering off. So the same
	// request may be tried in another order on a Fetcher that saw failures
	// before: its Result.Attempts, Result.URL and the order of the errors
	// joined in Result.Err depend on what the Fetcher did earlier.
	MirrorCooldown time.Duration

	// Segments is the most connections that one download to a file may
	// use at once, as aria2c's -s and -x do. A download whose first
	// response announces the file's size and "Accept-Ranges: bytes" splits
	// the rest of the file into up to Segments spans of at least
	// MinSegmentSize bytes: the first response streams the first span (and
	// each following one that no other connection has taken), the others
	// are fetched with range requests on connections of their own, each
	// holding its own Limiter slot, so every limit still holds. Spans come
	// from the request's URL and, when the request has expected digests,
	// from its mirrors too; a span asked of the first response's URL is
	// guarded by its validator (If-Range), and one asked of a mirror by
	// the digests. A span whose connection fails is taken over from where
	// it stopped. Each connection is retried by the rules of Retries,
	// MaxThrottled and MaxAttempts, and takes a Limiter slot anew for each
	// span: a 429 or 503 on a range request closes the host to every
	// connection and lowers its allowance, as on a first request. Digests
	// are computed in file order as the written prefix grows, and the file
	// appears at Path only verified, as always.
	//
	// Requests with a Writer, files of unknown size or smaller than two
	// spans, servers that do not announce ranges (FTP servers among them)
	// and files that nothing guards (neither a validator nor an expected
	// digest) use one connection, decided from the first response's
	// headers, without another request. Each range request counts in
	// [Result.Attempts]. 0 or 1 means one connection.
	Segments int

	// MinSegmentSize is the smallest span of a segmented download.
	// 0 means DefaultMinSegmentSize.
	MinSegmentSize int64

	// AdaptSegments makes Segments a ceiling: a segmented download starts
	// on two connections and opens another one only while the last one
	// opened raised the total rate (measured over 0.2 s, after 0.2 s to
	// connect) by at least half a connection's share. A server that
	// shapes each connection gets up to Segments, after about 0.4 s for
	// each connection past two, so it suits large files; one that a
	// single connection already saturates (a fast link, a limit on the
	// host) stays near two.
	AdaptSegments bool

	// Sync makes every file reach stable storage (fsync) before it is
	// renamed to its Path.
	Sync bool

	// KeepPartial keeps the bytes of a download to a Path (without a
	// Writer) that fails or is cancelled, and resumes them when a later
	// request, of this Fetcher or of another in a later process, is for
	// the same Path. The bytes go to a partial file beside Path named by
	// [PartialPath], held with an flock while a download writes to it,
	// with a guard file beside it (its name + ".guard") that records the
	// URL they came from, that response's validator (a strong ETag, else
	// Last-Modified) and the expected [Request.Size] and [Request.Digests]. A later request
	// resumes them only when it expects the same Size and Digests, and
	// either a validator guards the range request (If-Range, from the same
	// URL; a changed file is then sent whole and replaces them) or an
	// expected digest will catch a changed file; it reads them back once
	// to compute their digests. Otherwise it starts from zero. A segmented
	// download (see Segments) keeps the spans it wrote, holes and all: its
	// guard also names the spans of the file that the partial file holds,
	// written when it starts and again after each MiB, and the next
	// request fetches only the holes, with range requests under the same
	// guard (one connection when Segments is 0 or 1), reading back the
	// bytes before the first hole once. A partial
	// file never becomes Path unverified, and a successful download leaves
	// neither file behind. [Result.Partial] says how many bytes were kept.
	// When another live download holds the partial file of a Path, a
	// request for it writes to a temporary file of its own and keeps
	// nothing. The guard is written once the first MiB came, or when the
	// download ends: a process killed outright (kill -9, power loss)
	// leaves no resumable bytes of a smaller download, and those of a
	// segmented download up to its last MiB. See
	// [RemoveLeftovers] for the files that no download will resume.
	KeepPartial bool

	// FileRoots lists the directories that file:// URLs may read from
	// (symbolic links are resolved before the check). Empty means that
	// file URLs are refused.
	FileRoots []string

	// UserAgent is the User-Agent header of every HTTP request; a
	// User-Agent in [Request.Header] wins. Empty means
	// "fetch/VERSION (+https://github.com/fetchkit/fetch)", with VERSION as
	// [Version] gives it ("devel" for a build from a checkout).
	UserAgent string

	// TLSConfig configures TLS for the Fetcher's own HTTP client and FTP
	// pool: the roots trusted, a client certificate, verification. Nil
	// means the crypto/tls defaults: the system's roots, which the
	// SSL_CERT_FILE and SSL_CERT_DIR environment variables replace. A
	// Client or FTP given in Options keeps its own.
	TLSConfig *tls.Config

	// AllowInsecureRedirect lets an https URL follow a redirect to plain
	// http. Without it such a redirect fails.
	AllowInsecureRedirect bool

	// Logger receives, at level Info, a line for each retry ("fetch:
	// retrying", with the url, the err of the attempt that failed, the
	// wait before the next one, whether the attempt made progress, and
	// the offset the download has reached), for each retry of a
	// segmented download's connection ("fetch: retrying segment"), and
	// for each URL given up ("fetch: giving up on URL", with the url and
	// its last err). URLs and errors are redacted. Nil means no logging.
	Logger *slog.Logger
}

// Request is one file to download.
type Request struct {
	// URL is the file's URL: http, https, ftp, ftps, or file where
	// [Options.FileRoots] allows it. A password in it is sent only to its
	// own host and never appears in errors or logs.
	URL string
	// Mirrors are other URLs of the same bytes, tried in order when URL
	// fails, or serves bytes of another size or digest (but see Writer).
	Mirrors []string
	// Path is the destination file. Its folders are created; the bytes go
	// to a temporary file beside it that is renamed over Path only after
	// every check passed, and removed otherwise.
	Path string
	// Root, if set, confines every file the request makes: Path is then a
	// local path relative to Root ([filepath.IsLocal]), and the folders,
	// the temporary file, the rename over Path and any removal go through
	// Root, so that a symbolic link (even one put in place while the
	// transfer runs) cannot lead a write outside it: such a write fails,
	// and the request with it. [Request.CheckExisting] reads through Root
	// too. The caller opens Root and closes it after the request is done.
	// Nil means that Path is a plain path.
	Root *os.Root
	// Writer receives the bytes as they arrive, nothing on disk. Path and
	// Writer may both be set, to stream and keep. With neither, the bytes
	// are verified and discarded. A Writer is never sent the same bytes
	// twice: a broken transfer is resumed where it stopped, or the request
	// fails with [ErrCannotResume]. A resume needs a guard that the rest is
	// of the same file: the strong ETag or Last-Modified of the response
	// the bytes came from (sent back in If-Range, to the same URL), or
	// expected Digests (then a mirror may send the rest too). Without
	// either, a transfer that breaks after a byte reached the Writer ends
	// the request at once, without another attempt. And a Writer that
	// received a whole body that then fails its size or digest check ends
	// the request: the mirrors are not tried, and the error says so
	// ("mirrors not tried: the Writer already received the body").
	// [Result.Size] counts the bytes the Writer received, also on failure.
	Writer io.Writer
	// Size is the expected size in bytes; 0 means unknown, unless
	// SizeKnown is set. A server that announces another size is refused
	// before its body is read, and a longer body is cut at Size+1 bytes.
	Size int64
	// SizeKnown says that Size is exact even when it is 0: an expected
	// empty file then fails at the first byte a server sends. Without it a
	// Size of 0 means unknown, so the zero Request expects no size.
	SizeKnown bool
	// Digests are the expected hex digests by algorithm: md5, sha1,
	// sha224, sha256, sha384, sha512. An unknown algorithm or malformed
	// hex fails the request before any transfer.
	Digests map[string]string
	// SkipSHA256 hashes the bytes of a request without a Path for Digests
	// alone: [Result.Digests] then lacks the sha256 that it otherwise
	// always holds, unless Digests names it. For a Writer whose reader
	// keeps no digest, it spares a pass of every byte through the CPU.
	// A request with a Path computes the sha256 anyway: the file's record
	// (see CheckExisting) holds it.
	SkipSHA256 bool
	// Header holds extra HTTP request headers. Authorization and Cookie
	// are sent to the URL's host only, never to a mirror on another host.
	Header http.Header
	// OnResponse, if set, is called before the first byte of a response
	// reaches a sink; returning an error aborts the request with it. With
	// a Writer it is called once at most; a request with only a Path that
	// restarts from zero on another URL calls it again.
	OnResponse func(Response) error
	// PassResponse, if set, is asked about each HTTP response that is not
	// the file (a status other than 200, and 206 to a resumed transfer),
	// and about each redirect before it is followed: when it returns true,
	// that response is the one delivered, its body the bytes (Size from
	// its Content-Length, -1 when unknown), with [Response.Status] and
	// Response.Header saying what it is, and a redirect is not followed
	// ([Response.URL] is then the URL that answered it). It is how a proxy
	// passes an upstream's own answer (a 404 page, a 204, a redirect that
	// stays on its host) to its client. Nil means that such a response is
	// a *StatusError and that redirects are followed.
	PassResponse func(Response) bool
	// Progress, if set, is called as bytes arrive with the bytes written
	// so far and the expected total (-1 when unknown). It is called from
	// the transfer's goroutine and must be quick.
	Progress func(written, total int64)
	// Tag is opaque to the Fetcher and handed back in [Result.Request]: it
	// links a download to its artifact.
	Tag any
	// CheckExisting keeps a file already at Path that is the file asked
	// for: a regular file (not a symbolic link) of Size bytes, when the size
	// is known (see SizeKnown), with every digest of Digests. The file is read once, within the
	// transfer's Limiter slot (the slot of URL's host), before any URL is
	// resolved or opened. When it matches, no request is made, the Writer
	// receives nothing, and the Result has Skipped set, with Size and
	// Digests from the file. Otherwise the file is downloaded as usual and
	// replaced. With neither Size nor Digests there is nothing to check
	// against: the file is downloaded.
	//
	// A file that fetch wrote, or read and found matching, carries a
	// record of what was verified: its size, modification time, inode,
	// path and digests (on Linux, in the extended attribute
	// user.fetch.verified). While the file's size, modification time and
	// inode are those of its record, and the record holds every digest
	// of Digests, the file is trusted without being read, at the cost of
	// a stat, and the Result has Trusted set. A record that is corrupt or
	// was written for another path is ignored. See HashExisting.
	CheckExisting bool
	// HashExisting makes CheckExisting read and hash the file in place
	// even when its record says it is unchanged since fetch verified it:
	// it catches a file whose bytes were changed with its modification
	// time set back. Without CheckExisting it does nothing.
	HashExisting bool
}

// Protocol opens the bytes of one URL; it is how a scheme is added
// ([Options.Protocols]). The Fetcher keeps the limits, retries, mirrors,
// validation and sinks; a Protocol only opens. For bytes at hand,
// OpenReaderAt builds what Open returns, and FSProtocol serves an fs.FS.
//
// Open returns the server's Response and the body. The Fetcher relies on
// this:
//
//   - Response.Offset is where the body starts in the file: req.Offset
//     when the protocol resumes there, or 0 when it sends the whole file,
//     which it must do when req.Validator is set and the file no longer
//     matches it. Another offset fails the attempt with ErrCannotResume.
//   - Response.Size is the size of the whole file, whatever the offset, or
//     -1 when unknown. 0 is an empty file: a protocol that does not know
//     the size says -1. A body that ends before Size is a cut transfer,
//     resumed by the next attempt; one that runs past it is an error.
//   - Response.Header carries the validator of a resume: a strong ETag,
//     else Last-Modified (in http.TimeFormat), taken from a response with
//     Offset 0 and handed back as OpenRequest.Validator when the Fetcher
//     resumes at that URL. Without one only an expected digest guards a
//     resume. "Accept-Ranges: bytes" lets Options.Segments open spans of
//     the file (OpenRequest.Length). Content-Length, when set, is the
//     length of this body, as in HTTP: on a resumed response the rest of
//     the file, Size-Offset. The Fetcher does not read it; OnResponse (a
//     streamer) forwards it.
//   - Response.URL is the URL serving the bytes (a redirect's target),
//     password redacted; empty means req.URL. Response.Status is for
//     OnResponse: 200, or 206 for a body from an offset.
//   - The body must stop promptly, with an error, when ctx is done, and
//     must not be returned to any pool unless it was read to its end. The
//     Fetcher closes it once.
//
// A missing file gives an error that matches [ErrNotFound]. Errors that
// another attempt cannot mend match [ErrNotFound] or [ErrInvalidRequest], or
// are a *StatusError: the Fetcher moves on to the next URL. Any other
// error is retried like a network error; wrap a transient failure in
// *TemporaryError to say so, and how long to wait (a *StatusError inside
// one is retried). Implementations must be safe for concurrent use.
type Protocol interface {
	Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error)
}

// OpenRequest is what a Protocol is asked to open.
type OpenRequest struct {
	URL *url.URL
	// Offset is the first byte wanted; 0 for the whole file.
	Offset int64
	// Length, when positive, is how many bytes from Offset are wanted (a
	// span of a segmented download); 0 means up to the end. A protocol
	// that cannot stop early may send more: the Fetcher reads no further.
	Length int64
	// Validator, when Offset > 0, is the ETag or Last-Modified of the
	// response that the first Offset bytes came from; the protocol sends
	// the whole file (Offset 0) if the file no longer matches it. Empty
	// means no validator is known: an expected digest guards the resume.
	Validator string
	// Header holds the request's extra headers, for protocols that have
	// them.
	Header http.Header
	// Alive restarts the attempt's stall timer ([Options.StallTimeout]). The
	// Fetcher restarts it for every read of the body that brings bytes;
	// a Protocol whose open takes several exchanges calls Alive whenever
	// the server answers one (a redirect, a reply), so that a slow but
	// live server is not taken for a stalled one. It is safe for
	// concurrent use, and never nil when a Fetcher calls Open.
	Alive func()
}

// Resolver turns a request into the ordered list of URLs to try: it is
// how mirror lists are added ([Options.Resolver]) so that a caller of Fetch
// gets them without knowing of them. It must be safe for concurrent use.
//
// The Fetcher then moves to the end the URLs that failed lately, by the
// rule of [Options.MirrorCooldown]: every URL of a host that failed as a
// host (no connection, a 5xx), and a URL at which this file was not found
// or came with the wrong size or digest. A Resolver need not track the
// health of its mirrors; it gives them in the order it prefers.
type Resolver interface {
	Resolve(ctx context.Context, req Request) ([]string, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, req Request) ([]string, error)

// Resolve calls fn.
func (fn ResolverFunc) Resolve(ctx context.Context, req Request) ([]string, error) {
	return fn(ctx, req)
}

// Fetcher downloads over http, https, ftp, ftps (and file, where allowed),
// sharing one http.Client, one FTP connection pool and one Limiter across
// every transfer. A Fetcher is safe for concurrent use.
type Fetcher struct {
	client    *http.Client
	ownClient bool
	ftp       *FTPPool
	ownFTP    bool
	limiter   *Limiter
	rate      *RateLimit
	protocols map[string]Protocol
	resolver  Resolver
	health    *health
	log       *slog.Logger
	buffers   sync.Pool // of *[]byte, the copy buffers of transfers
	stats     stats
	onRead    func(path string) // called before a file in place is read (tests)

	retries       int
	maxAttempts   int
	stall         time.Duration
	backoffBase   time.Duration
	maxBackoff    time.Duration
	maxRetryAfter time.Duration
	maxThrottled  time.Duration
	sync          bool
	keepPartial   bool
	unnamed       bool // downloads write unnamed files (unnamed_linux.go)
	segments      int
	minSegment    int64
	adapt         bool
}

// New returns a Fetcher configured by opts. Close it when done, to close
// the connections it owns.
func New(opts Options) *Fetcher {
	f := &Fetcher{
		limiter:       opts.Limiter,
		rate:          opts.RateLimit,
		ftp:           opts.FTP,
		resolver:      opts.Resolver,
		log:           opts.Logger,
		retries:       opts.Retries,
		maxAttempts:   opts.MaxAttempts,
		stall:         orDefault(opts.StallTimeout, DefaultStallTimeout),
		backoffBase:   orDefault(opts.BackoffBase, DefaultBackoffBase),
		maxBackoff:    orDefault(opts.MaxBackoff, DefaultMaxBackoff),
		maxRetryAfter: orDefault(opts.MaxRetryAfter, DefaultMaxRetryAfter),
		maxThrottled:  orDefault(opts.MaxThrottled, DefaultMaxThrottled),
		health:        newHealth(orDefault(opts.MirrorCooldown, DefaultMirrorCooldown)),
		sync:          opts.Sync,
		keepPartial:   opts.KeepPartial,
		unnamed:       canUnnamed(),
		segments:      opts.Segments,
		minSegment:    opts.MinSegmentSize,
		adapt:         opts.AdaptSegments,
	}
	if f.minSegment <= 0 {
		f.minSegment = DefaultMinSegmentSize
	}
	f.buffers.New = func() any { b := make([]byte, 64<<10); return &b }
	switch {
	case f.retries == 0:
		f.retries = DefaultRetries
	case f.retries < 0:
		f.retries = 0
	}
	if f.maxAttempts <= 0 {
		f.maxAttempts = DefaultMaxAttempts
	}
	if f.limiter == nil {
		f.limiter = NewLimiter(0, 0)
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		f.client, f.ownClient = newClient(f.limiter, opts.TLSConfig), true
	} else {
		c := *opts.Client
		f.client = &c
	}
	f.client.CheckRedirect = redirectPolicy(f.client.CheckRedirect, opts.AllowInsecureRedirect)
	if f.ftp == nil {
		f.ftp, f.ownFTP = NewFTPPool(FTPPoolOptions{MaxIdlePerHost: f.limiter.PerHost(), TLSConfig: opts.TLSConfig}), true
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = defaultUserAgent()
	}
	f.protocols = map[string]Protocol{
		"http":  &httpProtocol{client: f.client, userAgent: ua},
		"https": &httpProtocol{client: f.client, userAgent: ua},
		"ftp":   f.ftp,
		"ftps":  f.ftp,
	}
	if len(opts.FileRoots) > 0 {
		f.protocols["file"] = newFileProtocol(opts.FileRoots)
	}
	for scheme, p := range opts.Protocols {
		f.protocols[scheme] = p
	}
	return f
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Supports reports whether f opens URLs of scheme: http, https, ftp and
// ftps always, file where [Options.FileRoots] allows, and those of
// [Options.Protocols]. A [Resolver] uses it to leave out the URLs that f
// could not open.
func (f *Fetcher) Supports(scheme string) bool { return f.protocols[scheme] != nil }

// Close closes the idle connections of the HTTP client and the FTP pool
// that the Fetcher owns; those given in Options are left to their owner.
// Close does not wait for transfers in flight: cancel their context first.
func (f *Fetcher) Close() error {
	if f.ownClient {
		f.client.CloseIdleConnections()
	}
	if f.ownFTP {
		return f.ftp.Close()
	}
	return nil
}

// Fetch downloads req and returns when it is done, with or without
// success. The error is [Result.Err].
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Result, error) {
	res := f.fetch(withPassResponse(ctx, req.PassResponse), req, targetOf(req.URL), nil)
	return res, res.Err
}

// urls returns the parsed URLs to try for req, in order; own is req.URL
// parsed already (nil if it does not parse).
func (f *Fetcher) urls(ctx context.Context, req Request, own *url.URL) ([]*url.URL, error) {
	raw := append([]string{req.URL}, req.Mirrors...)
	if f.resolver != nil {
		var err error
		if raw, err = f.resolver.Resolve(ctx, req); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", RedactURL(req.URL), err)
		}
	}
	if len(raw) == 0 || raw[0] == "" {
		return nil, fmt.Errorf("%w: no URL", ErrInvalidRequest)
	}
	us := make([]*url.URL, 0, len(raw))
	for _, s := range raw {
		u, err := own, error(nil)
		if u == nil || s != req.URL {
			u, err = url.Parse(s)
		}
		if err != nil {
			// url.Error repeats the URL, password and all: keep its cause.
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, RedactURL(s), errors.Unwrap(err))
		}
		if f.protocols[u.Scheme] == nil {
			return nil, fmt.Errorf("%w: %s: unsupported scheme %q", ErrInvalidRequest, u.Redacted(), u.Scheme)
		}
		us = append(us, u)
	}
	return f.health.order(us), nil
}
