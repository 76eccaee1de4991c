package pool

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/sock"
)

// TestMemberConnEarlyAnswer: the member answers after the head and reads
// nothing more. The body write stops blocking once the answer is there,
// and the answer is read as sent, marked so that the transport closes the
// connection after it.
func TestMemberConnEarlyAnswer(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newMemberConn(client, sock.New(client))
	go func() {
		br := bufio.NewReader(server)
		for {
			if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(server, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
	}()
	postAnsweredEarly(t, c, 10*time.Second)
}

// postAnsweredEarly writes a 64 MiB POST on c, whose member answers 413
// after the head without reading the body: every body write must go
// through within wait, and the answer must be marked as early.
func postAnsweredEarly(t *testing.T, c *memberConn, wait time.Duration) {
	t.Helper()
	if err := c.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 67108864\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("b"), 1<<20)
	for i := range 64 {
		if n, err := c.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("body write %d: %d, %v", i, n, err)
		}
	}
	const want = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig"
	got, err := io.ReadAll(io.LimitReader(c, int64(len(want))))
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	if !c.answered {
		t.Fatal("the answer is not marked as early")
	}
}

// TestMemberConnKeepsReading: a member that reads the whole body before
// answering gets its answer read as sent, and the connection carries the
// next request.
func TestMemberConnKeepsReading(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newMemberConn(client, sock.New(client))
	go func() {
		_, _ = io.CopyN(io.Discard, server, 4<<20)
		_, _ = io.WriteString(server, "ok")
	}()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(io.LimitReader(c, 2)); err != nil || string(got) != "ok" {
		t.Fatalf("read %q, %v: want the answer as sent", got, err)
	}
	// A body write's short deadline that has passed by the next request
	// does not fail it.
	c.sliced = true
	_ = client.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
		t.Fatalf("next request: %v", err)
	}
}
