// Command fetch downloads many files at once over HTTP, HTTPS, FTP and FTPS,
// verifies them while they stream, and mirrors Pulp file repositories.
//
// Run "fetch -h" for its usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/repo/pulp"
)

const usage = `Usage:
  fetch [flags] URL...           download URLs into -o DIR
  fetch [flags] -i LIST          download the URLs listed in LIST ("-": standard input)
  fetch [flags] -metalink FILE_OR_URL
                                 the files of a Metalink (3 or 4), into -o DIR
  fetch sync [flags] URL DIR     mirror a repository (rpm-md, Pulp) into DIR
  fetch sync [flags] -metalink URL DIR
  fetch sync [flags] -mirrorlist URL DIR
                                 the same, from the mirrors a document names
  fetch proxy [flags]            serve downloads over HTTP (see "fetch proxy -h")

Downloads run in parallel within the connection limits. Each file is written
to a partial file beside it (".NAME.part") and renamed into place only once
its size and digests are checked, so a file in place is always complete.
A download that fails or is interrupted (Ctrl-C, SIGTERM, even kill -9 once
its first MiB came) keeps its partial file when the server gave an ETag or
Last-Modified, or the digest is known, with ".NAME.part.guard" beside it
recording the URL, that validator and the expected size and digest; the
next run for the same file resumes it with a range request when the server
still has the same file (If-Range) or the digest is known, and starts over
otherwise. The summary says how many partial files were kept. -no-continue
turns this off: a run then writes to ".NAME.*.part" and keeps nothing. A run
that completes leaves no partial file: fetch sync removes, in DIR, those that
no running fetch holds (a lock on each partial file, released when its
process ends) and that no file of the manifest resumes; fetch removes, in -o
DIR, those of the files it put in place.

File names come from the last segment of the URL's path. An existing file of
the same name is replaced, except when the list gives its digest and the file
already has it: then it is skipped. Two URLs (or lines of a LIST file) that
would write the same file are refused before any download, naming both, with
exit status 2; a line of standard input that would write the file of an
earlier one fails. URLs may be http, https, ftp, ftps, and
file (any local file you can read).

LIST has one file a line:
  URL [key=value ...]
with the keys
  out=PATH        where to save it, relative to -o DIR (default: the URL's name)
  size=BYTES      exact size (size=0: an empty file)
  sha256=HEX      expected digest; also md5, sha1, sha224, sha384, sha512
  mirror=URL      another URL of the same file, tried when URL fails (repeatable)
Blank lines are skipped; "#" starts a comment, at the start of a line or of a
field. Values cannot contain spaces (percent-encode them in URLs).

` + syncAbout + `
Every folder and file that a run makes below DIR (and below -o DIR) is made
through DIR itself: a symbolic link that appears in DIR while the run goes on,
pointing outside it, makes the files below it fail; nothing is written outside.

Mirrors: each -mirror BASE is another place that serves the same tree. A URL
that starts with the base of the run has its rest appended to every BASE, and
those URLs are tried in order when it fails. The base is, for fetch sync, the
repository's folder; for URLs and lists, the -base PREFIX if given (URLs that
do not start with it get no mirrors), else the directory of each URL.

Flags (-o, -i and -base are not for fetch sync; -max-manifest, -verify,
-format, -keyring and -delete only for it):
  -o DIR          directory to download into (default ".")
  -i LIST         read URLs from the file LIST, "-" for standard input
  -base PREFIX    the part of each URL that -mirror replaces
  -metalink FILE_OR_URL
                  download the files that the Metalink document (version 4,
                  RFC 5854, or 3.0, as Fedora's MirrorManager serves it) at
                  FILE_OR_URL describes, as aria2c -M does: each under its
                  name below -o DIR, from its URLs in the document's order
                  (priority, or preference) as mirrors, checked against its
                  size and hashes. A document that cannot be read (not XML,
                  a hash of the wrong length, a URL of a scheme fetch does
                  not speak, a name that leaves -o DIR) downloads nothing.
                  For fetch sync, -metalink names a repository's mirrors:
                  see "fetch sync -h"
  -mirror BASE    another base to try for every URL (repeatable)
  -j N            transfers at once, in all (default 10)
  -per-host N     transfers at once to one host (default 6)
  -segments N     split a large file into up to N parts fetched at once, each
                  on a connection of its own within -j and -per-host (aria2c
                  calls it -s); only for servers that accept ranges, files of
                  2 MiB or more, and files with a digest or a validator (ETag,
                  Last-Modified) to guard the parts (default 1: one connection)
  -adapt-segments make -segments N a ceiling: start on two connections and
                  open another only while the last one raised the total rate
                  (for servers that shape each connection)
  -retries N      extra attempts at a URL after a transient failure: a network
                  error, a stall, HTTP 408, 429 or 5xx (default 3; 0: none,
                  one attempt; the library's Options.Retries writes none as a
                  negative number, its 0 being the default, 3). An attempt
                  cut after it delivered 64 KiB or more resumes where it
                  stopped without using up a retry, up to 1000 attempts at a
                  URL
  -stall D        give up an attempt that receives no byte for D (default 30s)
  -timeout D      stop the whole run after D, with exit status 1
                  (default 0: no limit)
  -q              quiet: no progress and no summary, only failures
  -version        print the version of fetch and of Go, and do nothing else
                  (also "fetch version"; "fetch help [sync|proxy]" prints a
                  usage)
  -no-continue    start every download from zero and keep no partial file
` + maxManifestHelp + `
Servers (these flags apply to fetch sync and fetch proxy too):
  -cacert FILE    trust the CA certificates of the PEM file FILE, as well as
                  the system's, for https and ftps (and ftp with -ftp-tls)
  -insecure       do not check server certificates (a warning is printed)
  -cert FILE      client certificate, PEM; FILE may hold its key too
  -key FILE       the client certificate's private key, PEM
  -ftp-tls        ftp:// URLs use explicit TLS (AUTH TLS), never clear text;
                  ftps:// URLs always use implicit TLS (port 990)
  -H 'NAME: VALUE'
                  send this header with every HTTP request (repeatable);
                  Authorization and Cookie go to the URL's own host only, not
                  to a mirror or a redirect to another host
  -user-agent S   the User-Agent header (default "fetch/VERSION (+https://github.com/fetchkit/fetch)")
  -netrc          take user names and passwords by host from ~/.netrc, as
                  curl does, for URLs that give none
  -netrc-file F   the same, from the file F
  -allow-insecure-redirect
                  let an https URL follow a redirect to plain http
  -limit-rate RATE
                  receive at most RATE bytes per second, all transfers
                  together: a number with K, M or G (powers of 1024), such
                  as 500K or 10M (default 0: no limit)
The system's CA certificates are those of SSL_CERT_FILE (a PEM file) and
SSL_CERT_DIR (a directory of them) when set.

On a terminal, fetch shows the overall progress and a bar for each transfer;
otherwise it prints one line for each file that failed, then a summary.
Exit status: 0 when every file is in place, 1 when any failed, 2 for a usage
error, 130 when interrupted (SIGINT; SIGTERM gives 143).

Examples:
  fetch -o iso https://fixtures.pulpproject.org/file/1.iso https://fixtures.pulpproject.org/file/2.iso
  echo https://fixtures.pulpproject.org/file/3.iso out=third.iso | fetch -i - -o iso
  fetch sync https://fixtures.pulpproject.org/file/PULP_MANIFEST file-repo
  fetch sync -j 4 -per-host 2 -retries 5 -stall 1m file-repo/PULP_MANIFEST file-copy
`

// maxManifestHelp describes -max-manifest, in both usages.
const maxManifestHelp = `  -max-manifest N refuse a manifest larger than N bytes; its lines are
                  checked as it arrives (default 33554432: 32 MiB, about
                  400,000 files)
  -verify         read and hash every file already in DIR, even one that
                  fetch verified and that is unchanged since (same size,
                  modification time and inode), and download again those
                  that do not match
`

// syncAbout describes fetch sync, in both usages.
const syncAbout = `fetch sync mirrors the repository at URL (a URL, or a local path) into DIR,
found by what URL names:
  - a PULP_MANIFEST, or a folder that has one: a Pulp file repository, whose
    manifest's lines are "relative/path,sha256,size";
  - a folder with repodata/repomd.xml: an rpm-md repository (dnf, yum): the
    data files that repomd.xml lists, repomd.xml.asc and .key when there,
    and every package that primary lists, at its location (one with an
    xml:base is downloaded from there, and kept at its location);
  - any other file: a Pulp manifest of another name.
-format pulp|rpm says which it is instead. Each file is checked against
the size and digest its metadata give; files already there with them are
skipped, so running a finished sync again downloads nothing; a file that
fetch verified is not even read again while its size, modification time and
inode stay what they were then (the summary says how many files in place were
trusted so, and how many hashed). Metadata with a
malformed entry, or with a path that would leave DIR (an absolute path, "..",
or a symbolic link in DIR that points outside it), are refused whole before
any package is downloaded, naming the file and line.

DIR stays consistent for the clients that read it during a sync: the new
metadata are downloaded and checked into DIR/.fetch-staging, the packages go
to their places, and only once every one is in place are the metadata
published, top file last (for rpm-md: the data files, whose names carry their
checksums, then repomd.xml.asc, then repomd.xml). If any package fails,
nothing new is published: DIR keeps the metadata of its last complete sync,
and the packages that arrived stay for the next run. The metadata that a
sync replaces stay until the next one, for a client that read the old top
file a moment before. Files in DIR that the metadata do not name are left
alone, unless -delete is given.
`

// debAbout describes fetch sync of a Debian archive.
const debAbout = `With -dist, URL is a Debian archive's root (the URL of a sources.list line)
and fetch sync mirrors each distribution's InRelease (else Release and
Release.gpg), every index its Release lists for the chosen components and
architectures (Packages, Translation, dep11, cnf: whatever apt and its hooks
ask for; Sources, Contents and debian-installer with their flags), each
checked against Release's size and SHA512 (SHA256 when it gives no SHA512),
kept under by-hash/ too when Release says Acquire-By-Hash, and every package
those indexes name, below pool/. The new metadata are
published once every package is in place: by-hash files, the indexes,
Release.gpg and Release, then InRelease; if any package fails, nothing is.
A Release past its Valid-Until, or older than the one DIR holds, is refused
before any index is fetched.
`

const syncUsage = `Usage:
  fetch sync [flags] URL DIR
  fetch sync [flags] -metalink URL DIR
  fetch sync [flags] -mirrorlist URL DIR
  fetch sync [flags] -dist NAME [-dist NAME...] URL DIR

` + syncAbout + `
` + debAbout + `
fetch sync has the flags of "fetch -h" but -o, -i and -base, and these:
` + maxManifestHelp + `  -format F       the repository's format: pulp, rpm or deb (default: found
                  from URL; deb with -dist)
  -keyring FILE   OpenPGP public keys (armored or binary: gpg --export, a
                  Debian keyring): the repository's signature (repomd.xml.asc;
                  InRelease, else Release.gpg) must be there and verify with
                  one of them, or the sync fails before any package is
                  downloaded. Without it, signatures are mirrored unchecked,
                  and the run says so
  -delete         once the new metadata are published, remove the packages
                  that they no longer name (for rpm-md, *.rpm outside
                  repodata/; for Debian, files below pool/; for Pulp, any
                  file but the manifest); prints how many
  -metalink URL   the repository is the rpm-md one whose repomd.xml the
                  Metalink document at URL (a URL or a local path) names, as
                  a .repo file's metalink= does: Metalink 3.0 as Fedora's
                  MirrorManager serves it, or 4. Its URLs, which end in
                  repodata/repomd.xml, give the mirrors' bases (what precedes
                  it), tried by preference, then in document order; -mirror
                  bases come after them. The mirrors are asked for
                  repomd.xml in that order until one serves a copy whose
                  size and hashes are those the document gives for the file,
                  or for one of its mm0:alternates (a mirror slightly behind,
                  as dnf accepts it); that copy is the one mirrored. A mirror
                  whose repomd.xml cannot be had (404, no connection) or has
                  other hashes is dropped: it is asked for nothing else in the
                  run. When none matches, the sync fails with nothing
                  downloaded past repomd.xml and nothing published. During the
                  run, a mirror that failed a file that another then served
                  with its digest goes to the end of the order. The summary
                  names the mirrors dropped and moved, and why.
  -mirrorlist URL the same with a mirror list: one base URL a line, "#"
                  comments (a .repo file's mirrorlist=); the first mirror
                  that serves the top file is the one mirrored (-format
                  pulp|rpm says which top file; rpm-md by default; with
                  -dist, a Debian archive's roots, asked for the first
                  -dist's InRelease, whose signature -keyring checks)
` + debFlagsHelp + `Each -mirror BASE is another base that serves what the repository's folder
does. A manifest that is not one (an HTML page, such as the listing that a
URL without its PULP_MANIFEST leads to) is refused in one line, with a hint.

Exit status: 0 when every file is in place, 1 when any failed, 2 for a usage
error, 130 when interrupted (SIGINT; SIGTERM gives 143).

Examples:
  fetch sync https://fixtures.pulpproject.org/file/PULP_MANIFEST file-repo
  fetch sync -dist bookworm-updates -component contrib \
    -keyring /usr/share/keyrings/debian-archive-keyring.gpg \
    http://deb.debian.org/debian/ debian
  fetch sync -j 4 -per-host 2 -retries 5 -stall 1m file-repo/PULP_MANIFEST file-copy
  fetch sync -delete -keyring RPM-GPG-KEY http://mirror.example/fedora/os/ fedora
  fetch sync -metalink 'https://mirrors.fedoraproject.org/metalink?repo=updates-released-f41&arch=x86_64' updates
`

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		// A second signal ends the process at once.
		signal.Stop(signals)
		cancel(interrupted{sig})
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// interrupted is the cause of the cancellation of run's context by a signal.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string {
	switch e.sig {
	case os.Interrupt:
		return "interrupted by SIGINT"
	case syscall.SIGTERM:
		return "interrupted by SIGTERM"
	}
	return "interrupted by " + e.sig.String()
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// run runs the command with args (without the program name) and returns
// its exit status. Cancelling ctx stops it as SIGINT does; a cause of type
// interrupted sets the status that the signal calls for.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sync":
			return runSync(ctx, args[1:], stdout, stderr)
		case "proxy":
			return runProxy(ctx, args[1:], stdout, stderr)
		case "help":
			return runHelp(args[1:], stdout, stderr)
		case "version":
			printVersion(stdout)
			return exitOK
		}
	}
	return runGet(ctx, args, stdin, stdout, stderr)
}

// runHelp prints the usage of the command, or of its subcommand args[0].
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, usage)
	case len(args) == 1 && args[0] == "sync":
		fmt.Fprint(stdout, syncUsage)
	case len(args) == 1 && args[0] == "proxy":
		fmt.Fprint(stdout, proxyUsage)
	default:
		fmt.Fprintf(stderr, "fetch help: %s: want nothing, sync or proxy\n", escape(strings.Join(args, " ")))
		return exitUsage
	}
	return exitOK
}

// printVersion prints the version of the module the command was built
// from, and of Go.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "fetch %s (github.com/fetchkit/fetch), %s %s/%s\n", fetch.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// config holds the flags shared by the subcommands.
type config struct {
	out      string
	list     string
	base     string
	metalink string // -metalink: a Metalink's files (get), or a repository's mirrors (sync)
	mirrors  stringsFlag
	jobs     int
	perHost  int
	segments int
	adapt    bool // -adapt-segments
	retries  int
	stall    time.Duration
	timeout  time.Duration
	quiet    bool
	version  bool // -version: print it and do nothing else
	noResume bool

	maxManifest int64    // sync only
	verify      bool     // sync only: -verify
	mirrorlist  string   // sync only: -mirrorlist, a repository's mirrors
	delete      bool     // sync only
	format      string   // sync only: -format
	keyring     string   // sync only: -keyring FILE
	deb         debFlags // sync only: -dist and what to mirror of it
	netConfig
}

// defaultMaxManifest is the default of -max-manifest: room for about
// 400,000 files, and checked in well under a second when it never ends.
const defaultMaxManifest = pulp.DefaultMaxSize

// flags returns a FlagSet for cfg. The download subcommand (get) also has
// -o, -i and -base.
func (cfg *config) flags(get bool) *flag.FlagSet {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if get {
		fs.StringVar(&cfg.out, "o", ".", "")
		fs.StringVar(&cfg.list, "i", "", "")
		fs.StringVar(&cfg.base, "base", "", "")
	} else {
		fs.StringVar(&cfg.mirrorlist, "mirrorlist", "", "")
		fs.Int64Var(&cfg.maxManifest, "max-manifest", defaultMaxManifest, "")
		fs.BoolVar(&cfg.verify, "verify", false, "")
		fs.BoolVar(&cfg.delete, "delete", false, "")
		fs.StringVar(&cfg.format, "format", "", "")
		fs.StringVar(&cfg.keyring, "keyring", "", "")
		cfg.deb.define(fs)
	}
	fs.StringVar(&cfg.metalink, "metalink", "", "")
	cfg.defineTransfer(fs)
	fs.IntVar(&cfg.segments, "segments", 1, "")
	fs.BoolVar(&cfg.adapt, "adapt-segments", false, "")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "")
	fs.BoolVar(&cfg.quiet, "q", false, "")
	fs.BoolVar(&cfg.version, "version", false, "")
	fs.BoolVar(&cfg.noResume, "no-continue", false, "")
	cfg.netConfig.define(fs)
	return fs
}

// defineTransfer defines the flags that shape transfers, which every
// subcommand has.
func (cfg *config) defineTransfer(fs *flag.FlagSet) {
	fs.Var(&cfg.mirrors, "mirror", "")
	fs.IntVar(&cfg.jobs, "j", fetch.DefaultMaxTransfers, "")
	fs.IntVar(&cfg.perHost, "per-host", fetch.DefaultPerHost, "")
	fs.IntVar(&cfg.retries, "retries", fetch.DefaultRetries, "")
	fs.DurationVar(&cfg.stall, "stall", fetch.DefaultStallTimeout, "")
}

// checkTransfer checks the values of the flags of defineTransfer.
func (cfg *config) checkTransfer() error {
	switch {
	case cfg.jobs < 1:
		return fmt.Errorf("-j %d: want at least 1", cfg.jobs)
	case cfg.perHost < 1:
		return fmt.Errorf("-per-host %d: want at least 1", cfg.perHost)
	case cfg.retries < 0:
		return fmt.Errorf("-retries %d: want 0 or more", cfg.retries)
	case cfg.stall <= 0:
		return fmt.Errorf("-stall %v: want a positive duration", cfg.stall)
	}
	return nil
}

// parse parses args with fs, letting flags and operands come in any order
// ("--" ends the flags), and checks the values.
func (cfg *config) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			operands = append(operands, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
	if err := cfg.checkTransfer(); err != nil {
		return nil, err
	}
	switch {
	case cfg.segments < 1:
		return nil, fmt.Errorf("-segments %d: want at least 1", cfg.segments)
	case cfg.adapt && cfg.segments < 3:
		return nil, fmt.Errorf("-adapt-segments with -segments %d: want -segments 3 or more, the most it may open", cfg.segments)
	case cfg.maxManifest < 0:
		return nil, fmt.Errorf("-max-manifest %d: want a number of bytes", cfg.maxManifest)
	case cfg.format != "" && !slices.Contains(formats, cfg.format):
		return nil, fmt.Errorf("-format %s: want one of %s", cfg.format, strings.Join(formats, ", "))
	case len(cfg.deb.dists) > 0 && cfg.format != "" && cfg.format != formatDeb:
		return nil, fmt.Errorf("-dist names a Debian archive's distribution: not one of -format %s", cfg.format)
	case cfg.format == formatDeb && len(cfg.deb.dists) == 0:
		return nil, fmt.Errorf("-format deb: give the distributions to mirror with -dist NAME (-dist ./ for a flat repository)")
	case cfg.timeout < 0:
		return nil, fmt.Errorf("-timeout %v: want a positive duration, or 0 for none", cfg.timeout)
	}
	for _, m := range cfg.mirrors {
		if _, err := absoluteURL(m); err != nil {
			return nil, fmt.Errorf("-mirror %s: %v", redact(m), err)
		}
	}
	if err := cfg.netConfig.check(); err != nil {
		return nil, err
	}
	if err := cfg.deb.check(); err != nil {
		return nil, err
	}
	if len(cfg.deb.dists) > 0 {
		cfg.format = formatDeb
	}
	for i, m := range cfg.mirrors {
		cfg.mirrors[i] = cfg.login(m)
	}
	return operands, nil
}

// options returns the Fetcher options that cfg asks for, and a func that
// closes what they hold, to be called after the Fetcher's Close.
func (cfg *config) options() (fetch.Options, func()) {
	retries := cfg.retries
	if retries == 0 {
		retries = -1 // -retries 0 is none; for fetch.Options, 0 is the default
	}
	opts := fetch.Options{
		Limiter:       fetch.NewLimiter(cfg.jobs, cfg.perHost),
		Retries:       retries,
		StallTimeout:  cfg.stall,
		Segments:      cfg.segments,
		AdaptSegments: cfg.adapt,
		KeepPartial:   !cfg.noResume,
	}
	done := cfg.netConfig.apply(&opts)
	return opts, done
}

// stringsFlag is a flag that may be repeated.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, " ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// usageError reports a usage error on stderr and returns exitUsage. A
// request for help (-h) prints the usage on stdout and returns exitOK.
func usageError(stdout, stderr io.Writer, err error) int {
	return usageErrorOf("fetch", usage, stdout, stderr, err)
}

// usageErrorOf is usageError for the command name (as "fetch sync"), whose
// usage is text.
func usageErrorOf(name, text string, stdout, stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, text)
		return exitOK
	}
	fmt.Fprintf(stderr, "fetch: %s\nRun '%s -h' for usage.\n", escape(err.Error()), name)
	return exitUsage
}

// exitStatus returns the status for a run whose context is ctx (the one
// given to run) and that had failures.
func exitStatus(ctx context.Context, failed bool) int {
	if ctx.Err() != nil {
		var sig interrupted
		if errors.As(context.Cause(ctx), &sig) {
			if s, ok := sig.sig.(syscall.Signal); ok {
				return 128 + int(s)
			}
		}
		return exitInterrupted
	}
	if failed {
		return exitFailed
	}
	return exitOK
}
