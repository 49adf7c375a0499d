package proxy

import (
	"errors"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/fetchkit/fetch"
)

// fullFor is how long, after a write to the cache's directory found its
// disk full, misses are passed through rather than kept: then the next
// miss tries to keep its file again.
const fullFor = time.Minute

// diskFull remembers when a write to the cache's directory last found its
// disk full. A miss can neither be kept nor shared then (its spill file is
// on that disk too), and every client of a file too large for the space
// left would be cut; passed through, each is served.
type diskFull struct {
	mu    sync.Mutex
	until time.Time
}

// seen records err, and reports whether it says that the disk is full and
// was not known to be.
func (d *diskFull) seen(err error) bool {
	if !errors.Is(err, syscall.ENOSPC) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	was := now.Before(d.until)
	d.until = now.Add(fullFor)
	return !was
}

// fullDisk logs err when it says that the cache's disk is full and was
// not known to be: misses are passed through for fullFor.
func (c *Cache) fullDisk(err error) {
	if c.full.seen(err) {
		c.log.Warn("cache disk full: files missed are passed through, not kept", "for", fullFor, "err", err)
	}
}

// full reports whether misses are to be passed through.
func (d *diskFull) full() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Now().Before(d.until)
}

// passThrough answers r, a GET of HTTP/1.1 or later, with the file of req
// straight from the upstream as the bytes arrive: neither shared with the
// other clients nor kept, and with no file on disk. The reply follows the
// rules of [Streamer.Serve] (the Range rule, the last byte held back until
// the download verified, the response broken off when it fails after its
// first byte); a failure is set in *cause.
func (c *Cache) passThrough(w http.ResponseWriter, r *http.Request, req fetch.Request, cause *error) {
	pw := &passWriter{w: w}
	req.Path = ""
	req.Writer = pw
	req.OnResponse = thenOnResponse(req.OnResponse, func(resp fetch.Response) error {
		pw.rp = newReply(r, sized(resp, req))
		return pw.rp.err // a Range not satisfiable: nothing to send
	})
	res, err := c.f.Fetch(r.Context(), req)
	switch {
	case err != nil && pw.rp != nil && pw.rp.err != nil:
		*cause = pw.rp.err
		pw.rp.writeHeader(w, progress{})
	case err != nil && !pw.started:
		*cause = err
		fail(w, r, err)
	case err != nil:
		*cause = err
		panic(http.ErrAbortHandler)
	case pw.rp == nil:
		*cause = errNoResponse
		fail(w, r, errNoResponse)
	default:
		pw.finish(res.Size)
	}
}

// errNoResponse is the error of a download whose Protocol sent bytes, or
// ended, without reporting its response.
var errNoResponse = errors.New("no response before the body")

// passWriter sends the bytes of a download to one client: those of its
// reply, but for the last one received, held back until the download
// ended and verified.
type passWriter struct {
	w       http.ResponseWriter
	rp      *reply
	pos     int64 // bytes of the file received
	started bool  // the header is sent
	last    []byte
}

func (pw *passWriter) Write(p []byte) (int, error) {
	if pw.rp == nil {
		return 0, errNoResponse
	}
	start := pw.pos
	pw.pos += int64(len(p))
	lo, hi := max(pw.rp.first, start), pw.pos
	if pw.rp.end >= 0 {
		hi = min(hi, pw.rp.end)
	}
	if lo >= hi {
		return len(p), nil
	}
	b := p[lo-start : hi-start]
	if err := pw.send(b[:len(b)-1]); err != nil {
		return 0, err
	}
	pw.last = append(pw.last[:0], b[len(b)-1])
	return len(p), nil
}

// send sends the byte held back, if any, then b.
func (pw *passWriter) send(b []byte) error {
	if !pw.started {
		pw.rp.writeHeader(pw.w, progress{})
		pw.started = true
	}
	if len(pw.last) > 0 {
		if _, err := pw.w.Write(pw.last); err != nil {
			return err
		}
		pw.last = pw.last[:0]
	}
	_, err := pw.w.Write(b)
	return err
}

// finish ends the reply of a download of size bytes that succeeded.
func (pw *passWriter) finish(size int64) {
	if !pw.started {
		pw.rp.writeHeader(pw.w, progress{done: true, written: size})
		pw.started = true
	}
	pw.send(nil)
}
