//go:build !linux

package fetch

// noPoll is 0 where a regular file costs no extra system calls to open,
// or where O_NONBLOCK might matter for one.
const noPoll = 0
