package pool

import (
	"net/netip"
	"testing"
)

// BenchmarkDialPolicyCheck is the per-address cost an added member's dial
// adds on top of its DNS lookup.
func BenchmarkDialPolicyCheck(b *testing.B) {
	var p DialPolicy
	p.SetRules(prefixes("10.0.0.0/8", "192.168.0.0/16", "fd00::/8"), []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9090"), netip.MustParseAddrPort("[::]:80")})
	ip := netip.MustParseAddr("192.168.7.9")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(ip, 8080); err != nil {
			b.Fatal(err)
		}
	}
}
