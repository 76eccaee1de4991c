package admin

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Resolver is what "Require host" needs from DNS.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// permitted evaluates a manager location's Require lines as Apache's
// implicit RequireAny: one matching line grants. With no line at all only
// local clients get in (Apache would grant everyone; see docs/admin.md).
func (a *Admin) permitted(ctx *fasthttp.RequestCtx, rules []string) bool {
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return false
	}
	peer = peer.Unmap()
	if len(rules) == 0 {
		return isLocal(ctx, peer)
	}
	for _, r := range rules {
		f := strings.Fields(r)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "all":
			if len(f) == 2 && f[1] == "granted" {
				return true
			}
		case "local":
			if isLocal(ctx, peer) {
				return true
			}
		case "ip":
			for _, v := range f[1:] {
				if p, ok := requirePrefix(v); ok && p.Contains(peer) {
					return true
				}
			}
		case "host":
			if a.hostMatches(peer, f[1:]) {
				return true
			}
		}
	}
	return false
}

// isLocal is mod_authz_host's "local": loopback, or a peer connecting from
// the server's own address.
func isLocal(ctx *fasthttp.RequestCtx, peer netip.Addr) bool {
	if peer.IsLoopback() {
		return true
	}
	local, ok := netip.AddrFromSlice(ctx.LocalIP())
	return ok && local.Unmap() == peer
}

// requirePrefix reads what "Require ip" accepts: an address, a CIDR, an
// address/netmask, or a partial IPv4 address ("10.1" is 10.1.0.0/16).
func requirePrefix(v string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), true
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), true
	}
	if addr, mask, ok := strings.Cut(v, "/"); ok {
		ip, err1 := netip.ParseAddr(addr)
		m, err2 := netip.ParseAddr(mask)
		if err1 != nil || err2 != nil || ip.BitLen() != m.BitLen() {
			return netip.Prefix{}, false
		}
		ones, _ := net.IPMask(m.AsSlice()).Size()
		return netip.PrefixFrom(ip, ones).Masked(), true
	}
	parts := strings.Split(strings.TrimSuffix(v, "."), ".")
	if len(parts) == 0 || len(parts) > 3 {
		return netip.Prefix{}, false
	}
	var b [4]byte
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			return netip.Prefix{}, false
		}
		b[i] = byte(n)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 8*len(parts)), true
}

// hostMatches is "Require host": the peer's reverse name, confirmed by a
// forward lookup (double reverse, as mod_authz_host), equals one of names or
// ends with "."+name.
func (a *Admin) hostMatches(peer netip.Addr, names []string) bool {
	r := a.opts.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reverse, err := r.LookupAddr(ctx, peer.String())
	if err != nil {
		return false
	}
	for _, rn := range reverse {
		rn = strings.ToLower(strings.TrimSuffix(rn, "."))
		if !suffixMatch(rn, names) {
			continue
		}
		addrs, err := r.LookupHost(ctx, rn)
		if err != nil {
			continue
		}
		for _, s := range addrs {
			if ip, err := netip.ParseAddr(s); err == nil && ip.Unmap() == peer {
				return true
			}
		}
	}
	return false
}

func suffixMatch(host string, names []string) bool {
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}
