package pool

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/peek"
)

// TestPeekerPastReadDeadline: a pooled connection's per-read deadline may
// have passed while it sat idle; the peeker still sees what the member sent.
func TestPeekerPastReadDeadline(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	if _, err := io.WriteString(server, "evil"); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, client)
	if err := client.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	p := newPeeker(client)
	if sent, closed := p.Look(); !sent || closed {
		t.Fatalf("look: sent %v, closed %v; want bytes sent", sent, closed)
	}
	b := make([]byte, 8)
	if n, err := p.ReadNow(b); err != nil || string(b[:n]) != "evil" {
		t.Fatalf("ReadNow: %q, %v", b[:n], err)
	}
	if _, err := p.ReadNow(b); !errors.Is(err, peek.ErrNothing) {
		t.Fatalf("ReadNow with nothing waiting: %v, want peek.ErrNothing", err)
	}
	server.Close()
	waitBytes(t, client)
	if sent, closed := p.Look(); sent || !closed {
		t.Fatalf("after close, look: sent %v, closed %v", sent, closed)
	}
	if _, err := p.ReadNow(b); err != io.EOF {
		t.Fatalf("ReadNow after close: %v, want EOF", err)
	}
}

// TestWriteAwait: writeAwait returns once the member's answer can be read;
// it writes nothing when the read deadline has passed (the caller then
// writes the ordinary way); and a close of the connection ends its wait.
func TestWriteAwait(t *testing.T) {
	const req, answer = "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	t.Run("answer", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		onRequest(server, len(req), func() { _, _ = io.WriteString(server, answer) })
		p := newPeeker(client)
		if n, err := p.writeAwait([]byte(req)); n != len(req) || err != nil {
			t.Fatalf("writeAwait: %d bytes, %v; want %d, no error", n, err, len(req))
		}
		b := make([]byte, 64)
		if n, err := p.ReadNow(b); err != nil || string(b[:n]) != answer {
			t.Fatalf("right after writeAwait: %q, %v; want the answer", b[:n], err)
		}
	})
	t.Run("past read deadline", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		if err := client.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := newPeeker(client).writeAwait([]byte(req)); n != 0 || err != nil {
			t.Fatalf("writeAwait past the read deadline: %d bytes, %v; want 0, no error", n, err)
		}
		if n, err := newPeeker(server).ReadNow(make([]byte, 64)); !errors.Is(err, peek.ErrNothing) {
			t.Fatalf("the member got %d bytes (%v), want none", n, err)
		}
	})
	t.Run("closed while waiting", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		onRequest(server, len(req), func() { client.Close() }) // as Call.Abort does, the answer never came
		if n, err := newPeeker(client).writeAwait([]byte(req)); n != len(req) || err == nil {
			t.Fatalf("writeAwait: %d bytes, %v; want %d and the close's error", n, err, len(req))
		}
	})
}

// TestAwaitAnswerTimeout: when the worker timeout ends the wait for the
// answer, the read that follows reports it at once, even if the answer
// came meanwhile: one timeout for the answer, not two.
func TestAwaitAnswerTimeout(t *testing.T) {
	const req = "GET / HTTP/1.1\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := newPeeker(client)
	c := newIdleConn(newMemberConn(client, p), 20*time.Millisecond, p, nil)
	c.awaitAnswer()
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if _, err := io.WriteString(server, "HTTP/1.1 204 No Content\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitBytes(t, client)
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after the timeout: %d bytes, %v; want the deadline error", n, err)
	}
}

// TestMemberConnAwaitAnswer: after awaitAnswer, the write of a whole
// request returns with the answer ready to read; the next request's write,
// not marked, returns at once (the mark does not outlive its write).
func TestMemberConnAwaitAnswer(t *testing.T) {
	const req, answer = "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := newPeeker(client)
	c := newMemberConn(client, p)
	onRequest(server, len(req), func() { _, _ = io.WriteString(server, answer) })
	c.awaitAnswer()
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if !c.answerWaiting() {
		t.Fatal("the awaited write returned before the answer")
	}
	b := make([]byte, 64)
	if n, err := c.Read(b); err != nil || string(b[:n]) != answer {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
	// The member reads this one but never answers: the write must not wait.
	if n, err := c.Write([]byte(req)); n != len(req) || err != nil {
		t.Fatalf("second Write: %d, %v", n, err)
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
