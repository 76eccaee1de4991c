//go:build linux

package pool

import (
	"io"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/sock"
)

// BenchmarkStaleCheck is what checking a reused connection costs before a
// request: a peek at the socket, or under TLS a read that must not wait.
func BenchmarkStaleCheck(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		client, _ := testnet.Pair(b, nil)
		p := sock.New(client)
		b.ReportAllocs()
		for b.Loop() {
			if sent, closed := p.Look(); sent || closed {
				b.Fatal("stale")
			}
		}
	})
	b.Run("tls", func(b *testing.B) {
		cert, roots := testCert(b)
		c, _, server := tlsPair(b, ticketsLater(cert), roots)
		go func() { _, _ = io.Copy(io.Discard, server) }() // the member reads on; it sends nothing
		b.ReportAllocs()
		for b.Loop() {
			if sent, closed := c.Look(); sent || closed {
				b.Fatal("stale")
			}
		}
	})
}
