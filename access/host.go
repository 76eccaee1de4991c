package access

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Resolver is what "Require host" needs from DNS; *net.Resolver is one.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

const (
	// hostTTL is how long a peer's names are kept, found or not: short, so
	// a DNS change takes effect soon, long enough that a busy client costs
	// one lookup pair, not one per request.
	hostTTL = 30 * time.Second
	// hostCacheMax bounds the cache; past it, expired entries go, and if
	// none had expired, all of them.
	hostCacheMax = 4096
	// lookupTimeout bounds the two lookups of one peer.
	lookupTimeout = 2 * time.Second
)

// hostCache keeps each peer's forward-confirmed reverse names.
type hostCache struct {
	mu sync.Mutex
	m  map[netip.Addr]hostEntry
}

type hostEntry struct {
	names []string
	until time.Time
}

func newHostCache() *hostCache { return &hostCache{m: make(map[netip.Addr]hostEntry)} }

// matches is "Require host": one of the peer's names equals a name of
// hosts or lies in its domain.
func (c *hostCache) matches(peer netip.Addr, hosts []string, now time.Time, dns Resolver) bool {
	for _, n := range c.names(peer, now, dns) {
		for _, h := range hosts {
			if inDomain(n, h) {
				return true
			}
		}
	}
	return false
}

func (c *hostCache) names(peer netip.Addr, now time.Time, dns Resolver) []string {
	c.mu.Lock()
	e, ok := c.m[peer]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.names
	}
	names := confirmedNames(peer, dns)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= hostCacheMax {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= hostCacheMax {
			clear(c.m)
		}
	}
	c.m[peer] = hostEntry{names: names, until: now.Add(hostTTL)}
	return names
}

// confirmedNames is mod_authz_host's double reverse lookup: the peer's
// reverse names whose forward lookup gives the peer back. Others are what
// whoever controls the peer's reverse zone says, and prove nothing.
func confirmedNames(peer netip.Addr, dns Resolver) []string {
	if dns == nil {
		dns = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	reverse, err := dns.LookupAddr(ctx, peer.String())
	if err != nil {
		return nil
	}
	var out []string
	for _, rn := range reverse {
		rn = hostName(rn)
		if rn == "" {
			continue
		}
		addrs, err := dns.LookupHost(ctx, rn)
		if err != nil {
			continue
		}
		for _, s := range addrs {
			if ip, err := netip.ParseAddr(s); err == nil && ip.Unmap() == peer {
				out = append(out, rn)
				break
			}
		}
	}
	return out
}

// hostName is a name as compared: lower case, without a trailing dot.
func hostName(n string) string {
	return strings.ToLower(strings.TrimSuffix(n, "."))
}

// inDomain is mod_authz_host's in_domain: host is domain, or ends with it
// at a label boundary (".example.com" matches only names below it).
func inDomain(host, domain string) bool {
	if !strings.HasSuffix(host, domain) {
		return false
	}
	if len(host) == len(domain) {
		return true
	}
	return domain[0] == '.' || host[len(host)-len(domain)-1] == '.'
}
