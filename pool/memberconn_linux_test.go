package pool

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/sock"
)

// TestAwaitAnswerTimeout: when the worker timeout ends the wait for the
// answer of a request written at the answer's first read, that read
// reports it.
func TestAwaitAnswerTimeout(t *testing.T) {
	const req = "GET / HTTP/1.1\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := sock.New(client)
	c := newIdleConn(newMemberConn(client, p), 20*time.Millisecond, p, nil)
	c.awaitAnswer()
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	onRequest(server, len(req), func() {}) // read, never answered
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read of an answer that never comes: %d bytes, %v; want the deadline error", n, err)
	}
}

// TestMemberConnAwaitAnswer: after awaitAnswer, the write of a whole
// request returns at once with nothing sent, and the answer's first read
// sends it and returns the answer; the next request's write, not marked,
// goes out at once (the mark does not outlive its write).
func TestMemberConnAwaitAnswer(t *testing.T) {
	const req, answer = "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := sock.New(client)
	c := newMemberConn(client, p)
	c.awaitAnswer(false)
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if n, err := sock.New(server).ReadNow(make([]byte, 64)); !errors.Is(err, sock.ErrNothing) {
		t.Fatalf("the member got %d bytes (%v) before the answer's read; want none", n, err)
	}
	onRequest(server, len(req), func() { _, _ = io.WriteString(server, answer) })
	b := make([]byte, 64)
	if n, err := c.Read(b); err != nil || string(b[:n]) != answer {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("second Write: %d, %v", n, err)
	}
	waitBytes(t, server)
}

// TestMemberConnAwaitFullBuffer: an awaited request larger than the
// socket's buffers goes out in part with the answer's first read
// (sock's TestWriteRead), the rest the ordinary way, and the answer is
// read after it.
func TestMemberConnAwaitFullBuffer(t *testing.T) {
	const answer = "HTTP/1.1 204 No Content\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	req := make([]byte, 32<<20) // well past what loopback's buffers take in one write
	p := sock.New(client)
	c := newMemberConn(client, p)
	c.awaitAnswer(false)
	if n, err := c.Write(req); n != len(req) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	onRequest(server, len(req), func() { _, _ = io.WriteString(server, answer) })
	b := make([]byte, 64)
	if n, err := c.Read(b); err != nil || string(b[:n]) != answer {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
}

// onRequest reads a request of n bytes on the member's side of a pair, in
// the background, then does then: write the answer, or close.
func onRequest(server net.Conn, n int, then func()) {
	go func() {
		if _, err := io.ReadFull(server, make([]byte, n)); err == nil {
			then()
		}
	}()
}

// TestIdleConnStaleAtAnswer: on a reused connection, an awaited request is
// looked at for the member's stray bytes as it goes out: the answer's read
// reports ErrStaleConn, having sent nothing, and the pool hears of it.
func TestIdleConnStaleAtAnswer(t *testing.T) {
	const req, answer = "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := sock.New(client)
	stale := 0
	c := newIdleConn(newMemberConn(client, p), time.Minute, p, func() { stale++ })
	exchange := func() (string, error) {
		c.awaitAnswer()
		if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		b := make([]byte, 64)
		n, err := c.Read(b)
		return string(b[:n]), err
	}
	onRequest(server, len(req), func() { _, _ = io.WriteString(server, answer) })
	if got, err := exchange(); err != nil || got != answer {
		t.Fatalf("first exchange: %q, %v", got, err)
	}
	if _, err := io.WriteString(server, "evil"); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, client)
	if got, err := exchange(); !errors.Is(err, ErrStaleConn) || got != "" || stale != 1 {
		t.Fatalf("second exchange: %q, %v, %d stale reports; want ErrStaleConn, once", got, err, stale)
	}
	if n, err := sock.New(server).ReadNow(make([]byte, 64)); !errors.Is(err, sock.ErrNothing) {
		t.Fatalf("the member got %d bytes (%v) of the second request; want none", n, err)
	}
}
