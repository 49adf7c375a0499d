package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fetchkit/fetch/internal/ftpurl"
	"github.com/jlaffaye/ftp"
)

// Defaults used for zero fields of FTPPoolOptions.
const (
	DefaultFTPDialTimeout = 30 * time.Second
	DefaultFTPIdleTimeout = 60 * time.Second
)

// FTPPoolOptions configures an FTPPool. The zero value of each field means
// its documented default.
type FTPPoolOptions struct {
	// TLSConfig configures TLS for ftps URLs, and for ftp URLs when
	// ExplicitTLS is set. Nil means the crypto/tls defaults (the system's
	// roots). The pool uses a copy per connection, with ServerName set to
	// the URL's host when empty, and with a session cache of its own when
	// ClientSessionCache is nil, so that data connections resume the TLS
	// session of their control connection, as servers such as vsftpd
	// require.
	TLSConfig *tls.Config

	// ExplicitTLS makes ftp URLs secure their control connection with
	// AUTH TLS (RFC 4217) and their data connections with PROT P; a server
	// that refuses fails the transfer, nothing is sent in clear. Without
	// it ftp URLs are plain text. ftps URLs always use implicit TLS, on
	// port 990 unless the URL names another, as curl does.
	ExplicitTLS bool

	// DialTimeout bounds connecting, the TLS handshake and logging in, and
	// each data connection's connect. 0 means DefaultFTPDialTimeout.
	DialTimeout time.Duration

	// IdleTimeout is how long an unused control connection is kept for
	// reuse before it is closed. 0 means DefaultFTPIdleTimeout; negative
	// means that connections are closed after each transfer.
	IdleTimeout time.Duration

	// MaxIdlePerHost caps the unused control connections kept to one host
	// (host and port), over all users. Before it opens a connection to a
	// host that already has MaxIdlePerHost open, the pool closes an unused
	// one of another user or TLS mode, so that a pool used under a Limiter
	// whose PerHost is MaxIdlePerHost never holds more than PerHost
	// connections to a host. 0 means DefaultPerHost.
	MaxIdlePerHost int
}

// FTPPool opens ftp and ftps URLs (it is their Protocol) and keeps their
// logged-in control connections for reuse, by host, port, user and TLS mode.
// A control connection serves one transfer at a time; a transfer that
// failed, was cancelled or was not read to its end closes its connection
// rather than returning it. Passive mode is used, EPSV first, then PASV.
//
// Credentials come from the URL's userinfo, else the anonymous login
// (user "anonymous", password "anonymous@"). Paths are relative to the
// login directory (RFC 1738): ftp://host/a/b retrieves "a/b", and
// ftp://host/%2Fa/b retrieves "/a/b". A type suffix (";type=i" or
// ";type=a", RFC 1738) is dropped: files are always transferred in binary
// (type I), so that the bytes checked are the bytes stored.
//
// Each transfer reports the size (SIZE) and modification time (MDTM, when
// the server offers it) as [Response.Size] and as Content-Length and
// Last-Modified headers, and resumes with REST when asked for an offset,
// unless the modification time no longer matches the validator. Reply 550
// gives a *StatusError that matches [ErrNotFound] (servers also use it for
// "permission denied"); other 5xx replies, a refused login among them
// (530), are not retried; 4xx replies (421 too many connections, 425, 426,
// 450, ...) and broken connections are.
//
// Cancelling a transfer's context closes its connections at once, and the
// context's deadline is set on them, so that no step waits on a server that
// stopped answering. Use NewFTPPool to make one. An FTPPool is safe for
// concurrent use; Close it when done.
type FTPPool struct {
	opts FTPPoolOptions
	// control dials control connections, kept alive with TCP keep-alives
	// while idle; data dials data connections, which live for one file.
	control, data net.Dialer

	mu      sync.Mutex
	closed  bool
	idle    map[ftpKey][]*ftpConn // least recently used first
	idleN   map[string]int        // idle connections by host
	openN   map[string]int        // open connections by host, idle or in use
	reaper  *time.Timer           // closes expired idle connections
	armed   bool                  // reaper is due to fire
	reaping sync.WaitGroup        // a reaper run, waited for by Close
}

// NewFTPPool returns an FTPPool configured by opts.
func NewFTPPool(opts FTPPoolOptions) *FTPPool {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultFTPDialTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultFTPIdleTimeout
	}
	if opts.MaxIdlePerHost <= 0 {
		opts.MaxIdlePerHost = DefaultPerHost
	}
	return &FTPPool{
		opts:    opts,
		control: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		data:    net.Dialer{Timeout: opts.DialTimeout, KeepAlive: -1},
		idle:    make(map[ftpKey][]*ftpConn),
		idleN:   make(map[string]int),
		openN:   make(map[string]int),
	}
}

// Open implements Protocol for ftp and ftps URLs. The body must be closed;
// it returns the connection to the pool only if it was read to its end and
// the server confirmed the transfer.
func (p *FTPPool) Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error) {
	u := req.URL
	key, name, err := p.target(u)
	if err != nil {
		return nil, nil, err
	}
	for {
		c, reused, err := p.get(ctx, key, u.Hostname(), req.Alive)
		if err != nil {
			return nil, nil, ftpError(ctx, u, err)
		}
		resp, body, err := p.retrieve(ctx, c, u, name, req)
		if err == nil {
			return resp, body, nil
		}
		if reused && ctx.Err() == nil && connLost(err) {
			continue // the server had closed the idle connection: try another
		}
		return nil, nil, ftpError(ctx, u, err)
	}
}

// target returns the pool key and the path to retrieve for u.
func (p *FTPPool) target(u *url.URL) (ftpKey, string, error) {
	key := ftpKey{host: hostKey(u), user: "anonymous", password: "anonymous@"}
	switch {
	case u.Scheme == "ftps":
		key.mode = implicitTLS
	case u.Scheme == "ftp" && p.opts.ExplicitTLS:
		key.mode = explicitTLS
	case u.Scheme != "ftp":
		return key, "", fmt.Errorf("%w: %s: not an ftp or ftps URL", ErrInvalidRequest, u.Redacted())
	}
	if u.User != nil {
		key.user = u.User.Username()
		key.password, _ = u.User.Password()
	}
	name, _ := ftpurl.TrimType(strings.TrimPrefix(u.Path, "/"))
	switch {
	case u.Hostname() == "":
		return key, "", fmt.Errorf("%w: %s: no host", ErrInvalidRequest, u.Redacted())
	case name == "" || strings.HasSuffix(name, "/"):
		return key, "", fmt.Errorf("%w: %s: no file name", ErrInvalidRequest, u.Redacted())
	case strings.ContainsAny(name+key.user+key.password, "\r\n"):
		return key, "", fmt.Errorf("%w: %s: line break in path or credentials", ErrInvalidRequest, u.Redacted())
	}
	return key, name, nil
}

// retrieve asks c for the file's size and time and starts its transfer.
// On failure c is released.
func (p *FTPPool) retrieve(ctx context.Context, c *ftpConn, u *url.URL, name string, req *OpenRequest) (*Response, io.ReadCloser, error) {
	size, modified, err := c.stat(name)
	if err != nil {
		p.release(c, false)
		return nil, nil, err
	}
	offset := max(req.Offset, 0)
	if size >= 0 && offset > size || req.Validator != "" && req.Validator != modified {
		offset = 0 // the file changed: send it whole
	}
	r, err := c.sc.RetrFrom(name, uint64(offset))
	if err != nil && offset > 0 && restRefused(err) {
		offset = 0
		r, err = c.sc.RetrFrom(name, 0)
	}
	if err != nil {
		p.release(c, offset == 0 && keepsConn(err))
		return nil, nil, err
	}
	h := http.Header{}
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size-offset, 10))
	}
	if modified != "" {
		h.Set("Last-Modified", modified)
	}
	resp := &Response{URL: u.Redacted(), Status: http.StatusOK, Header: h, Size: size, Offset: offset}
	if offset > 0 {
		resp.Status = http.StatusPartialContent
	}
	return resp, &ftpBody{ctx: ctx, pool: p, c: c, r: r}, nil
}

// stat returns the size of the file name (-1 when the server does not say)
// and its modification time in http.TimeFormat ("" when it does not say).
// It fails only when the connection is lost.
func (c *ftpConn) stat(name string) (size int64, modified string, err error) {
	size = -1
	n, err := c.sc.FileSize(name)
	switch {
	case err == nil:
		size = n
	case connLost(err):
		return 0, "", err
	}
	if c.sc.IsGetTimeSupported() {
		t, err := c.sc.GetTime(name)
		switch {
		case err == nil:
			modified = t.UTC().Format(http.TimeFormat)
		case connLost(err):
			return 0, "", err
		}
	}
	return size, modified, nil
}

// ftpBody is the body of a transfer: its data connection.
type ftpBody struct {
	ctx    context.Context
	pool   *FTPPool
	c      *ftpConn
	r      *ftp.Response
	err    error // sticky
	done   bool  // read to its end, and the server confirmed it (226)
	closed bool
}

func (b *ftpBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		// The server closed the data connection: its reply says whether
		// that was the end of the file.
		if cerr := b.r.Close(); cerr != nil {
			var reply *textproto.Error
			if errors.As(cerr, &reply) {
				cerr = fmt.Errorf("transfer not completed: server replied %w", reply)
			}
			err = cerr
		} else {
			b.done = true
		}
	}
	if err != nil && err != io.EOF {
		err = pastDeadline(b.ctx, err)
	}
	b.err = err
	return n, err
}

// Close returns the connection to the pool if the transfer completed, and
// closes it otherwise: waiting for the server's reply to a transfer cut
// short could take forever.
func (b *ftpBody) Close() error {
	if !b.closed {
		b.closed = true
		b.pool.release(b.c, b.done)
	}
	return nil
}

// connLost reports whether err says that the control connection is gone or
// out of step, rather than a reply or a malformed answer.
func connLost(err error) bool {
	var (
		reply *textproto.Error
		num   *strconv.NumError
		tm    *time.ParseError
	)
	if errors.As(err, &reply) {
		return reply.Code == ftp.StatusNotAvailable
	}
	return !errors.As(err, &num) && !errors.As(err, &tm)
}

// loginReply watches the control connection while it logs in, through
// jlaffaye/ftp's debug output, which gets the bytes sent and received: it
// keeps the first line that came after USER was sent, the server's reply.
// jlaffaye/ftp gives a USER that is refused as a bare error holding the
// reply's text, without its code; this is where the code is found. No
// reply means the failure came before one: a TLS handshake that failed at
// the first write, a connection lost.
type loginReply struct {
	on    bool   // set around Login
	sent  bool   // USER was sent
	reply []byte // what came after it, up to the end of a line
}

func (l *loginReply) Write(p []byte) (int, error) {
	switch {
	case !l.on:
	case bytes.HasPrefix(p, []byte("USER ")):
		l.sent, l.reply = true, l.reply[:0]
	case l.sent && len(l.reply) < 512 && bytes.IndexByte(l.reply, '\n') < 0:
		l.reply = append(l.reply, p[:min(len(p), 512-len(l.reply))]...)
	}
	return len(p), nil
}

// code returns the code of the reply to USER, when one came.
func (l *loginReply) code() (int, bool) {
	line, _, ok := bytes.Cut(l.reply, []byte("\n"))
	if !ok || len(line) < 3 {
		return 0, false
	}
	code, err := strconv.Atoi(string(line[:3]))
	return code, err == nil && code >= 100 && code < 600
}

// restRefused reports whether err is a 5xx reply other than 550, which a
// server that cannot resume gives to REST.
func restRefused(err error) bool {
	var reply *textproto.Error
	return errors.As(err, &reply) && reply.Code/100 == 5 && reply.Code != ftp.StatusFileUnavailable
}

// keepsConn reports whether a connection that got err may serve another
// transfer: a definite refusal keeps the control connection in step.
func keepsConn(err error) bool {
	var reply *textproto.Error
	return errors.As(err, &reply) && reply.Code/100 == 5 && reply.Code != ftp.StatusNotLoggedIn
}

// ftpError turns err from a step of a transfer of u into the error Open
// returns: a reply is a *StatusError, temporary for 4xx.
func ftpError(ctx context.Context, u *url.URL, err error) error {
	err = pastDeadline(ctx, err)
	var reply *textproto.Error
	if errors.As(err, &reply) {
		se := &StatusError{URL: u.Redacted(), Code: reply.Code, Text: reply.Msg, FTP: true}
		if reply.Code/100 == 4 {
			return &TemporaryError{Err: se}
		}
		return se
	}
	return fmt.Errorf("%s: %w", u.Redacted(), err)
}

// pastDeadline returns err, the timeout of a connection whose deadline was
// ctx's, such that it matches context.DeadlineExceeded as ctx's own error
// does: the connection may see the time pass before ctx does.
func pastDeadline(ctx context.Context, err error) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// deadlineOf returns ctx's deadline, or the zero time.
func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
