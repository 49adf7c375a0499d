package fetch

import "syscall"

// noPoll is an open flag that spares a new regular file the round of
// system calls (four fcntl and an epoll_ctl that fails) in which the os
// package tries to register it with the network poller: a descriptor that
// is already non-blocking is registered as it is. Linux ignores
// O_NONBLOCK on regular files, so reads and writes block as usual.
const noPoll = syscall.O_NONBLOCK
