// Package ftpurl holds the rules of ftp URLs that the library and the
// command share.
package ftpurl

import "strings"

// TrimType returns the path of an ftp URL without its RFC 1738 type
// suffix, ";type=a" or ";type=i" (any case), and whether it had one. The
// file is transferred in binary (type I) either way: the bytes checked are
// the bytes stored.
func TrimType(path string) (string, bool) {
	const suffix = ";type="
	n := len(path) - len(suffix) - 1
	if n < 0 || !strings.EqualFold(path[n:n+len(suffix)], suffix) || !strings.ContainsRune("aAiI", rune(path[len(path)-1])) {
		return path, false
	}
	return path[:n], true
}
