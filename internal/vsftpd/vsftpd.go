// Package vsftpd runs vsftpd, the FTP server of Debian and others, for the
// tests of the module: on a free loopback port, for anonymous downloads
// from a temporary directory, until the end of the test. The test is
// skipped when vsftpd is not installed.
package vsftpd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// Mode says how the server offers TLS.
type Mode int

const (
	Plain    Mode = iota // no TLS
	Explicit             // AUTH TLS required of anonymous logins and data (RFC 4217)
	Implicit             // TLS from the first byte (ftps://)
)

// Server is a running vsftpd.
type Server struct {
	URL  string // ftp://127.0.0.1:port, or ftps:// with implicit TLS
	Root string // the anonymous root: files written here are served
	// CAFile is a PEM file of the certificate that the server presents,
	// which signs itself; empty for Plain.
	CAFile string
	// Roots trusts the server's certificate; nil for Plain.
	Roots *x509.CertPool
}

// Start runs vsftpd in mode until the end of t.
func Start(t testing.TB, mode Mode) *Server {
	t.Helper()
	bin := fetchtest.Program(t, "vsftpd", "vsftpd")
	dir := t.TempDir()
	s := &Server{Root: filepath.Join(dir, "root")}
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	var tlsConf string
	if mode != Plain {
		var cert tls.Certificate
		cert, s.Roots = fetchtest.Certificate(t)
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		var certPEM, keyPEM bytes.Buffer
		pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
		pem.Encode(&keyPEM, &pem.Block{Type: "PRIVATE KEY", Bytes: key})
		s.CAFile = filepath.Join(dir, "ca.pem")
		pemFile := filepath.Join(dir, "server.pem")
		if err := os.WriteFile(s.CAFile, certPEM.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pemFile, append(certPEM.Bytes(), keyPEM.Bytes()...), 0o600); err != nil {
			t.Fatal(err)
		}
		tlsConf = "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n" +
			"rsa_cert_file=" + pemFile + "\nrsa_private_key_file=" + pemFile + "\n"
		if mode == Implicit {
			tlsConf += "implicit_ssl=YES\n"
		}
	}
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		conf := filepath.Join(dir, "vsftpd.conf")
		// run_as_launching_user lets it run as whoever runs the tests,
		// root included, without a chroot or a secure_chroot_dir.
		err = os.WriteFile(conf, []byte(fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%d
background=NO
run_as_launching_user=YES
seccomp_sandbox=NO
anonymous_enable=YES
anon_root=%s
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
max_clients=0
max_per_ip=0
delay_failed_login=0
xferlog_enable=NO
vsftpd_log_file=%s
%s`, port, s.Root, filepath.Join(dir, "vsftpd.log"), tlsConf)), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, conf)
		cmd.Stdout, cmd.Stderr = &out, &out
		d := fetchtest.StartProcess(t, cmd)
		if d.Listening(addr) {
			t.Cleanup(d.Kill)
			s.URL = "ftp://" + addr
			if mode == Implicit {
				s.URL = "ftps://" + addr
			}
			return s
		}
		d.Kill()
		t.Logf("vsftpd did not start on %s: %s", addr, out.String())
	}
	t.Fatal("vsftpd did not start")
	return nil
}
