package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fetchkit/fetch"
)

// Streamer serves files to HTTP clients while its Fetcher downloads them,
// one download per file however many clients ask for it. A Streamer is safe
// for concurrent use; Close it to stop its downloads.
//
// # One download per file
//
// Requests share a download when they have the same key: the expected
// sha256 digest when the Request gives one, else the URL together with the
// extra headers, the size and the digests (so that requests with other
// credentials or other expectations never share). The first request starts
// the download, with its own Request: URL, Mirrors, Path, Header and
// OnResponse. A request that comes while it runs joins it: it is sent the
// bytes already received, then the rest as they arrive. A request that
// comes after it ended starts another. Requests that share
// a sha256 may name different URLs and Paths; the first one's are used.
//
// The download writes to a spill file, and each client reads from that
// file at its own pace: a slow client costs disk space, not memory, and
// never holds back the others. A download with a Path writes each byte
// once: its spill file is made beside Path, under a temporary name that
// [fetch.RemoveLeftovers] knows, and renamed to Path once the download
// succeeded, or removed when it failed. (With a Root or CheckExisting, the
// Fetcher writes Path itself, and the bytes go to both files.) The spill
// file of a download without a Path is in StreamerOptions.Dir, removed from
// it as soon as it is made (where the system allows it), so nothing is left
// behind even by a crash.
//
// A download belongs to the Streamer, not to the client that started it:
// it goes on when that client leaves, for as long as any client wants it.
// When the last one leaves it is cancelled, even when the Request has a
// Path: a file that no client waits for is not fetched (and so not kept).
//
// # What a client can trust
//
// A response that ends cleanly is the whole file, or the whole range
// asked for, and the download verified it: size, and the Request's
// digests. To make that so, the last byte of each response is held back
// until the download has ended and passed its checks; when it fails
// instead, the response is aborted (see Serve), and the client, which was
// told the Content-Length, or is reading a chunked body that lacks its
// final chunk, sees an error rather than an end. An HTTP/1.0 client, which
// cannot tell a cut from an end, is sent nothing until the download of a
// file of unknown size has ended, and then the file with its length.
type Streamer struct {
	f          *fetch.Fetcher
	dir        string
	onComplete func(fetch.Result) error
	onError    func(*http.Request, fetch.Result)
	sync       bool
	ctx        context.Context // the downloads' context, cancelled by Close
	stop       context.CancelFunc
	wg         sync.WaitGroup // the downloads
	bufs       sync.Pool      // of *[]byte, the copy buffers of the clients

	mu     sync.Mutex
	shares map[string]*share // downloads that clients may join, by key
	closed bool
}

// StreamerOptions configures a Streamer. The zero value of each field means
// its documented default.
type StreamerOptions struct {
	// Dir is the directory of the spill files, which hold the bytes of the
	// downloads in flight for their clients. "" means os.TempDir(). It
	// should be on a disk: os.TempDir() may be a file system in memory.
	Dir string

	// OnComplete, if set, is called with the Result of each download that
	// succeeded, once, before any of its clients is sent its last byte: the
	// place to record that a file kept at Request.Path is complete, so that
	// a client that saw its response end finds the record. Returning an
	// error fails the download (the file at Path stays): its clients'
	// responses are broken off. It is called from the download's goroutine.
	OnComplete func(fetch.Result) error

	// OnError, if set, is called once for every request that Serve answers
	// without success, with the Result whose Err says why: the download
	// failed or did not verify, the client went away, the request was
	// malformed, the Streamer was closed. It is called on the handler's
	// goroutine before Serve returns or aborts the response, so that a
	// server can log each failure with its cause and its request.
	OnError func(r *http.Request, res fetch.Result)

	// Sync makes a file that a download keeps at its Path reach stable
	// storage (fsync) before it is renamed there, as [fetch.Options.Sync]
	// does for the files that a Fetcher writes itself (a Request with a
	// Root or CheckExisting).
	Sync bool
}

// NewStreamer returns a Streamer that downloads with f.
func NewStreamer(f *fetch.Fetcher, opts StreamerOptions) *Streamer {
	dir := opts.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Streamer{f: f, dir: dir, onComplete: opts.OnComplete, onError: opts.OnError, sync: opts.Sync, ctx: ctx, stop: stop, shares: make(map[string]*share)}
	s.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	return s
}

// Close cancels every download in flight and waits for them to stop:
// their temporary files are removed, and the clients still served see
// their responses aborted. Serve answers 503 after Close. Close does not
// close the Fetcher.
func (s *Streamer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}

// spillPrefix starts the names of spill files.
const spillPrefix = "fetch-spill-"

// errClosed is the error of a request served after Close.
var errClosed = errors.New("streamer closed")

// Serve answers the client's request r with the file that req downloads,
// sharing the download with the other clients of the same file. req.Writer
// must be nil: the Streamer writes to w. req.OnResponse and req.Progress
// are called only when req starts the download.
//
// Status and headers come from the server's response: the hop-by-hop
// headers (Connection and those it names, Keep-Alive, Proxy-*, TE,
// Trailer, Transfer-Encoding, Upgrade) and Alt-Svc (which speaks of the
// server, not of the file that clients share) are dropped; Content-Length,
// Content-Type, ETag, Last-Modified and the rest are kept, Set-Cookie too,
// as a shared cache keeps it (RFC 9111 section 7.3): a server that sets a
// cookie for one client says Cache-Control: private, and such a response
// must not be shared.
// Headers go out with the first byte of the body, so that a download that
// fails before it can still be answered with a status. The whole file is
// downloaded in any case, to be verified, so a range response ends only
// when the download does. HEAD gets the headers of a download in flight,
// or else of a transfer that is stopped once the server answered; it
// downloads nothing.
//
// The statuses Serve answers are:
//   - 200 with the whole file; also for several ranges, or a file of unknown size;
//   - 206 and its Content-Range for a single satisfiable Range (honouring If-Range);
//   - 3xx when req.OnResponse returned a [*Redirect];
//   - 400 for a malformed req ([fetch.ErrInvalidRequest]: a digest that is not hex
//     of the right length, an unknown algorithm, an unsupported scheme);
//   - 404 when the file does not exist ([fetch.ErrNotFound]);
//   - 405 for methods other than GET and HEAD;
//   - 416 for a Range that lies past the end of the file;
//   - 502 for any other failure of the download before the first byte;
//   - 503 after Close, or when r's context ended before the first byte.
//
// # Failures
//
// Serve returns when the response is complete: the client got the whole
// file or range (the error is nil, and the Result is that of the download,
// which another request with the same key may have started: Result.Request
// is then that request; for HEAD it holds only the URL and Header of the
// response), or an error status (the error is Result.Err). A response
// whose first byte was sent cannot be completed when the download then
// fails, does not verify, or the client goes away: Serve aborts it by
// panicking with [net/http.ErrAbortHandler], which net/http handles by
// closing the connection (or resetting the HTTP/2 stream) without a log
// line; a middleware that recovers must panic again. In every case of
// failure, returned or aborted, [StreamerOptions.OnError] is called first,
// with the cause: it is the one place to log failures. When the client goes
// away, the download is cancelled unless other clients want it.
func (s *Streamer) Serve(w http.ResponseWriter, r *http.Request, req fetch.Request) (fetch.Result, error) {
	if req.Writer != nil {
		panic("proxy: Streamer.Serve: Request.Writer is set; the Streamer writes to the response")
	}
	res, abort := s.serve(w, r, req)
	if res.Err != nil && s.onError != nil {
		s.onError(r, res)
	}
	if abort {
		panic(http.ErrAbortHandler)
	}
	return res, res.Err
}

// serve answers r, and reports whether the response must be aborted.
func (s *Streamer) serve(w http.ResponseWriter, r *http.Request, req fetch.Request) (res fetch.Result, abort bool) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodHead:
		return s.head(w, r, req), false
	default:
		w.Header().Set("Allow", "GET, HEAD")
		err := fmt.Errorf("%w: method %s", fetch.ErrInvalidRequest, r.Method)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return failed(req, err), false
	}
	sh, err := s.join(req, true)
	if err != nil {
		fail(w, r, err)
		return failed(req, err), false
	}
	defer s.release(sh)
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	return sh.serve(w, r, req, *bp)
}

// failed returns the Result of req that failed with err.
func failed(req fetch.Request, err error) fetch.Result {
	return fetch.Result{Request: req, URL: fetch.RedactURL(req.URL), Err: err}
}

// head answers a HEAD request from the response of req, without its body.
func (s *Streamer) head(w http.ResponseWriter, r *http.Request, req fetch.Request) fetch.Result {
	resp, err := s.response(r.Context(), req)
	if err != nil {
		fail(w, r, err)
		return failed(req, err)
	}
	rp := newReply(r, resp)
	rp.writeHeader(w, progress{})
	return fetch.Result{Request: req, URL: resp.URL, Header: resp.Header, Err: rp.err}
}

// errHeadOnly stops a transfer once its response is known.
var errHeadOnly = errors.New("response headers only")

// response returns the server's response for req: that of a download in
// flight, or else of a transfer stopped before its body.
func (s *Streamer) response(ctx context.Context, req fetch.Request) (*fetch.Response, error) {
	sh, err := s.join(req, false)
	if err != nil {
		return nil, err
	}
	if sh != nil {
		defer s.release(sh)
		for {
			p := sh.progress()
			switch {
			case p.resp != nil:
				return p.resp, nil
			case p.done:
				return nil, p.res.Err
			}
			select {
			case <-p.changed:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	var got *fetch.Response
	req.Path, req.Writer, req.Progress = "", nil, nil
	req.OnResponse = thenOnResponse(req.OnResponse, func(resp fetch.Response) error {
		got = sized(resp, req)
		return errHeadOnly
	})
	_, err = s.f.Fetch(ctx, req)
	if got != nil && errors.Is(err, errHeadOnly) {
		return got, nil
	}
	return nil, err
}

// join returns the download of req's key, with one more client, starting
// it if there is none and start is set.
func (s *Streamer) join(req fetch.Request, start bool) (*share, error) {
	key := shareKey(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if sh := s.shares[key]; sh != nil {
		sh.refs++
		return sh, nil
	}
	if !start {
		return nil, nil
	}
	sh := &share{key: key, refs: 2, changed: make(chan struct{})}
	if inPlace(req) {
		sh.keepAs = req.Path
	}
	if err := sh.createSpill(s.dir); err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sh.cancel = cancel
	s.shares[key] = sh
	s.wg.Go(func() { s.run(ctx, sh, req) })
	return sh, nil
}

// inPlace reports whether the download of req writes its file once, to
// its spill file renamed to Path: but with a Root, which the rename would
// not go through, or CheckExisting, which needs the Fetcher to look at Path.
func inPlace(req fetch.Request) bool {
	return req.Path != "" && req.Root == nil && !req.CheckExisting
}

// createSpill makes the spill file of sh: beside keepAs when it is set,
// else in dir, removed from it at once where the system allows it.
func (sh *share) createSpill(dir string) error {
	if sh.keepAs != "" {
		// ".BASE.fetch-spill-.RANDOM.part": a temporary file of Path.
		pattern := filepath.Join(filepath.Dir(sh.keepAs), filepath.Base(sh.keepAs)+"."+spillPrefix)
		spill, name, err := fetch.CreateTemp(nil, pattern)
		if errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(filepath.Dir(sh.keepAs), 0o755); err == nil {
				spill, name, err = fetch.CreateTemp(nil, pattern)
			}
		}
		sh.spill, sh.spillName = spill, name
		return err
	}
	spill, err := os.CreateTemp(dir, spillPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was removed: make it again.
		if err = os.MkdirAll(dir, 0o755); err == nil {
			spill, err = os.CreateTemp(dir, spillPrefix+"*")
		}
	}
	if err != nil {
		return err
	}
	sh.spill = spill
	if os.Remove(spill.Name()) != nil {
		sh.spillName = spill.Name() // removed once the last client is done
	}
	return nil
}

// settle gives the spill file of an in-place download the name keepAs
// when the download succeeded (err is nil), after an fsync with sync, or
// removes its name when it failed; its clients read on from the open file.
// It returns the error of the fsync or the rename.
func (sh *share) settle(err error, sync bool) error {
	name := sh.spillName
	sh.spillName = ""
	if err == nil && sync {
		err = sh.spill.Sync()
	}
	if err == nil {
		if err = os.Rename(name, sh.keepAs); err == nil {
			return nil
		}
	}
	os.Remove(name)
	return err
}

// run downloads req into sh, then gives up the download's reference.
func (s *Streamer) run(ctx context.Context, sh *share, req fetch.Request) {
	orig := req
	req.Writer = sh
	if sh.keepAs != "" {
		req.Path = "" // the spill file is the file
	}
	req.OnResponse = thenOnResponse(req.OnResponse, func(resp fetch.Response) error {
		sh.mu.Lock()
		sh.resp = sized(resp, req)
		sh.signal()
		sh.mu.Unlock()
		return nil
	})
	res, err := s.f.Fetch(ctx, req)
	res.Request = orig
	if sh.keepAs != "" {
		if serr := sh.settle(err, s.sync); err == nil && serr != nil {
			err = serr
			res.Err = fmt.Errorf("%s: %w", res.URL, serr)
		}
	}
	if err == nil && s.onComplete != nil {
		if err = s.onComplete(res); err != nil {
			res.Err = fmt.Errorf("%s: OnComplete: %w", res.URL, err)
		}
	}
	// A download that ended is not joined: the next request starts again
	// (after a failure), or finds the file where it was kept.
	s.mu.Lock()
	if s.shares[sh.key] == sh {
		delete(s.shares, sh.key)
	}
	s.mu.Unlock()
	sh.mu.Lock()
	sh.done, sh.res = true, res
	sh.signal()
	sh.mu.Unlock()
	s.release(sh)
}

// release gives up one reference to sh: a client's or the download's. The
// download is cancelled when only its own reference is left before it
// ended, and the spill file is closed with the last reference.
func (s *Streamer) release(sh *share) {
	s.mu.Lock()
	sh.refs--
	refs := sh.refs
	sh.mu.Lock()
	abandoned := refs == 1 && !sh.done
	sh.mu.Unlock()
	if (refs == 0 || abandoned) && s.shares[sh.key] == sh {
		delete(s.shares, sh.key)
	}
	s.mu.Unlock()
	if abandoned || refs == 0 {
		sh.cancel()
	}
	if refs == 0 {
		sh.spill.Close()
		if sh.spillName != "" {
			os.Remove(sh.spillName)
		}
	}
}

// thenOnResponse returns an OnResponse that calls next, if set, and then,
// unless next failed, fn.
func thenOnResponse(next, fn func(fetch.Response) error) func(fetch.Response) error {
	return func(resp fetch.Response) error {
		if next != nil {
			if err := next(resp); err != nil {
				return err
			}
		}
		return fn(resp)
	}
}

// sized returns resp with the request's Size when the server gave none.
func sized(resp fetch.Response, req fetch.Request) *fetch.Response {
	if resp.Size < 0 && req.Size > 0 {
		resp.Size = req.Size
	}
	return &resp
}

// shareKey returns the key of the download that req may share: its
// sha256, or else its URL, headers, size, digests and SkipSHA256, so that
// a request never gets bytes checked against other expectations than its
// own, nor a Result with other digests.
func shareKey(req fetch.Request) string {
	for alg, digest := range req.Digests {
		if strings.EqualFold(alg, "sha256") {
			return "sha256:" + strings.ToLower(digest)
		}
	}
	var b strings.Builder
	b.WriteString("url:" + req.URL)
	for _, k := range slices.Sorted(maps.Keys(req.Header)) {
		for _, v := range req.Header[k] {
			b.WriteString("\nheader " + k + ": " + v)
		}
	}
	if req.Size > 0 {
		b.WriteString("\nsize " + strconv.FormatInt(req.Size, 10))
	}
	for _, alg := range slices.Sorted(maps.Keys(req.Digests)) {
		b.WriteString("\n" + strings.ToLower(alg) + " " + strings.ToLower(req.Digests[alg]))
	}
	if req.SkipSHA256 {
		b.WriteString("\nno sha256") // its Result holds less
	}
	return b.String()
}

// share is one download and the clients that read it.
type share struct {
	key       string
	spill     *os.File
	spillName string // set while the spill file has a name: removed, or renamed to keepAs
	keepAs    string // the Path that the spill file becomes (inPlace)
	cancel    context.CancelFunc
	refs      int // clients, and the download until it ends; guarded by Streamer.mu

	mu      sync.Mutex
	resp    *fetch.Response
	written int64
	done    bool
	res     fetch.Result
	changed chan struct{} // closed and replaced at every change
}

// progress is what a client knows of a download at one moment.
type progress struct {
	resp    *fetch.Response
	written int64
	done    bool
	res     fetch.Result
	changed <-chan struct{}
}

func (sh *share) progress() progress {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return progress{resp: sh.resp, written: sh.written, done: sh.done, res: sh.res, changed: sh.changed}
}

// signal wakes the clients waiting for a change; sh.mu is held.
func (sh *share) signal() {
	close(sh.changed)
	sh.changed = make(chan struct{})
}

// Write appends p to the spill file: the Writer sink of the download.
func (sh *share) Write(p []byte) (int, error) {
	n, err := sh.spill.Write(p)
	sh.mu.Lock()
	sh.written += int64(n)
	sh.signal()
	sh.mu.Unlock()
	return n, err
}

// serve sends the download to one client as the bytes arrive, copying
// them through buf, and reports whether the response must be aborted.
func (sh *share) serve(w http.ResponseWriter, r *http.Request, req fetch.Request, buf []byte) (res fetch.Result, abort bool) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	var (
		rp      *reply
		pos     int64 // next byte of the file to send
		started bool  // the header is sent
	)
	// A writer that takes a file sends the bytes from a descriptor of the
	// spill file of its own; else they are copied through buf.
	rf, _ := w.(io.ReaderFrom)
	var rd *hitFile
	if rf != nil {
		if rd, _ = reopen(sh.spill); rd != nil {
			defer rd.Close()
		}
	}
	// cut returns the Result of a response broken off by err.
	cut := func(p progress, err error) fetch.Result {
		res := failed(req, err)
		if p.resp != nil {
			res.URL, res.Header = p.resp.URL, p.resp.Header
		}
		if rp != nil {
			res.Size = pos - rp.first
		}
		return res
	}
	for {
		p := sh.progress()
		if p.done && p.res.Err == nil && p.resp == nil {
			// A Protocol that never reported its response.
			p.res.Err = fmt.Errorf("%s: no response before the body", p.res.URL)
		}
		if p.done && p.res.Err != nil {
			if !started {
				fail(w, r, p.res.Err)
			}
			return p.res, started
		}
		if rp == nil && p.resp != nil {
			rp = newReply(r, p.resp)
			if rp.err != nil {
				rp.writeHeader(w, p)
				return cut(p, rp.err), false // the download goes on for the others, if any
			}
			pos = rp.first
		}
		if rp != nil {
			limit := rp.limit(p)
			if limit > pos || p.done {
				if !started {
					rp.writeHeader(w, p)
					started = true
				}
				for pos < limit && rd != nil {
					// Sent by the kernel (sendfile), from the
					// client's own descriptor.
					rd.Seek(pos, io.SeekStart)
					n, err := rf.ReadFrom(&io.LimitedReader{R: rd, N: limit - pos})
					pos += n
					rd.sent(pos)
					if err == nil && n == 0 {
						err = io.ErrUnexpectedEOF
					}
					if err != nil {
						return cut(p, fmt.Errorf("%w: %w", errClientGone, err)), true
					}
				}
				for pos < limit {
					n := min(int64(len(buf)), limit-pos)
					if _, err := sh.spill.ReadAt(buf[:n], pos); err != nil {
						return cut(p, fmt.Errorf("spill file: %w", err)), true
					}
					if _, err := w.Write(buf[:n]); err != nil {
						return cut(p, fmt.Errorf("%w: %w", errClientGone, err)), true
					}
					pos += n
				}
				if p.done {
					if rp.end >= 0 && pos != rp.end {
						return cut(p, fmt.Errorf("download ended at byte %d; the response ends at %d", pos, rp.end)), true
					}
					return p.res, false
				}
			}
		}
		if started {
			rc.Flush()
		}
		select {
		case <-p.changed:
		case <-ctx.Done():
			err := fmt.Errorf("%w: %w", errClientGone, context.Cause(ctx))
			if !started {
				fail(w, r, ctx.Err())
			}
			return cut(p, err), started
		}
	}
}

// errClientGone is the error of a response whose client went away.
var errClientGone = errors.New("client gone")

// Redirect is an error that the OnResponse hook of a Request given to
// [Streamer.Serve] may return to send the client elsewhere instead of the
// file: Serve answers with Code (302 Found when 0) and Location, and the
// download stops. Every client that shares the download is sent the same.
type Redirect struct {
	Code     int    // a 3xx status; 0 means 302
	Location string // as the client is to see it
}

func (r *Redirect) Error() string {
	return fmt.Sprintf("redirect to %s", r.Location)
}

// fallbackKey is the context key of a request's fallback: a function that
// may answer the request whose download failed before its first byte,
// given the error, and reports whether it did. The Cache answers so from a
// kept copy.
type fallbackKey struct{}

// fail answers a request whose download failed before its first byte.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	if fb, ok := r.Context().Value(fallbackKey{}).(func(http.ResponseWriter, *http.Request, error) bool); ok && fb(w, r, err) {
		return
	}
	code := http.StatusBadGateway
	var rd *Redirect
	switch {
	case errors.As(err, &rd):
		code = rd.Code
		if code == 0 {
			code = http.StatusFound
		}
		w.Header().Set("Location", rd.Location)
		w.WriteHeader(code)
		return
	case errors.Is(err, fetch.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	case errors.Is(err, fetch.ErrInvalidRequest):
		code = http.StatusBadRequest
	}
	http.Error(w, http.StatusText(code), code)
}

// reply is what one client is sent: a status, headers, and the bytes
// [first, end) of the file; end is -1 when the size is unknown.
type reply struct {
	err         error // why the reply is not the file: a Range not satisfiable
	status      int
	header      http.Header
	first, end  int64
	waitForSize bool // send nothing until the download ended (size unknown, HTTP/1.0)
}

// newReply returns the reply to r for a file whose server sent resp.
func newReply(r *http.Request, resp *fetch.Response) *reply {
	size := resp.Size
	rp := &reply{status: http.StatusOK, header: forwardHeader(resp.Header), end: size}
	if passed(resp) {
		// The server's own answer, passed on: its status, no ranges.
		rp.status = resp.Status
		if !bodyAllowed(resp.Status) {
			rp.end = 0
		} else if size < 0 {
			rp.end = -1
			rp.waitForSize = !r.ProtoAtLeast(1, 1)
		}
		return rp
	}
	if size < 0 {
		rp.end = -1
		rp.waitForSize = !r.ProtoAtLeast(1, 1)
		return rp
	}
	rp.header.Set("Accept-Ranges", "bytes")
	switch kind, first, end := rangeOf(r, size, resp.Header); kind {
	case rangeOne:
		rp.status, rp.first, rp.end = http.StatusPartialContent, first, end
		rp.header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, end-1, size))
	case rangeUnsatisfiable:
		rp.status, rp.first, rp.end = http.StatusRequestedRangeNotSatisfiable, 0, 0
		rp.err = unsatisfiable(r, size)
		rp.header = unsatisfiableHeader(size)
	}
	return rp
}

// passed reports whether resp is not the file but another answer of the
// server that a [fetch.Request.PassResponse] let through: a status other
// than 200 (or 206 to a resumed transfer).
func passed(resp *fetch.Response) bool {
	return resp.Status != 0 && resp.Status != http.StatusOK && !(resp.Status == http.StatusPartialContent && resp.Offset > 0)
}

// bodyAllowed reports whether a response of status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// limit returns the end of the bytes that may be sent now: those received,
// within the reply, but for the reply's last byte until the download
// succeeded.
func (rp *reply) limit(p progress) int64 {
	if p.done {
		if rp.end >= 0 {
			return min(p.written, rp.end)
		}
		return p.written
	}
	if rp.waitForSize {
		return rp.first
	}
	if rp.end >= 0 {
		return min(p.written, rp.end-1)
	}
	return p.written
}

// writeHeader sends the status and headers of the reply.
func (rp *reply) writeHeader(w http.ResponseWriter, p progress) {
	h := w.Header()
	for k, vs := range rp.header {
		h[k] = slices.Clone(vs)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server named no type: none is guessed
	}
	switch {
	case !bodyAllowed(rp.status):
	case rp.end >= 0:
		h.Set("Content-Length", strconv.FormatInt(rp.end-rp.first, 10))
	case p.done:
		h.Set("Content-Length", strconv.FormatInt(p.written, 10))
	}
	w.WriteHeader(rp.status)
}

// hopByHop are the fields that describe one connection (RFC 9110, section
// 7.6.1), never passed on.
var hopByHop = []string{"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// fieldSet returns the set of the field names of groups.
func fieldSet(groups ...[]string) map[string]bool {
	set := map[string]bool{}
	for _, g := range groups {
		for _, k := range g {
			set[k] = true
		}
	}
	return set
}

// dropped are the response headers never forwarded: those that describe a
// connection, those the reply sets itself, and those that speak of the
// server rather than of the file.
var dropped = fieldSet(hopByHop, []string{"Content-Length", "Accept-Ranges", "Alt-Svc"})

// endToEnd returns a copy of the fields of h that cross to the next hop:
// those not in skip, not named by h's Connection fields, and not Proxy-*.
func endToEnd(h http.Header, skip map[string]bool) http.Header {
	named := connectionFields(h)
	out := make(http.Header, len(h))
	for k, vs := range h {
		if skip[k] || named[k] || strings.HasPrefix(k, "Proxy-") {
			continue
		}
		out[k] = slices.Clone(vs)
	}
	return out
}

// forwardHeader returns the headers of h that a client is sent.
func forwardHeader(h http.Header) http.Header { return endToEnd(h, dropped) }

// connectionFields returns the fields that the Connection fields of h name:
// they describe the connection, and are not forwarded.
func connectionFields(h http.Header) map[string]bool {
	named := map[string]bool{}
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			named[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	return named
}
