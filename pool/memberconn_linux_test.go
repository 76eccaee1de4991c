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
// answer, the read that follows reports it at once, even if the answer
// came meanwhile: one timeout for the answer, not two.
func TestAwaitAnswerTimeout(t *testing.T) {
	const req = "GET / HTTP/1.1\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	p := sock.New(client)
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
	p := sock.New(client)
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
