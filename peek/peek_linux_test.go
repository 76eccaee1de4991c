package peek

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// TestSocket: Look and ReadNow see what waits, past a read deadline that
// has passed, and neither waits when nothing does; a peer's close reads
// as closed and EOF.
func TestSocket(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	if err := client.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	s := New(client)
	if sent, closed := s.Look(); sent || closed {
		t.Fatalf("nothing sent yet: sent %v, closed %v", sent, closed)
	}
	b := make([]byte, 8)
	if _, err := s.ReadNow(b); !errors.Is(err, ErrNothing) {
		t.Fatalf("ReadNow with nothing waiting: %v, want ErrNothing", err)
	}
	if _, err := io.WriteString(server, "evil"); err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { sent, _ := s.Look(); return sent })
	if n, err := s.ReadNow(b); err != nil || string(b[:n]) != "evil" {
		t.Fatalf("ReadNow: %q, %v", b[:n], err)
	}
	server.Close()
	until(t, func() bool { _, closed := s.Look(); return closed })
	if _, err := s.ReadNow(b); err != io.EOF {
		t.Fatalf("ReadNow after close: %v, want EOF", err)
	}
	if s := New(nil); s.Raw() != nil {
		t.Error("a connection without a socket has a RawConn")
	}
}

func until(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
	}
}
