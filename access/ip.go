package access

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ipPrefix reads what "Require ip" accepts: an address, a CIDR, an
// address/netmask, or a partial IPv4 address ("10.1" is 10.1.0.0/16).
// IPv4-mapped IPv6 forms become IPv4, as peers are compared unmapped.
func ipPrefix(v string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return unmapPrefix(p.Masked()), true
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		if ip.Zone() != "" {
			return netip.Prefix{}, false
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	if addr, mask, ok := strings.Cut(v, "/"); ok {
		ip, err1 := netip.ParseAddr(addr)
		m, err2 := netip.ParseAddr(mask)
		if err1 != nil || err2 != nil || !ip.Is4() || !m.Is4() {
			return netip.Prefix{}, false
		}
		ones, bits := net.IPMask(m.AsSlice()).Size()
		if bits == 0 {
			return netip.Prefix{}, false // not a contiguous mask
		}
		return netip.PrefixFrom(ip, ones).Masked(), true
	}
	parts := strings.Split(strings.TrimSuffix(v, "."), ".")
	if len(parts) > 3 {
		return netip.Prefix{}, false
	}
	var b [4]byte
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 || s[0] == '+' {
			return netip.Prefix{}, false
		}
		b[i] = byte(n)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 8*len(parts)), true
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
