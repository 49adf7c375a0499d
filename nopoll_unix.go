//go:build unix

package fetch

import "syscall"

// noBlock is the open flag of every file that a download opens in place:
// O_NONBLOCK, so that opening a FIFO planted where a partial file, a guard
// or a file in place is expected never waits for a peer (openFile then
// refuses it, as anything but a regular file). Linux and the BSDs ignore
// O_NONBLOCK on regular files: reads and writes block as usual. On Linux
// it also spares a new regular file the round of system calls (four
// fcntl and an epoll_ctl that fails) in which the os package tries to
// register it with the network poller: a descriptor that is already
// non-blocking is registered as it is.
const noBlock = syscall.O_NONBLOCK
