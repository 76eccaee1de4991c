// Package access is mod_authz_host's Require for sluice: the ip, host,
// local and all providers, with a section's Require lines combined as
// Apache's implicit RequireAny (any one matching line grants).
//
// Lines are checked and normalized with Line when a config loads and
// compiled once with Compile; Allows then decides per request. For ip,
// local and all lines it does not allocate; host lines need DNS, whose
// answers a Policy caches briefly.
package access

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Kinds lists the Require forms sluice enforces, for error messages.
const Kinds = "ip, host, local, all granted, all denied"

// Policy is one section's compiled Require lines. It is safe for
// concurrent use.
type Policy struct {
	lines    []string
	granted  bool // "all granted"
	local    bool
	prefixes []netip.Prefix
	hosts    []string // lower case, without a trailing dot
	dns      *hostCache
}

// Line checks one Require line, given as the words after "Require", and
// returns it as a config stores it: the kind lower-cased, then its values
// ("ip 10.0.0.0/8 ::1", "host example.com", "local", "all granted").
func Line(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("needs an entity type, such as ip or host")
	}
	kind := strings.ToLower(args[0])
	vals := args[1:]
	switch kind {
	case "ip":
		if len(vals) == 0 {
			return "", errors.New(`"Require ip" needs at least one address or network`)
		}
		for _, v := range vals {
			if _, ok := ipPrefix(v); !ok {
				return "", fmt.Errorf("%q is not an IP address, network or address prefix", v)
			}
		}
	case "host":
		if len(vals) == 0 {
			return "", errors.New(`"Require host" needs at least one host name`)
		}
		for _, v := range vals {
			if hostName(v) == "" || strings.ContainsAny(v, "/:@") {
				return "", fmt.Errorf("%q is not a host or domain name", v)
			}
		}
	case "local":
		if len(vals) != 0 {
			return "", errors.New(`"Require local" takes no argument`)
		}
	case "all":
		if len(vals) != 1 || !strings.EqualFold(vals[0], "granted") && !strings.EqualFold(vals[0], "denied") {
			return "", errors.New(`"Require all" must be granted or denied`)
		}
		vals = []string{strings.ToLower(vals[0])}
	case "not":
		return "", errors.New(`"Require not" is not supported: list who may enter (any one Require line grants)`)
	default:
		return "", fmt.Errorf("%q is not supported (allowed: %s)", "Require "+args[0], Kinds)
	}
	return strings.Join(append([]string{kind}, vals...), " "), nil
}

// Compile builds the policy of one section's Require lines, each as Line
// accepts it joined by spaces. No line at all grants nothing.
func Compile(lines []string) (*Policy, error) {
	p := &Policy{lines: lines}
	for _, l := range lines {
		norm, err := Line(strings.Fields(l))
		if err != nil {
			return nil, err
		}
		f := strings.Fields(norm)
		switch f[0] {
		case "all":
			p.granted = p.granted || f[1] == "granted"
		case "local":
			p.local = true
		case "ip":
			for _, v := range f[1:] {
				pf, _ := ipPrefix(v)
				p.prefixes = append(p.prefixes, pf)
			}
		case "host":
			for _, v := range f[1:] {
				p.hosts = append(p.hosts, hostName(v))
			}
		}
	}
	if len(p.hosts) > 0 {
		p.dns = newHostCache()
	}
	return p, nil
}

// Lines are the Require lines the policy was compiled from.
func (p *Policy) Lines() []string { return p.lines }

// Allows reports whether a client at peer, connected to the server's
// address local, may pass. dns answers host lines; nil is Go's resolver.
// now dates the DNS cache.
func (p *Policy) Allows(peer, local netip.Addr, now time.Time, dns Resolver) bool {
	if p.granted {
		return true
	}
	peer = peer.Unmap()
	if !peer.IsValid() || peer.IsUnspecified() {
		return false // not a TCP peer: nothing to match
	}
	if p.local && (peer.IsLoopback() || peer == local.Unmap()) {
		return true
	}
	for _, pf := range p.prefixes {
		if pf.Contains(peer) {
			return true
		}
	}
	return p.dns != nil && p.dns.matches(peer, p.hosts, now, dns)
}
