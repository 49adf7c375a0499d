package fetchtest

import (
	"net"
	"os/exec"
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
