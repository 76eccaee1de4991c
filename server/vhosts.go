package server

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// hostTable picks a vhost for a request's Host among the vhosts that
// answer on one address: an exact ServerName or ServerAlias, else the
// first wildcard ServerAlias that matches ("*.example.com", in config
// order), else the first of them, which Apache makes the default for the
// address; a request or handshake that names no host gets that default.
type hostTable struct {
	byName map[string]*vhost
	wild   []wildHost
	first  *vhost
}

type wildHost struct {
	vh       *vhost
	patterns []string
}

func (t *hostTable) add(vh *vhost) {
	if t.first == nil {
		t.first = vh
	}
	if t.byName == nil {
		t.byName = make(map[string]*vhost)
	}
	hc := vh.cfg
	var wild []string
	for _, n := range append([]string{hc.ServerName}, hc.ServerAliases...) {
		if n = hostName(n); n == "" {
			continue
		}
		if _, dup := t.byName[n]; !dup {
			t.byName[n] = vh
		}
		if strings.ContainsAny(n, "*?[") {
			wild = append(wild, n)
		}
	}
	if len(wild) > 0 {
		t.wild = append(t.wild, wildHost{vh: vh, patterns: wild})
	}
}

func (t *hostTable) lookup(host []byte) *vhost {
	if len(t.byName) == 0 {
		return t.first
	}
	h := host
	if i := lastColon(h); i >= 0 {
		h = h[:i]
	}
	// "example.com." is the same name, fully qualified: Apache drops the
	// dot before matching (fix_hostname).
	h = bytes.TrimSuffix(h, []byte("."))
	if len(h) == 0 {
		// No name (no SNI, no Host): the address's default, which a
		// catch-all ServerAlias * would otherwise match.
		return t.first
	}
	var buf [128]byte
	if len(h) <= len(buf) {
		lower := buf[:len(h)]
		for i, c := range h {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		if vh, ok := t.byName[string(lower)]; ok {
			return vh
		}
	}
	if len(t.wild) > 0 {
		name := strings.ToLower(string(h))
		for _, w := range t.wild {
			for _, p := range w.patterns {
				if ok, _ := path.Match(p, name); ok {
					return w.vh
				}
			}
		}
	}
	return t.first
}

// addrTables picks the vhosts of the address a connection came in on, as
// Apache does: the vhosts naming its IP and port, else its IP and any
// port, else any IP and its port, else any IP and any port. It is only
// built when the vhosts' addresses differ; a connection on an address
// none names is served by Host among all vhosts (docs/compatibility.md).
type addrTables map[config.VHostAddr]*hostTable

func buildAddrTables(hosts []*vhost, always bool) (addrTables, error) {
	sets := make([][]config.VHostAddr, len(hosts))
	differ := false
	for i, vh := range hosts {
		for _, a := range vh.cfg.Addrs {
			va, err := config.ParseVHostAddr(a)
			if err != nil {
				return nil, fmt.Errorf("%s: <VirtualHost> address %q: %w", vh.cfg.Pos, a, err)
			}
			if !slices.Contains(sets[i], va) {
				sets[i] = append(sets[i], va)
			}
		}
		slices.SortFunc(sets[i], func(a, b config.VHostAddr) int {
			if c := a.IP.Compare(b.IP); c != 0 {
				return c
			}
			return a.Port - b.Port
		})
		differ = differ || !slices.Equal(sets[i], sets[0])
	}
	if !differ && !always {
		return nil, nil
	}
	at := addrTables{}
	for i, vh := range hosts {
		for _, va := range sets[i] {
			t := at[va]
			if t == nil {
				t = &hostTable{}
				at[va] = t
			}
			t.add(vh)
		}
	}
	return at, nil
}

// table returns the vhosts for a connection's local address, or nil.
func (at addrTables) table(local net.Addr) *hostTable {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return nil
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap()
	for _, k := range [...]config.VHostAddr{{IP: ip, Port: ta.Port}, {IP: ip}, {Port: ta.Port}, {}} {
		if t := at[k]; t != nil {
			return t
		}
	}
	return nil
}

// hostOf picks the vhost for a request; the connection's address is
// looked at only when the vhosts' addresses differ or some host speaks TLS.
func (rt *runtime) hostOf(ctx *fasthttp.RequestCtx) *vhost {
	if rt.byAddr == nil {
		return rt.all.lookup(ctx.Host())
	}
	vh := rt.vhostFor(ctx.Host(), ctx.LocalAddr())
	if rt.anyTLS && (vh.tls != nil) != ctx.IsTLS() {
		// Host named a vhost of another address, which speaks TLS where
		// this connection does not, or the other way round: Apache serves
		// such a connection from the main server.
		return rt.main
	}
	return vh
}

// vhostFor picks the vhost for a request: by the address its connection
// came in on when the vhosts' addresses differ, then by Host.
func (rt *runtime) vhostFor(host []byte, local net.Addr) *vhost {
	if rt.byAddr != nil {
		if t := rt.byAddr.table(local); t != nil {
			return t.lookup(host)
		}
	}
	return rt.all.lookup(host)
}

// tlsHost is the host whose certificate a TLS connection on local gets
// for the name it asked for (SNI): among the vhosts of its address, by
// name, else the first of them; the main server where no vhost names the
// address. Its tls is nil when that host does not terminate TLS.
func (rt *runtime) tlsHost(serverName string, local net.Addr) *vhost {
	if t := rt.byAddr.table(local); t != nil {
		return t.lookup([]byte(serverName))
	}
	return rt.main
}

// speaksTLS reports whether connection c speaks TLS: whether the hosts of
// the address it was accepted on terminate TLS (they agree, config checks
// that). c's local address is looked at only where some host does: on a
// wildcard listener it costs a system call.
func (rt *runtime) speaksTLS(c net.Conn) bool {
	if !rt.anyTLS {
		return false
	}
	return rt.tlsHost("", c.LocalAddr()).tls != nil
}

// lastColon finds the port separator of a Host value, skipping IPv6 brackets.
func lastColon(h []byte) int {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}
