package fetch_test

// FTP servers for the tests: goftp.io/server/v2 in process with files in
// memory, a scripted server that misbehaves on purpose, and vsftpd when it
// is installed.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vsftpdproc "github.com/fetchkit/fetch/internal/vsftpd"
	ftpserver "goftp.io/server/v2"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// ftpUser and ftpPassword log in to goftpd; so does anonymous.
const (
	ftpUser     = "alice"
	ftpPassword = "s3cret-pw"
)

// goftpd is a goftp.io/server/v2 server on loopback, serving files from
// memory, that counts the control connections its clients open.
type goftpd struct {
	URL string // ftp://127.0.0.1:port

	// delay, if set, pauses the transfer of a file half-way for the time
	// it returns.
	delay func(path string) time.Duration
	// passive, if set, returns the port to announce for a passive data
	// connection that goftpd listens for on port: a proxy in front of it.
	passive func(port string) string

	mu      sync.Mutex
	files   map[string][]byte // by absolute path
	conns   []*ftpdConn
	open    int
	maxOpen int
	opened  atomic.Int64
}

// startGoftpd serves files (by absolute path) until the end of the test;
// delay, if not nil, becomes goftpd.delay.
func startGoftpd(t testing.TB, files map[string][]byte, delay func(path string) time.Duration) *goftpd {
	t.Helper()
	return (&goftpd{files: files, delay: delay}).start(t)
}

// start serves d.files until the end of the test.
func (d *goftpd) start(t testing.TB) *goftpd {
	t.Helper()
	srv, err := ftpserver.NewServer(d.options())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.URL = "ftp://" + ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(&countingListener{Listener: ln, d: d})
	}()
	t.Cleanup(func() {
		ln.Close()
		<-served
		d.mu.Lock()
		conns := d.conns
		d.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
	})
	return d
}

func (d *goftpd) options() *ftpserver.Options {
	// The stock SIZE, RETR and MDTM answer 450 or 551 for a missing file,
	// and MDTM is not announced: make them answer as RFC 959 and 3659 say.
	cmds := maps.Clone(ftpserver.DefaultCommands()) // the package's own map
	for _, name := range []string{"SIZE", "RETR", "MDTM"} {
		cmds[name] = strictCommand{Command: cmds[name], d: d, extend: name == "MDTM"}
	}
	return &ftpserver.Options{
		Driver:   memDriver{d},
		Auth:     ftpAuth{},
		Perm:     ftpserver.NewSimplePerm("root", "root"),
		Hostname: "127.0.0.1",
		Logger:   &ftpserver.DiscardLogger{},
		Commands: cmds,
	}
}

// Opened returns the number of control connections accepted so far, and
// the most that the clients held open at once.
func (d *goftpd) Opened() (opened, maxOpen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.opened.Load()), d.maxOpen
}

// Open returns the number of control connections open now, as far as the
// server knows.
func (d *goftpd) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.open
}

func (d *goftpd) file(path string) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.files[path]
	return b, ok
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	d *goftpd
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &ftpdConn{Conn: conn, d: l.d}
	l.d.opened.Add(1)
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	// The client's connections at this moment: this one and those it has
	// not closed. The server may not have read a client's close yet, but
	// its socket knows of it.
	live := 1
	for _, old := range l.d.conns {
		if clientHolds(old.Conn) {
			live++
		}
	}
	l.d.conns = append(l.d.conns, c)
	l.d.open++
	l.d.maxOpen = max(l.d.maxOpen, live)
	return c, nil
}

// ftpdConn is a control connection as goftpd sees it. It remembers the
// passive port it announced last until a transfer uses it: goftp's passive
// listener waits a minute for a client that never connects, and holds its
// session until then, so the fixture connects to it itself at the end.
type ftpdConn struct {
	net.Conn
	d       *goftpd
	mu      sync.Mutex
	pending string // port announced and not yet used
	closed  bool
}

func (c *ftpdConn) Write(p []byte) (int, error) {
	if head, rest, ok := bytes.Cut(p, []byte("(|||")); ok {
		if port, tail, ok := bytes.Cut(rest, []byte("|)")); ok {
			c.mu.Lock()
			c.pending = string(port)
			c.mu.Unlock()
			if c.d.passive != nil {
				announced := fmt.Sprintf("%s(|||%s|)%s", head, c.d.passive(string(port)), tail)
				if _, err := io.WriteString(c.Conn, announced); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
	}
	return c.Conn.Write(p)
}

func (c *ftpdConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	// The client connects before it sends RETR: once RETR arrives, the
	// passive listener has its connection.
	if bytes.Contains(bytes.ToUpper(p[:n]), []byte("RETR ")) {
		c.mu.Lock()
		c.pending = ""
		c.mu.Unlock()
	}
	if err != nil {
		c.Close()
	}
	return n, err
}

func (c *ftpdConn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	if first {
		c.d.mu.Lock()
		c.d.open--
		c.d.mu.Unlock()
	}
	return c.Conn.Close()
}

// close ends the connection and frees a passive listener left waiting.
func (c *ftpdConn) close() {
	c.mu.Lock()
	port := c.pending
	c.mu.Unlock()
	if port != "" {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second); err == nil {
			conn.Close()
		}
	}
	c.Conn.Close()
}

// strictCommand answers 550 for a missing file and runs cmd otherwise.
type strictCommand struct {
	ftpserver.Command
	d      *goftpd
	extend bool
}

func (c strictCommand) IsExtend() bool { return c.extend || c.Command.IsExtend() }

func (c strictCommand) Execute(sess *ftpserver.Session, param string) {
	if _, ok := c.d.file(sess.BuildPath(param)); !ok {
		sess.WriteMessage(550, "No such file.")
		return
	}
	c.Command.Execute(sess, param)
}

// ftpAuth lets in anonymous with any password, and ftpUser.
type ftpAuth struct{}

func (ftpAuth) CheckPasswd(_ *ftpserver.Context, user, pass string) (bool, error) {
	return user == "anonymous" || user == ftpUser && pass == ftpPassword, nil
}

// memDriver serves goftpd's files, read-only.
type memDriver struct{ d *goftpd }

var errReadOnly = errors.New("read-only")

func (m memDriver) Stat(_ *ftpserver.Context, path string) (os.FileInfo, error) {
	if path == "/" {
		return memInfo{name: "/", dir: true}, nil
	}
	b, ok := m.d.file(path)
	if !ok {
		return nil, os.ErrNotExist
	}
	return memInfo{name: filepath.Base(path), size: int64(len(b))}, nil
}

func (m memDriver) GetFile(_ *ftpserver.Context, path string, offset int64) (int64, io.ReadCloser, error) {
	b, ok := m.d.file(path)
	if !ok {
		return 0, nil, os.ErrNotExist
	}
	offset = min(offset, int64(len(b)))
	r := io.Reader(bytes.NewReader(b[offset:]))
	if m.d.delay != nil {
		if pause := m.d.delay(path); pause > 0 {
			half := len(b[offset:]) / 2
			r = io.MultiReader(bytes.NewReader(b[offset:][:half]), pauseReader(pause), bytes.NewReader(b[offset:][half:]))
		}
	}
	return int64(len(b)) - offset, io.NopCloser(r), nil
}

// pauseReader sleeps for d on its first read, then ends.
type pauseReader time.Duration

func (p pauseReader) Read([]byte) (int, error) {
	time.Sleep(time.Duration(p))
	return 0, io.EOF
}

func (memDriver) ListDir(*ftpserver.Context, string, func(os.FileInfo) error) error {
	return errReadOnly
}
func (memDriver) DeleteDir(*ftpserver.Context, string) error      { return errReadOnly }
func (memDriver) DeleteFile(*ftpserver.Context, string) error     { return errReadOnly }
func (memDriver) Rename(*ftpserver.Context, string, string) error { return errReadOnly }
func (memDriver) MakeDir(*ftpserver.Context, string) error        { return errReadOnly }
func (memDriver) PutFile(*ftpserver.Context, string, io.Reader, int64) (int64, error) {
	return 0, errReadOnly
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return fetchtest.ModTime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}

// goftpdTLS is a goftp server that requires explicit TLS (AUTH TLS) with a
// certificate for 127.0.0.1, until the end of the test. It returns the
// server's URL and a TLS config that trusts it.
func startGoftpdTLS(t testing.TB, files map[string][]byte) (string, *tls.Config) {
	t.Helper()
	cert, roots := fetchtest.Certificate(t)
	d := &goftpd{files: files}
	opts := d.options()
	opts.TLS, opts.ExplicitFTPS, opts.ForceTLS = true, true, true
	opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	// goftp sets its TLS up in ListenAndServe only, on a port of its own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	started := make(chan struct{})
	var once sync.Once
	opts.Logger = startLogger{func() { once.Do(func() { close(started) }) }}
	srv, err := ftpserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	// Wait until it serves a session, which also orders its start before
	// Shutdown for the race detector.
	for {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			<-started
			conn.Close()
			break
		}
		select {
		case err := <-served:
			t.Fatalf("goftp TLS server: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		srv.Shutdown()
		<-served
	})
	return "ftp://" + ln.Addr().String(), &tls.Config{RootCAs: roots}
}

// startLogger calls started when goftp starts its first session.
type startLogger struct{ started func() }

func (l startLogger) Print(_ string, msg any) {
	if msg == "Connection Established" {
		l.started()
	}
}
func (startLogger) Printf(string, string, ...any)       {}
func (startLogger) PrintCommand(string, string, string) {}
func (startLogger) PrintResponse(string, int, string)   {}

// rawFTPD is a scripted FTP server for what goftp will not do: drop a data
// connection, lie, or stop answering. It serves one file at any path.
type rawFTPD struct {
	URL string

	file     []byte
	noSize   bool   // SIZE is refused
	password string // required of every user; "" lets anyone in
	// silent makes the server accept connections and never say a word.
	silent bool
	// greet returns the greeting of the nth connection (1, 2, ...).
	greet func(n int) string
	// user returns the reply to USER on the nth connection; nil means 331.
	user func(n int) string
	// mdtm returns the MDTM reply of the nth MDTM; nil means MDTM is not
	// supported.
	mdtm func(n int) string
	// retr says how the nth RETR goes: send the file up to byte cut (-1:
	// to its end), then end the data connection with the reply, or, with
	// hang, keep both connections open and say nothing more.
	retr func(n int) (cut int64, reply string, hang bool)

	ln      net.Listener
	conns   atomic.Int64
	mdtms   atomic.Int64
	retrs   atomic.Int64
	offsets chan int64 // REST offsets of the RETRs, if not nil
	wg      sync.WaitGroup
	mu      sync.Mutex
	open    []net.Conn
	done    bool
}

// start serves until the end of the test.
func (s *rawFTPD) start(t testing.TB) *rawFTPD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.URL = ln, "ftp://"+ln.Addr().String()
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(conn) {
				return
			}
			n := int(s.conns.Add(1))
			s.wg.Go(func() { s.serve(conn, n) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		s.done = true
		for _, c := range s.open {
			c.Close()
		}
		s.open = nil
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// track remembers conn to close at the end; false if that already came.
func (s *rawFTPD) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		conn.Close()
		return false
	}
	s.open = append(s.open, conn)
	return true
}

func (s *rawFTPD) serve(conn net.Conn, n int) {
	defer conn.Close()
	if s.silent {
		io.Copy(io.Discard, conn)
		return
	}
	r := bufio.NewReader(conn)
	reply := func(format string, args ...any) { fmt.Fprintf(conn, format+"\r\n", args...) }
	greeting := "220 raw test server"
	if s.greet != nil {
		greeting = s.greet(n)
	}
	reply("%s", greeting)
	if !strings.HasPrefix(greeting, "220") {
		return
	}
	var (
		pasv   net.Listener
		offset int64
	)
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(cmd) {
		case "USER":
			if s.user != nil {
				reply("%s", s.user(n))
				continue
			}
			reply("331 password please")
		case "PASS":
			if s.password != "" && arg != s.password {
				reply("530 Login incorrect.")
				continue
			}
			reply("230 logged in")
		case "FEAT":
			feat := "211-Features:\r\n SIZE\r\n REST STREAM\r\n"
			if s.mdtm != nil {
				feat += " MDTM\r\n"
			}
			reply("%s211 End", feat)
		case "TYPE":
			reply("200 binary")
		case "SIZE":
			if s.noSize {
				reply("502 no SIZE")
				continue
			}
			reply("213 %d", len(s.file))
		case "MDTM":
			if s.mdtm == nil {
				reply("502 no MDTM")
				continue
			}
			reply("213 %s", s.mdtm(int(s.mdtms.Add(1))))
		case "EPSV":
			if pasv != nil {
				pasv.Close()
			}
			if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				reply("425 no listener")
				continue
			}
			reply("229 Entering Extended Passive Mode (|||%d|)", pasv.Addr().(*net.TCPAddr).Port)
		case "REST":
			offset, _ = strconv.ParseInt(arg, 10, 64)
			reply("350 restarting at %d", offset)
		case "RETR":
			if !s.transfer(conn, pasv, offset, reply) {
				return
			}
			pasv, offset = nil, 0
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not here")
		}
	}
}

// transfer runs one RETR; false when the control connection must end.
func (s *rawFTPD) transfer(ctrl net.Conn, pasv net.Listener, offset int64, reply func(string, ...any)) bool {
	if pasv == nil {
		reply("425 use EPSV first")
		return true
	}
	defer pasv.Close()
	n := int(s.retrs.Add(1))
	if s.offsets != nil {
		s.offsets <- offset
	}
	pasv.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	data, err := pasv.Accept()
	if err != nil {
		reply("425 no data connection")
		return true
	}
	if !s.track(data) {
		return false
	}
	defer data.Close()
	reply("150 here it comes")
	cut, final, hang := int64(-1), "226 done", false
	if s.retr != nil {
		cut, final, hang = s.retr(n)
	}
	end := int64(len(s.file))
	if cut >= 0 {
		end = min(cut, end)
	}
	if offset < end {
		data.Write(s.file[offset:end])
	}
	if hang {
		io.Copy(io.Discard, ctrl) // until the client gives up
		return false
	}
	data.Close()
	reply("%s", final)
	return true
}

// vsftpd is a vsftpd that package vsftpd started for a test.
type vsftpd struct {
	URL  string // ftp://127.0.0.1:port, or ftps:// with implicit TLS
	Root string // the anonymous root: files written here are served
}

// vsftpdTLS says how vsftpd offers TLS.
type vsftpdTLS int

const (
	vsftpdPlain    = vsftpdTLS(vsftpdproc.Plain)
	vsftpdExplicit = vsftpdTLS(vsftpdproc.Explicit)
	vsftpdImplicit = vsftpdTLS(vsftpdproc.Implicit)
)

func startVsftpd(t testing.TB, mode vsftpdTLS) (*vsftpd, *tls.Config) {
	t.Helper()
	s := vsftpdproc.Start(t, vsftpdproc.Mode(mode))
	v := &vsftpd{URL: s.URL, Root: s.Root}
	if s.Roots == nil {
		return v, nil
	}
	return v, &tls.Config{RootCAs: s.Roots}
}

// put writes files (by slash path below the root) for vsftpd to serve.
func (v *vsftpd) put(t testing.TB, files map[string][]byte) {
	t.Helper()
	fetchtest.WriteTree(t, v.Root, files)
	for p := range files {
		name := filepath.Join(v.Root, filepath.FromSlash(p))
		if err := os.Chtimes(name, fetchtest.ModTime, fetchtest.ModTime); err != nil {
			t.Fatal(err)
		}
	}
}
