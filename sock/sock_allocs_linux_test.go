//go:build linux && !race

package sock

import (
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// A socket's Read, Write, Look and ReadNow allocate nothing once their
// functions for RawConn are made (on first use, per socket). WriteRead's
// are held to it by the server's TestProxyRequestAllocs: every proxied
// GET goes through it.
func TestSocketAllocs(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c, s := New(client), New(server)
	msg, b := []byte("ping"), make([]byte, 16)
	round := func() {
		if n, err := c.Write(msg); n != len(msg) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		if n, err := s.Read(b); n != len(msg) || err != nil {
			t.Fatalf("Read: %d, %v", n, err)
		}
		if n, err := s.Write(msg); n != len(msg) || err != nil {
			t.Fatalf("Write back: %d, %v", n, err)
		}
		lookUntilSent(t, c)
		if n, err := c.ReadNow(b); n != len(msg) || err != nil {
			t.Fatalf("ReadNow: %d, %v", n, err)
		}
	}
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("%.1f allocations per round", n)
	}
}

// A bare Accepted's Socket reads and writes without allocating, not even
// the functions for RawConn that a Socket makes on its first wait.
func TestAcceptedSocketAllocs(t *testing.T) {
	a, peer := acceptFrom(t, listen(t))
	s, msg, b := New(a), []byte("ping"), make([]byte, 16)
	round := func() {
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		lookUntilSent(t, s)
		if n, err := s.Read(b); n != len(msg) || err != nil {
			t.Fatalf("Read: %d, %v", n, err)
		}
		if n, err := s.Write(msg); n != len(msg) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		if _, err := peer.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("%.1f allocations per round", n)
	}
	if a.polled.Load() != nil || s.readFn != nil || s.writeFn != nil {
		t.Error("the rounds waited: the socket joined the poller or made its functions")
	}
}

// lookUntilSent spins on Look, which allocates nothing, until the peer's
// bytes show: loopback delivers them within the peer's write, but the
// wait is bounded anyway.
func lookUntilSent(t *testing.T, s *Socket) {
	t.Helper()
	for tries := 0; ; tries++ {
		if sent, _ := s.Look(); sent {
			return
		} else if tries == 1_000_000 {
			t.Fatal("the peer's bytes never showed")
		}
	}
}
