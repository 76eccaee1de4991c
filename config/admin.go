package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// admin checks the admin listener: an address (port 0 allowed, for tests
// and supervisors that read the log) or a unix socket, at most one token
// source, and a token whenever the listener is reachable off loopback.
func (c *checker) admin() error {
	a := &c.cfg.Admin
	if err := c.tls(a.TLS); err != nil {
		return err
	}
	tokens := secretSources(a.Token, a.TokenFile, a.TokenEnv)
	if tokens > 1 {
		return c.fail(a, Pos{}, "token", "", "set one of token, token_file and token_env")
	}
	for _, h := range a.Hosts {
		if h == "" || strings.ContainsAny(h, " \t/:@") {
			return c.fail(a, Pos{}, "hosts", h, "must be host names without port")
		}
	}
	for _, n := range a.MemberNetworks {
		if _, err := ParseMemberNetwork(n); err != nil {
			return c.fail(a, Pos{}, "member_networks", n, "%v", err)
		}
	}
	if a.Listen == "off" {
		return nil
	}
	if a.Listen == "" {
		if tokens > 0 || len(a.Hosts) > 0 {
			return c.fail(a, Pos{}, "listen", "", "the admin settings need listen: host:port or unix:/path")
		}
		return nil
	}
	if path, ok := strings.CutPrefix(a.Listen, "unix:"); ok {
		if !strings.HasPrefix(path, "/") {
			return c.fail(a, Pos{}, "listen", a.Listen, "a unix socket needs an absolute path: unix:/run/sluice/admin.sock")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return c.fail(a, Pos{}, "listen", a.Listen, "must be host:port or unix:/path")
	}
	if port != "0" {
		if err := checkPort(port); err != nil {
			return c.fail(a, Pos{}, "listen", a.Listen, "%v", err)
		}
	}
	if !isLoopback(host) {
		if !a.HasToken() {
			return c.fail(a, Pos{}, "listen", a.Listen, "an admin listener off loopback needs a token (token, token_file or token_env)")
		}
		if a.TLS == nil {
			var pos Pos
			if n := c.idx.key(a, "listen"); n != nil {
				pos.Line = n.Line
			}
			c.warn(pos, "admin.listen %s is off loopback without admin.tls: the bearer token crosses the network in clear text", a.Listen)
		}
	}
	return nil
}

// ParseMemberNetwork reads one admin.member_networks entry: a CIDR such
// as 10.0.0.0/8, or one address.
func ParseMemberNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("must be a network such as 10.0.0.0/8 or an address")
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("must be a network such as 10.0.0.0/8 or an address")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("has bits set after the prefix: write %s", p.Masked())
	}
	return p, nil
}

// ValidateBalancer normalizes and checks one balancer the way a config file
// is checked: its name, member URLs (normalized, no duplicates), balancer
// and worker parameters. Members get the defaults a config file gives them.
// The admin API runs every change through it; errors are *Error with Key,
// Value and Msg set (Pos is the balancer's).
func ValidateBalancer(b *Balancer) error {
	cfg := &Config{Source: b.Pos.File}
	c := &checker{cfg: cfg}
	h := &Host{Balancers: []*Balancer{b}}
	if err := c.balancer(h, b); err != nil {
		return err
	}
	if err := c.balancerParams(b); err != nil {
		return err
	}
	for _, m := range b.Members {
		memberDefaults(cfg, &m.Params)
		if err := c.workerParams(&m.Params, m, m.Pos); err != nil {
			return err
		}
	}
	return nil
}
