package server

import (
	"syscall"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// TestListenKeepAlive: connections accepted by Listen have TCP keep-alive
// with sluice's timers, whether set on each (Go) or inherited from the
// listening socket (Linux).
func TestListenKeepAlive(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, a := testnet.Pair(t, ln)
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
	} {
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if v != o.want {
			t.Errorf("accepted connection's %s = %d, want %d", o.name, v, o.want)
		}
	}
}
