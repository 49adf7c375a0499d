package fetchtest

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DebArchive is a Debian archive that a test builds in a folder as a
// publisher does: .debs built with dpkg-deb into pool/main/, indexes
// written by apt-ftparchive (Packages, .gz and .xz, and their by-hash
// copies), a Release that says Acquire-By-Hash, and, when it has a key,
// InRelease and Release.gpg signed with gpg.
type DebArchive struct {
	t testing.TB
	// Dir is the archive's root, which holds dists/ and pool/.
	Dir string
	// Suite is the distribution, published in dists/Suite with the one
	// component main.
	Suite string
	// Archs are the architectures that Release lists, "all" among them
	// when packages of architecture all go in binary-all.
	Archs []string
	// Key signs the Release; nil: unsigned.
	Key *GPG
	// Indexes are more files of the distribution, by slash path relative
	// to dists/Suite (main/dep11/Components-amd64.yml.gz), that Publish
	// writes and lists in the Release, as a real archive lists its dep11,
	// cnf, i18n and debian-installer files.
	Indexes map[string][]byte
}

// NewDebArchive returns an empty archive in dir, or skips t when
// dpkg-deb or apt-ftparchive is not installed.
func NewDebArchive(t testing.TB, dir, suite string, archs []string, key *GPG) *DebArchive {
	t.Helper()
	Program(t, "dpkg-deb", "dpkg")
	Program(t, "apt-ftparchive", "apt-utils")
	return &DebArchive{t: t, Dir: dir, Suite: suite, Archs: archs, Key: key}
}

// A DebPackage is a package that [DebArchive.Build] makes.
type DebPackage struct {
	Name, Version, Arch string
	Depends             string // the Depends field; "": none
	// Files are the files it installs, by slash path relative to /.
	Files map[string][]byte
}

// Build builds p into pool/main/ and returns its path relative to Dir.
func (a *DebArchive) Build(p DebPackage) string {
	a.t.Helper()
	src := filepath.Join(a.t.TempDir(), "pkg")
	control := "Package: " + p.Name + "\nVersion: " + p.Version + "\nArchitecture: " + p.Arch +
		"\nMaintainer: Nobody <nobody@example.com>\nDescription: a package for fetch's tests\n"
	if p.Depends != "" {
		control += "Depends: " + p.Depends + "\n"
	}
	files := map[string][]byte{"DEBIAN/control": []byte(control)}
	for name, body := range p.Files {
		files[name] = body
	}
	WriteTree(a.t, src, files)
	rel := "pool/main/" + p.Name + "_" + p.Version + "_" + p.Arch + ".deb"
	if err := os.MkdirAll(filepath.Join(a.Dir, "pool", "main"), 0o755); err != nil {
		a.t.Fatal(err)
	}
	a.run("dpkg-deb", "--root-owner-group", "--build", src, filepath.Join(a.Dir, filepath.FromSlash(rel)))
	return rel
}

// Publish writes the indexes of every package in pool/main/ and the
// Release (signed when the archive has a Key), and dates every file of
// dists/ at, so that each publication has its own Last-Modified, as on a
// real archive.
func (a *DebArchive) Publish(at time.Time) {
	a.t.Helper()
	dist := filepath.Join(a.Dir, "dists", a.Suite)
	for _, arch := range a.Archs {
		if err := os.MkdirAll(filepath.Join(dist, "main", "binary-"+arch), 0o755); err != nil {
			a.t.Fatal(err)
		}
	}
	conf := filepath.Join(a.t.TempDir(), "generate.conf")
	WriteTree(a.t, filepath.Dir(conf), map[string][]byte{filepath.Base(conf): []byte(`Dir { ArchiveDir "` + a.Dir + `"; CacheDir "` + filepath.Dir(conf) + `"; };
Default { Packages::Compress ". gzip xz"; };
TreeDefault { Directory "pool/$(SECTION)"; Contents " "; };
Tree "dists/` + a.Suite + `" { Sections "main"; Architectures "` + strings.Join(a.Archs, " ") + `"; };
`)})
	a.run("apt-ftparchive", "generate", conf)
	WriteTree(a.t, dist, a.Indexes)
	// The files that the Release lists: apt-ftparchive's own patterns,
	// and cnf's Commands-*, which it leaves out.
	var patterns []string
	for _, p := range []string{"Packages*", "Sources*", "Release", "Contents-*", "Index", "Translation-*", "icons-*", "Components-*", "Commands-*"} {
		patterns = append(patterns, "-o", "APT::FTPArchive::Release::Patterns::="+p)
	}
	release := a.run("apt-ftparchive", append(patterns,
		"-o", "APT::FTPArchive::DoByHash=true", "-o", "APT::FTPArchive::Release::Acquire-By-Hash=yes",
		"-o", "APT::FTPArchive::Release::Origin=fetch", "-o", "APT::FTPArchive::Release::Label=fetch",
		"-o", "APT::FTPArchive::Release::Suite="+a.Suite, "-o", "APT::FTPArchive::Release::Codename="+a.Suite,
		"-o", "APT::FTPArchive::Release::Architectures="+strings.Join(a.Archs, " "), "-o", "APT::FTPArchive::Release::Components=main",
		"release", dist)...)
	files := map[string][]byte{"Release": release}
	if a.Key != nil {
		files["InRelease"] = a.Key.Clearsign(release)
		files["Release.gpg"] = a.Key.DetachSign(release, true)
	}
	WriteTree(a.t, dist, files)
	err := filepath.WalkDir(dist, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			err = os.Chtimes(p, at, at)
		}
		return err
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

// PublishFlat writes the indexes of every package in pool/main/ as a flat
// repository at Dir, which a sources.list line names "URL ./": Packages
// and Packages.gz, and the Release (signed when the archive has a Key),
// at the root.
func (a *DebArchive) PublishFlat() {
	a.t.Helper()
	packages := a.run("apt-ftparchive", "packages", "pool")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(packages)
	zw.Close()
	WriteTree(a.t, a.Dir, map[string][]byte{"Packages": packages, "Packages.gz": gz.Bytes()})
	release := a.run("apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=fetch", "release", ".")
	files := map[string][]byte{"Release": release}
	if a.Key != nil {
		files["InRelease"] = a.Key.Clearsign(release)
		files["Release.gpg"] = a.Key.DetachSign(release, true)
	}
	WriteTree(a.t, a.Dir, files)
}

func (a *DebArchive) run(name string, args ...string) []byte {
	a.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = a.Dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		a.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Apt is an apt client whose state lives in a temporary folder: its
// sources, lists, cache and dpkg status are its own, and it touches
// nothing of the system's.
type Apt struct {
	t testing.TB
	// Root holds etc/, lists/, cache/ and status.
	Root string
	// Opts are the -o options that point apt at Root, given to every
	// command.
	Opts []string
}

// NewApt returns an apt client for arch whose sources.list is sources
// (lines "deb [signed-by=...] URL SUITE main"), or skips t when apt-get
// is not installed.
func NewApt(t testing.TB, arch, sources string) *Apt {
	t.Helper()
	Program(t, "apt-get", "apt")
	root := t.TempDir()
	for _, d := range []string{"lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d", "etc/apt.conf.d", "etc/trusted.gpg.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	WriteTree(t, root, map[string][]byte{"status": nil, "etc/sources.list": []byte(sources)})
	opts := []string{
		"-o", "Dir::Etc=" + filepath.Join(root, "etc"),
		"-o", "Dir::State::Lists=" + filepath.Join(root, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(root, "status"),
		"-o", "Dir::Cache=" + filepath.Join(root, "cache"),
		"-o", "Debug::NoLocking=1", "-o", "APT::Architecture=" + arch, "-o", "APT::Architectures=" + arch,
		"-o", "Acquire::Languages=none", "-o", "Acquire::PDiffs=false", "-o", "Acquire::http::Proxy=DIRECT",
	}
	if os.Geteuid() == 0 {
		opts = append(opts, "-o", "APT::Sandbox::User=root")
	}
	return &Apt{t: t, Root: root, Opts: opts}
}

// Run runs program (apt-get, apt-cache) with the client's options and
// args in dir, and returns its output and error.
func (c *Apt) Run(dir, program string, args ...string) (string, error) {
	cmd := exec.Command(program, append(append([]string{}, c.Opts...), args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Must runs as Run does and fails the test when the program fails.
func (c *Apt) Must(dir, program string, args ...string) string {
	c.t.Helper()
	out, err := c.Run(dir, program, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", program, strings.Join(args, " "), err, out)
	}
	return out
}

// Candidate returns the version of package that apt-cache policy says it
// would install, failing the test when it says none.
func (c *Apt) Candidate(pkg string) string {
	c.t.Helper()
	out := c.Must(c.Root, "apt-cache", "policy", pkg)
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate: "); ok {
			return v
		}
	}
	c.t.Fatalf("apt-cache policy says no candidate:\n%s", out)
	return ""
}
