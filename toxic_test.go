package fetch_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// This file puts Toxiproxy, a fault-injecting TCP proxy, between the
// Fetcher and real servers: httptest over HTTP/1.1 and over TLS with
// HTTP/2, nginx when it is installed, and goftpd (its control and data
// connections). The faults are Toxiproxy's own, not the fixtures'.

// toxiproxyLeaks ignores the goroutines that Toxiproxy v2.5.0 leaves
// blocked for good when a toxic closes a connection: the toxic before it
// in the chain, and the reader of the other side, wait to send to a toxic
// that has returned. They are Toxiproxy's own; the Fetcher's goroutines
// are checked as everywhere else.
var toxiproxyLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/stream.(*ChanWriter).Write"),
}

// toxicLink is a set of Toxiproxy proxies that carry the same toxics: one
// for each upstream address a test needs.
type toxicLink struct {
	t      testing.TB
	api    *toxiproxy.ApiServer
	toxics []string // as Toxiproxy's API takes them, in JSON

	mu      sync.Mutex
	proxies []*toxiproxy.Proxy
	healed  bool
}

// newToxicLink returns a link whose proxies carry toxics; they stop at the
// end of the test.
func newToxicLink(t testing.TB, toxics ...string) *toxicLink {
	l := &toxicLink{
		t:      t,
		api:    toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		toxics: toxics,
	}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range l.proxies {
			p.Stop()
		}
		l.proxies = nil
	})
	return l
}

// proxy starts a proxy in front of upstream (host:port) and returns its
// address. It may be called from any goroutine.
func (l *toxicLink) proxy(upstream string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := toxiproxy.NewProxy(l.api, fmt.Sprintf("p%d", len(l.proxies)), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return "", err
	}
	l.proxies = append(l.proxies, p)
	if !l.healed {
		for _, tx := range l.toxics {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(tx)); err != nil {
				return "", fmt.Errorf("toxic %s: %w", tx, err)
			}
		}
	}
	return p.Listen, nil
}

// mustProxy is proxy for the test's goroutine.
func (l *toxicLink) mustProxy(upstream string) string {
	l.t.Helper()
	addr, err := l.proxy(upstream)
	if err != nil {
		l.t.Fatal(err)
	}
	return addr
}

// heal replaces every proxy with one without toxics on the same address,
// closing the connections of the old one; the proxies started later carry
// none. (Removing the toxics from a running proxy waits for connections
// that Toxiproxy leaves stuck: see toxiproxyLeaks.)
func (l *toxicLink) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.healed {
		return
	}
	l.healed = true
	for i, p := range l.proxies {
		p.Stop()
		clean := toxiproxy.NewProxy(l.api, p.Name, p.Listen, p.Upstream)
		if err := clean.Start(); err != nil {
			l.t.Errorf("restart proxy on %s: %v", p.Listen, err)
			continue
		}
		l.proxies[i] = clean
	}
}

// retryLog is a log handler that keeps the offset each retry of the
// Fetcher resumes from, and heals the link at the first retry when heal
// is set.
type retryLog struct {
	tx   *toxicRun
	heal bool
}

func (h retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (h retryLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "fetch: retrying") {
		return nil
	}
	if h.heal {
		h.tx.link.heal()
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "offset" {
			return true
		}
		h.tx.mu.Lock()
		h.tx.offsets = append(h.tx.offsets, a.Value.Int64())
		h.tx.mu.Unlock()
		return false
	})
	return nil
}
func (h retryLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h retryLog) WithGroup(string) slog.Handler      { return h }

// toxic returns the JSON of a toxic of type typ on stream, with the
// attributes given as name, value pairs.
func toxic(typ, stream string, attrs ...any) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"name":%q,"type":%q,"stream":%q,"attributes":{`, typ+"_"+stream, typ, stream)
	for i := 0; i+1 < len(attrs); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:%v", attrs[i], attrs[i+1])
	}
	b.WriteString("}}")
	return b.String()
}

// toxicCase is one row of the Toxiproxy matrix.
type toxicCase struct {
	name   string
	toxics []string
	na     map[string]string // protocol → why the case cannot happen there
	heal   bool              // the toxics go at the first retry
	size   int               // of the file; 0: toxicFileSize
	stall  time.Duration     // Options.StallTimeout; 0: faultStall
	want   expect
	check  func(t *testing.T, tx *toxicRun, res fetch.Result)
}

// transportError matches the typed errors of a link that broke.
var transportError = anyOf(errIs(io.ErrUnexpectedEOF), errIs(io.EOF), errIs(syscall.ECONNRESET), errIs(syscall.EPIPE),
	errIs(fetch.ErrStalled), isA[net.Error], isA[*fetch.TemporaryError])

const transportErrors = "io.ErrUnexpectedEOF, io.EOF, ECONNRESET, EPIPE, ErrStalled, net.Error or *TemporaryError"

// The Toxiproxy matrix's settings: the fault suite's stall timeout and a
// file that a link cut after 100 KB delivers in three connections.
const (
	toxicFileSize = faultFileSize
	toxicCut      = 100_000
	toxicRate     = 2048 // KB/s
)

var toxicCases = []toxicCase{
	{
		name:   "limit_data: every connection cut after 100 KB",
		toxics: []string{toxic("limit_data", "downstream", "bytes", toxicCut)},
		want:   expect{ok: true},
		check:  resumedEachTime,
	},
	{
		name:   "limit_data: every connection cut after 1 KB",
		toxics: []string{toxic("limit_data", "downstream", "bytes", 1000)},
		want:   expect{err: transportError, what: transportErrors},
		check:  toxicAttempts(1 + fetch.DefaultRetries),
	},
	{
		name:   "limit_data 1 KB until the first retry",
		toxics: []string{toxic("limit_data", "downstream", "bytes", 1000)},
		heal:   true,
		want:   expect{ok: true},
	},
	{
		name: "latency 30 ms with 20 ms jitter, both ways",
		toxics: []string{toxic("latency", "downstream", "latency", 30, "jitter", 20),
			toxic("latency", "upstream", "latency", 30, "jitter", 20)},
		want: expect{ok: true},
	},
	{
		name:   "bandwidth 2 MB a second",
		toxics: []string{toxic("bandwidth", "downstream", "rate", toxicRate)},
		want:   expect{ok: true},
		check: func(t *testing.T, tx *toxicRun, res fetch.Result) {
			// A lower bound: a loaded machine only takes longer.
			if least := time.Duration(toxicFileSize) * time.Second / (toxicRate * 1000) / 2; tx.took < least {
				t.Errorf("took %v; want at least %v at %d KB/s", tx.took, least, toxicRate)
			}
		},
	},
	{
		name:   "slicer: segments of 64±32 bytes, 20 µs apart",
		toxics: []string{toxic("slicer", "downstream", "average_size", 64, "size_variation", 32, "delay", 20)},
		size:   32 << 10, // 512 segments
		// Over TLS the client reads nothing until a whole record has come,
		// a record of a few KiB in dozens of segments, each a hand-off between
		// goroutines and a timer: on a loaded machine a record took longer than
		// faultStall, in every attempt. The stall timer is not what this case
		// tests.
		stall: fetch.DefaultStallTimeout,
		want:  expect{ok: true},
	},
	{
		name:   "timeout: silence until the first retry",
		toxics: []string{toxic("timeout", "downstream", "timeout", 0)},
		heal:   true,
		want:   expect{ok: true},
	},
	{
		name:   "timeout: silence, then close after 50 ms, always",
		toxics: []string{toxic("timeout", "downstream", "timeout", 50)},
		want:   expect{err: transportError, what: transportErrors},
		check:  toxicAttempts(1 + fetch.DefaultRetries),
	},
	{
		name:   "reset_peer at the first byte until the first retry",
		toxics: []string{toxic("reset_peer", "downstream", "timeout", 0)},
		heal:   true,
		want:   expect{ok: true},
	},
	{
		name: "reset_peer 50 ms into a 2 MB-a-second transfer until the first retry",
		toxics: []string{toxic("bandwidth", "downstream", "rate", toxicRate),
			toxic("reset_peer", "downstream", "timeout", 50)},
		heal: true,
		want: expect{ok: true},
	},
	{
		name:   "reset_peer at the first byte, always",
		toxics: []string{toxic("reset_peer", "downstream", "timeout", 0)},
		want:   expect{err: transportError, what: transportErrors},
		check:  toxicAttempts(1 + fetch.DefaultRetries),
	},
	{
		name:   "slow_close 100 ms",
		toxics: []string{toxic("slow_close", "downstream", "delay", 100), toxic("slow_close", "upstream", "delay", 100)},
		want:   expect{ok: true},
	},
}

// Protocols of the Toxiproxy matrix: the fault suite's, and nginx over
// HTTP/1.1 when it is installed.
var toxicProtocols = []string{"http", "https", "ftp", "nginx"}

// TestToxics runs every Toxiproxy case against every sink and protocol,
// with the fault suite's checks: a verified file or a typed error, no
// file at Path unless verified, the file that was there untouched on
// failure, no temporary file, a Writer never given a byte twice, no
// goroutine and no connection left open.
func TestToxics(t *testing.T) {
	var ng *nginx
	var c tally
	for _, tc := range toxicCases {
		for _, proto := range toxicProtocols {
			for _, sink := range faultSinks {
				why, isNA := tc.na[proto]
				c.run(t, tc.name+"/"+proto+"/"+sink, why, isNA, func(t *testing.T) {
					if proto == "nginx" && ng == nil {
						ng = startNginx(t)
					}
					runToxic(t, tc, proto, sink, ng)
				})
			}
		}
	}
	if ng != nil {
		ng.Stop()
	}
	t.Logf("toxics × sinks × protocols: %v", c)
}

// toxicRun is the state of one case of the matrix.
type toxicRun struct {
	*fixture
	link   *toxicLink
	ranges func() []string // the Range header of each request, for HTTP

	mu      sync.Mutex
	offsets []int64 // the bytes the Fetcher had at each retry, from its log
	took    time.Duration
}

func runToxic(t *testing.T, tc toxicCase, proto, sink string, ng *nginx) {
	fx := &fixture{
		proto:   proto,
		sink:    sink,
		content: fetchtest.Blob(cmp.Or(tc.size, toxicFileSize), uint64(len(tc.name))),
		dir:     t.TempDir(),
		old:     []byte("the good file that was here before"),
		ctx:     context.Background(),
	}
	tx := &toxicRun{fixture: fx}
	t.Cleanup(func() {
		goleak.VerifyNone(t, append(toxiproxyLeaks,
			goleak.IgnoreAnyFunction("net/http.(*http2serverConn).writeFrameAsync"),
			// The matrix's nginx serves every case: its process's waiter.
			goleak.IgnoreAnyFunction("github.com/fetchkit/fetch/internal/fetchtest.StartProcess.func1"))...)
	})
	tx.link = newToxicLink(t, tc.toxics...)
	switch proto {
	case "ftp":
		d := &goftpd{files: map[string][]byte{"/file": fx.content}}
		d.passive = func(port string) string {
			addr, err := tx.link.proxy(net.JoinHostPort("127.0.0.1", port))
			if err != nil {
				t.Errorf("data connection proxy: %v", err)
				return port
			}
			_, p, _ := net.SplitHostPort(addr)
			return p
		}
		d.start(t)
		up := strings.TrimPrefix(d.URL, "ftp://")
		fx.url = "ftp://" + tx.link.mustProxy(up) + "/file"
		fx.servers = append(fx.servers, ftpControl(up))
	case "nginx":
		name := fmt.Sprintf("f%d", time.Now().UnixNano())
		if err := os.WriteFile(filepath.Join(ng.root, name), fx.content, 0o644); err != nil {
			t.Fatal(err)
		}
		fx.url = "http://" + tx.link.mustProxy(ng.Addr) + "/" + name
		fx.servers = append(fx.servers, ftpControl(ng.Addr))
		tx.ranges = func() []string { return ng.ranges(name) }
	default:
		srv := fx.start(t, func(fx *fixture, n int, w http.ResponseWriter, r *http.Request) { fx.serve(w, r) })
		fx.url = strings.Replace(srv.URL, srv.Listener.Addr().String(), tx.link.mustProxy(srv.Listener.Addr().String()), 1) + "/file"
		tx.ranges = func() (rs []string) {
			for n := 1; n <= int(srv.Hits.Load()); n++ {
				rs = append(rs, srv.Header(n).Get("Range"))
			}
			return rs
		}
	}

	rec := &onceWriter{want: fx.content}
	req := fetch.Request{URL: fx.url, Digests: map[string]string{"sha256": fetchtest.SHA256(fx.content)}, Size: fx.size()}
	if sink == "path" || sink == "both" {
		req.Path = filepath.Join(fx.dir, "file")
		if err := os.WriteFile(req.Path, fx.old, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if sink == "writer" || sink == "both" {
		req.Writer = rec
	}

	opts := fetch.Options{StallTimeout: cmp.Or(tc.stall, faultStall), BackoffBase: time.Millisecond, MaxRetryAfter: faultMaxRetryAfter}
	opts.Logger = slog.New(retryLog{tx: tx, heal: tc.heal})
	if proto == "https" {
		opts.Client = fx.servers[0].(httpTarget).Client()
	}
	f := fetch.New(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := f.Fetch(ctx, req)
	tx.took = time.Since(start)

	fx.checkResult(t, tc.want, res, err)
	if req.Path != "" {
		fx.checkPath(t, req.Path, err)
	}
	if req.Writer != nil {
		if rec.err != nil {
			t.Error(rec.err)
		}
		if err == nil && rec.n != len(fx.content) {
			t.Errorf("Writer got %d bytes; want the %d served", rec.n, fx.size())
		}
	}
	noPartials(t, fx.dir)
	if tc.check != nil {
		tc.check(t, tx, res)
	}
	fx.waitClosed(t, func() {
		f.Close()
		if opts.Client != nil {
			opts.Client.CloseIdleConnections()
		}
	})
}

// onceWriter checks that it is given the bytes of want in order, each
// once: a byte given twice, or skipped, makes what follows differ.
type onceWriter struct {
	want []byte
	n    int
	err  error
}

func (w *onceWriter) Write(p []byte) (int, error) {
	if w.err == nil && !bytes.HasPrefix(w.want[w.n:], p) {
		w.err = fmt.Errorf("Writer got %d bytes at offset %d that are not the file's bytes there", len(p), w.n)
	}
	w.n += len(p)
	return len(p), nil
}

func toxicAttempts(n int) func(*testing.T, *toxicRun, fetch.Result) {
	return func(t *testing.T, tx *toxicRun, res fetch.Result) {
		if res.Attempts != n {
			t.Errorf("got %d attempts; want %d", res.Attempts, n)
		}
	}
}

// resumedEachTime checks that every HTTP request after the first asked
// for the bytes after those the Fetcher had when it retried: none started
// from zero, none asked again for bytes it had, and what it had never
// shrank. How much a cut connection delivers varies: a close with data
// unread resets the connection, and the client loses what it had not
// read yet, so a retry may have no more bytes than the one before.
func resumedEachTime(t *testing.T, tx *toxicRun, res fetch.Result) {
	if res.Attempts < 2 {
		t.Errorf("got %d attempts; want the link to have cut some", res.Attempts)
	}
	tx.mu.Lock()
	offsets := slices.Clone(tx.offsets)
	tx.mu.Unlock()
	if len(offsets) != res.Attempts-1 {
		t.Errorf("logged %d retries; want %d, one before each attempt after the first", len(offsets), res.Attempts-1)
	}
	want := []string{""} // the Range of each attempt
	for i, o := range offsets {
		if i > 0 && o < offsets[i-1] {
			t.Errorf("retry %d resumed from %d, before the %d the one before had", i+1, o, offsets[i-1])
		}
		r := ""
		if o > 0 {
			r = fmt.Sprintf("bytes=%d-", o)
		}
		want = append(want, r)
	}
	if tx.ranges == nil {
		return
	}
	// net/http may send a request again on a new connection when the
	// one it chose was closed: the server then sees it twice.
	rs := tx.ranges()
	j := 0
	for i, r := range rs {
		switch {
		case r == want[j]:
		case j+1 < len(want) && r == want[j+1]:
			j++
		default:
			t.Errorf("request %d: got Range %q; want %q (attempt %d) or the next attempt's; all: %q", i+1, r, want[j], j+1, want)
		}
	}
	if j != len(want)-1 {
		t.Errorf("server saw the Ranges %q; want %q", rs, want)
	}
}

// nginx is an nginx server for the matrix: it serves the files in root
// and logs the Range header of each request.
type nginx struct {
	*fetchtest.Nginx
	root string
	log  string
}

// startNginx starts nginx, or skips t when it is not installed.
func startNginx(t testing.TB) *nginx {
	ng := &nginx{}
	ng.Nginx = fetchtest.StartNginx(t, func(n *fetchtest.Nginx) string {
		ng.root, ng.log = filepath.Join(n.Dir, "www"), filepath.Join(n.Dir, "access.log")
		return fmt.Sprintf(`	log_format ranges "$uri $http_range";
	access_log %s ranges;
	server {
		listen %s;
		root %s;
	}`, ng.log, n.Addr, ng.root)
	})
	if err := os.Mkdir(ng.root, 0o755); err != nil {
		ng.Stop()
		t.Fatal(err)
	}
	return ng
}

// ranges returns the Range header of each request for /name.
func (ng *nginx) ranges(name string) []string {
	b, _ := os.ReadFile(ng.log)
	var rs []string
	for line := range strings.Lines(string(b)) {
		if uri, r, ok := strings.Cut(strings.TrimSpace(line), " "); ok && uri == "/"+name {
			if r == "-" {
				r = ""
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// TestLinkCutEvery8MB: a 64 MiB file behind a link that cuts every
// connection after 8 MB (Toxiproxy's limit_data) arrives whole with the
// default Options, and every request after the first asks for the bytes
// right after those the one before delivered.
func TestLinkCutEvery8MB(t *testing.T) {
	if testing.Short() {
		t.Skip("a 64 MiB transfer")
	}
	const size, cut = 64 << 20, 8_000_000
	content := fetchtest.Blob(size, 16)
	srv := fetchtest.Start(t, fetchtest.HTTP, func(s *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		s.Serve(w, r, fetchtest.Doc{Body: content, Mod: fetchtest.ModTime}, -1)
	})
	link := newToxicLink(t, toxic("limit_data", "downstream", "bytes", cut))
	u := "http://" + link.mustProxy(srv.Listener.Addr().String()) + "/file"

	f := fetch.New(fetch.Options{})
	defer f.Close()
	path := filepath.Join(t.TempDir(), "file")
	w := &onceWriter{want: content}
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: u, Path: path, Writer: w, Size: size, Digests: fetchtest.Digests(content)})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !bytes.Equal(readFile(t, path), content) || w.n != size || w.err != nil {
		t.Errorf("got a file of %d bytes and %d bytes in the Writer (%v); want %d", len(readFile(t, path)), w.n, w.err, size)
	}
	var ranges []string
	for n := 1; n <= int(srv.Hits.Load()); n++ {
		ranges = append(ranges, srv.Header(n).Get("Range"))
	}
	t.Logf("%d attempts, Range headers %q", res.Attempts, ranges)
	if want := size/(cut-1000) + 1; res.Attempts < want || len(ranges) != res.Attempts {
		t.Errorf("got %d attempts, %d requests; want %d or more, one request each", res.Attempts, len(ranges), want)
	}
	// Each connection delivers 8 MB less the response's header.
	last := int64(0)
	for i, r := range ranges {
		if i == 0 {
			if r != "" {
				t.Errorf("request 1: got Range %q; want none", r)
			}
			continue
		}
		from, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r, "bytes="), "-"), 10, 64)
		if err != nil || from-last <= cut-1000 || from-last > cut {
			t.Errorf("request %d: got Range %q; want bytes=N- with N in (%d, %d]: where request %d stopped", i+1, r, last+cut-1000, last+cut, i)
		}
		last = from
	}
}

// TestOneByteAConnection: a server that sends one byte on each connection
// makes no progress, and with the default Options the request fails after
// 1+DefaultRetries attempts.
func TestOneByteAConnection(t *testing.T) {
	d := fetchtest.Doc{Body: fetchtest.Blob(1<<20, 19), Mod: fetchtest.ModTime}
	o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { o.Serve(w, r, d, 1) })
	f := fetch.New(fetch.Options{})
	defer f.Close()
	path := filepath.Join(t.TempDir(), "file")
	w := &onceWriter{want: d.Body}
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: o.URL + "/file", Path: path, Writer: w})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got error %v; want io.ErrUnexpectedEOF", err)
	}
	if want := 1 + fetch.DefaultRetries; res.Attempts != want || int(o.Hits.Load()) != want {
		t.Errorf("got %d attempts (the server saw %d); want %d", res.Attempts, o.Hits.Load(), want)
	}
	if w.err != nil || w.n != res.Attempts {
		t.Errorf("the Writer got %d bytes (%v); want one from each attempt", w.n, w.err)
	}
	if readFile(t, path) != nil {
		t.Errorf("a file was left at Path")
	}
}
