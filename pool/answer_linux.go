//go:build linux

package pool

import "syscall"

// answerWaiting reports whether the member sent bytes that wait to be
// read; a closed peer with nothing sent is not an answer.
func (c *memberConn) answerWaiting() bool {
	if c.rc == nil {
		return false
	}
	waiting := false
	_ = c.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, _ := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		waiting = n > 0
		return true
	})
	return waiting
}
