package fetchtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Nginx is an nginx server that a test started on a free loopback port:
// one process (master_process off), run as whoever runs the tests.
type Nginx struct {
	*Process
	Addr string // host:port it listens on
	Dir  string // nginx.conf, error.log, the pid and temporary files
}

// StartNginx starts nginx with the directives of its http block that
// http returns for n (n.Addr and n.Dir are set: a server block listens
// on n.Addr, logs go below n.Dir), or skips t when nginx is not
// installed. The caller stops it with Stop; it may outlive t.
func StartNginx(t testing.TB, http func(n *Nginx) string) *Nginx {
	t.Helper()
	bin := Program(t, "nginx", "nginx")
	// A port found free may be taken before nginx listens on it: a few
	// tries.
	for range 5 {
		dir, err := os.MkdirTemp("", "nginx")
		if err != nil {
			t.Fatal(err)
		}
		n := &Nginx{Addr: freeAddr(t), Dir: dir}
		conf := filepath.Join(dir, "nginx.conf")
		err = os.WriteFile(conf, fmt.Appendf(nil, `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, http(n)), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		// Its output goes to a file, which takes no goroutine to copy.
		out, err := os.Create(filepath.Join(dir, "output"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf)
		cmd.Stdout, cmd.Stderr = out, out
		n.Process = StartProcess(t, cmd)
		out.Close()
		if n.Listening(n.Addr) {
			return n
		}
		b, _ := os.ReadFile(out.Name())
		n.Stop()
		t.Logf("nginx did not start on %s: %s", n.Addr, b)
	}
	t.Fatal("nginx did not start")
	return nil
}

// Stop kills nginx, waits for its end and removes its directory.
func (n *Nginx) Stop() {
	n.Kill()
	os.RemoveAll(n.Dir)
}

// freeAddr returns a loopback address that no one listened on a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
