package server

import (
	"net"
	"syscall"
	"testing"
)

// TestListenKeepAlive: connections accepted by Listen have TCP keep-alive
// with sluice's timers and TCP_NODELAY, inherited from the listening
// socket, whether or not it waits for data.
func TestListenKeepAlive(t *testing.T) {
	for _, waitForData := range []bool{false, true} {
		ln, err := Listen("127.0.0.1:0", waitForData)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, a := dialSending(t, ln, "x")
		rc, err := a.(syscall.Conn).SyscallConn()
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
			{"TCP_NODELAY", syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1},
		} {
			if v := sockopt(t, rc, o.level, o.opt); v != o.want {
				t.Errorf("waitForData %v: accepted connection's %s = %d, want %d", waitForData, o.name, v, o.want)
			}
		}
	}
}

// TestListenWaitsForData: with waitForData (AcceptFilter data) a
// connection that has sent nothing is not handed over: Accept returns the
// one dialled after it that sent its request. Without, the option is off.
func TestListenWaitsForData(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	sender, accepted := dialSending(t, ln, "GET")
	if accepted.RemoteAddr().String() != sender.LocalAddr().String() {
		t.Fatalf("accepted %s, the silent connection (%s), before the one that sent (%s)", accepted.RemoteAddr(), silent.LocalAddr(), sender.LocalAddr())
	}
	if v := listenerSockopt(t, ln, syscall.TCP_DEFER_ACCEPT); v == 0 {
		t.Error("TCP_DEFER_ACCEPT is off on a listener that waits for data")
	}

	plain, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if v := listenerSockopt(t, plain, syscall.TCP_DEFER_ACCEPT); v != 0 {
		t.Errorf("TCP_DEFER_ACCEPT = %d on a listener that accepts at once", v)
	}
}

// dialSending dials ln, sends data and accepts; both ends close when the
// test ends.
func dialSending(t *testing.T, ln net.Listener, data string) (client, server net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func listenerSockopt(t *testing.T, ln net.Listener, opt int) int {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return sockopt(t, rc, syscall.IPPROTO_TCP, opt)
}

func sockopt(t *testing.T, rc syscall.RawConn, level, opt int) int {
	t.Helper()
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}
