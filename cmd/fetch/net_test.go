package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/internal/vsftpd"
)

// TestMalformedURLPassword checks that a URL that does not parse is named
// without its password, as an operand, a list line and a mirror.
func TestMalformedURLPassword(t *testing.T) {
	const bad = "http://alice:pa%zzss@127.0.0.1:1/x"
	for _, args := range [][]string{
		{"-o", t.TempDir(), bad},
		{"-o", t.TempDir(), "-mirror", bad, "http://127.0.0.1:1/x"},
		{"-o", t.TempDir(), "-i", "-"},
		{"sync", bad, t.TempDir()},
	} {
		res := fetchRun(t, t.Context(), bad+" size=1\n", args...)
		if res.code == 0 {
			t.Errorf("fetch %s: exit 0; want a failure", strings.Join(args, " "))
		}
		if out := res.stdout + res.stderr; strings.Contains(out, "pa%zzss") || !strings.Contains(out, "alice:xxxxx@") {
			t.Errorf("fetch %s: output %q; want the URL without its password", strings.Join(args, " "), out)
		}
	}
}

// writePEM writes blocks of type typ to a new file in dir and returns its
// name.
func writePEM(t *testing.T, dir, name, typ string, der ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	for _, d := range der {
		pem.Encode(&b, &pem.Block{Type: typ, Bytes: d})
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServer serves the file /f.bin over HTTPS with the certificate of
// httptest, which signs itself; it returns the server and a PEM file of its
// certificate.
func tlsServer(t *testing.T, body []byte, config func(*tls.Config)) (*httptest.Server, string) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/f.bin" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	srv.TLS = &tls.Config{}
	if config != nil {
		config(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
}

func TestTLSTrust(t *testing.T) {
	body := fetchtest.Blob(5000, 10)
	srv, ca := tlsServer(t, body, nil)
	const warning = "fetch: warning: -insecure"
	for _, tc := range []struct {
		name     string
		flags    []string
		code     int
		want     string // in stderr
		warnings int
	}{
		{"untrusted", nil, 1, "give its CA with -cacert FILE", 0},
		{"cacert", []string{"-cacert", ca}, 0, "1 done", 0},
		{"insecure", []string{"-insecure"}, 0, "1 done", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"-o", out, "-retries", "0"}, tc.flags...)
			res := fetchRun(t, t.Context(), "", append(args, srv.URL+"/f.bin")...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.code, res.stderr, tc.code, tc.want)
			}
			if n := strings.Count(res.stderr, warning); n != tc.warnings {
				t.Errorf("%d warnings; want %d", n, tc.warnings)
			}
			if tc.code == 0 {
				checkFiles(t, out, map[string][]byte{"f.bin": body})
			}
		})
	}
	res := fetchRun(t, t.Context(), "", "-cacert", filepath.Join(t.TempDir(), "none.pem"), srv.URL+"/f.bin")
	if res.code != exitUsage || !strings.Contains(res.stderr, "-cacert") {
		t.Errorf("missing -cacert file: exit %d; want %d, naming -cacert", res.code, exitUsage)
	}
}

// newClientCert returns a CA and a client certificate that it signed.
func newClientCert(t *testing.T) (ca *x509.Certificate, certDER []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "mirror client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if certDER, err = x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	return ca, certDER, key
}

func TestClientCertificate(t *testing.T) {
	ca, certDER, key := newClientCert(t)
	body := fetchtest.Blob(3000, 10)
	srv, serverCA := tlsServer(t, body, func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = x509.NewCertPool()
		c.ClientCAs.AddCert(ca)
	})
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", certDER)
	keyFile := writePEM(t, dir, "client.key", "PRIVATE KEY", keyDER)
	both := filepath.Join(dir, "both.pem")
	c, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(both, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		flags []string
		code  int
	}{
		{"no certificate", nil, 1},
		{"cert and key", []string{"-cert", certFile, "-key", keyFile}, 0},
		{"one file", []string{"-cert", both}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"-o", out, "-retries", "0", "-cacert", serverCA}, tc.flags...)
			res := fetchRun(t, t.Context(), "", append(args, srv.URL+"/f.bin")...)
			if res.code != tc.code {
				t.Fatalf("exit %d; want %d", res.code, tc.code)
			}
			if tc.code == 0 {
				checkFiles(t, out, map[string][]byte{"f.bin": body})
			}
		})
	}
}

func TestFTPExplicitTLSFlag(t *testing.T) {
	s := vsftpd.Start(t, vsftpd.Explicit)
	body := fetchtest.Blob(20000, 10)
	fetchtest.WriteTree(t, s.Root, map[string][]byte{"pub/f.bin": body})

	// The control connection goes through a recorder: after AUTH TLS the
	// client sends nothing in clear text.
	rec := recordTCP(t, strings.TrimPrefix(s.URL, "ftp://"))
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, "-ftp-tls", "-cacert", s.CAFile, "ftp://"+rec.addr+"/pub/f.bin")
	if res.code != 0 {
		t.Fatalf("-ftp-tls: exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"f.bin": body})
	sent := rec.sent()
	if !bytes.HasPrefix(sent, []byte("AUTH TLS\r\n")) {
		t.Errorf("the client's first words: %.40q; want AUTH TLS", sent)
	}
	for _, word := range []string{"USER", "PASS", "RETR", "anonymous", "f.bin"} {
		if bytes.Contains(sent, []byte(word)) {
			t.Errorf("the client sent %q in clear text", word)
		}
	}

	// In clear text the server refuses the login, and says why.
	res = fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-retries", "0", s.URL+"/pub/f.bin")
	if res.code != 1 || !strings.Contains(res.stderr, "530") || !strings.Contains(res.stderr, "encryption") {
		t.Errorf("plain: exit %d, stderr %q; want 1 and the server's 530 refusal", res.code, res.stderr)
	}
	// An untrusted certificate fails with the hint.
	res = fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-retries", "0", "-ftp-tls", s.URL+"/pub/f.bin")
	if res.code != 1 || !strings.Contains(res.stderr, "-cacert") {
		t.Errorf("untrusted: exit %d, stderr %q; want 1 and the -cacert hint", res.code, res.stderr)
	}
}

func TestFTPSImplicitCACert(t *testing.T) {
	s := vsftpd.Start(t, vsftpd.Implicit)
	body := fetchtest.Blob(20000, 10)
	fetchtest.WriteTree(t, s.Root, map[string][]byte{"f.bin": body})
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, "-cacert", s.CAFile, s.URL+"/f.bin")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	checkFiles(t, out, map[string][]byte{"f.bin": body})
}

func TestHeadersAndUserAgent(t *testing.T) {
	primary := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusInternalServerError)
	})
	mirror := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	})
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, "-retries", "0",
		"-H", "X-Repo: main", "-H", "Authorization: Bearer tok3n", "-user-agent", "mirror-bot/2",
		"-mirror", mirror.URL+"/", primary.URL+"/f.bin")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	if p, m := primary.Hits.Load(), mirror.Hits.Load(); p != 1 || m != 1 {
		t.Fatalf("%d and %d requests; want 1 and 1", p, m)
	}
	p, m := primary.Header(1), mirror.Header(1)
	for _, tc := range []struct {
		name       string
		h          http.Header
		key, value string
	}{
		{"primary", p, "X-Repo", "main"},
		{"primary", p, "Authorization", "Bearer tok3n"},
		{"primary", p, "User-Agent", "mirror-bot/2"},
		{"mirror", m, "X-Repo", "main"},
		{"mirror", m, "Authorization", ""}, // credentials stay with their host
		{"mirror", m, "User-Agent", "mirror-bot/2"},
	} {
		if got := tc.h.Get(tc.key); got != tc.value {
			t.Errorf("%s got %s %q; want %q", tc.name, tc.key, got, tc.value)
		}
	}

	res = fetchRun(t, t.Context(), "", "-H", "no colon", primary.URL+"/f.bin")
	if res.code != exitUsage {
		t.Errorf("-H without a colon: exit %d; want %d", res.code, exitUsage)
	}
}

// writeSecret writes s to name, readable by its owner only.
func writeSecret(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNetrc(t *testing.T) {
	const password = "n3trc-pw"
	srv := fetchtest.Start(t, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="repo"`)
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("secret file"))
	})
	dir := t.TempDir()
	netrc := filepath.Join(dir, "netrc")
	wrong := filepath.Join(dir, "wrong")
	writeSecret(t, netrc, "machine example.org login bob password other\n\nmachine 127.0.0.1\n  login alice\n  password \""+password+"\"\n")
	writeSecret(t, wrong, "default login alice password nope\n")

	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, "-netrc-file", netrc, srv.URL+"/f.bin")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	res = fetchRun(t, t.Context(), "", "-o", out, "-retries", "0", "-netrc-file", wrong, srv.URL+"/f.bin")
	if res.code != 1 || !strings.Contains(res.stderr, "401") || strings.Contains(res.stderr, "nope") {
		t.Errorf("wrong password: exit %d, stderr %q; want 1, status 401, no password", res.code, res.stderr)
	}
	// -netrc reads ~/.netrc.
	home := t.TempDir()
	writeSecret(t, filepath.Join(home, ".netrc"), "default login alice password "+password+"\n")
	t.Setenv("HOME", home)
	res = fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-netrc", srv.URL+"/f.bin")
	if res.code != 0 {
		t.Errorf("-netrc: exit %d; want 0", res.code)
	}
}

func TestParseNetrc(t *testing.T) {
	n, err := parseNetrc("machine a.example login u1 password p1\n" +
		"macdef init\ncd /pub\nmachine evil login x password y\n\n" +
		"machine b.example login u2 account acct password \"p 2\\\"\"\ndefault login anon password guest\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, user, login, password string }{
		{"a.example", "", "u1", "p1"},
		{"B.example", "", "u2", `p 2"`},
		{"evil", "", "anon", "guest"}, // inside a macro: not a machine
		{"a.example", "u9", "", ""},   // another user: not found
		{"c.example", "anon", "anon", "guest"},
	} {
		login, password, _ := n.lookup(tc.host, tc.user)
		if login != tc.login || password != tc.password {
			t.Errorf("lookup(%q, %q) = %q, %q; want %q, %q", tc.host, tc.user, login, password, tc.login, tc.password)
		}
	}
	for _, bad := range []string{"login x", "machine", "machine a frobnicate"} {
		if _, err := parseNetrc(bad); err == nil {
			t.Errorf("parseNetrc(%q): no error", bad)
		}
	}
}

func TestAllowInsecureRedirect(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("plain")) }))
	t.Cleanup(plain.Close)
	secure, ca := tlsServer(t, nil, nil)
	secure.Config.Handler = http.RedirectHandler(plain.URL+"/f.bin", http.StatusFound)

	res := fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-cacert", ca, secure.URL+"/f.bin")
	if res.code != 1 || !strings.Contains(res.stderr, "redirect refused") {
		t.Errorf("exit %d; want 1 and the redirect refused", res.code)
	}
	res = fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-cacert", ca, "-allow-insecure-redirect", secure.URL+"/f.bin")
	if res.code != 0 {
		t.Errorf("-allow-insecure-redirect: exit %d; want 0", res.code)
	}
}

func TestLimitRate(t *testing.T) {
	body := fetchtest.Blob(16<<20, 11)
	r := newRepo(t, map[string][]byte{"big.bin": body})
	out := t.TempDir()
	start := time.Now()
	res := fetchRun(t, t.Context(), "", "-o", out, "-limit-rate", "8M", r.URL+"/big.bin")
	elapsed := time.Since(start)
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	if elapsed < 1500*time.Millisecond {
		t.Errorf("16 MiB at -limit-rate 8M took %v; want at least 1.5s", elapsed)
	}
	checkFiles(t, out, map[string][]byte{"big.bin": body})

	res = fetchRun(t, t.Context(), "", "-limit-rate", "fast", r.URL+"/big.bin")
	if res.code != exitUsage {
		t.Errorf("-limit-rate fast: exit %d; want %d", res.code, exitUsage)
	}
}

func TestFTPTypeSuffix(t *testing.T) {
	files := map[string][]byte{"pub/a.iso": fetchtest.Blob(3000, 9), "pub/b.txt": []byte("line one\r\nline two\r\n")}
	root := t.TempDir()
	fetchtest.WriteTree(t, root, files)
	base := startFTP(t, root)
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, base+"/pub/a.iso;type=i", base+"/pub/b.txt;TYPE=A")
	if res.code != 0 {
		t.Fatalf("exit %d; want 0", res.code)
	}
	// Type I either way: the CRLFs of the text file are kept.
	checkFiles(t, out, map[string][]byte{"a.iso": files["pub/a.iso"], "b.txt": files["pub/b.txt"]})
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain é ü", "plain é ü"},
		{"red\x1b[31m", `red\x1b[31m`},
		{"a\rb\bc\x7f", `a\rb\bc\x7f`},
		{"csi\u009b2J", `csi\u009b2J`},
		{"bad\xffutf8", `bad\xffutf8`},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestFailureLines checks that a failure line names its URL once, and
// shows no control character that a server or a URL put there.
func TestFailureLines(t *testing.T) {
	srv, _ := tlsServer(t, []byte("x"), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/f.bin"
	ln.Close()
	r := newRepo(t, nil)
	for _, u := range []string{srv.URL + "/f.bin", dead, r.URL + "/%1b%5b2J%1b%5b31mred.bin"} {
		res := fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-retries", "0", u)
		if res.code != 1 {
			t.Errorf("%s: exit %d; want 1", u, res.code)
		}
		checkPlain(t, res.stderr)
		for _, line := range strings.Split(res.stderr, "\n") {
			if strings.HasPrefix(line, "FAIL ") && strings.Count(line, u) != 1 {
				t.Errorf("failure line names its URL more than once: %q", line)
			}
		}
	}
	// A list line with a raw escape sequence in it.
	res := fetchRun(t, t.Context(), r.URL+"/\x1b[2J\x1b[31mred.bin"+"\n", "-o", t.TempDir(), "-i", "-")
	if res.code != 1 || !strings.Contains(res.stderr, `\x1b[2J`) {
		t.Errorf("exit %d, stderr %q; want 1 and the escape sequence escaped", res.code, res.stderr)
	}
	checkPlain(t, res.stderr)
}

// TestSyncNotAManifest checks that a MANIFEST that is an HTML page, such
// as the listing a folder's URL redirects to, is refused in one line with
// a hint.
func TestSyncNotAManifest(t *testing.T) {
	listing := "<!DOCTYPE html>\n<html><body><pre>\n<a href=\"PULP_MANIFEST\">PULP_MANIFEST</a>\n<a href=\"a.rpm\">a.rpm</a>\n</pre></body></html>\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/repo":
			http.Redirect(w, r, "/repo/", http.StatusMovedPermanently)
		case "/repo/", "/repo/index.html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(listing))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	for _, u := range []string{srv.URL + "/repo", srv.URL + "/repo/index.html"} {
		res := fetchRun(t, t.Context(), "", "sync", u, t.TempDir())
		want := "did you mean " + srv.URL + "/repo/PULP_MANIFEST?"
		if res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("sync %s: exit %d, stderr %q; want 1 and %q", u, res.code, res.stderr, want)
		}
		if n := strings.Count(res.stderr, "\n"); n != 2 {
			t.Errorf("sync %s: %d lines; want the refusal and the summary", u, n)
		}
	}
}

func TestSchemeHint(t *testing.T) {
	for _, arg := range []string{"127.0.0.1:8080/x.iso", "example.org/pub/x.iso", "localhost/x"} {
		res := fetchRun(t, t.Context(), "", "-o", t.TempDir(), arg)
		if want := "did you mean http://" + arg + "?"; res.code != exitUsage || !strings.Contains(res.stderr, want) {
			t.Errorf("fetch %s: exit %d, stderr %q; want %d and %q", arg, res.code, res.stderr, exitUsage, want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // at the start of stdout
	}{
		{[]string{"-version"}, 0, "fetch "},
		{[]string{"version"}, 0, "fetch "},
		{[]string{"sync", "-version"}, 0, "fetch "},
		{[]string{"help"}, 0, usage},
		{[]string{"help", "sync"}, 0, syncUsage},
		{[]string{"help", "proxy"}, 0, proxyUsage},
		{[]string{"sync", "-h"}, 0, syncUsage},
		{[]string{"proxy", "-h"}, 0, proxyUsage},
		{[]string{"-h"}, 0, usage},
		{[]string{"help", "frob"}, exitUsage, ""},
	} {
		res := fetchRun(t, t.Context(), "", tc.args...)
		if res.code != tc.code || !strings.HasPrefix(res.stdout, tc.want) {
			t.Errorf("fetch %s: exit %d, stdout %.40q; want %d and %.40q", strings.Join(tc.args, " "), res.code, res.stdout, tc.code, tc.want)
		}
	}
	res := fetchRun(t, t.Context(), "", "version")
	if !strings.Contains(res.stdout, runtime.Version()) || !strings.Contains(res.stdout, fetch.Version()) {
		t.Errorf("version: %q; want the module's version %q and Go's %q", res.stdout, fetch.Version(), runtime.Version())
	}
}

// TestSameOutputRefused checks that two downloads that would write one
// file are refused before any starts, naming both.
func TestSameOutputRefused(t *testing.T) {
	r := newRepo(t, map[string][]byte{"a/x.html": []byte("a"), "b/x.html": []byte("b"), "c.txt": []byte("c")})
	out := t.TempDir()
	res := fetchRun(t, t.Context(), "", "-o", out, r.URL+"/a/x.html", r.URL+"/b/x.html")
	if res.code != exitUsage || !strings.Contains(res.stderr, r.URL+"/a/x.html"+" and "+r.URL+"/b/x.html"+" would both write x.html") {
		t.Errorf("operands: exit %d, stderr %q; want %d, naming both", res.code, res.stderr, exitUsage)
	}

	list := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(list, []byte(r.URL+"/c.txt"+"\n# same file\n"+r.URL+"/a/x.html"+" out=c.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = fetchRun(t, t.Context(), "", "-o", out, "-i", list)
	if res.code != exitUsage || !strings.Contains(res.stderr, list+":1 and "+list+":3 would both write c.txt") {
		t.Errorf("list: exit %d, stderr %q; want %d, naming both lines", res.code, res.stderr, exitUsage)
	}
	if n := fileHits(r); n != 0 {
		t.Errorf("%d requests; want none", n)
	}

	// Standard input is read as it comes: the second line fails.
	res = fetchRun(t, t.Context(), r.URL+"/c.txt"+"\n"+r.URL+"/a/x.html"+" out=c.txt\n", "-o", out, "-i", "-")
	if res.code != 1 || !strings.Contains(res.stderr, "stdin:1 and stdin:2 would both write c.txt") || !strings.Contains(res.stderr, "1 done") {
		t.Errorf("stdin: exit %d, stderr %q; want 1, the first done, the second refused", res.code, res.stderr)
	}
	checkFiles(t, out, map[string][]byte{"c.txt": []byte("c")})
}

// tcpRecorder forwards the connections made to addr to a server, and
// records what the clients send.
type tcpRecorder struct {
	addr string
	mu   sync.Mutex
	buf  bytes.Buffer
}

// recordTCP forwards connections to target until the end of the test.
func recordTCP(t *testing.T, target string) *tcpRecorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRecorder{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() {
				io.Copy(io.MultiWriter(s, r), c)
				s.(*net.TCPConn).CloseWrite()
			})
			wg.Go(func() {
				io.Copy(c, s)
				c.Close()
				s.Close()
			})
		}
	})
	return r
}

func (r *tcpRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// sent returns what the clients sent so far.
func (r *tcpRecorder) sent() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}
