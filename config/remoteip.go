package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
)

// RemoteIP is mod_remoteip: the client's address taken from a field that
// trusted proxies set (RemoteIPHeader), for every use of it (Require ip,
// %a in access logs, REMOTE_ADDR, SetEnvIf Remote_Addr, the address
// appended to X-Forwarded-For).
type RemoteIP struct {
	Pos Pos `yaml:"-"`
	// Header is RemoteIPHeader: X-Forwarded-For, X-Real-IP,
	// CF-Connecting-IP… Empty turns the module off.
	Header string `yaml:"header"`
	// Internal and Trusted are RemoteIPInternalProxy and
	// RemoteIPTrustedProxy: addresses or networks (CIDR). An internal
	// proxy may present a private address; a trusted one may not. With
	// neither, every peer is taken for a trusted proxy, as in Apache.
	Internal []string `yaml:"internal,omitempty"`
	Trusted  []string `yaml:"trusted,omitempty"`
	// ProxiesHeader is RemoteIPProxiesHeader: the field that lists the
	// trusted proxies the request came through.
	ProxiesHeader string `yaml:"proxies_header,omitempty"`
}

// RemoteIPProxy is one compiled proxy network.
type RemoteIPProxy struct {
	Prefix   netip.Prefix
	Internal bool
}

// Proxies compiles Internal and Trusted, in that order (the first network
// that holds an address decides, as Apache tests them in config order).
func (r *RemoteIP) Proxies() ([]RemoteIPProxy, error) {
	var out []RemoteIPProxy
	for _, list := range []struct {
		nets     []string
		internal bool
	}{{r.Internal, true}, {r.Trusted, false}} {
		for _, n := range list.nets {
			p, err := parseProxyNet(n)
			if err != nil {
				return nil, err
			}
			out = append(out, RemoteIPProxy{Prefix: p, Internal: list.internal})
		}
	}
	return out, nil
}

func parseProxyNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("proxy %q is not an address or a network (CIDR): %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("proxy %q is not an address or a network (CIDR); sluice resolves no host names here", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// remoteIP returns the host's RemoteIP, creating it.
func (p *apacheParser) remoteIP(d *directive) *RemoteIP {
	if p.host.RemoteIP == nil {
		p.host.RemoteIP = &RemoteIP{Pos: d.pos}
	}
	p.markSet("remote_ip")
	return p.host.RemoteIP
}

func (p *apacheParser) remoteIPHeader(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one field name, such as X-Forwarded-For")
	}
	p.remoteIP(d).Header = d.args[0]
	return nil
}

func (p *apacheParser) remoteIPProxiesHeader(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one field name, such as X-Forwarded-By")
	}
	p.remoteIP(d).ProxiesHeader = d.args[0]
	return nil
}

// remoteIPProxy reads RemoteIPInternalProxy and RemoteIPTrustedProxy
// (list: …List, the networks in a file, one or more per line, # comments).
func remoteIPProxy(internal, list bool) func(p *apacheParser, d *directive) error {
	return func(p *apacheParser, d *directive) error {
		if err := p.only(d, ctxMain, ctxVHost); err != nil {
			return err
		}
		nets := d.args
		if list {
			if len(d.args) != 1 {
				return d.fail(d.joined(), "takes one file name")
			}
			src, err := fs.ReadFile(p.fsys, fsPath(p.rootPath(d.args[0])))
			if err != nil {
				return d.fail(d.args[0], "cannot read: %v", err)
			}
			nets = nil
			sc := bufio.NewScanner(bytes.NewReader(src))
			for sc.Scan() {
				line, _, _ := strings.Cut(sc.Text(), "#")
				nets = append(nets, strings.Fields(line)...)
			}
		}
		if len(nets) == 0 {
			return d.fail(d.joined(), "needs addresses or networks")
		}
		for _, n := range nets {
			if _, err := parseProxyNet(n); err != nil {
				return d.fail(n, "%v", err)
			}
		}
		r := p.remoteIP(d)
		if internal {
			r.Internal = append(r.Internal, nets...)
		} else {
			r.Trusted = append(r.Trusted, nets...)
		}
		return nil
	}
}
