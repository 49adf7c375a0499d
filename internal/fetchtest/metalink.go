package fetchtest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"
)

// Metalink3 returns a Metalink 3.0 document in the shape that Fedora's
// MirrorManager serves for an rpm-md repository: its one file, repomd.xml,
// is current (size and md5, sha1, sha256 and sha512 hashes), with older as
// its mm0:alternate, and urls are its url elements (see [MetalinkURLs]).
func Metalink3(current, older []byte, urls string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Mon, 07 Dec 2026 02:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1796608800</mm0:timestamp>
   <size>%d</size>
   %s
   <mm0:alternates>
    <mm0:alternate>
     <mm0:timestamp>1796605200</mm0:timestamp>
     <size>%d</size>
     %s
    </mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
%s   </resources>
  </file>
 </files>
</metalink>
`, len(current), verification(current), len(older), verification(older), urls)
}

// verification returns MirrorManager's verification element for body.
func verification(body []byte) string {
	return fmt.Sprintf(`<verification>
    <hash type="md5">%x</hash>
    <hash type="sha1">%x</hash>
    <hash type="sha256">%x</hash>
    <hash type="sha512">%x</hash>
   </verification>`, md5.Sum(body), sha1.Sum(body), sha256.Sum256(body), sha512.Sum512(body))
}

// MetalinkURLs returns the url elements of [Metalink3] for the
// repositories at bases (each ending in "/"), in that order: falling
// preferences from 100, protocol and type from the scheme, as MirrorManager
// writes them.
func MetalinkURLs(bases ...string) string {
	var b strings.Builder
	for i, base := range bases {
		scheme, _, _ := strings.Cut(base, ":")
		fmt.Fprintf(&b, "    <url protocol=%q type=%q location=\"US\" preference=\"%d\">%srepodata/repomd.xml</url>\n", scheme, scheme, 100-i, base)
	}
	return b.String()
}
