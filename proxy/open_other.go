//go:build !unix

package proxy

// noBlock is 0 where there are no FIFOs to put in a folder, or where
// O_NONBLOCK is not an open flag.
const noBlock = 0
