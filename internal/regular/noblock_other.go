//go:build !unix

package regular

// NoBlock is 0 where there are no FIFOs to plant in a folder, or where
// O_NONBLOCK is not an open flag.
const NoBlock = 0
