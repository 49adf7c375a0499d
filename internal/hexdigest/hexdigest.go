// Package hexdigest holds the one check of a digest written in hex, as
// lists, manifests and repository indexes give them.
package hexdigest

import "strings"

// Valid reports whether s is n hex digits, in either case.
func Valid(s string, n int) bool {
	ok, _ := scan(s, n)
	return ok
}

// Lower returns s in lower case, and reports whether s is n hex digits,
// in either case: one pass over s, which is returned itself when it has
// no upper-case digit.
func Lower(s string, n int) (string, bool) {
	ok, upper := scan(s, n)
	switch {
	case !ok:
		return "", false
	case upper:
		return strings.ToLower(s), true
	}
	return s, true
}

// scan reports whether s is n hex digits, and whether one is upper case.
func scan(s string, n int) (ok, upper bool) {
	if len(s) != n {
		return false, false
	}
	for _, c := range []byte(s) {
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return false, false
		}
	}
	return true, upper
}
