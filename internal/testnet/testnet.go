// Package testnet holds the loopback socket helpers tests share.
package testnet

import (
	"net"
	"testing"
)

// ClosedAddr returns a 127.0.0.1 address that nothing listens on: a port
// the kernel handed out and got back.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Pair returns both ends of a TCP connection accepted from ln, or from a
// new 127.0.0.1 listener when ln is nil; they close when the test ends.
func Pair(t testing.TB, ln net.Listener) (client, server *net.TCPConn) {
	t.Helper()
	if ln == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ln = l
	}
	c, s := Accept(t, ln)
	return c, s.(*net.TCPConn)
}

// Accept dials ln and accepts: the dialled end, and the connection ln's
// Accept returned; both close when the test ends.
func Accept(t testing.TB, ln net.Listener) (client *net.TCPConn, server net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s
}
