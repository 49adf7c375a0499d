package fetch

import (
	"context"
	"crypto/tls"
	"net"
	"net/textproto"
	"slices"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
)

// quitTimeout bounds the QUIT sent to an idle connection being closed.
const quitTimeout = time.Second

// ftpKey says which transfers may share a control connection.
type ftpKey struct {
	host           string // host:port, as hostKey gives it
	user, password string
	mode           tlsMode
}

type tlsMode int

const (
	plainText tlsMode = iota
	explicitTLS
	implicitTLS
)

// get returns a logged-in connection for key bound to ctx, an idle one if
// there is one (reused), else a new one. alive, if not nil, is called
// whenever the server says something on the control connection.
func (p *FTPPool) get(ctx context.Context, key ftpKey, hostname string, alive func()) (c *ftpConn, reused bool, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, ErrPoolClosed
	}
	if c = p.takeIdle(key); c != nil {
		p.mu.Unlock()
		c.bind(ctx, deadlineOf(ctx), alive)
		return c, true, nil
	}
	var evict *ftpConn
	if p.openN[key.host] >= p.opts.MaxIdlePerHost {
		evict = p.takeOldest(key.host)
	}
	p.openN[key.host]++
	p.mu.Unlock()
	if evict != nil {
		evict.quit()
		p.forget(evict)
	}
	c, err = p.connect(ctx, key, hostname, alive)
	if err != nil {
		p.mu.Lock()
		p.dropOpen(key.host)
		p.mu.Unlock()
		return nil, false, err
	}
	return c, false, nil
}

// connect dials and logs in a new connection for key, bound to ctx.
func (p *FTPPool) connect(ctx context.Context, key ftpKey, hostname string, alive func()) (*ftpConn, error) {
	c := &ftpConn{pool: p, key: key}
	login := &loginReply{}
	opts := []ftp.DialOption{ftp.DialWithDialFunc(c.dial), ftp.DialWithDebugOutput(login)}
	if key.mode != plainText {
		var cfg *tls.Config
		if p.opts.TLSConfig != nil {
			cfg = p.opts.TLSConfig.Clone()
		} else {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = hostname
		}
		if cfg.ClientSessionCache == nil {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		c.tls = cfg
		if key.mode == explicitTLS {
			opts = append(opts, ftp.DialWithExplicitTLS(cfg))
		} else {
			opts = append(opts, ftp.DialWithTLS(cfg))
		}
	}
	loginBy := time.Now().Add(p.opts.DialTimeout)
	if d := deadlineOf(ctx); !d.IsZero() && d.Before(loginBy) {
		loginBy = d
	}
	c.bind(ctx, loginBy, alive)
	sc, err := ftp.Dial(key.host, opts...)
	if err == nil {
		login.on = true
		err = sc.Login(key.user, key.password)
		login.on = false
		if code, ok := login.code(); err != nil && ok && code != ftp.StatusLoggedIn && code != ftp.StatusUserOK {
			// jlaffaye/ftp gives a refused USER as the reply's text
			// alone: the code is the one the server sent.
			err = &textproto.Error{Code: code, Msg: err.Error()}
		}
	}
	if err != nil {
		c.unbind()
		c.kill()
		return nil, err
	}
	c.sc = sc
	c.setDeadline(deadlineOf(ctx))
	return c, nil
}

// release ends c's transfer: back to the pool if reusable and its context
// did not close it, else closed.
func (p *FTPPool) release(c *ftpConn, reusable bool) {
	if !c.unbind() || !reusable {
		c.kill()
		p.forget(c)
		return
	}
	c.setDeadline(time.Time{})
	p.mu.Lock()
	if p.closed || p.opts.IdleTimeout < 0 || p.idleN[c.key.host] >= p.opts.MaxIdlePerHost {
		p.mu.Unlock()
		c.quit()
		p.forget(c)
		return
	}
	c.idleSince = time.Now()
	p.idle[c.key] = append(p.idle[c.key], c)
	p.idleN[c.key.host]++
	if !p.armed {
		p.armed = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(p.opts.IdleTimeout, p.reap)
		} else {
			p.reaper.Reset(p.opts.IdleTimeout)
		}
	}
	p.mu.Unlock()
}

// takeIdle removes and returns the most recently used idle connection for
// key, or nil. p.mu is held.
func (p *FTPPool) takeIdle(key ftpKey) *ftpConn {
	if n := len(p.idle[key]); n > 0 {
		return p.unidle(key, n-1)
	}
	return nil
}

// takeOldest removes and returns the least recently used idle connection
// to host, or nil. p.mu is held.
func (p *FTPPool) takeOldest(host string) *ftpConn {
	var oldest *ftpConn
	for key, cs := range p.idle {
		if key.host == host && (oldest == nil || cs[0].idleSince.Before(oldest.idleSince)) {
			oldest = cs[0]
		}
	}
	if oldest == nil {
		return nil
	}
	return p.unidle(oldest.key, 0)
}

// unidle removes and returns the idle connection p.idle[key][i]. p.mu is
// held.
func (p *FTPPool) unidle(key ftpKey, i int) *ftpConn {
	cs := p.idle[key]
	c := cs[i]
	if cs = slices.Delete(cs, i, i+1); len(cs) == 0 {
		delete(p.idle, key)
	} else {
		p.idle[key] = cs
	}
	p.dropIdle(key.host)
	return c
}

func (p *FTPPool) dropIdle(host string) {
	if p.idleN[host]--; p.idleN[host] <= 0 {
		delete(p.idleN, host)
	}
}

func (p *FTPPool) dropOpen(host string) {
	if p.openN[host]--; p.openN[host] <= 0 {
		delete(p.openN, host)
	}
}

// forget notes that c was closed.
func (p *FTPPool) forget(c *ftpConn) {
	p.mu.Lock()
	p.dropOpen(c.key.host)
	p.mu.Unlock()
}

// reap closes the idle connections unused for IdleTimeout and sets the
// reaper for the next to expire.
func (p *FTPPool) reap() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.reaping.Add(1)
	defer p.reaping.Done()
	now := time.Now()
	var expired []*ftpConn
	var next time.Time
	for key, cs := range p.idle {
		n := 0
		for n < len(cs) && now.Sub(cs[n].idleSince) >= p.opts.IdleTimeout {
			p.dropIdle(key.host)
			n++
		}
		expired = append(expired, cs[:n]...)
		if cs = cs[n:]; len(cs) == 0 {
			delete(p.idle, key)
			continue
		}
		p.idle[key] = cs
		if due := cs[0].idleSince.Add(p.opts.IdleTimeout); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	p.armed = !next.IsZero()
	if p.armed {
		p.reaper.Reset(next.Sub(now))
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.quit()
		p.forget(c)
	}
}

// Close closes the pool's idle connections, with QUIT, and makes it refuse
// new transfers ([ErrPoolClosed]). Connections in use are closed when their
// transfer ends.
func (p *FTPPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
	}
	var all []*ftpConn
	for _, cs := range p.idle {
		all = append(all, cs...)
	}
	p.idle, p.idleN = nil, nil
	p.mu.Unlock()
	p.reaping.Wait()
	for _, c := range all {
		c.quit()
		p.forget(c)
	}
	return nil
}

// ftpConn is a control connection and the network connections under it.
type ftpConn struct {
	pool      *FTPPool
	key       ftpKey
	tls       *tls.Config // nil for plain text
	sc        *ftp.ServerConn
	idleSince time.Time // guarded by pool.mu
	stop      func() bool

	mu       sync.Mutex
	ctx      context.Context // of the transfer in progress, for data connections
	deadline time.Time
	alive    func()   // of the transfer in progress: the server said something
	ctrl     net.Conn // the TCP connection under the control connection
	data     net.Conn // the TCP connection under the last data connection
	dead     bool     // closed: no connection may be made
}

// bind ties c to the transfer of ctx: its connections get the deadline and
// are closed when ctx is done, and each reply on the control connection
// calls alive (when not nil).
func (c *ftpConn) bind(ctx context.Context, deadline time.Time, alive func()) {
	c.mu.Lock()
	c.ctx, c.alive = ctx, alive
	c.mu.Unlock()
	c.setDeadline(deadline)
	c.stop = context.AfterFunc(ctx, c.kill)
}

// unbind unties c from its transfer's context. It reports false if the
// context was done first, so that c is (being) closed.
func (c *ftpConn) unbind() bool {
	ok := c.stop()
	c.mu.Lock()
	c.ctx, c.alive = nil, nil
	c.mu.Unlock()
	return ok
}

func (c *ftpConn) setDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.ctrl != nil {
		c.ctrl.SetDeadline(t)
	}
}

// dial makes the network connections of c: the control connection first,
// then a data connection for each transfer. It is jlaffaye/ftp's dial
// function, so it also adds TLS where c's mode asks for it.
func (c *ftpConn) dial(network, addr string) (net.Conn, error) {
	c.mu.Lock()
	ctx, control := c.ctx, c.ctrl == nil
	c.mu.Unlock()
	if ctx == nil {
		return nil, net.ErrClosed
	}
	dialer := &c.pool.data
	if control {
		dialer = &c.pool.control
	}
	conn, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		conn.Close()
		return nil, net.ErrClosed
	}
	conn.SetDeadline(c.deadline)
	if control {
		c.ctrl = conn
		conn = replies{conn, c}
	} else {
		c.data = conn
	}
	switch {
	case c.tls == nil, control && c.key.mode == explicitTLS:
		return conn, nil // explicit TLS starts after AUTH TLS
	case control:
		return tls.Client(conn, c.tls), nil
	}
	return quietClose{tls.Client(conn, c.tls)}, nil
}

// replies is a control connection that tells its ftpConn's transfer that
// the server is not silent whenever bytes arrive.
type replies struct {
	net.Conn
	c *ftpConn
}

func (r replies) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.c.mu.Lock()
		alive := r.c.alive
		r.c.mu.Unlock()
		if alive != nil {
			alive()
		}
	}
	return n, err
}

// quietClose is a TLS data connection whose Close reports no error: a
// close_notify that cannot be sent to a server that already closed does
// not make a complete transfer fail.
type quietClose struct{ net.Conn }

func (q quietClose) Close() error {
	q.Conn.Close()
	return nil
}

// kill closes c's network connections at once.
func (c *ftpConn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	if c.ctrl != nil {
		c.ctrl.Close()
	}
	if c.data != nil {
		c.data.Close()
	}
}

// quit closes an idle connection politely, with QUIT.
func (c *ftpConn) quit() {
	c.setDeadline(time.Now().Add(quitTimeout))
	c.sc.Quit()
	c.kill()
}
