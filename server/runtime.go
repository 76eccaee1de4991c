package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/pool"
	"github.com/sluiceproxy/sluice/rewrite"
)

// runtime is everything the request path needs from one configuration.
// It is immutable once built and swapped whole on reload; member state
// (pool.State) and connection pools carry over between runtimes.
type runtime struct {
	cfg   *config.Config
	hosts []*vhost // vhosts in config order, or Main alone
	// all picks among every host by Host; byAddr first by the connection's
	// address, when the vhosts' addresses differ (nil otherwise).
	all    hostTable
	byAddr addrTables
	// main is the main server; it serves a connection whose address no
	// vhost names when the vhost Host picks differs in TLS from it.
	main *vhost
	// anyTLS: some host terminates TLS; byAddr is then always built, since
	// a connection's address says whether it speaks TLS.
	anyTLS bool
	// tlsDiffer: hosts terminate TLS differently (client verification,
	// versions, certificates), so a request's host must fit its
	// handshake's (misdirected).
	tlsDiffer bool
	// backends by member ID, kept so a reload can reuse pools.
	backends   map[string]*pool.Backend
	maxBody    int64
	clientBody time.Duration // idle limit between two request body reads
	exprs      hcheck.Exprs  // ProxyHCExpr conditions, compiled
	mods       bool          // some host has rewrite, header or ErrorDocument rules
	logs       *logSet       // the access logs, opened by the server (openLogs)
}

// vhost is one <VirtualHost> (or the main server) ready to serve.
type vhost struct {
	cfg        *config.Host
	serverName string
	routes     []*route
	managers   []config.Manager
	reverse    *rewrite.ReverseMap
	cookies    *rewrite.CookieMap
	fwd        *headers.Forwarder
	// locProxy are the <Location> sections' ProxyPreserveHost and
	// ProxyAddHeaders (Main's first), and fwds the Forwarders they choose
	// among, by [PreserveHost][AddHeaders]; both empty when none.
	locProxy  []locationProxy
	fwds      [2][2]*headers.Forwarder
	balancers map[string]*pool.Balancer
	mods      *hostMods // RewriteRule, Header, ErrorDocument; nil when none
	// tls is the host's TLS server configuration, nil without TLS.
	tls *tls.Config
	// maxBody is the request body limit: the vhost's LimitRequestBody, else
	// limits.max_request_body.
	maxBody int64
	// redirects are Redirect and RedirectMatch: the host's, then Main's.
	redirects []redirectRule
	// logs are the host's CustomLogs, else Main's (set by openLogs).
	logs []*accessLog
	// docRoot is DocumentRoot (the host's, else Main's) and namePort the
	// port of its ServerName ("" without one): DOCUMENT_ROOT, and
	// SERVER_PORT when the client's Host names none.
	docRoot, namePort string
	// hostless is ServerName's host[:port] (the host's, else Main's; ""
	// without one): the origin ProxyPassReverse gives a request that came
	// without a Host (HTTP/1.0), as Apache's server name does.
	hostless string
	// handlers are the <Files> routes (filehandler.go), Main's first.
	handlers []*route
	// remoteIP is mod_remoteip (remoteip.go); nil when off.
	remoteIP *remoteIP
}

// builder carries what building a runtime shares across hosts.
type builder struct {
	reg      *pool.Registry
	old      map[string]*pool.Backend
	backends map[string]*pool.Backend
	trusted  *headers.Trusted
	maxBody  int64 // limits.max_request_body
	main     *vhost
	// defName is the name of a host without a ServerName (its own or
	// Main's): localHostName.
	defName string
	log     *slog.Logger // where fcgi:// members' STDERR goes
}

// newRuntime builds the runtime for cfg. prev, when not nil, lends its
// connection pools to members whose settings did not change.
func newRuntime(cfg *config.Config, reg *pool.Registry, prev *runtime, log *slog.Logger) (*runtime, error) {
	b := &builder{reg: reg, backends: make(map[string]*pool.Backend), defName: localHostName(), log: log}
	if prev != nil {
		b.old = prev.backends
	}
	// Without trusted_proxies sluice appends to any client X-Forwarded-For,
	// as Apache does; with them, only those peers' values are kept.
	if len(cfg.TrustedProxies) > 0 {
		trusted, err := headers.NewTrusted(cfg.TrustedProxies)
		if err != nil {
			return nil, err
		}
		b.trusted = trusted
	}
	rt := &runtime{cfg: cfg, maxBody: cfg.Limits.MaxRequestBody, clientBody: cfg.Timeouts.ClientBody.D()}
	b.maxBody = cfg.Limits.MaxRequestBody

	mainHost, err := b.host(cfg.Main, nil)
	if err != nil {
		return nil, err
	}
	b.main, rt.main = mainHost, mainHost
	rt.maxBody = max(rt.maxBody, mainHost.maxBody)
	if len(cfg.VHosts) == 0 {
		rt.hosts = []*vhost{mainHost}
	}
	for _, hc := range cfg.VHosts {
		vh, err := b.host(hc, mainHost)
		if err != nil {
			return nil, err
		}
		rt.hosts = append(rt.hosts, vh)
		// The read budget of a connection must cover the largest limit.
		rt.maxBody = max(rt.maxBody, vh.maxBody)
	}
	var firstTLS *vhost
	for _, vh := range slices.Concat(rt.hosts, []*vhost{mainHost}) {
		rt.anyTLS = rt.anyTLS || vh.tls != nil
		if firstTLS == nil && vh.tls != nil {
			firstTLS = vh
		}
		rt.tlsDiffer = rt.tlsDiffer || (vh.tls != nil && !sameTLS(firstTLS, vh))
	}
	for _, vh := range rt.hosts {
		rt.all.add(vh)
	}
	if len(cfg.VHosts) > 0 {
		if rt.byAddr, err = buildAddrTables(rt.hosts, rt.anyTLS); err != nil {
			return nil, err
		}
	}
	rt.backends = b.backends
	rt.exprs, err = hcheck.CompileExprs(cfg.HCExprs)
	if err != nil {
		return nil, err
	}
	if rt.mods, err = buildMods(rt, b); err != nil {
		return nil, err
	}
	return rt, nil
}

// members lists every balancer member of every host once, for the
// health checker.
func (rt *runtime) members() []*pool.Member {
	seen := make(map[*pool.Balancer]bool)
	var out []*pool.Member
	for _, vh := range rt.hosts {
		for _, bal := range vh.balancers {
			if !seen[bal] {
				seen[bal] = true
				out = append(out, bal.Load().Members...)
			}
		}
	}
	return out
}

// hostName lower-cases a ServerName and drops any scheme and port: the
// key vhosts are looked up by.
func hostName(n string) string { return strings.ToLower(serverHost(n)) }

// localHostName is what Apache names a server without a ServerName
// (ap_get_local_host): the machine's host name, else 127.0.0.1. It goes
// into X-Forwarded-Server, Via and %v, where a listen address (":8080")
// is no name.
func localHostName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "127.0.0.1"
}

// serverHost is the host of a ServerName, as Apache keeps it in
// server_hostname: "https://WWW.Example.com:8443" gives "WWW.Example.com".
// It is SERVER_NAME, X-Forwarded-Server and the name in Via.
func serverHost(n string) string {
	host, _ := config.SplitServerName(n)
	return host
}

// hostless is a vhost's origin for requests without a Host: its
// ServerName (else Main's) as host[:port], "" without one.
func hostless(name, mainName string) string {
	if name == "" {
		name = mainName
	}
	host, port := config.SplitServerName(name)
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // an IPv6 address
	}
	if host == "" || port == "" {
		return host
	}
	return host + ":" + port
}

func (b *builder) host(hc *config.Host, main *vhost) (*vhost, error) {
	vh := &vhost{cfg: hc, serverName: serverHost(hc.ServerName), balancers: make(map[string]*pool.Balancer)}
	if vh.serverName == "" && main != nil {
		vh.serverName = main.serverName
	}
	if vh.serverName == "" {
		vh.serverName = b.defName
	}
	vh.docRoot = hc.DocumentRoot
	mainName := ""
	if main != nil {
		mainName = main.cfg.ServerName
		if vh.docRoot == "" {
			vh.docRoot = main.cfg.DocumentRoot
		}
	}
	vh.namePort = namePort(hc.ServerName, mainName)
	vh.hostless = hostless(hc.ServerName, mainName)
	var err error
	if vh.remoteIP, err = newRemoteIP(hc.RemoteIP); err != nil {
		return nil, fmt.Errorf("%s: %w", hc.Pos, err)
	}
	if hc.TLS != nil {
		if vh.tls = hc.TLS.Config(); vh.tls == nil {
			return nil, fmt.Errorf("%s: TLS settings not checked: load the configuration with config.Load", hc.TLS.Pos)
		}
	}
	vh.maxBody = b.maxBody
	if hc.LimitRequestBody > 0 {
		vh.maxBody = hc.LimitRequestBody
	}
	if main != nil {
		vh.redirects = newRedirectRules(hc, main.cfg)
	} else {
		vh.redirects = newRedirectRules(hc)
	}
	for _, bc := range hc.Balancers {
		snap, err := pool.NewSnapshot(b.reg, bc)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: balancer://%s: %w", bc.Pos.File, bc.Pos.Line, bc.Name, err)
		}
		for _, m := range snap.Members {
			m.Backend = b.backend(m, hc, bc)
		}
		vh.balancers[bc.Name] = pool.NewBalancer(bc.ID(), snap)
	}
	if main != nil && hc.BalancerInherit {
		for name, bal := range main.balancers {
			if _, own := vh.balancers[name]; !own {
				vh.balancers[name] = bal
			}
		}
	}

	// Matching order: this host's <Location> rules, then (for a vhost) the
	// main server's <Location> rules, then the main server's server-level
	// rules before the vhost's own, as Apache merges them.
	var locs, servers []*route
	for _, rc := range hc.Routes {
		r, err := b.route(rc, vh, hc)
		if err != nil {
			return nil, err
		}
		switch {
		case rc.Files != "":
			if r.files, err = filesPattern(rc.Files, rc.FilesMatch, rc.FilesRe); err != nil {
				return nil, fmt.Errorf("%s:%d: <Files> %q: %w", rc.Pos.File, rc.Pos.Line, rc.Files, err)
			}
			if r.proto() != pool.FastCGI {
				return nil, fmt.Errorf("%s:%d: SetHandler \"proxy:%s\": sluice serves files through fcgi:// members only", rc.Pos.File, rc.Pos.Line, rc.Target)
			}
			vh.handlers = append(vh.handlers, r)
		case rc.Location:
			locs = append(locs, r)
		default:
			servers = append(servers, r)
		}
	}
	if main != nil {
		for _, r := range main.routes {
			if r.cfg.Location {
				locs = append(locs, r)
			}
		}
		var inherited []*route
		for _, r := range main.routes {
			if !r.cfg.Location {
				inherited = append(inherited, r)
			}
		}
		servers = append(inherited, servers...)
	}
	vh.routes = append(locs, servers...)
	if main != nil {
		// The main server's <Files> sections apply in every vhost, before
		// (under) the vhost's own.
		vh.handlers = append(append([]*route(nil), main.handlers...), vh.handlers...)
	}

	vh.managers = hc.Managers
	if main != nil {
		vh.managers = append(append([]config.Manager(nil), hc.Managers...), main.managers...)
	}
	names := func(balancer string) []string {
		if bal := vh.balancers[balancer]; bal != nil {
			return bal.Load().Names
		}
		return nil
	}
	reverse := hc.Reverse
	domains, paths := hc.CookieDomains, hc.CookiePaths
	if main != nil {
		reverse = append(append([]config.ReverseRule(nil), main.cfg.Reverse...), reverse...)
		domains = append(append([]config.CookieRule(nil), main.cfg.CookieDomains...), domains...)
		paths = append(append([]config.CookieRule(nil), main.cfg.CookiePaths...), paths...)
	}
	vh.reverse = rewrite.NewReverseMap(reverse, names)
	vh.cookies = rewrite.NewCookieMap(domains, paths)
	vh.fwd = &headers.Forwarder{
		AddHeaders:   hc.AddHeaders,
		Via:          hc.Via,
		ServerName:   vh.serverName,
		PreserveHost: hc.PreserveHost,
		Trusted:      b.trusted,
	}
	vh.scopeForwarders(main)
	return vh, nil
}

func (b *builder) route(rc *config.Route, vh *vhost, hc *config.Host) (*route, error) {
	r := &route{cfg: rc, exclude: rc.Exclude}
	if rc.Match {
		r.re = rc.Regexp
		if r.re == nil {
			re, err := regexp.Compile(rc.Path)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: ProxyPassMatch %q: %w", rc.Pos.File, rc.Pos.Line, rc.Path, err)
			}
			r.re = re
		}
	} else {
		r.prefix = []byte(rc.Path)
	}
	if rc.Exclude {
		return r, nil
	}
	origin, path := splitTarget(rc.Target)
	r.targetPath = path
	r.slashGap = r.re == nil && strings.HasSuffix(rc.Path, "/") && path != "" && !strings.HasSuffix(path, "/")
	if rc.Match {
		r.targetBytes, r.expand = matchTarget(path)
	}
	if strings.HasPrefix(origin, "balancer://") {
		name := strings.ToLower(strings.TrimPrefix(origin, "balancer://"))
		bal := vh.balancers[name]
		if bal == nil {
			// A ProxyPass to an undefined balancer answers 503, as Apache.
			bal = pool.NewBalancer(name, &pool.Snapshot{Config: &config.Balancer{Name: name, ForceRecovery: true}})
			vh.balancers[name] = bal
		}
		r.balancer = bal
		return r, nil
	}
	var params config.WorkerParams
	if rc.Worker != nil {
		params = *rc.Worker
	}
	r.upgrade = params.Upgrade
	m, err := pool.NewMember(b.reg, "", origin, params, true)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: ProxyPass %q: %w", rc.Pos.File, rc.Pos.Line, rc.Target, err)
	}
	m.Backend = b.backend(m, hc, nil)
	r.direct = m
	return r, nil
}

// backend returns the connection pool for m, a member of bc (nil for a
// direct worker) in host hc, reusing the previous runtime's when its
// options are unchanged.
func (b *builder) backend(m *pool.Member, hc *config.Host, bc *config.Balancer) *pool.Backend {
	o := backendOptions(m.Params, hc, bc)
	if m.Proto == pool.FastCGI {
		// mod_proxy_fcgi keeps a connection only when told to.
		o.DisableReuse, o.Log = !m.Params.EnableReuse, b.log
	}
	if be, ok := b.backends[m.ID]; ok && be.Asked.Same(o) {
		return be
	}
	if be, ok := b.old[m.ID]; ok && be.Asked.Same(o) {
		b.backends[m.ID] = be
		return be
	}
	be := pool.NewBackend(m, o)
	b.backends[m.ID] = be
	return be
}

func backendOptions(p config.WorkerParams, hc *config.Host, bc *config.Balancer) pool.BackendOptions {
	timeout := p.Timeout.D()
	if timeout <= 0 {
		timeout = hc.Timeout.D()
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	return pool.BackendOptions{
		Timeout:        timeout,
		ConnectTimeout: p.ConnectionTimeout.D(),
		Acquire:        p.Acquire.D(),
		MaxConns:       p.Max,
		IdleConn:       p.TTL.D(),
		DisableReuse:   p.DisableReuse,
		KeepAlive:      p.KeepAlive,
		Ping:           p.Ping.D(),
		TLS:            memberTLS(hc, bc),
	}
}

// memberTLS is how a member's certificate is checked: its balancer's
// SSLProxy* settings, else its host's.
func memberTLS(hc *config.Host, bc *config.Balancer) *config.ProxyTLS {
	if bc != nil && bc.ProxyTLS != nil {
		return bc.ProxyTLS
	}
	return hc.ProxyTLS
}
