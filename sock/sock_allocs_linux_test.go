//go:build linux && !race

package sock

import (
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// A socket's Read, Write, Look and ReadNow allocate nothing once their
// functions for RawConn are made (on first use, per socket). WriteAwait's
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
		for tries := 0; ; tries++ { // loopback delivers within the write; bounded anyway
			if sent, _ := c.Look(); sent {
				break
			} else if tries == 1_000_000 {
				t.Fatal("the answer never showed")
			}
		}
		if n, err := c.ReadNow(b); n != len(msg) || err != nil {
			t.Fatalf("ReadNow: %d, %v", n, err)
		}
	}
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("%.1f allocations per round", n)
	}
}
