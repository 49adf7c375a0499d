package repo

import "hash/fnv"

// nameSetBits is the size of a nameSet: 2 MiB.
const nameSetBits = 1 << 24

// A nameSet is a set of names whose memory does not grow with them: a
// Bloom filter of nameSetBits bits and four hashes. Has is true for every
// name added, and for a name never added with a probability of about
// 5·10⁻⁶ at 200,000 names, 7·10⁻⁵ at 400,000, 2·10⁻³ at a million. So
// the set suits decisions where a wrong "yes" is safe: a partial file
// kept one run longer, a file that -delete leaves.
type nameSet struct{ bits []uint64 }

func newNameSet() *nameSet { return &nameSet{bits: make([]uint64, nameSetBits/64)} }

// positions returns the bits of name, by double hashing one FNV-1a hash.
func positions(name string) [4]uint32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	sum := h.Sum64()
	h1, h2 := uint32(sum), uint32(sum>>32)|1
	var p [4]uint32
	for i := range p {
		p[i] = (h1 + uint32(i)*h2) % nameSetBits
	}
	return p
}

func (s *nameSet) Add(name string) {
	for _, b := range positions(name) {
		s.bits[b/64] |= 1 << (b % 64)
	}
}

func (s *nameSet) Has(name string) bool {
	for _, b := range positions(name) {
		if s.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}
