//go:build unix

package proxy

import "syscall"

// noBlock makes an open of a FIFO return at once, rather than wait for a
// peer; regular files ignore it.
const noBlock = syscall.O_NONBLOCK
