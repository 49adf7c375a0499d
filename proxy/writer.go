package proxy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loggedWriter notes the status and the bytes of a response, and gives
// each write to the client its deadline.
type loggedWriter struct {
	http.ResponseWriter
	timeout time.Duration // of each write; 0: none
	status  int
	bytes   int64
	err     error // of the first write that failed
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// deadline starts the time that the next write may take.
func (w *loggedWriter) deadline() {
	if w.timeout > 0 {
		// An error means that the connection has no deadlines; the write
		// then waits as long as it must.
		http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.deadline()
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	w.failed(err)
	return n, err
}

// failed notes the first error of a write to the client.
func (w *loggedWriter) failed(err error) {
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("%w: %w", errClientGone, err)
	}
}

// sniffLen is how much of a body net/http copies through its buffer
// before it hands the rest to sendfile, when the header is not yet sent.
const sniffLen = 512

// sendChunk is how much of a file goes to the client under one write
// deadline.
const sendChunk = 1 << 20

// ReadFrom sends src to the client, by the system's sendfile when src is a
// file and the connection allows it, each chunk under its own deadline.
func (w *loggedWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	limit, file := int64(-1), src
	if lr, ok := src.(*io.LimitedReader); ok {
		limit, file = lr.N, lr.R // sendfile sees through one LimitedReader only
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if _, isFile := file.(syscall.Conn); !ok || !isFile {
		// Through the response's buffer: the header with the first bytes.
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		return io.CopyBuffer(writerOnly{w}, src, *bp)
	}
	src = file
	if limit >= sniffLen {
		// The header goes out now, alone: net/http would otherwise read
		// the first 512 bytes of src to send them with it, and sendfile
		// the rest. (A smaller body goes through its buffer with the
		// header, in one write.)
		if fl, ok := w.ResponseWriter.(http.Flusher); ok {
			w.deadline()
			fl.Flush()
		}
	}
	var total int64
	for limit != 0 {
		n := int64(sendChunk)
		if limit > 0 {
			n = min(n, limit)
		}
		w.deadline()
		got, err := rf.ReadFrom(&io.LimitedReader{R: src, N: n})
		total += got
		w.bytes += got
		if limit > 0 {
			limit -= got
		}
		if err != nil {
			w.failed(err)
			return total, err
		}
		if got < n {
			break // the end of src
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// copyBufs are the buffers of the copies to a ResponseWriter that takes
// no file (HTTP/2, a recorder).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writerOnly hides every method of a Writer but Write.
type writerOnly struct{ io.Writer }

// lengthWriter gives a response of a kept file its Content-Length where
// http.ServeContent leaves it out (a file stored with a Content-Encoding).
type lengthWriter struct {
	http.ResponseWriter
	size int64
}

func (w *lengthWriter) WriteHeader(code int) {
	h := w.Header()
	if h.Get("Content-Length") == "" {
		switch code {
		case http.StatusOK:
			h.Set("Content-Length", strconv.FormatInt(w.size, 10))
		case http.StatusPartialContent:
			var first, last int64
			if _, err := fmt.Sscanf(h.Get("Content-Range"), "bytes %d-%d/", &first, &last); err == nil && last >= first {
				h.Set("Content-Length", strconv.FormatInt(last-first+1, 10))
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *lengthWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

func (w *lengthWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// verifiedReader reads a kept file for http.ServeContent and checks its
// sha256 when it is read whole, from its start: the read that would reach
// the end fails instead when the digest is wrong, so the response is one
// short of its Content-Length and the client sees it cut.
type verifiedReader struct {
	f       io.ReadSeeker
	size    int64
	want    string
	h       hash.Hash
	pos     int64 // offset of the next read
	hashed  int64 // bytes [0, hashed) went into h
	corrupt bool
	got     string
}

// errCorrupt is the error of a read that reached the end of a file whose
// digest is not the one recorded.
var errCorrupt = errors.New("kept file is corrupt")

// err is the error of a corrupt file that v read.
func (v *verifiedReader) err() error {
	return fmt.Errorf("%w: sha256 %s; want %s", errCorrupt, v.got, v.want)
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	if v.pos == v.hashed {
		v.h.Write(p[:n])
		v.hashed += int64(n)
		if n > 0 && v.hashed == v.size {
			if v.got = hex.EncodeToString(v.h.Sum(nil)); !strings.EqualFold(v.got, v.want) {
				v.corrupt = true
				return 0, errCorrupt
			}
		}
	}
	v.pos += int64(n)
	return n, err
}

func (v *verifiedReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := v.f.Seek(offset, whence)
	if err == nil {
		v.pos = pos
	}
	return pos, err
}
