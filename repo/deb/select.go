package deb

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
)

// A Selection chooses which indexes of a distribution to mirror. The zero
// Selection chooses the binary indexes of every component, for this
// machine's architecture.
type Selection struct {
	// Components are the components to mirror ("main", "contrib"); nil:
	// every one that Release lists.
	Components []string
	// Architectures are the Debian architectures to mirror ("amd64",
	// "arm64"); nil: [HostArch], plus "all" when Release lists it.
	Architectures []string
	// Source adds the Sources indexes, and so the source packages.
	Source bool
	// Contents adds the Contents-* indexes.
	Contents bool
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

// An IndexFile is an index of a distribution to mirror: a Packages,
// Sources, Translation or Contents file, or a component's Release.
type IndexFile struct {
	// Path is the file's path, relative to the archive's root.
	Path string
	Size int64
	// Digest and Sum are the digest that the file is checked against
	// (SHA512 when Release gives it, else SHA256) by the names of
	// [fetch.Request.Digests], and its hex value.
	Digest, Sum string
	// ByHash is the path, relative to the archive's root, where the
	// archive serves the file by its digest (".../by-hash/SHA256/<hex>",
	// the digest that apt asks for) when Release says Acquire-By-Hash;
	// "" otherwise.
	ByHash string
	// Kind is what the file is: "Packages", "Sources", "Translation",
	// "Contents" or "Release".
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
// A flat repository (rel has no Components) gives every index that its
// Release lists, Sources with sel.Source, Contents with sel.Contents.
func (rel *Release) Select(dist string, sel Selection) ([]IndexFile, error) {
	var picked []ReleaseFile
	if len(rel.Components) == 0 {
		for _, f := range rel.Files {
			if kind := indexKind(f.Path); kind != "" && (kind != "Sources" || sel.Source) && (kind != "Contents" || sel.Contents) {
				picked = append(picked, f)
			}
		}
		return rel.indexFiles(dist, picked), nil
	}
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
	comps := slices.Clone(sel.Components)
	if comps == nil {
		comps = listed
	}
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
	archs := sel.Architectures
	if archs == nil {
		archs = []string{HostArch()}
		if slices.Contains(rel.Architectures, "all") {
			archs = append(archs, "all")
		}
	}
	if len(rel.Architectures) > 0 {
		for _, a := range archs {
			if !slices.Contains(rel.Architectures, a) {
				return nil, fmt.Errorf("architecture %s: Release lists only %s (choose with -arch)", a, strings.Join(rel.Architectures, " "))
			}
		}
	}
	wanted := func(p string) bool {
		dir, name := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		base, _ := splitCompression(name)
		for _, a := range archs {
			if sel.Contents && base == "Contents-"+a {
				if dir == "" || slices.Contains(comps, dir) {
					return true
				}
			}
		}
		if sel.Contents && sel.Source && base == "Contents-source" && (dir == "" || slices.Contains(comps, dir)) {
			return true
		}
		comp, sub, _ := strings.Cut(dir, "/")
		if !slices.Contains(comps, comp) {
			return false
		}
		switch {
		case sub == "i18n":
			return strings.HasPrefix(base, "Translation-")
		case sub == "source":
			return sel.Source && (base == "Sources" || base == "Release")
		case strings.HasPrefix(sub, "binary-"):
			return slices.Contains(archs, strings.TrimPrefix(sub, "binary-")) && (base == "Packages" || base == "Release")
		}
		return false
	}
	for _, f := range rel.Files {
		if wanted(f.Path) {
			picked = append(picked, f)
		}
	}
	for _, a := range sel.Architectures {
		if !slices.ContainsFunc(picked, func(f ReleaseFile) bool { return strings.Contains(f.Path, "/binary-"+a+"/Packages") }) {
			return nil, fmt.Errorf("architecture %s: Release lists no Packages for it in %s", a, strings.Join(comps, " "))
		}
	}
	return rel.indexFiles(dist, picked), nil
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
		ix := IndexFile{Path: path.Join(dist, f.Path), Size: f.Size, Digest: digest, Sum: sum, Kind: indexKind(f.Path)}
		if rel.AcquireByHash && ix.Kind != "Release" {
			ix.ByHash = path.Join(path.Dir(ix.Path), "by-hash", byHash, sum)
		}
		out = append(out, ix)
	}
	return out
}

// indexKind returns the kind of index at p (see [IndexFile.Kind]), or ""
// for another file.
func indexKind(p string) string {
	base, _ := splitCompression(path.Base(p))
	switch {
	case base == "Packages", base == "Sources", base == "Release":
		return base
	case strings.HasPrefix(base, "Translation-"):
		return "Translation"
	case strings.HasPrefix(base, "Contents-"):
		return "Contents"
	}
	return ""
}
