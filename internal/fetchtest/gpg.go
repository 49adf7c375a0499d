package fetchtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GPG is a GnuPG home that a test made, with one signing key: it signs as
// a repository's publisher does. The gpg-agent it starts is stopped at
// the end of the test.
type GPG struct {
	t    testing.TB
	bin  string
	Home string
}

// NewGPG makes a GnuPG home in a temporary directory with a new key for
// uid (an ed25519 key without passphrase or expiry), or skips t when gpg
// is not installed.
func NewGPG(t testing.TB, uid string) *GPG {
	t.Helper()
	g := &GPG{t: t, bin: Program(t, "gpg", "gnupg")}
	// gpg-agent's socket lives in the home: keep its path short.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g.Home = home
	t.Cleanup(func() {
		if conf, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(conf, "--kill", "all")
			cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
			cmd.Run()
		}
		os.RemoveAll(home)
	})
	g.Run(nil, "--quick-generate-key", uid, "ed25519", "sign", "never")
	return g
}

// Run runs gpg in batch mode on g's home with args, stdin as its input
// (none when nil), and returns what it wrote to its standard output,
// failing the test when it fails.
func (g *GPG) Run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	args = append([]string{"--batch", "--quiet", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	cmd := exec.Command(g.bin, args...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Export returns the public key, armored or binary, as
// `gpg --export [--armor]` writes it.
func (g *GPG) Export(armored bool) []byte {
	g.t.Helper()
	if armored {
		return g.Run(nil, "--armor", "--export")
	}
	return g.Run(nil, "--export")
}

// WriteKey writes the binary public key to a file in dir and returns its
// path: a keyring for `fetch sync -keyring` or apt's signed-by.
func (g *GPG) WriteKey(dir string) string {
	g.t.Helper()
	name := filepath.Join(dir, "key.gpg")
	if err := os.WriteFile(name, g.Export(false), 0o644); err != nil {
		g.t.Fatal(err)
	}
	return name
}

// Clearsign returns text clear-signed, as InRelease is.
func (g *GPG) Clearsign(text []byte) []byte {
	g.t.Helper()
	return g.Run(text, "--digest-algo", "SHA512", "--clearsign")
}

// DetachSign returns a detached signature of data, armored (as
// Release.gpg and repomd.xml.asc are) or binary.
func (g *GPG) DetachSign(data []byte, armored bool) []byte {
	g.t.Helper()
	if armored {
		return g.Run(data, "--digest-algo", "SHA512", "--armor", "--detach-sign")
	}
	return g.Run(data, "--digest-algo", "SHA512", "--detach-sign")
}
