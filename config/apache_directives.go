package config

import (
	"errors"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/access"
)

type directiveSpec struct {
	name string // canonical spelling, used in messages
	fn   func(p *apacheParser, d *directive) error
	// raw handlers split their own arguments (ProxyHCExpr's {…}).
	raw bool
}

var apacheDirectives = map[string]directiveSpec{}

func init() {
	for _, s := range []directiveSpec{
		{name: "Listen", fn: (*apacheParser).listen},
		{name: "AcceptFilter", fn: (*apacheParser).acceptFilter},
		{name: "ServerName", fn: (*apacheParser).serverName},
		{name: "ServerAlias", fn: (*apacheParser).serverAlias},
		{name: "ServerRoot", fn: (*apacheParser).serverRoot},
		{name: "Define", fn: func(p *apacheParser, d *directive) error { return p.define(d, false) }},
		{name: "UnDefine", fn: func(p *apacheParser, d *directive) error { return p.define(d, true) }},
		{name: "Include", fn: func(p *apacheParser, d *directive) error { return p.include(d, false) }},
		{name: "IncludeOptional", fn: func(p *apacheParser, d *directive) error { return p.include(d, true) }},
		{name: "ProxyPass", fn: func(p *apacheParser, d *directive) error { return p.proxyPass(d, false) }},
		{name: "ProxyPassMatch", fn: func(p *apacheParser, d *directive) error { return p.proxyPass(d, true) }},
		{name: "ProxyPassReverse", fn: (*apacheParser).proxyPassReverse},
		{name: "ProxyPassReverseCookieDomain", fn: func(p *apacheParser, d *directive) error { return p.cookieRule(d, true) }},
		{name: "ProxyPassReverseCookiePath", fn: func(p *apacheParser, d *directive) error { return p.cookieRule(d, false) }},
		{name: "ProxyPreserveHost", fn: hygieneFlag("preserve_host", func(h *Host) *bool { return &h.PreserveHost },
			func(l *LocationProxy) **bool { return &l.PreserveHost })},
		{name: "ProxyAddHeaders", fn: hygieneFlag("add_headers", func(h *Host) *bool { return &h.AddHeaders },
			func(l *LocationProxy) **bool { return &l.AddHeaders })},
		{name: "CGIPassAuth", fn: hygieneFlag("cgi_pass_auth", func(h *Host) *bool { return &h.CGIPassAuth },
			func(l *LocationProxy) **bool { return &l.CGIPassAuth })},
		{name: "ServerAdmin", fn: (*apacheParser).serverAdmin},
		{name: "ProxyFCGIBackendType", fn: (*apacheParser).fcgiBackendType},
		{name: "RemoteIPHeader", fn: (*apacheParser).remoteIPHeader},
		{name: "RemoteIPProxiesHeader", fn: (*apacheParser).remoteIPProxiesHeader},
		{name: "RemoteIPInternalProxy", fn: remoteIPProxy(true, false)},
		{name: "RemoteIPInternalProxyList", fn: remoteIPProxy(true, true)},
		{name: "RemoteIPTrustedProxy", fn: remoteIPProxy(false, false)},
		{name: "RemoteIPTrustedProxyList", fn: remoteIPProxy(false, true)},
		{name: "RemoteIPProxyProtocol", fn: func(p *apacheParser, d *directive) error {
			return d.fail(d.joined(), "is not supported: sluice does not read the PROXY protocol; send the client's address in a field (RemoteIPHeader)")
		}},
		{name: "ProxyFCGISetEnvIf", fn: func(p *apacheParser, d *directive) error {
			return d.fail(d.joined(), "is not supported: set the variables with SetEnvIf or SetEnv, which fcgi:// members receive")
		}},
		{name: "BalancerInherit", fn: hostFlag("balancer_inherit", func(h *Host) *bool { return &h.BalancerInherit })},
		{name: "ProxyPassInherit", fn: (*apacheParser).proxyPassInherit},
		{name: "ProxyTimeout", fn: (*apacheParser).proxyTimeout},
		{name: "ProxyErrorOverride", fn: (*apacheParser).proxyErrorOverride},
		{name: "Timeout", fn: (*apacheParser).coreTimeout},
		{name: "LimitRequestBody", fn: (*apacheParser).limitRequestBody},
		{name: "KeepAliveTimeout", fn: (*apacheParser).keepAliveTimeout},
		{name: "AllowEncodedSlashes", fn: (*apacheParser).allowEncodedSlashes},
		{name: "ProxyVia", fn: (*apacheParser).proxyVia},
		{name: "ProxyRequests", fn: (*apacheParser).proxyRequests},
		{name: "BalancerPersist", fn: (*apacheParser).balancerPersist},
		{name: "BalancerGrowth", fn: (*apacheParser).balancerGrowth},
		{name: "ProxyHCExpr", fn: (*apacheParser).hcExpr, raw: true},
		{name: "ProxyHCTemplate", fn: (*apacheParser).hcTemplate},
		{name: "ProxyHCTPsize", fn: (*apacheParser).hcTPSize},
		{name: "ProxySet", fn: (*apacheParser).proxySet},
		{name: "BalancerMember", fn: (*apacheParser).balancerMember},
		{name: "SetHandler", fn: (*apacheParser).setHandler},
		{name: "Require", fn: (*apacheParser).require},
	} {
		apacheDirectives[strings.ToLower(s.name)] = s
	}
	for name, why := range ignoredProxyDirectives {
		apacheDirectives[strings.ToLower(name)] = directiveSpec{name: name, fn: func(p *apacheParser, d *directive) error {
			p.warn(d.pos, "%s ignored: %s", d.name, why)
			return nil
		}}
	}
}

// ignoredProxyDirectives are mod_proxy directives sluice accepts and does
// not act on, each with the reason given in the warning.
var ignoredProxyDirectives = map[string]string{
	"ProxyStatus":             "balancer state is on the admin API and /metrics",
	"ProxyIOBufferSize":       "sluice sizes its buffers itself",
	"ProxyReceiveBufferSize":  "sluice sizes its buffers itself",
	"ProxyPassInterpolateEnv": "${VAR} interpolation is not supported",
	"Proxy100Continue":        "sluice answers Expect: 100-continue itself and does not forward it",
	"ProxyBadHeader":          "a malformed backend header is always a 502 (IsError)",
	"ProxyMaxForwards":        "Max-Forwards is not generated",
	"ProxySourceAddress":      "the kernel picks the source address",
	"ProxyRemote":             "sluice is not a forward proxy",
	"ProxyRemoteMatch":        "sluice is not a forward proxy",
	"ProxyBlock":              "sluice is not a forward proxy",
	"ProxyDomain":             "sluice is not a forward proxy",
}

// unknown handles a directive sluice has no handler for: proxy-looking ones
// are errors (a typo must not silently drop a route), the rest warn.
func (p *apacheParser) unknown(pos Pos, name, rest string) error {
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "proxy") || strings.HasPrefix(lower, "balancer") {
		return &Error{Pos: pos, Key: name, Value: rest, Msg: "unknown proxy directive"}
	}
	if strings.HasPrefix(lower, "rewrite") {
		return &Error{Pos: pos, Key: name, Value: rest, Msg: "is not supported (sluice's mod_rewrite subset: RewriteEngine, RewriteOptions, RewriteCond, RewriteRule)"}
	}
	if strings.HasPrefix(lower, "ssl") {
		p.warn(pos, "%s ignored: not supported (docs/config.md lists the mod_ssl directives sluice reads)", name)
		return nil
	}
	p.warn(pos, "%s ignored: not a proxy directive", name)
	return nil
}

// isProxyDirective names directives that must not hide in ignored sections.
func isProxyDirective(name string) bool {
	switch strings.ToLower(name) {
	case "proxypass", "proxypassmatch", "proxypassreverse", "proxypassreversecookiedomain",
		"proxypassreversecookiepath", "proxyset", "balancermember":
		return true
	}
	return false
}

func (p *apacheParser) listen(d *directive) error {
	if err := p.only(d, ctxMain); err != nil {
		return err
	}
	if len(d.args) < 1 || len(d.args) > 2 {
		return d.fail(d.joined(), "takes an address and an optional protocol")
	}
	addr, err := listenAddr(d.args[0])
	if err != nil {
		return d.fail(d.args[0], "%v", err)
	}
	if slices.Contains(p.cfg.Listen, addr) {
		return d.fail(d.args[0], "duplicate address %s", addr)
	}
	// Whether a connection speaks TLS follows from the hosts its address
	// reaches (SSLEngine), as in Apache, where the protocol only picks the
	// AcceptFilter.
	if len(d.args) == 2 && !strings.EqualFold(d.args[1], "http") && !strings.EqualFold(d.args[1], "https") {
		p.warn(d.pos, "Listen protocol %q ignored: sluice serves HTTP on %s, with TLS where SSLEngine is on", d.args[1], addr)
	}
	p.cfg.Listen = append(p.cfg.Listen, addr)
	return nil
}

// acceptFilter is AcceptFilter protocol filter. sluice's listeners serve
// http, so only that protocol's filter applies; Apache on Linux turns each
// filter name but none into TCP_DEFER_ACCEPT.
func (p *apacheParser) acceptFilter(d *directive) error {
	if err := p.only(d, ctxMain); err != nil {
		return err
	}
	if len(d.args) != 2 {
		return d.fail(d.joined(), "takes a protocol and a filter (data, dataready, httpready or none)")
	}
	var filter string
	switch strings.ToLower(d.args[1]) {
	case "data", "dataready", "httpready":
		filter = AcceptFilterData
	case "none":
		filter = AcceptFilterNone
	default:
		return d.fail(d.args[1], "unknown accept filter (allowed: data, dataready, httpready, none)")
	}
	if !strings.EqualFold(d.args[0], "http") {
		p.warn(d.pos, "AcceptFilter for protocol %q ignored: sluice's listeners all take AcceptFilter http's filter", d.args[0])
		return nil
	}
	p.cfg.AcceptFilter = filter
	return nil
}

func (p *apacheParser) serverName(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one name")
	}
	p.host.ServerName = d.args[0]
	return nil
}

func (p *apacheParser) serverAdmin(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one address")
	}
	p.host.ServerAdmin = d.args[0]
	p.markSet("server_admin")
	return nil
}

func (p *apacheParser) fcgiBackendType(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 || !slices.Contains(FCGIBackendTypes, strings.ToLower(d.args[0])) {
		return d.fail(d.joined(), "must be FPM or GENERIC")
	}
	p.host.FCGIBackendType = strings.ToLower(d.args[0])
	p.markSet("fcgi_backend_type")
	return nil
}

func (p *apacheParser) serverAlias(d *directive) error {
	if err := p.only(d, ctxVHost); err != nil {
		return err
	}
	if len(d.args) == 0 {
		return d.fail("", "takes one or more names")
	}
	p.host.ServerAliases = append(p.host.ServerAliases, d.args...)
	return nil
}

// serverRoot sets the base of relative Include paths, as in Apache.
func (p *apacheParser) serverRoot(d *directive) error {
	if err := p.only(d, ctxMain); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one directory")
	}
	root := filepath.ToSlash(d.args[0])
	if !path.IsAbs(root) {
		root = path.Join(path.Dir(p.files[len(p.files)-1]), root)
	}
	p.root = path.Clean(root)
	return nil
}

// onOff reads the directive's single On|Off argument.
func (d *directive) onOff() (bool, error) {
	if len(d.args) != 1 {
		return false, d.fail(d.joined(), "takes one argument, On or Off")
	}
	on, err := onOff(d.args[0])
	if err != nil {
		return false, d.fail(d.args[0], "%v", err)
	}
	return on, nil
}

func hostFlag(key string, field func(h *Host) *bool) func(p *apacheParser, d *directive) error {
	return func(p *apacheParser, d *directive) error {
		if err := p.only(d, ctxMain, ctxVHost); err != nil {
			return err
		}
		on, err := d.onOff()
		if err != nil {
			return err
		}
		*field(p.host) = on
		p.markSet(key)
		return nil
	}
}

// hygieneFlag is hostFlag for the two flags Apache also takes in
// <Location>: there the flag goes to the section's LocationProxy.
func hygieneFlag(key string, field func(h *Host) *bool, inLocation func(l *LocationProxy) **bool) func(p *apacheParser, d *directive) error {
	atHost := hostFlag(key, field)
	return func(p *apacheParser, d *directive) error {
		if p.context() == ctxProxy {
			return p.proxyFlag(d, inLocation)
		}
		loc := p.location()
		if loc == nil {
			return atHost(p, d)
		}
		on, err := d.onOff()
		if err != nil {
			return err
		}
		if loc.proxy == nil {
			loc.proxy = &LocationProxy{Pos: d.pos, Scope: loc.path, ScopeMatch: loc.match}
			p.host.LocationProxy = append(p.host.LocationProxy, loc.proxy)
		}
		*inLocation(loc.proxy) = &on
		return nil
	}
}

// proxyFlag sets a hygiene flag of the <Proxy> section d is in: for the
// requests routed to the backends it covers (Apache merges <Proxy>
// sections before <Location> ones).
func (p *apacheParser) proxyFlag(d *directive, field func(l *LocationProxy) **bool) error {
	on, err := d.onOff()
	if err != nil {
		return err
	}
	sec := p.innermost(secProxy)
	if sec.flags == nil {
		scope, err := proxyScope(sec.arg)
		if errors.Is(err, errUnreachableScheme) {
			p.warn(d.pos, "%s in <Proxy %s> ignored: sluice proxies to no such backend", d.name, sec.arg)
			return nil
		}
		if err != nil {
			return d.fail(sec.arg, "%v", err)
		}
		sec.flags = &LocationProxy{Pos: d.pos, Proxy: scope}
		p.host.LocationProxy = append(p.host.LocationProxy, sec.flags)
	}
	*field(sec.flags) = &on
	return nil
}

// proxyPassInherit reads ProxyPassInherit. Apache applies the main
// server's ProxyPass rules in a vhost whatever it says; it only keeps the
// main server's balancers from a vhost when BalancerInherit is Off too
// (balancerInherit).
func (p *apacheParser) proxyPassInherit(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	p.ppInherit[p.host] = on
	return nil
}

// balancerInherit is whether vhost h sees the main server's balancers:
// Apache merges them when BalancerInherit or ProxyPassInherit is On, each
// the vhost's own or else the main server's (both On by default).
func (p *apacheParser) balancerInherit(h *Host) bool {
	pp, set := p.ppInherit[h]
	if !set {
		pp, set = p.ppInherit[p.cfg.Main]
	}
	return h.BalancerInherit || pp || !set
}

func (p *apacheParser) allowEncodedSlashes(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 || !slices.Contains(EncodedSlashModes, strings.ToLower(d.args[0])) {
		return d.fail(d.joined(), "must be On, Off or NoDecode")
	}
	p.host.EncodedSlashes = strings.ToLower(d.args[0])
	p.markSet("allow_encoded_slashes")
	return nil
}

func (p *apacheParser) proxyTimeout(d *directive) error {
	t, err := p.timeout(d)
	if err != nil {
		return err
	}
	p.host.Timeout = t
	p.markSet("proxy_timeout")
	return nil
}

// proxyErrorOverride reads ProxyErrorOverride On|Off [code …] (codes:
// Apache 2.4.47+).
func (p *apacheParser) proxyErrorOverride(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) == 0 {
		return d.fail("", "takes On or Off, then optional status codes")
	}
	on, err := onOff(d.args[0])
	if err != nil {
		return d.fail(d.args[0], "%v", err)
	}
	var codes []int
	for _, a := range d.args[1:] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 400 || n > 599 {
			return d.fail(a, "must be an error status from 400 to 599")
		}
		codes = append(codes, n)
	}
	p.host.ErrorOverride = &ErrorOverride{On: on, Codes: codes}
	p.markSet("error_override")
	return nil
}

// coreTimeout reads the core's Timeout, which is the backend I/O timeout
// where no ProxyTimeout applies (finishTimeouts).
func (p *apacheParser) coreTimeout(d *directive) error {
	t, err := p.timeout(d)
	if err != nil {
		return err
	}
	p.coreTimeouts[p.host] = t
	return nil
}

// limitRequestBody reads LimitRequestBody: in the server it is
// limits.max_request_body, in a vhost that vhost's own limit. Apache's 0
// (no limit) is not kept: sluice always bounds a body.
func (p *apacheParser) limitRequestBody(d *directive) error {
	if p.context() == ctxLocation {
		p.warn(d.pos, "LimitRequestBody in a <Location> ignored: sluice limits bodies per server or <VirtualHost>")
		return nil
	}
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one number of bytes")
	}
	n, err := strconv.ParseInt(d.args[0], 10, 64)
	if err != nil || n < 0 || n > 1<<31-1 {
		return d.fail(d.args[0], "must be a number of bytes from 0 to 2147483647")
	}
	if n == 0 {
		p.warn(d.pos, "LimitRequestBody 0 (no limit) kept at limits.max_request_body (%d bytes by default): sluice always bounds a body", DefaultMaxRequestBody)
		return nil
	}
	if p.context() == ctxVHost {
		p.host.LimitRequestBody = n
	} else {
		p.cfg.Limits.MaxRequestBody = n
	}
	return nil
}

// keepAliveTimeout reads KeepAliveTimeout into timeouts.client_idle; sluice
// has one keep-alive idle time, so a vhost's is only warned about.
func (p *apacheParser) keepAliveTimeout(d *directive) error {
	if p.context() == ctxVHost {
		p.warn(d.pos, "KeepAliveTimeout in a <VirtualHost> ignored: sluice's keep-alive idle time is the server's")
		return nil
	}
	t, err := p.timeout(d)
	if err != nil {
		return err
	}
	p.cfg.Timeouts.ClientIdle = t
	return nil
}

// timeout reads the one argument of a timeout directive in the server or
// a vhost: seconds, or a number with a unit.
func (p *apacheParser) timeout(d *directive) (Duration, error) {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return 0, err
	}
	if len(d.args) != 1 {
		return 0, d.fail(d.joined(), "takes one argument")
	}
	t, err := apacheTime(d.args[0], time.Second)
	if err == nil && t == 0 {
		err = errors.New("must be more than 0")
	}
	if err != nil {
		return 0, d.fail(d.args[0], "%v", err)
	}
	return t, nil
}

// finishTimeouts applies Timeout where no ProxyTimeout does, with
// mod_proxy's order: a vhost's ProxyTimeout, the server's ProxyTimeout,
// the vhost's Timeout, the server's Timeout.
func (p *apacheParser) finishTimeouts(main *Host) {
	if t := p.coreTimeouts[main]; t > 0 && !p.set[main]["proxy_timeout"] {
		main.Timeout = t // vhosts without their own settings inherit it
	}
	if p.set[main]["proxy_timeout"] {
		return
	}
	for _, h := range p.cfg.VHosts {
		if t := p.coreTimeouts[h]; t > 0 && !p.set[h]["proxy_timeout"] {
			h.Timeout = t
			p.markSetOn(h, "proxy_timeout")
		}
	}
}

var viaModes = []string{"off", "on", "full", "block"}

func (p *apacheParser) proxyVia(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 || !slices.Contains(viaModes, strings.ToLower(d.args[0])) {
		return d.fail(d.joined(), "must be Off, On, Full or Block")
	}
	p.host.Via = ViaMode(strings.ToLower(d.args[0]))
	p.markSet("via")
	return nil
}

func (p *apacheParser) proxyRequests(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	if on {
		p.warn(d.pos, "ProxyRequests On ignored: sluice is not a forward proxy")
	}
	return nil
}

func (p *apacheParser) balancerPersist(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	p.cfg.BalancerPersist = p.cfg.BalancerPersist || on
	return nil
}

func (p *apacheParser) balancerGrowth(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one number")
	}
	n, err := strconv.Atoi(d.args[0])
	if err != nil || n < 0 || n > maxBalancerGrowth {
		return d.fail(d.args[0], "must be between 0 and %d", maxBalancerGrowth)
	}
	p.cfg.BalancerGrowth = n
	return nil
}

func (p *apacheParser) hcExpr(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	name, rest := cutWord(d.raw)
	if name == "" || rest == "" {
		return d.fail(d.raw, "takes a name and an {expression}")
	}
	expr, err := braced(rest)
	if err != nil {
		return d.fail(rest, "%v", err)
	}
	e := HCExpr{Pos: d.pos, Name: name, Expr: expr}
	if err := shorterThan(name, 16); err != nil {
		return d.fail(name, "name %v", err)
	}
	for _, old := range p.cfg.HCExprs {
		if old.Name == name {
			if old.Expr != expr {
				return d.fail(name, "already defined at %s with another expression", old.Pos)
			}
			return nil
		}
	}
	p.cfg.HCExprs = append(p.cfg.HCExprs, e)
	return nil
}

func (p *apacheParser) hcTemplate(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) < 2 {
		return d.fail(d.joined(), "takes a name and key=value parameters")
	}
	t := HCTemplate{Pos: d.pos, Name: d.args[0]}
	for _, a := range d.args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if k = strings.ToLower(k); !ok || !slices.Contains(hcKeys, k) {
			return d.fail(a, "unknown ProxyHCTemplate parameter %s", allowed(hcKeys))
		}
		if err := p.setWorkerParam(d, &t.Params, k, v); err != nil {
			return err
		}
	}
	for _, old := range p.cfg.HCTemplates {
		if old.Name == t.Name {
			return d.fail(t.Name, "already defined at %s", old.Pos)
		}
	}
	p.cfg.HCTemplates = append(p.cfg.HCTemplates, t)
	return nil
}

func (p *apacheParser) hcTPSize(d *directive) error {
	if err := p.only(d, ctxMain); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one number")
	}
	n, err := atLeast(d.args[0], 0)
	if err != nil {
		return d.fail(d.args[0], "%v", err)
	}
	p.cfg.HCTPSize = &n
	return nil
}

// proxyPass handles ProxyPass and ProxyPassMatch, inside <Location> (no
// path argument) or not. "ProxyPass ~ regex url" is ProxyPassMatch.
func (p *apacheParser) proxyPass(d *directive, match bool) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	args := d.args
	if !match && len(args) > 0 && args[0] == "~" {
		match, args = true, args[1:]
	}
	loc := p.location()
	r := &Route{Pos: d.pos, Location: loc != nil}
	var target string
	var rest []string
	switch {
	case loc != nil && len(args) >= 1:
		r.Path, target, rest = loc.path, args[0], args[1:]
		match = match || loc.match
	case loc == nil && len(args) >= 2:
		r.Path, target, rest = args[0], args[1], args[2:]
	case loc != nil:
		return d.fail(d.joined(), "needs a URL or !")
	default:
		return d.fail(d.joined(), "needs a path and a URL or !")
	}
	var params [][2]string
	for _, a := range rest {
		switch strings.ToLower(a) {
		case "nocanon":
			r.NoCanon = true
			continue
		case "noquery":
			r.NoQuery = true
			continue
		case "interpolate":
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if loc != nil && strings.HasPrefix(args[0], "/") {
				return d.fail(args[0], "can not have a path when defined in a location")
			}
			return d.fail(a, "parameter must be key=value, nocanon, noquery or interpolate")
		}
		params = append(params, [2]string{strings.ToLower(k), v})
	}
	if loc != nil {
		if loc.route != nil {
			return d.fail(target, "only one ProxyPass is allowed per <Location> (the first is at %s)", loc.route.Pos)
		}
		if loc.wild != "" {
			return d.fail(loc.wild, "a <Location> path with wildcards is not supported: use <LocationMatch> or ProxyPassMatch")
		}
	}
	if r.Path == "" {
		return d.fail("", "needs a non-empty path")
	}
	r.Match = match
	if match {
		re, err := compileMatch(r.Path)
		if err != nil {
			return d.fail(r.Path, "%v", err)
		}
		r.Regexp = re
	}
	switch {
	case target == "!":
		r.Exclude = true
		if len(params) > 0 {
			return d.fail(params[0][0]+"="+params[0][1], "parameters are not allowed with \"!\"")
		}
	case isBalancerURL(target):
		t, err := normalizeBalancerURL(target)
		if err != nil {
			return d.fail(target, "%v", err)
		}
		r.Target = t
		if len(params) > 0 {
			name, _, _ := splitBalancerURL(t)
			b := p.balancer(name, d.pos)
			for _, kv := range params {
				if err := p.setBalancerParam(d, b, kv[0], kv[1]); err != nil {
					return err
				}
			}
		}
	default:
		t, err := workerURL(target, match)
		if err != nil {
			return d.fail(target, "%v", err)
		}
		r.Target = t
		if len(params) > 0 {
			r.Worker = &WorkerParams{}
			for _, kv := range params {
				if err := p.setWorkerParam(d, r.Worker, kv[0], kv[1]); err != nil {
					return err
				}
			}
		}
	}
	if loc != nil {
		loc.route = r
		p.locRoutes[p.host] = append(p.locRoutes[p.host], r)
		return nil
	}
	p.host.Routes = append(p.host.Routes, r)
	return nil
}

func (p *apacheParser) setWorkerParam(d *directive, wp *WorkerParams, key, val string) error {
	return setParam(p, d, workerParams, "Worker", workerParamKeys, wp, key, val)
}

func (p *apacheParser) setBalancerParam(d *directive, b *Balancer, key, val string) error {
	return setParam(p, d, balancerParams, "Balancer", balancerParamKeys, b, key, val)
}

// setParam applies one key=value of directive d to target through its
// parameter table: unknown keys and bad values fail with d's position,
// accepted-but-unused keys warn.
func setParam[T any](p *apacheParser, d *directive, table []param[T], kind string, keys []string, target *T, key, val string) error {
	spec := findParam(table, key)
	if spec == nil {
		return d.fail(key+"="+val, "unknown %s parameter %s", kind, allowed(keys))
	}
	shown := key + "=" + val
	if key == secretKey {
		shown = key + "=" + hiddenValue // errors go to logs and terminals
	}
	if err := spec.set(target, val); err != nil {
		return d.fail(shown, "%v", err)
	}
	if spec.check != nil {
		if err := spec.check(target); err != nil {
			return d.fail(shown, "%v", err)
		}
	}
	if spec.ignored != "" {
		p.warn(d.pos, "%s %s=%s ignored: %s", d.name, key, val, spec.ignored)
	}
	return nil
}

// trimInterpolate drops a trailing "interpolate" keyword: sluice does not
// expand ${VAR}, so the flag changes nothing.
func trimInterpolate(args []string) []string {
	if n := len(args); n > 0 && strings.EqualFold(args[n-1], "interpolate") {
		return args[:n-1]
	}
	return args
}

func (p *apacheParser) proxyPassReverse(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	args := trimInterpolate(d.args)
	r := ReverseRule{Pos: d.pos}
	if loc := p.location(); loc != nil {
		if len(args) == 2 {
			return d.fail(args[0], "can not have a path when defined in a location")
		}
		if len(args) != 1 {
			return d.fail(d.joined(), "takes one URL inside <Location>")
		}
		// In a <LocationMatch> Apache takes the expression as the path.
		r.Scope, r.ScopeMatch, r.Path, r.URL = loc.path, loc.match, loc.path, args[0]
	} else {
		if len(args) != 2 {
			return d.fail(d.joined(), "takes a path and a URL")
		}
		r.Path, r.URL = args[0], args[1]
	}
	if isBalancerURL(r.URL) {
		u, err := normalizeBalancerURL(r.URL)
		if err != nil {
			return d.fail(r.URL, "%v", err)
		}
		r.URL = u
	}
	p.host.Reverse = append(p.host.Reverse, r)
	return nil
}

func (p *apacheParser) cookieRule(d *directive, domain bool) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	args := trimInterpolate(d.args)
	if len(args) != 2 {
		return d.fail(d.joined(), "takes an internal and a public value")
	}
	r := CookieRule{Pos: d.pos, Internal: args[0], Public: args[1]}
	if loc := p.location(); loc != nil {
		r.Scope, r.ScopeMatch = loc.path, loc.match
	}
	if domain {
		p.host.CookieDomains = append(p.host.CookieDomains, r)
	} else {
		p.host.CookiePaths = append(p.host.CookiePaths, r)
	}
	return nil
}

func (p *apacheParser) proxySet(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxProxy); err != nil {
		return err
	}
	args := d.args
	var b *Balancer
	switch sec := p.innermost(secProxy); {
	case len(args) > 0 && !strings.Contains(args[0], "=") && !isBalancerURL(args[0]):
		return p.workerSet(d, args[0], args[1:])
	case len(args) > 0 && !strings.Contains(args[0], "="):
		name, _, err := splitBalancerURL(args[0])
		if err != nil {
			return d.fail(args[0], "%v", err)
		}
		b, args = p.balancer(name, d.pos), args[1:]
	case p.context() == ctxProxy && sec.bal != nil:
		b = sec.bal
	case p.context() == ctxProxy:
		return p.workerSet(d, sec.arg, args)
	default:
		return d.fail(d.joined(), "needs a balancer://name outside <Proxy balancer://…>")
	}
	if len(args) == 0 {
		return d.fail(d.joined(), "needs key=value parameters")
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return d.fail(a, "parameter must be key=value")
		}
		if err := p.setBalancerParam(d, b, strings.ToLower(k), v); err != nil {
			return err
		}
	}
	return nil
}

// workerSet reads ProxySet's parameters for a plain worker ("ProxySet
// http://h timeout=5", or ProxySet inside <Proxy http://h>): checked now,
// applied to the direct ProxyPass routes under that URL once the file is
// read (finishWorkerSets).
func (p *apacheParser) workerSet(d *directive, rawURL string, args []string) error {
	u, err := workerURL(rawURL, false)
	if err != nil {
		return d.fail(rawURL, "%v", err)
	}
	if len(args) == 0 {
		return d.fail(d.joined(), "needs key=value parameters")
	}
	ws := workerSet{url: u, host: p.host, d: d}
	var check WorkerParams
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return d.fail(a, "parameter must be key=value")
		}
		if err := p.setWorkerParam(d, &check, strings.ToLower(k), v); err != nil {
			return err
		}
		ws.params = append(ws.params, [2]string{strings.ToLower(k), v})
	}
	p.workerSets = append(p.workerSets, ws)
	return nil
}

// workerSet is one ProxySet for a plain worker.
type workerSet struct {
	url    string // normalized
	host   *Host  // where it was written
	d      *directive
	params [][2]string
}

// finishWorkerSets applies each plain worker's ProxySet to the direct
// routes whose target lies under its URL (Apache's worker is the one its
// URL names; ProxySet sets its parameters, over any its ProxyPass gave).
// Workers belong to a server's config: a vhost's ProxySet reaches its own
// routes, the main server's also those of the vhosts that inherit its
// workers (with its balancers).
func (p *apacheParser) finishWorkerSets() {
	for _, ws := range p.workerSets {
		used := false
		for _, h := range p.cfg.hosts() {
			if h != ws.host && (ws.host != p.cfg.Main || !h.BalancerInherit) {
				continue
			}
			for _, r := range h.Routes {
				if r.Exclude || isBalancerURL(r.Target) || !underURL(r.Target, ws.url) {
					continue
				}
				if r.Worker == nil {
					r.Worker = &WorkerParams{}
				}
				for _, kv := range ws.params {
					_ = p.setWorkerParam(ws.d, r.Worker, kv[0], kv[1]) // checked in workerSet
				}
				used = true
			}
		}
		if !used {
			p.warn(ws.d.pos, "ProxySet %s: no ProxyPass sends requests to this worker; its parameters apply to nothing", ws.url)
		}
	}
}

// underURL reports whether target is url or lies below it.
func underURL(target, url string) bool {
	if !strings.HasPrefix(target, url) {
		return false
	}
	rest := target[len(url):]
	return rest == "" || strings.HasSuffix(url, "/") || rest[0] == '/'
}

func (p *apacheParser) balancerMember(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxProxy); err != nil {
		return err
	}
	args := d.args
	var b *Balancer
	if p.context() == ctxProxy {
		sec := p.innermost(secProxy)
		if sec.bal == nil {
			return d.fail(d.joined(), "is only allowed inside <Proxy balancer://…>")
		}
		b = sec.bal
		if len(args) > 0 && isBalancerURL(args[0]) {
			// Apache refuses it too, even when it names the section's.
			return d.fail(args[0], "can not have a balancer name inside <Proxy %s>: the section names it", sec.arg)
		}
	} else {
		if len(args) == 0 || !isBalancerURL(args[0]) {
			return d.fail(d.joined(), "needs balancer://name first outside <Proxy balancer://…>")
		}
		name, _, err := splitBalancerURL(args[0])
		if err != nil {
			return d.fail(args[0], "%v", err)
		}
		b, args = p.balancer(name, d.pos), args[1:]
	}
	if len(args) == 0 {
		return d.fail("", "needs a member URL")
	}
	u, err := workerURL(args[0], false)
	if err != nil {
		return d.fail(args[0], "%v", err)
	}
	for _, m := range b.Members {
		if m.URL == u {
			return d.fail(args[0], "duplicate member of balancer://%s (first at %s)", b.Name, m.Pos)
		}
	}
	m := &Member{Pos: d.pos, URL: u}
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return d.fail(a, "parameter must be key=value")
		}
		if err := p.setWorkerParam(d, &m.Params, strings.ToLower(k), v); err != nil {
			return err
		}
	}
	b.Members = append(b.Members, m)
	return nil
}

func (p *apacheParser) setHandler(d *directive) error {
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one handler name")
	}
	if loc := p.location(); loc != nil && strings.EqualFold(d.args[0], "balancer-manager") {
		loc.handler = "balancer-manager"
		return nil
	}
	p.warn(d.pos, "SetHandler %s ignored: only balancer-manager is supported", d.args[0])
	return nil
}

// require keeps Require lines of a <Location> or <Proxy> for its end tag,
// each checked here so that an error names its line.
func (p *apacheParser) require(d *directive) error {
	ctx := p.context()
	if ctx != ctxLocation && ctx != ctxProxy {
		p.warn(d.pos, "Require ignored: it applies only inside <Location>, <LocationMatch> or <Proxy>")
		return nil
	}
	if _, err := access.Line(d.args); err != nil {
		return d.fail(d.joined(), "%v", err)
	}
	if ctx == ctxLocation {
		loc := p.location()
		loc.require = append(loc.require, d)
		return nil
	}
	sec := p.innermost(secProxy)
	sec.require = append(sec.require, d)
	return nil
}

// requireLines normalizes the Require lines of one section.
func requireLines(ds []*directive) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		l, _ := access.Line(d.args) // checked by require
		out = append(out, l)
	}
	return out
}
