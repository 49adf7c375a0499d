// Package deb reads Debian archives (dists/SUITE/InRelease, Packages.xz,
// pool/) and flat repositories, for mirroring: the Release or InRelease
// of a distribution, the indexes it lists that a [Selection] chooses, and
// the packages that those indexes name, read as a stream.
//
// Its parsers take an [io.Reader] and never touch the network. Every path
// that an archive gives is checked as any path from outside; a file that
// cannot be read as its format says gives a [*repo.FormatError] with the
// file and line.
package deb
