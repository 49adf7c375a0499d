package main

import (
	"flag"
	"fmt"

	"github.com/fetchkit/fetch/repo/deb"
)

// debFlags are the flags of fetch sync that name a Debian archive's
// distributions and choose what to mirror of them.
type debFlags struct {
	dists      stringsFlag // -dist
	components stringsFlag
	archs      stringsFlag
	langs      stringsFlag
	source     bool
	contents   bool
	udeb       bool
	allowOlder bool
}

// debFlagsHelp describes the flags of debFlags, in sync's usage.
const debFlagsHelp = `  -dist NAME      a Debian archive's distribution (dists/NAME), repeatable;
                  a NAME ending in "/" is a flat repository's folder ("./")
  -component NAME the component to mirror, repeatable (default: every one
                  its Release lists)
  -arch NAME      the Debian architecture to mirror, repeatable (default:
                  this machine's); all is added when Release lists it
  -lang NAME      the language of the Translation files to mirror,
                  repeatable, with its regional variants (default: every
                  one); apt asks for en and its locale's
  -source         mirror the Sources indexes and the source packages too
  -contents       mirror the Contents indexes too
  -udeb           mirror the debian-installer indexes and their udebs too
  -allow-older    accept a Release whose Date is older than the mirror's
                  (to go back to an earlier snapshot on purpose); without
                  it such a Release is refused, as is any past its
                  Valid-Until (with -mirrorlist: the mirror is passed over)
  Every other index that Release lists for the components and
  architectures chosen is mirrored: dep11 (AppStream), cnf, i18n/Index.
`

func (d *debFlags) define(fs *flag.FlagSet) {
	fs.Var(&d.dists, "dist", "")
	fs.Var(&d.components, "component", "")
	fs.Var(&d.archs, "arch", "")
	fs.Var(&d.langs, "lang", "")
	fs.BoolVar(&d.source, "source", false, "")
	fs.BoolVar(&d.contents, "contents", false, "")
	fs.BoolVar(&d.udeb, "udeb", false, "")
	fs.BoolVar(&d.allowOlder, "allow-older", false, "")
}

// check checks the values of the flags.
func (d *debFlags) check() error {
	if len(d.dists) == 0 && (len(d.components) > 0 || len(d.archs) > 0 || len(d.langs) > 0 || d.source || d.contents || d.udeb || d.allowOlder) {
		return fmt.Errorf("-component, -arch, -lang, -source, -contents, -udeb and -allow-older are for a Debian archive: give its -dist")
	}
	for _, name := range d.dists {
		if _, _, err := deb.DistDir(name); err != nil {
			return fmt.Errorf("-dist %s: %v", name, err)
		}
	}
	return nil
}

// format returns the Debian archive that the flags describe.
func (d *debFlags) format() deb.Format {
	return deb.Format{
		Dists: d.dists,
		Selection: deb.Selection{
			Components:    d.components,
			Architectures: d.archs,
			Languages:     d.langs,
			Source:        d.source,
			Contents:      d.contents,
			Udeb:          d.udeb,
		},
		AllowOlder: d.allowOlder,
	}
}
