//go:build unix

package regular

import "syscall"

// NoBlock is the open flag of a file opened by this rule: O_NONBLOCK, so
// that opening a FIFO never waits for a peer (Check then refuses it).
// Linux and the BSDs ignore O_NONBLOCK on regular files: reads and writes
// block as usual. On Linux it also spares a new regular file the round of
// system calls (four fcntl and an epoll_ctl that fails) in which the os
// package tries to register it with the network poller: a descriptor that
// is already non-blocking is registered as it is.
const NoBlock = syscall.O_NONBLOCK
