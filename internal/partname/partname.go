// Package partname holds the suffix that ends the name of every temporary,
// partial and guard file a download writes beside its destination, so that
// the library and the proxy's cache tell such files apart by one rule.
package partname

// Suffix ends the name of the temporary file that a download writes beside
// its destination, "." + base + "." + random + Suffix, and of the partial
// file that a kept download leaves, "." + base + Suffix.
const Suffix = ".part"
