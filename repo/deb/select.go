package deb

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
)

// A Selection chooses which indexes of a distribution to mirror. The zero
// Selection chooses every index of every component for this machine's
// architecture (and "all"), but the Sources, Contents and
// debian-installer ones.
type Selection struct {
	// Components are the components to mirror ("main", "contrib"); nil:
	// every one that Release lists.
	Components []string
	// Architectures are the Debian architectures to mirror ("amd64",
	// "arm64"); nil: [HostArch]. "all" is added when Release lists it:
	// apt asks for binary-all of every client then.
	Architectures []string
	// Source adds the Sources indexes, and so the source packages, and
	// with Contents the Contents-source.
	Source bool
	// Contents adds the Contents-* indexes (apt-file's).
	Contents bool
	// Udeb adds the debian-installer indexes, and so the udeb packages
	// that they name, and with Contents the Contents-udeb-*.
	Udeb bool
	// Languages are the languages of the i18n/Translation-* files to
	// mirror ("en", "de"); a language takes its regional variants too
	// ("pt": pt and pt_BR). nil: every one that Release lists.
	Languages []string
}

// HostArch returns the Debian architecture of this machine
// (runtime.GOARCH in Debian's words: 386 is i386, arm is armhf), or
// GOARCH itself when Debian has no other name for it.
func HostArch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	case "mipsle":
		return "mipsel"
	}
	return runtime.GOARCH
}

// An IndexFile is an index of a distribution to mirror: a file that its
// Release lists.
type IndexFile struct {
	// Path is the file's path, relative to the archive's root.
	Path string
	Size int64
	// Digest and Sum are the digest that the file is checked against
	// (SHA512 when Release gives it, else SHA256) by the names of
	// [fetch.Request.Digests], and its hex value.
	Digest, Sum string
	// ByHash is the path, relative to the archive's root, where the
	// archive serves the file by its digest (".../by-hash/SHA512/<hex>",
	// the digest that apt asks for) when Release says Acquire-By-Hash;
	// "" otherwise, and for a component's Release.
	ByHash string
	// Kind is what the file is: its name up to the first "-" or "."
	// without compression ("Packages", "Sources", "Release",
	// "Translation", "Contents", "Components" and "icons" of dep11,
	// "Commands" of cnf, "Index").
	Kind string
}

// Select returns the indexes of the distribution whose Release is rel,
// at dist (the distribution's folder relative to the archive's root:
// "dists/bookworm"; "" for a flat repository at the root), that sel
// chooses, each as Release lists it: every compression that Release
// lists, but the uncompressed file only when Release lists no compressed
// one of it (Debian's archive lists uncompressed Packages files that it
// does not serve, and apt fetches a compressed one). A component or an
// architecture that sel names and Release does not list is an error.
//
// One rule chooses, so that every file an apt client may ask for (its
// Packages, Translation, dep11 and cnf targets) is there: a file that
// Release lists is chosen when it is below a chosen component (in a flat
// repository, or at the distribution's top, anywhere) and every part of
// its path that names an architecture (binary-amd64, Contents-amd64,
// Components-amd64.yml, Commands-amd64; one that Release lists or that
// has a binary- folder) names a chosen one. Source is the architecture
// "source" (source/, Sources, Contents-source). Three kinds wait for
// their flag: Contents-* for Contents, debian-installer/ and
// Contents-udeb-* for Udeb, Translation-* other than Languages. Never
// chosen: installer-ARCH/ (the checksums of installer images, which no
// index names), the pdiffs' *.diff/Index, whose patches Release does not
// list (apt, finding no Index, fetches the whole index), and the
// distribution's own Release, InRelease and Release.gpg, which [Format]
// fetches first.
func (rel *Release) Select(dist string, sel Selection) ([]IndexFile, error) {
	c := chooser{sel: sel, flat: len(rel.Components) == 0, archs: slices.Clone(rel.Architectures)}
	for _, f := range rel.Files {
		for _, part := range strings.Split(path.Dir(f.Path), "/") {
			if a, ok := strings.CutPrefix(part, "binary-"); ok && !slices.Contains(c.archs, a) {
				c.archs = append(c.archs, a)
			}
		}
	}
	if !c.flat {
		comps, err := rel.components(sel.Components)
		if err != nil {
			return nil, err
		}
		c.comps = comps
	}
	c.chosen = slices.Clone(sel.Architectures)
	if c.chosen == nil {
		c.chosen = []string{HostArch()}
	}
	if len(rel.Architectures) > 0 {
		for _, a := range c.chosen {
			if !slices.Contains(rel.Architectures, a) {
				return nil, fmt.Errorf("architecture %s: Release lists only %s (choose with -arch)", a, strings.Join(rel.Architectures, " "))
			}
		}
	}
	if slices.Contains(rel.Architectures, "all") && !slices.Contains(c.chosen, "all") {
		c.chosen = append(c.chosen, "all")
	}
	if sel.Source {
		c.chosen = append(c.chosen, "source")
	}
	var picked []ReleaseFile
	for _, f := range rel.Files {
		if c.wanted(f.Path) {
			picked = append(picked, f)
		}
	}
	for _, a := range sel.Architectures {
		if !slices.ContainsFunc(picked, func(f ReleaseFile) bool { return strings.Contains(f.Path, "binary-"+a+"/Packages") }) {
			return nil, fmt.Errorf("architecture %s: Release lists no Packages for it in %s", a, strings.Join(c.comps, " "))
		}
	}
	if err := c.checkLanguages(rel); err != nil {
		return nil, err
	}
	return rel.indexFiles(dist, picked), nil
}

// checkLanguages returns an error for a language of the Selection that no
// Translation file of rel is in, when rel lists any.
func (c *chooser) checkLanguages(rel *Release) error {
	var langs []string
	for _, f := range rel.Files {
		base, _ := splitCompression(path.Base(f.Path))
		if lang, ok := strings.CutPrefix(base, "Translation-"); ok && !slices.Contains(langs, lang) {
			langs = append(langs, lang)
		}
	}
	for _, l := range c.sel.Languages {
		if len(langs) > 0 && !slices.ContainsFunc(langs, func(lang string) bool { return langMatch(lang, l) }) {
			return fmt.Errorf("language %s: Release lists Translation files only for %s", l, strings.Join(langs, " "))
		}
	}
	return nil
}

// langMatch reports whether the language lang of a Translation file is
// the language l, or a regional variant of it.
func langMatch(lang, l string) bool { return lang == l || strings.HasPrefix(lang, l+"_") }

// components returns the folders of the components named (nil: every
// one that rel lists), or an error for one that rel does not list.
func (rel *Release) components(named []string) ([]string, error) {
	// Debian's security archive lists its components as "updates/main"
	// and their files under main/: a component is the folder its files
	// are listed in.
	listed := make([]string, len(rel.Components))
	for i, c := range rel.Components {
		listed[i] = c
		if strings.Contains(c, "/") && !slices.ContainsFunc(rel.Files, func(f ReleaseFile) bool { return strings.HasPrefix(f.Path, c+"/") }) {
			listed[i] = path.Base(c)
		}
	}
	if named == nil {
		return listed, nil
	}
	comps := slices.Clone(named)
	for i, c := range comps {
		j := slices.Index(rel.Components, c)
		if j < 0 {
			j = slices.Index(listed, c)
		}
		if j < 0 {
			return nil, fmt.Errorf("component %s: Release lists only %s", c, strings.Join(rel.Components, " "))
		}
		comps[i] = listed[j]
	}
	return comps, nil
}

// A chooser holds the rule of [Release.Select] for one Release.
type chooser struct {
	sel    Selection
	flat   bool
	comps  []string // the folders of the chosen components
	archs  []string // every architecture the Release knows
	chosen []string // the chosen ones, "source" with sel.Source
}

// wanted reports whether the file p (relative to the distribution's
// folder) is chosen.
func (c *chooser) wanted(p string) bool {
	base, _ := splitCompression(p)
	parts := strings.Split(base, "/")
	switch name := parts[len(parts)-1]; {
	case len(parts) == 1 && (name == "Release" || name == "InRelease" || name == "Release.gpg"):
		return false
	case !c.flat && len(parts) > 1:
		if !slices.Contains(c.comps, parts[0]) {
			return false
		}
		parts = parts[1:]
	}
	for _, part := range parts {
		stem, _, _ := strings.Cut(part, ".")
		switch kind := kindOf(stem); {
		case strings.HasPrefix(part, "installer-"), strings.HasSuffix(part, ".diff"):
			return false
		case kind == "Contents" && !c.sel.Contents, kind == "Sources" && !c.sel.Source:
			return false
		case part == "debian-installer" || strings.HasPrefix(stem, "Contents-udeb-"):
			if !c.sel.Udeb {
				return false
			}
		case kind == "Translation" && c.sel.Languages != nil:
			lang := strings.TrimPrefix(stem, "Translation-")
			if !slices.ContainsFunc(c.sel.Languages, func(l string) bool { return langMatch(lang, l) }) {
				return false
			}
		}
		if a := c.archOf(stem); a != "" && !slices.Contains(c.chosen, a) {
			return false
		}
	}
	return true
}

// archOf returns the architecture that the part of a path names
// ("binary-amd64", "Contents-udeb-amd64", "Components-amd64"; "source"
// and "Contents-source": source), the longest when several match
// ("binary-hurd-i386"), or "" for a part that names none.
func (c *chooser) archOf(part string) string {
	if part == "source" {
		return "source"
	}
	best := ""
	for _, a := range append(c.archs, "source") {
		if strings.HasSuffix(part, "-"+a) && len(a) > len(best) {
			best = a
		}
	}
	return best
}

// indexFiles returns the IndexFiles of picked, leaving out an uncompressed
// file that has a compressed one in picked.
func (rel *Release) indexFiles(dist string, picked []ReleaseFile) []IndexFile {
	compressed := map[string]bool{}
	for _, f := range picked {
		if base, suffix := splitCompression(f.Path); suffix != "" {
			compressed[base] = true
		}
	}
	var out []IndexFile
	for _, f := range picked {
		if compressed[f.Path] {
			continue
		}
		digest, byHash, sum := strongest(f)
		ix := IndexFile{Path: path.Join(dist, f.Path), Size: f.Size, Digest: digest, Sum: sum, Kind: kindOf(path.Base(f.Path))}
		if rel.AcquireByHash && ix.Kind != "Release" {
			ix.ByHash = path.Join(path.Dir(ix.Path), "by-hash", byHash, sum)
		}
		out = append(out, ix)
	}
	return out
}

// kindOf returns the kind of the index named name (see [IndexFile.Kind]).
func kindOf(name string) string {
	base, _ := splitCompression(name)
	if i := strings.IndexAny(base, "-."); i > 0 {
		return base[:i]
	}
	return base
}
