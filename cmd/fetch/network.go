package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/fetchkit/fetch"
)

// netConfig holds the flags that say how fetch talks to servers: whom it
// trusts, who it says it is, what it sends. Every subcommand has them.
type netConfig struct {
	cacert, cert, key     string
	insecure              bool
	ftpTLS                bool
	headers               stringsFlag
	userAgent             string
	netrc                 bool
	netrcFile             string
	allowInsecureRedirect bool
	limitRate             sizeFlag // bytes per second; 0: no limit

	// Set by check.
	tls    *tls.Config // nil: the defaults
	header http.Header // of -H
	creds  *netrc      // of -netrc or -netrc-file; nil without
}

// define defines the flags of nc in fs.
func (nc *netConfig) define(fs *flag.FlagSet) {
	fs.StringVar(&nc.cacert, "cacert", "", "")
	fs.BoolVar(&nc.insecure, "insecure", false, "")
	fs.StringVar(&nc.cert, "cert", "", "")
	fs.StringVar(&nc.key, "key", "", "")
	fs.BoolVar(&nc.ftpTLS, "ftp-tls", false, "")
	fs.Var(&nc.headers, "H", "")
	fs.StringVar(&nc.userAgent, "user-agent", "", "")
	fs.BoolVar(&nc.netrc, "netrc", false, "")
	fs.StringVar(&nc.netrcFile, "netrc-file", "", "")
	fs.BoolVar(&nc.allowInsecureRedirect, "allow-insecure-redirect", false, "")
	fs.Var(&nc.limitRate, "limit-rate", "")
}

// check checks the values of nc and loads the files they name.
func (nc *netConfig) check() error {
	if nc.cacert != "" || nc.cert != "" || nc.key != "" || nc.insecure {
		nc.tls = &tls.Config{InsecureSkipVerify: nc.insecure}
	}
	if nc.cacert != "" {
		pemCerts, err := os.ReadFile(nc.cacert)
		if err != nil {
			return fmt.Errorf("-cacert: %v", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pemCerts) {
			return fmt.Errorf("-cacert %s: no PEM certificate in it", nc.cacert)
		}
		nc.tls.RootCAs = roots
	}
	switch {
	case nc.key != "" && nc.cert == "":
		return errors.New("-key without -cert")
	case nc.cert != "":
		key := nc.key
		if key == "" {
			key = nc.cert // one PEM file with both
		}
		cert, err := tls.LoadX509KeyPair(nc.cert, key)
		if err != nil {
			return fmt.Errorf("-cert %s, -key %s: %v", nc.cert, key, err)
		}
		nc.tls.Certificates = []tls.Certificate{cert}
	}
	for _, h := range nc.headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !isToken(name) || strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		if nc.header == nil {
			nc.header = http.Header{}
		}
		nc.header.Add(name, value)
	}
	if strings.ContainsAny(nc.userAgent, "\r\n\x00") {
		return fmt.Errorf("-user-agent %q: a line break or NUL", nc.userAgent)
	}
	file := nc.netrcFile
	if file == "" && nc.netrc {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("-netrc: %v", err)
		}
		file = filepath.Join(home, ".netrc")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("-netrc: %v", err)
		}
		if nc.creds, err = parseNetrc(string(b)); err != nil {
			return fmt.Errorf("-netrc %s: %v", file, err)
		}
	}
	return nil
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// warn prints the warnings that nc calls for.
func (nc *netConfig) warn(stderr io.Writer) {
	if nc.insecure {
		fmt.Fprintln(stderr, "fetch: warning: -insecure: server certificates are not checked; anyone on the way can read and change the files")
	}
}

// apply sets what nc asks for in opts, whose Limiter is set. The returned
// func closes what apply opened, after the Fetcher's Close.
func (nc *netConfig) apply(opts *fetch.Options) (close func()) {
	opts.TLSConfig = nc.tls
	opts.UserAgent = nc.userAgent
	opts.AllowInsecureRedirect = nc.allowInsecureRedirect
	if nc.limitRate > 0 {
		opts.RateLimit = fetch.NewRateLimit(int64(nc.limitRate))
	}
	if !nc.ftpTLS {
		return func() {}
	}
	pool := fetch.NewFTPPool(fetch.FTPPoolOptions{TLSConfig: nc.tls, ExplicitTLS: true, MaxIdlePerHost: opts.Limiter.PerHost()})
	opts.FTP = pool
	return func() { pool.Close() }
}

// request sets the headers and credentials that nc asks for in req.
func (nc *netConfig) request(req *fetch.Request) {
	if nc.header != nil {
		req.Header = nc.header.Clone()
	}
	req.URL = nc.login(req.URL)
	for i, m := range req.Mirrors {
		req.Mirrors[i] = nc.login(m)
	}
}

// login returns rawURL with the -netrc credentials of its host, if it has
// none of its own (or a user only, whose password the file gives).
func (nc *netConfig) login(rawURL string) string {
	if nc.creds == nil {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	nc.loginURL(u)
	return u.String()
}

// loginURL sets the -netrc credentials of u's host in u, as login does.
func (nc *netConfig) loginURL(u *url.URL) {
	if nc.creds == nil || u.Host == "" {
		return
	}
	if _, ok := u.User.Password(); ok {
		return
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	if login, password, ok := nc.creds.lookup(u.Hostname(), user); ok {
		u.User = url.UserPassword(login, password)
	}
}
