package hcheck

import (
	"crypto/tls"
	"net"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
	"github.com/sluiceproxy/sluice/pool"
)

// plan is how one member is checked, fixed until the next Update that
// changes its check settings.
type plan struct {
	method  string // as configured: TCP, OPTIONS, HEAD, GET, OPTIONS11, HEAD11, GET11
	tcp     bool
	head    bool // the response has no body
	getBody bool // GET: the body is read for the expression
	http11  bool
	target  string // request target; "" for TCP
	request string // the bytes sent

	cping      bool // AJP's CPING, answered by CPONG
	addr       string
	socket     bool // addr is a Unix domain socket's path
	tls        bool
	serverName string
	// tlsConf is the member's own TLS configuration (SSLProxy*), nil
	// for the checker's.
	tlsConf *tls.Config
	// policy checks where a member added through the admin may connect
	// (threats.md ADM-04); nil for members from the config file.
	policy *pool.DialPolicy

	interval       time.Duration
	passes, fails  int
	connectTimeout time.Duration
	timeout        time.Duration // bounds the whole check

	exprName string
	expr     *hcexpr.Expr // nil: 200-399 passes
}

// connKey identifies the connection a plan can reuse.
func (p *plan) connKey() string {
	if p.tls {
		return "tls|" + p.serverName + "|" + p.addr
	}
	return p.addr
}

// same reports whether two plans check the same way, so a reload that does
// not touch the check keeps its schedule and streaks. The TLS
// configuration is the member's pool's, which a reload keeps unless the
// SSLProxy* settings or their certificates changed (pool.BackendOptions.Same):
// a check under others starts again, on a new connection.
func (p *plan) same(q *plan) bool {
	a, b := *p, *q
	a.expr, b.expr = nil, nil
	return a == b && exprSource(p.expr) == exprSource(q.expr)
}

func exprSource(e *hcexpr.Expr) string {
	if e == nil {
		return ""
	}
	return e.String()
}

// newPlan returns how m is checked, or nil when it is not: hcmethod NONE,
// or a direct ProxyPass worker (ID "|URL"), which Apache never checks. An
// hcexpr missing from exprs makes every check fail, saying so.
func newPlan(m *pool.Member, exprs Exprs) *plan {
	if strings.HasPrefix(m.ID, "|") {
		return nil
	}
	hp := m.Params
	method := strings.ToUpper(hp.HCMethod)
	base := strings.TrimSuffix(method, "11")
	switch base {
	case "TCP", "OPTIONS", "HEAD", "GET", "CPING":
	default:
		return nil
	}
	p := &plan{
		method:   method,
		tcp:      base == "TCP",
		cping:    base == "CPING",
		head:     base == "HEAD",
		getBody:  base == "GET",
		http11:   base != method,
		addr:     m.Addr,
		socket:   m.Socket,
		tls:      m.TLS,
		interval: hp.HCInterval.D(),
		passes:   max(hp.HCPasses, 1),
		fails:    max(hp.HCFails, 1),
		exprName: hp.HCExpr,
	}
	if p.interval <= 0 {
		p.interval = config.DefaultHCInterval
	}
	host := hostPort(m)
	p.serverName, _, _ = net.SplitHostPort(host)
	p.connectTimeout, p.timeout = timeouts(m)
	if m.Backend != nil {
		p.policy = m.Backend.Options.Policy
		if m.Backend.Options.TLS != nil {
			p.tlsConf = m.Backend.TLS
		}
	}
	if hp.HCExpr != "" {
		p.expr = exprs[hp.HCExpr]
	}
	if p.tcp {
		return p
	}
	proto := " HTTP/1.0\r\n"
	if p.http11 {
		proto = " HTTP/1.1\r\n"
	}
	p.target = "*"
	if base != "OPTIONS" {
		p.target = target(m.Path, hp.HCURI)
	}
	// Apache sends Host with the port, always, and no other header.
	p.request = base + " " + p.target + proto + "Host: " + host + "\r\n\r\n"
	return p
}

// hostPort is the host:port m's URL names: its address, or for a Unix
// domain socket member (whose address is the socket's path) the name after
// "|" with the scheme's default port when it has none.
func hostPort(m *pool.Member) string {
	if !m.Socket {
		return m.Addr
	}
	if _, _, err := net.SplitHostPort(m.HostHeader); err == nil {
		return m.HostHeader
	}
	return net.JoinHostPort(strings.Trim(m.HostHeader, "[]"), config.DefaultPort(m.Scheme))
}

// target joins the member's path and hcuri with exactly one slash. Apache
// writes path + "/" + hcuri ("/sub///hc") and, with neither, an empty
// request target; an empty target here is "/".
func target(path, hcuri string) string {
	var t string
	switch {
	case hcuri == "":
		t = path
	case path == "":
		t = hcuri
	default:
		t = strings.TrimRight(path, "/") + "/" + strings.TrimLeft(hcuri, "/")
	}
	if !strings.HasPrefix(t, "/") {
		t = "/" + t
	}
	return escapeTarget(t)
}

// escapeTarget percent-encodes bytes that would break the request line.
func escapeTarget(t string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c > ' ' && c < 0x7f {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// timeouts are the worker's own, as Apache 2.4.55+ honours them: connect
// within connectiontimeout, and the whole check within timeout (Apache's
// per-read timeout, here a deadline for the check).
func timeouts(m *pool.Member) (connect, total time.Duration) {
	if m.Backend != nil {
		total, connect = m.Backend.Options.Timeout, m.Backend.Options.ConnectTimeout
	} else {
		total, connect = m.Params.Timeout.D(), m.Params.ConnectionTimeout.D()
	}
	if total <= 0 {
		total = config.DefaultProxyTimeout
	}
	if connect <= 0 || connect > total {
		connect = total
	}
	return connect, total
}
