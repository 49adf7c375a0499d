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
	source     bool
	contents   bool
}

// debFlagsHelp describes the flags of debFlags, in sync's usage.
const debFlagsHelp = `  -dist NAME      a Debian archive's distribution (dists/NAME), repeatable;
                  a NAME ending in "/" is a flat repository's folder ("./")
  -component NAME the component to mirror, repeatable (default: every one
                  its Release lists)
  -arch NAME      the Debian architecture to mirror, repeatable (default:
                  this machine's, and all when Release lists it)
  -source         mirror the Sources indexes and the source packages too
  -contents       mirror the Contents indexes too
`

func (d *debFlags) define(fs *flag.FlagSet) {
	fs.Var(&d.dists, "dist", "")
	fs.Var(&d.components, "component", "")
	fs.Var(&d.archs, "arch", "")
	fs.BoolVar(&d.source, "source", false, "")
	fs.BoolVar(&d.contents, "contents", false, "")
}

// check checks the values of the flags.
func (d *debFlags) check() error {
	if len(d.dists) == 0 && (len(d.components) > 0 || len(d.archs) > 0 || d.source || d.contents) {
		return fmt.Errorf("-component, -arch, -source and -contents choose what to mirror of a Debian archive: give its -dist")
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
			Source:        d.source,
			Contents:      d.contents,
		},
	}
}
