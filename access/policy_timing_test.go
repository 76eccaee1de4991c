package access

import (
	"net/netip"
	"testing"
)

// BenchmarkAllows: a refused peer walks every line (the worst case).
func BenchmarkAllows(b *testing.B) {
	peer, local := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct {
		name  string
		lines []string
	}{
		{"ip4", []string{"ip 127.0.0.1/8 ::1 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16"}},
		{"local", []string{"local"}},
		{"host-cached", []string{"host admin.example.com"}},
	} {
		p, err := Compile(c.lines)
		if err != nil {
			b.Fatal(err)
		}
		dns := testDNS()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p.Allows(peer, local, epoch, dns) {
					b.Fatal("allowed")
				}
			}
		})
	}
}
