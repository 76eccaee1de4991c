package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultResolveTimeout bounds one lookup of a policed member's host.
const DefaultResolveTimeout = 2 * time.Second

// Resolver looks up host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialPolicy says where members added through the admin API may connect
// (threats.md ADM-04: SSRF). The admin checks an added member's URL with
// it, and the member's Backend checks again at every dial, so a name that
// later resolves elsewhere (DNS rebinding) cannot reach a refused address.
// Members from the configuration file are trusted and have no policy.
// It is safe for concurrent use; the server updates it on reload.
type DialPolicy struct {
	// Resolver looks names up; nil is net.DefaultResolver.
	Resolver Resolver
	// Timeout bounds one lookup; 0 is DefaultResolveTimeout.
	Timeout time.Duration
	rules   atomic.Pointer[policyRules]
}

type policyRules struct {
	// allow is admin.member_networks: when set, only these networks, and
	// inside them any address class.
	allow []netip.Prefix
	// own are sluice's listeners; local are this host's addresses, which
	// a listener on an unspecified address accepts on.
	own   []netip.AddrPort
	local []netip.Addr
}

var noRules policyRules

// RefusedError is a destination the policy refuses.
type RefusedError struct {
	Host string // as given, when it is a name
	Addr netip.Addr
	Why  string
}

func (e *RefusedError) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s resolves to %s, %s", e.Host, e.Addr, e.Why)
	}
	return fmt.Sprintf("%s is %s", e.Addr, e.Why)
}

// SetRules replaces the allow-list and sluice's own addresses. An own
// address whose IP is unspecified stands for every local address on its
// port; local addresses are read from the network interfaces now.
func (p *DialPolicy) SetRules(allow []netip.Prefix, own []netip.AddrPort) {
	r := &policyRules{allow: allow, own: own}
	for _, o := range own {
		if o.Addr().IsUnspecified() {
			r.local = interfaceAddrs()
			break
		}
	}
	p.rules.Store(r)
}

func interfaceAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	local := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				local = append(local, ip.Unmap())
			}
		}
	}
	return local
}

// Check reports why ip:port is refused, or nil. An IPv4-mapped IPv6
// address is judged as the IPv4 address it maps.
func (p *DialPolicy) Check(ip netip.Addr, port uint16) error {
	if ip.Zone() != "" {
		return &RefusedError{Addr: ip, Why: "an address with a zone ID"}
	}
	a := ip.Unmap()
	r := p.rules.Load()
	if r == nil {
		r = &noRules
	}
	if r.isOwn(a, port) {
		return &RefusedError{Addr: ip, Why: "one of sluice's own listeners"}
	}
	if len(r.allow) > 0 {
		for _, n := range r.allow {
			if n.Contains(a) {
				return nil
			}
		}
		return &RefusedError{Addr: ip, Why: "outside admin.member_networks"}
	}
	if why := refusedClass(a); why != "" {
		return &RefusedError{Addr: ip, Why: why + " (allow it with admin.member_networks)"}
	}
	return nil
}

func (r *policyRules) isOwn(a netip.Addr, port uint16) bool {
	for _, o := range r.own {
		if o.Port() != port {
			continue
		}
		oa := o.Addr().Unmap()
		if oa == a {
			return true
		}
		if oa.IsUnspecified() && (a.IsLoopback() || a.IsUnspecified()) {
			return true
		}
		if oa.IsUnspecified() {
			for _, l := range r.local {
				if l == a {
					return true
				}
			}
		}
	}
	return false
}

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// refusedClass names the address classes refused by default: the host
// itself, its links (169.254.169.254 is the cloud metadata service),
// and addresses that are not one destination.
func refusedClass(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified(), a.Is4() && a.As4()[0] == 0:
		return "an unspecified address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (169.254.169.254 is the cloud metadata service)"
	case a.IsMulticast():
		return "a multicast address"
	case a == broadcast:
		return "the broadcast address"
	case a.Is6() && isV4Compatible(a):
		return "an IPv4-compatible address"
	}
	return ""
}

// isV4Compatible is the deprecated ::a.b.c.d form (RFC 4291 §2.5.5.1).
func isV4Compatible(a netip.Addr) bool {
	b := a.As16()
	for _, x := range b[:12] {
		if x != 0 {
			return false
		}
	}
	return true
}

// Resolve looks host up (an IP literal is taken as is) and checks every
// address it gets: one refused address refuses the host, since a later
// lookup may return it first.
func (p *DialPolicy) Resolve(ctx context.Context, host string, port uint16) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.Check(ip, port); err != nil {
			return nil, err
		}
		return []netip.Addr{ip}, nil
	}
	t := p.Timeout
	if t <= 0 {
		t = DefaultResolveTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	var res Resolver = net.DefaultResolver
	if p.Resolver != nil {
		res = p.Resolver
	}
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("cannot resolve %q: no addresses", host)
	}
	for _, a := range addrs {
		if err := p.Check(a, port); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				re.Host = host
			}
			return nil, err
		}
	}
	return addrs, nil
}

// Dial connects to hostport through d after Resolve allowed every address,
// trying them in order; it never resolves the name again. A nil policy
// dials hostport as given, so other dialers (health checks, tunnels) can
// call it through a member's Backend.Options.Policy.
func (p *DialPolicy) Dial(ctx context.Context, d *net.Dialer, hostport string) (net.Conn, error) {
	if p == nil {
		return d.DialContext(ctx, "tcp", hostport)
	}
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", hostport)
	}
	addrs, err := p.Resolve(ctx, host, uint16(port))
	if err != nil {
		return nil, err
	}
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}
