package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/fetchkit/fetch/repo"
	"github.com/fetchkit/fetch/repo/deb"
)

// repoFlags are the flags of fetch sync that say which repository to read
// and how to trust it.
type repoFlags struct {
	keyring    string
	dists      stringsFlag // -dist: a Debian archive's distributions
	components stringsFlag
	archs      stringsFlag
	source     bool
	contents   bool
}

// repoFlagsHelp describes the flags of repoFlags, in sync's usage.
const repoFlagsHelp = `  -keyring FILE   OpenPGP public keys, armored or binary (gpg --export, a
                  Debian keyring): the repository's signatures (InRelease or
                  Release.gpg, repomd.xml.asc) must verify with one of them,
                  or nothing is downloaded past the metadata; without it
                  they are mirrored unchecked, as the summary says
  -dist NAME      a Debian archive's distribution (dists/NAME), repeatable;
                  a NAME ending in "/" is a flat repository's folder ("./")
  -component NAME the component to mirror, repeatable (default: every one
                  its Release lists)
  -arch NAME      the Debian architecture to mirror, repeatable (default:
                  this machine's, and all when Release lists it)
  -source         mirror the Sources indexes and the source packages too
  -contents       mirror the Contents indexes too
`

func (r *repoFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&r.keyring, "keyring", "", "")
	fs.Var(&r.dists, "dist", "")
	fs.Var(&r.components, "component", "")
	fs.Var(&r.archs, "arch", "")
	fs.BoolVar(&r.source, "source", false, "")
	fs.BoolVar(&r.contents, "contents", false, "")
}

// check checks the values of the flags.
func (r *repoFlags) check() error {
	if len(r.dists) == 0 && (len(r.components) > 0 || len(r.archs) > 0 || r.source || r.contents) {
		return fmt.Errorf("-component, -arch, -source and -contents choose what to mirror of a Debian archive: give its -dist")
	}
	for _, d := range r.dists {
		if _, _, err := deb.DistDir(d); err != nil {
			return fmt.Errorf("-dist %s: %v", d, err)
		}
	}
	return nil
}

// verifier returns the Verifier of -keyring, or nil without it.
func (r *repoFlags) verifier() (repo.Verifier, error) {
	if r.keyring == "" {
		return nil, nil
	}
	f, err := os.Open(r.keyring)
	if err != nil {
		return nil, fmt.Errorf("-keyring: %v", err)
	}
	defer f.Close()
	k, err := repo.ReadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("-keyring %s: %v", r.keyring, err)
	}
	return k, nil
}

// debFormat returns the Debian archive that the flags describe.
func (r *repoFlags) debFormat() deb.Format {
	return deb.Format{
		Dists: r.dists,
		Selection: deb.Selection{
			Components:    r.components,
			Architectures: r.archs,
			Source:        r.source,
			Contents:      r.contents,
		},
	}
}

// folderURL returns the URL of the folder that arg names, a URL or a local
// path, ending in "/": a repository's root.
func folderURL(arg string) (*url.URL, error) {
	u, err := manifestURL(strings.TrimSuffix(arg, "/"))
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	return u, nil
}
