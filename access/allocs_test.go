//go:build !race

package access

import (
	"net/netip"
	"testing"
)

// TestAllowsAllocs: ip, local and all lines, and cached host answers,
// decide without allocating.
func TestAllowsAllocs(t *testing.T) {
	dns := testDNS()
	peer, local := netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("192.0.2.1")
	for _, lines := range [][]string{
		{"all granted"},
		{"all denied"},
		{"local"},
		{"ip 192.168.0.0/16 172.16", "ip 10.0.0.0/8"},
		{"ip 192.168.0.0/16", "local"},
		{"host admin.example.com"},
	} {
		p, err := Compile(lines)
		if err != nil {
			t.Fatal(err)
		}
		p.Allows(peer, local, epoch, dns)
		n := testing.AllocsPerRun(100, func() { p.Allows(peer, local, epoch, dns) })
		if n != 0 {
			t.Errorf("%q: %.1f allocs", lines, n)
		}
	}
}
