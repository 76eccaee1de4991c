package headers

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Trusted is a set of peer networks (config.Config.TrustedProxies) whose
// forwarding fields sluice keeps and appends to. It is immutable and safe
// for concurrent use.
type Trusted struct {
	prefixes []netip.Prefix
}

// NewTrusted parses CIDRs ("10.0.0.0/8", "::1/128"); a bare address stands
// for itself alone.
func NewTrusted(cidrs []string) (*Trusted, error) {
	t := &Trusted{prefixes: make([]netip.Prefix, 0, len(cidrs))}
	for _, c := range cidrs {
		p, err := parsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("cannot parse trusted proxy %q: %w", c, err)
		}
		t.prefixes = append(t.prefixes, p)
	}
	return t, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Contains reports whether ip is in one of the networks.
func (t *Trusted) Contains(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && t.containsAddr(a)
}

func (t *Trusted) containsAddr(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
