package deb

import (
	"strings"

	"github.com/fetchkit/fetch/repo"
)

// splitCompression returns p without its compression suffix, and the
// suffix ("" for an uncompressed file).
func splitCompression(p string) (base, suffix string) {
	suffix, _ = repo.Compression(p)
	return strings.TrimSuffix(p, suffix), suffix
}
