// Package hexdigest holds the one check of a digest written in hex, as
// lists, manifests and repository indexes give them.
package hexdigest

// Valid reports whether s is n hex digits, in either case.
func Valid(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
