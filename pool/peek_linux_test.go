package pool

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
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
	if sent, closed := p.look(); !sent || closed {
		t.Fatalf("look: sent %v, closed %v; want bytes sent", sent, closed)
	}
	b := make([]byte, 8)
	if n, err := p.readNow(b); err != nil || string(b[:n]) != "evil" {
		t.Fatalf("readNow: %q, %v", b[:n], err)
	}
	if _, err := p.readNow(b); !errors.Is(err, errNothingToRead) {
		t.Fatalf("readNow with nothing waiting: %v, want errNothingToRead", err)
	}
	server.Close()
	waitBytes(t, client)
	if sent, closed := p.look(); sent || !closed {
		t.Fatalf("after close, look: sent %v, closed %v", sent, closed)
	}
	if _, err := p.readNow(b); err != io.EOF {
		t.Fatalf("readNow after close: %v, want EOF", err)
	}
}
