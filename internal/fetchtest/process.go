package fetchtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Process is a program that a test started: a server (nginx, vsftpd) or
// the command under test.
type Process struct {
	Cmd *exec.Cmd
	// Exited is closed when the process has ended and Cmd.Wait returned.
	Exited chan struct{}
}

// StartProcess starts cmd and waits for its end in the background.
func StartProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, Exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.Exited)
	}()
	return p
}

// Kill kills the process (SIGKILL) and waits for its end.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.Exited
}

// Listening reports whether something listens at addr before the process
// ends, or ten seconds pass.
func (p *Process) Listening(addr string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return true
		}
		select {
		case <-p.Exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// Program returns the path of the installed program name, found on PATH
// or in /usr/sbin, or skips t when it is not installed, naming the Debian
// package that has it.
func Program(t testing.TB, name, pkg string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	bin := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not installed (apt-get install %s): skipping the tests against it", name, pkg)
	}
	return bin
}
