//go:build linux && !386

package fetch_test

import (
	"net"
	"syscall"
	"unsafe"
)

// clientHolds reports whether the client at the other end of conn, a TCP
// connection a server accepted, still holds it open: the socket is still
// established, not closed by the client (CLOSE_WAIT) or by the server.
func clientHolds(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	const established = 1 // TCP_ESTABLISHED, the first byte of struct tcp_info
	var info [256]byte
	state := byte(0)
	raw.Control(func(fd uintptr) {
		size := uint32(len(info))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno == 0 {
			state = info[0]
		}
	})
	return state == established
}
