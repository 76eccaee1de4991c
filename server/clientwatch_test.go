package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/textproto"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientGone reads the client's leaving from its socket's state: not
// while it is connected (even with bytes pending), once it closed, once it
// only half-closed.
func TestClientGone(t *testing.T) {
	c, s := testnet.Pair(t, nil)
	if _, err := io.WriteString(c, "GET /next HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	if clientGone(s) || clientGone(&clientConn{Conn: s}) {
		t.Fatal("a connected client with a pipelined request reads as gone")
	}
	_ = c.Close()
	eventually(t, "closed client seen gone", func() bool { return clientGone(&clientConn{Conn: s}) })

	c, s = testnet.Pair(t, nil)
	_ = c.CloseWrite()
	eventually(t, "half-closed client seen gone", func() bool { return clientGone(s) })
}

// TestClientWatchCancelsMember runs a proxied request over real sockets,
// under the race detector: the client leaves while the member is silent,
// and the member's connection is closed.
func TestClientWatchCancelsMember(t *testing.T) {
	member, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	got, closed := make(chan struct{}, 1), make(chan struct{}, 1)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := member.Accept()
		if err != nil {
			return
		}
		accepted <- c
		br := bufio.NewReader(c)
		tp := textproto.NewReader(br)
		if _, err := tp.ReadLine(); err != nil {
			return
		}
		if _, err := tp.ReadMIMEHeader(); err != nil {
			return
		}
		got <- struct{}{}
		_, _ = br.ReadByte() // ends when sluice closes the connection
		closed <- struct{}{}
		c.Close()
	}()
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+member.Addr().String()+"/\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, addr := serveTCP(t, cfg)
	defer func() { _ = s.Shutdown(context.Background()) }()
	defer func() {
		// Without the watch, the request would wait for good: end it
		// before Shutdown waits for it.
		select {
		case c := <-accepted:
			c.Close()
		default:
		}
	}()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		b, _ := io.ReadAll(c)
		t.Fatalf("the member never got the request; the client got %q", b)
	}
	_ = c.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the member connection is still open 5 s after the client left")
	}
}
