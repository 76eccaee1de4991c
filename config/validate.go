package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/access"
	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
	"github.com/sluiceproxy/sluice/logformat"
	"github.com/sluiceproxy/sluice/modheaders"
	"go.yaml.in/yaml/v3"
)

// checker runs the checks both syntaxes share. idx, set for YAML, turns an
// owner and key into the line the key was written on; for Apache the
// owner's directive line is used.
type checker struct {
	cfg *Config
	idx yamlIndex
	// vars are the environment variables the config's SetEnvIf lines set
	// (compileMods).
	vars *modheaders.Vars
}

func (c *checker) fail(owner any, pos Pos, key, value, format string, a ...any) *Error {
	if k, v := mapEntry(c.idx[owner], key); k != nil {
		pos.Line = k.Line
		// In a block list the value has a line of its own.
		if v.Kind == yaml.SequenceNode && value != "" {
			for _, item := range v.Content {
				if item.Kind == yaml.ScalarNode && item.Value == value {
					pos.Line = item.Line
					break
				}
			}
		}
	}
	if pos.File == "" {
		pos.File = c.cfg.Source
	}
	return &Error{Pos: pos, Key: key, Value: value, Msg: fmt.Sprintf(format, a...)}
}

// normalize checks every single value and rewrites it into its normalized
// form; it is idempotent, so Apache input (already checked while parsing)
// passes through unchanged.
func (c *checker) normalize() error {
	cfg := c.cfg
	if cfg.Main == nil {
		cfg.Main = &Host{AddHeaders: true, BalancerInherit: true}
	}
	for i := range cfg.Listen {
		a, err := listenAddr(cfg.Listen[i])
		if err != nil {
			return c.fail(cfg, Pos{}, "listen", cfg.Listen[i], "%v", err)
		}
		cfg.Listen[i] = a
	}
	for _, h := range cfg.hosts() {
		if err := c.host(h); err != nil {
			return err
		}
		if err := c.tls(h.TLS); err != nil {
			return err
		}
		c.certNames(h)
		if err := c.proxyTLS(h.ProxyTLS); err != nil {
			return err
		}
	}
	return nil
}

// params runs every key=value check on the defaulted model.
func (c *checker) params() error {
	cfg := c.cfg
	for i := range cfg.HCTemplates {
		t := &cfg.HCTemplates[i]
		// A template carries check settings only, as ProxyHCTemplate
		// refuses the other worker keys: YAML decodes them all into
		// Params, and applyTemplate would drop them without a word.
		for _, k := range yamlKeys("config.WorkerParams") {
			if !slices.Contains(hcKeys, k) && c.idx.key(t, k) != nil {
				return c.fail(t, t.Pos, k, "", "unknown key %s", allowed(yamlKeys("config.HCTemplate")))
			}
		}
		if err := c.workerParams(&t.Params, t, t.Pos); err != nil {
			return err
		}
	}
	for _, h := range cfg.hosts() {
		for _, r := range h.Routes {
			if r.Worker != nil {
				if err := c.workerParams(r.Worker, r.Worker, r.Pos); err != nil {
					return err
				}
			}
		}
		for _, b := range h.Balancers {
			if err := c.balancerParams(b); err != nil {
				return err
			}
			for _, m := range b.Members {
				if err := c.workerParams(&m.Params, m, m.Pos); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *checker) balancerParams(b *Balancer) error {
	for _, bp := range balancerParams {
		if bp.check == nil {
			continue
		}
		if err := bp.check(b); err != nil {
			key := bp.key
			if key == "stickysession" {
				key = "sticky_cookie"
			}
			return c.fail(b, b.Pos, key, fieldText(b, key), "%v", err)
		}
	}
	return nil
}

func (c *checker) host(h *Host) error {
	if h.Via != "" {
		h.Via = ViaMode(strings.ToLower(string(h.Via)))
		if !slices.Contains(viaModes, string(h.Via)) {
			return c.fail(h, h.Pos, "via", string(h.Via), "must be off, on, full or block")
		}
	}
	if e := h.ErrorOverride; e != nil {
		for _, code := range e.Codes {
			if code < 400 || code > 599 {
				return c.fail(e, h.Pos, "codes", strconv.Itoa(code), "must be an error status from 400 to 599")
			}
		}
	}
	if h.LimitRequestBody < 0 {
		return c.fail(h, h.Pos, "limit_request_body", strconv.FormatInt(h.LimitRequestBody, 10), "must be >= 0")
	}
	if ri := h.RemoteIP; ri != nil {
		for _, l := range []struct {
			key  string
			nets []string
		}{{"internal", ri.Internal}, {"trusted", ri.Trusted}} {
			for _, n := range l.nets {
				if _, err := parseProxyNet(n); err != nil {
					return c.fail(ri, ri.Pos, l.key, n, "%v", err)
				}
			}
		}
		if ri.Header == "" && (len(ri.Internal) > 0 || len(ri.Trusted) > 0 || ri.ProxiesHeader != "") {
			return c.fail(ri, ri.Pos, "header", "", "is required: the field that carries the client's address (RemoteIPHeader)")
		}
	}
	if h.FCGIBackendType != "" && !slices.Contains(FCGIBackendTypes, h.FCGIBackendType) {
		return c.fail(h, h.Pos, "fcgi_backend_type", h.FCGIBackendType, "must be fpm or generic")
	}
	if h.EncodedSlashes != "" {
		h.EncodedSlashes = strings.ToLower(h.EncodedSlashes)
		if !slices.Contains(EncodedSlashModes, h.EncodedSlashes) {
			return c.fail(h, h.Pos, "allow_encoded_slashes", h.EncodedSlashes, "must be off, on or nodecode")
		}
	}
	for _, r := range h.Routes {
		if err := c.route(r); err != nil {
			return err
		}
	}
	for _, l := range h.LocationProxy {
		if err := c.locationProxy(l); err != nil {
			return err
		}
	}
	for i := range h.Reverse {
		r := &h.Reverse[i]
		if r.Path == "" || r.URL == "" {
			return c.fail(r, r.Pos, "url", r.URL, "a reverse rule needs a path and a url")
		}
		if err := scopeRegexp(r.Scope, r.ScopeMatch); err != nil {
			return c.fail(r, r.Pos, "scope", r.Scope, "%v", err)
		}
		if isBalancerURL(r.URL) {
			u, err := normalizeBalancerURL(r.URL)
			if err != nil {
				return c.fail(r, r.Pos, "url", r.URL, "%v", err)
			}
			r.URL = u
		}
	}
	for _, rules := range [2][]CookieRule{h.CookieDomains, h.CookiePaths} {
		for i := range rules {
			r := &rules[i]
			if err := scopeRegexp(r.Scope, r.ScopeMatch); err != nil {
				return c.fail(r, r.Pos, "scope", r.Scope, "%v", err)
			}
		}
	}
	for _, b := range h.Balancers {
		if err := c.balancer(h, b); err != nil {
			return err
		}
		if err := c.proxyTLS(b.ProxyTLS); err != nil {
			return err
		}
	}
	for i := range h.Managers {
		m := &h.Managers[i]
		if !strings.HasPrefix(m.Path, "/") {
			return c.fail(m, m.Pos, "path", m.Path, "must start with /")
		}
		for j, r := range m.Require {
			args := strings.Fields(r)
			if len(args) == 0 {
				return c.fail(m, m.Pos, "require", r, "must not be empty")
			}
			norm, err := access.Line(args)
			if err != nil {
				return c.fail(m, m.Pos, "require", r, "%v", err)
			}
			m.Require[j] = norm
		}
	}
	return c.access(h)
}

func (c *checker) route(r *Route) error {
	if r.Files != "" {
		if err := c.filesRoute(r); err != nil {
			return err
		}
	} else if r.Path == "" {
		return c.fail(r, r.Pos, "path", "", "must not be empty")
	}
	if r.Match && r.Regexp == nil {
		re, err := compileMatch(r.Path)
		if err != nil {
			return c.fail(r, r.Pos, "path", r.Path, "%v", err)
		}
		r.Regexp = re
	}
	switch {
	case r.Exclude && r.Target != "":
		return c.fail(r, r.Pos, "target", r.Target, "an excluded route has no target")
	case r.Exclude && r.Worker != nil:
		return c.fail(r, r.Pos, "worker", "", "an excluded route has no worker parameters")
	case r.Exclude:
		return nil
	case r.Target == "":
		return c.fail(r, r.Pos, "target", "", "needs a URL, or exclude: true")
	case isBalancerURL(r.Target):
		if r.Worker != nil {
			return c.fail(r, r.Pos, "worker", "", "a balancer route takes no worker parameters: set them on its members")
		}
		t, err := normalizeBalancerURL(r.Target)
		if err != nil {
			return c.fail(r, r.Pos, "target", r.Target, "%v", err)
		}
		r.Target = t
		c.warnSlashes(r)
		return nil
	}
	t, err := workerURL(r.Target, r.Match)
	if err != nil {
		return c.fail(r, r.Pos, "target", r.Target, "%v", err)
	}
	r.Target = t
	c.warnSlashes(r)
	return nil
}

// filesRoute checks a handler route's pattern (Route.Files).
func (c *checker) filesRoute(r *Route) error {
	switch {
	case r.Path != "" || r.Match:
		return c.fail(r, r.Pos, "files", r.Files, "a files route has no path: it serves the files it names")
	case r.Exclude:
		return c.fail(r, r.Pos, "files", r.Files, "a files route proxies: it cannot exclude")
	case r.FilesMatch && r.FilesRe == nil:
		re, err := regexp.Compile(r.Files)
		if err != nil {
			return c.fail(r, r.Pos, "files", r.Files, "cannot compile regex: %v", err)
		}
		r.FilesRe = re
	case !r.FilesMatch:
		if _, err := path.Match(r.Files, ""); err != nil || strings.Contains(r.Files, "/") {
			return c.fail(r, r.Pos, "files", r.Files, "must be a file name pattern such as *.php")
		}
	}
	return nil
}

// warnSlashes warns about a ProxyPass whose path ends in '/' and whose URL
// does not, or the other way round: Apache's docs call it a mistake, and
// Apache joins the two as they stand ("ProxyPass / balancer://b" sends
// /foo to balancer://bfoo, which answers 500), where sluice puts one slash
// at the join (docs/compatibility.md).
func (c *checker) warnSlashes(r *Route) {
	if r.Match || r.Files != "" {
		return
	}
	target := r.Target
	if i := strings.Index(target, "://"); i >= 0 {
		target = target[i+3:]
	}
	path := ""
	if i := strings.IndexByte(target, '/'); i >= 0 {
		path = target[i:]
	}
	if strings.HasSuffix(r.Path, "/") != strings.HasSuffix(path, "/") {
		c.warn(r.Pos, "ProxyPass %s %s: one ends in / and the other does not; Apache would join them as they stand, sluice joins them with one slash", r.Path, r.Target)
	}
}

func (c *checker) balancer(h *Host, b *Balancer) error {
	b.Name = strings.ToLower(b.Name)
	if _, _, err := splitBalancerURL(balancerScheme + b.Name); err != nil || strings.Contains(b.Name, "/") {
		return c.fail(b, b.Pos, "name", b.Name, "must be a balancer name without scheme or path")
	}
	if h.Balancer(b.Name) != b {
		return c.fail(b, b.Pos, "name", b.Name, "duplicate balancer in this host")
	}
	if b.StickySetCookie && b.StickyCookie == "" {
		return c.fail(b, b.Pos, "sticky_set_cookie", "true", "needs sticky_cookie: the cookie to set")
	}
	seen := map[string]bool{}
	for _, m := range b.Members {
		u, err := workerURL(m.URL, false)
		if err != nil {
			return c.fail(m, m.Pos, "url", m.URL, "%v", err)
		}
		if seen[u] {
			return c.fail(m, m.Pos, "url", m.URL, "duplicate member of balancer://%s", b.Name)
		}
		seen[u], m.URL = true, u
		proto := WorkerProtocol(u)
		if first := WorkerProtocol(b.Members[0].URL); proto != first {
			return c.fail(m, m.Pos, "url", m.URL, "balancer://%s mixes %s:// and %s:// members: its members must all speak one protocol", b.Name, first, proto)
		}
		if err := hcMethodFor(proto, m.Params.HCMethod); err != nil {
			return c.fail(m, m.Pos, "hcmethod", m.Params.HCMethod, "%v", err)
		}
	}
	return nil
}

// templateHCMethods checks the methods hctemplate= gave b's members, which
// come with the defaults, after their own were checked (balancer).
func (c *checker) templateHCMethods(b *Balancer) error {
	for _, m := range b.Members {
		if err := hcMethodFor(WorkerProtocol(m.URL), m.Params.HCMethod); err != nil {
			return c.fail(m, m.Pos, "hctemplate", m.Params.HCTemplate, "its hcmethod=%s: %v", m.Params.HCMethod, err)
		}
	}
	return nil
}

// hcMethodFor refuses a health check method that a member of protocol
// proto cannot answer.
func hcMethodFor(proto, method string) error {
	switch hc := strings.ToUpper(method); {
	case hc == "" || hc == "NONE" || hc == "TCP", hc == "CPING" && proto == "ajp":
		return nil
	case hc == "CPING":
		return errors.New("CPING checks ajp:// members only")
	case proto == "fcgi":
		return errors.New("an fcgi:// member is checked with hcmethod=TCP: it does not speak HTTP")
	case proto == "ajp":
		return errors.New("an ajp:// member is checked with hcmethod=CPING or TCP: it does not speak HTTP")
	}
	return nil
}

// workerParams runs every worker check; owner locates the keys.
func (c *checker) workerParams(p *WorkerParams, owner any, pos Pos) error {
	for _, wp := range workerParams {
		if wp.check == nil {
			continue
		}
		if err := wp.check(p); err != nil {
			return c.fail(owner, pos, wp.key, fieldText(p, wp.key), "%v", err)
		}
	}
	return nil
}

// validate checks every parameter and what spans several values, after
// defaults.
func (c *checker) validate() error {
	cfg := c.cfg
	if err := c.params(); err != nil {
		return err
	}
	if len(cfg.Listen) == 0 {
		if c.idx == nil {
			return &Error{Pos: Pos{File: cfg.Source}, Msg: "no Listen directive"}
		}
		return c.fail(cfg, Pos{}, "listen", "", "no listen address: add listen: [\"127.0.0.1:8080\"]")
	}
	for i, a := range cfg.Listen {
		if slices.Contains(cfg.Listen[:i], a) {
			e := c.fail(cfg, Pos{}, "listen", a, "duplicate address")
			// Normalized, the address may read as the first's: the line is
			// the i-th entry's.
			if _, v := mapEntry(c.idx[cfg], "listen"); v != nil && v.Kind == yaml.SequenceNode && i < len(v.Content) {
				e.Pos.Line = v.Content[i].Line
			}
			return e
		}
	}
	if len(cfg.Main.Addrs) > 0 || len(cfg.Main.ServerAliases) > 0 {
		return c.fail(cfg.Main, cfg.Main.Pos, "addrs", "", "addrs and server_aliases belong to vhosts")
	}
	// A connection's address says whether it speaks TLS, so the vhosts
	// that share an address must agree.
	first := map[VHostAddr]*Host{}
	for _, h := range cfg.VHosts {
		if len(h.Addrs) == 0 {
			return c.fail(h, h.Pos, "addrs", "", "a vhost needs at least one address, such as *:80")
		}
		for _, a := range h.Addrs {
			va, err := ParseVHostAddr(a)
			if err != nil {
				return c.fail(h, h.Pos, "addrs", a, "%v", err)
			}
			f := first[va]
			if f == nil {
				first[va] = h
			} else if (f.TLS == nil) != (h.TLS == nil) {
				return c.fail(h, h.Pos, "tls", a, "%s", tlsMismatch(f, h))
			}
		}
	}
	if err := c.hcNames(); err != nil {
		return err
	}
	for _, h := range cfg.hosts() {
		for _, b := range h.Balancers {
			if err := c.templateHCMethods(b); err != nil {
				return err
			}
			c.redirects(b)
		}
	}
	c.balancerIDs()
	return c.extras()
}

// hcNames checks ProxyHCExpr / ProxyHCTemplate names and their uses.
func (c *checker) hcNames() error {
	cfg := c.cfg
	exprs := map[string]bool{}
	for i := range cfg.HCExprs {
		e := &cfg.HCExprs[i]
		switch {
		case e.Name == "" || len(e.Name) > 15:
			return c.fail(e, e.Pos, "name", e.Name, "must be 1 to 15 characters")
		case e.Expr == "":
			return c.fail(e, e.Pos, "expr", "", "must not be empty")
		case exprs[e.Name]:
			return c.fail(e, e.Pos, "name", e.Name, "duplicate health check expression")
		}
		if _, err := hcexpr.Parse(e.Expr); err != nil {
			return c.fail(e, e.Pos, "expr", e.Expr, "%v", err)
		}
		exprs[e.Name] = true
	}
	templates := map[string]bool{}
	for i := range cfg.HCTemplates {
		t := &cfg.HCTemplates[i]
		if t.Name == "" || templates[t.Name] {
			return c.fail(t, t.Pos, "name", t.Name, "must be a unique, non-empty template name")
		}
		templates[t.Name] = true
	}
	check := func(p *WorkerParams, owner any, pos Pos) error {
		if p.HCExpr != "" && !exprs[p.HCExpr] {
			return c.fail(owner, pos, "hcexpr", p.HCExpr, "no ProxyHCExpr has this name")
		}
		if p.HCTemplate != "" && !templates[p.HCTemplate] {
			return c.fail(owner, pos, "hctemplate", p.HCTemplate, "no ProxyHCTemplate has this name")
		}
		return nil
	}
	for i := range cfg.HCTemplates {
		if err := check(&cfg.HCTemplates[i].Params, &cfg.HCTemplates[i], cfg.HCTemplates[i].Pos); err != nil {
			return err
		}
	}
	for _, h := range cfg.hosts() {
		for _, r := range h.Routes {
			if r.Worker != nil {
				if err := check(r.Worker, r.Worker, r.Pos); err != nil {
					return err
				}
			}
		}
		for _, b := range h.Balancers {
			for _, m := range b.Members {
				if err := check(&m.Params, m, m.Pos); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// redirects warns about redirect= values that name no route of the same
// balancer: Apache accepts them and they do nothing.
func (c *checker) redirects(b *Balancer) {
	for _, m := range b.Members {
		if m.Params.Redirect == "" {
			continue
		}
		found := slices.ContainsFunc(b.Members, func(o *Member) bool { return o.Params.Route == m.Params.Redirect })
		if !found {
			pos := m.Pos
			if pos.File == "" {
				pos.File = c.cfg.Source
			}
			c.cfg.Warnings = append(c.cfg.Warnings, fmt.Sprintf("%s: redirect=%s names no route of balancer://%s", pos, m.Params.Redirect, b.Name))
		}
	}
}

// accessLog checks an access log's format (a nickname or a LogFormat
// string) and its env= variable.
func (c *checker) accessLog(l *AccessLog) error {
	if l.Format == "" {
		l.Format = "combined"
	}
	if _, nick := logformat.Nicknames[l.Format]; !nick && l.Format != "json" {
		if !strings.Contains(l.Format, "%") {
			return c.fail(l, l.Pos, "format", l.Format, "unknown access log format: json, %s, or a LogFormat string", strings.Join(slices.Sorted(maps.Keys(logformat.Nicknames)), ", "))
		}
		f, err := logformat.Parse(l.Format)
		if err != nil {
			return c.fail(l, l.Pos, "format", l.Format, "%v", err)
		}
		for _, it := range f {
			if it.Directive == 'e' {
				if _, err := c.vars.Lookup(it.Arg); err != nil {
					return c.fail(l, l.Pos, "format", l.Format, "%v", err)
				}
			}
		}
	}
	if name, not := strings.CutPrefix(l.Env, "!"); name != "" {
		if _, err := c.vars.Lookup(name); err != nil {
			// Real configs carry conditions on variables set elsewhere
			// (env=!dontlog): constant here, so said and kept.
			what := "no request is logged"
			if not {
				what = "every request is logged"
			}
			c.warn(l.Pos, "access log %s env=%s: nothing sets %s, so %s", l.Path, l.Env, name, what)
		}
	}
	return nil
}

// extras checks the YAML-only settings.
func (c *checker) extras() error {
	cfg := c.cfg
	if cfg.HCTPSize != nil && *cfg.HCTPSize < 0 {
		return c.fail(cfg, Pos{}, "hc_tpsize", strconv.Itoa(*cfg.HCTPSize), "must be >= 0")
	}
	if f := cfg.AcceptFilter; f != AcceptFilterData && f != AcceptFilterNone {
		return c.fail(cfg, Pos{}, "accept_filter", f, "unknown accept filter (allowed: data, none)")
	}
	if cfg.BalancerGrowth < 0 || cfg.BalancerGrowth > maxBalancerGrowth {
		return c.fail(cfg, Pos{}, "balancer_growth", strconv.Itoa(cfg.BalancerGrowth), "must be between 0 and %d", maxBalancerGrowth)
	}
	if err := c.accessLog(&cfg.AccessLog); err != nil {
		return err
	}
	// Without a path the config-wide log is off. -dump-config writes its
	// default format all the same, so only another format or an env says
	// a log was meant.
	if l := &cfg.AccessLog; l.Path == "" {
		switch {
		case l.Env != "":
			return c.fail(l, l.Pos, "env", l.Env, "an access log needs a path (a file or stdout)")
		case l.Format != "combined":
			return c.fail(l, l.Pos, "format", l.Format, "an access log needs a path (a file or stdout)")
		}
	}
	for _, h := range cfg.hosts() {
		for _, l := range h.AccessLogs {
			if l.Path == "" {
				return c.fail(l, l.Pos, "path", "", "an access log needs a path (a file or stdout)")
			}
			if err := c.accessLog(l); err != nil {
				return err
			}
		}
	}
	if err := c.admin(); err != nil {
		return err
	}
	if err := c.fleet(); err != nil {
		return err
	}
	if err := c.metrics(); err != nil {
		return err
	}
	for _, t := range cfg.TrustedProxies {
		if _, err := netip.ParsePrefix(t); err != nil {
			if _, err := netip.ParseAddr(t); err != nil {
				return c.fail(cfg, Pos{}, "trusted_proxies", t, "must be an IP address or CIDR network")
			}
		}
	}
	l := &cfg.Limits
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"max_request_body", l.MaxRequestBody}, {"max_header_bytes", int64(l.MaxHeaderBytes)},
		{"max_conns", int64(l.MaxConns)}, {"max_conns_per_ip", int64(l.MaxConnsPerIP)},
		{"max_response_header_bytes", int64(l.MaxResponseHeaderBytes)},
	} {
		if f.v < 0 {
			return c.fail(l, Pos{}, f.key, strconv.FormatInt(f.v, 10), "must be >= 0")
		}
	}
	return nil
}

// metrics checks the metrics listener: host:port (port 0 allowed, as the
// admin's), a path, and off loopback the admin token, which guards
// /metrics on the admin listener too.
func (c *checker) metrics() error {
	m := &c.cfg.Metrics
	if m.Listen == "" {
		if m.Path != "" {
			return c.fail(m, Pos{}, "path", m.Path, "needs metrics.listen: host:port")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return c.fail(m, Pos{}, "listen", m.Listen, "must be host:port")
	}
	if port != "0" {
		if err := checkPort(port); err != nil {
			return c.fail(m, Pos{}, "listen", m.Listen, "%v", err)
		}
	}
	if !strings.HasPrefix(m.Path, "/") {
		return c.fail(m, Pos{}, "path", m.Path, "must start with /")
	}
	if isLoopback(host) {
		return nil
	}
	if !c.cfg.Admin.HasToken() {
		return c.fail(m, Pos{}, "listen", m.Listen, "a metrics listener off loopback needs the admin token (admin.token, token_file or token_env), which scrapers send as Authorization: Bearer")
	}
	var pos Pos
	if n := c.idx.key(m, "listen"); n != nil {
		pos.Line = n.Line
	}
	c.warn(pos, "metrics.listen %s is off loopback and speaks plain HTTP: the admin token crosses the network in clear text", m.Listen)
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// fieldText shows the value of the field tagged key in the struct v points
// to, for error messages.
func fieldText(v any, key string) string {
	if key == secretKey {
		return hiddenValue
	}
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ",")
		if tag != key {
			continue
		}
		switch f := rv.Field(i).Interface().(type) {
		case Duration:
			return f.String()
		case float64:
			return strconv.FormatFloat(f, 'g', -1, 64)
		case *int:
			if f != nil {
				return strconv.Itoa(*f)
			}
			return ""
		case []int:
			s := make([]string, len(f))
			for i, n := range f {
				s[i] = strconv.Itoa(n)
			}
			return strings.Join(s, ",")
		default:
			return fmt.Sprint(f)
		}
	}
	return ""
}

func tlsMismatch(first, h *Host) string {
	on, off := "the vhost at "+first.Pos.String(), "this one"
	if first.TLS == nil {
		on, off = off, on
	}
	return fmt.Sprintf("%s terminates TLS (SSLEngine on) and %s on the same address does not: one address speaks TLS or plain HTTP", on, off)
}

func (c *checker) locationProxy(l *LocationProxy) error {
	switch {
	case (l.Scope == "") == (l.Proxy == ""):
		return c.fail(l, l.Pos, "scope", l.Scope, "set exactly one of scope and proxy")
	case l.Proxy != "":
		p, err := proxyScope(l.Proxy)
		if err != nil {
			return c.fail(l, l.Pos, "proxy", l.Proxy, "%v", err)
		}
		l.Proxy = p
	case l.ScopeMatch:
		if _, err := regexp.Compile(l.Scope); err != nil {
			return c.fail(l, l.Pos, "scope", l.Scope, "cannot compile regex: %v", err)
		}
	case !strings.HasPrefix(l.Scope, "/"):
		return c.fail(l, l.Pos, "scope", l.Scope, "must be a URL-path starting with /")
	}
	if l.PreserveHost == nil && l.AddHeaders == nil && l.CGIPassAuth == nil {
		return c.fail(l, l.Pos, "scope", l.Scope, "sets none of preserve_host, add_headers and cgi_pass_auth")
	}
	return nil
}

// balancerIDs sets Balancer.Host where several hosts define one name, so
// that each vhost's balancer keeps its own members' state and can be
// managed on its own: "mycluster@www.example.com:80". The main server's
// keeps the plain name, and a vhost that inherits it shares it.
func (c *checker) balancerIDs() {
	defined := map[string]int{}
	for _, h := range c.cfg.hosts() {
		for _, b := range h.Balancers {
			defined[b.Name]++
		}
	}
	taken := map[string]bool{}
	for _, h := range c.cfg.hosts() {
		for _, b := range h.Balancers {
			b.Host = ""
			if defined[b.Name] > 1 && h != c.cfg.Main {
				b.Host = hostLabel(h)
				for n := 2; taken[b.ID()]; n++ {
					b.Host = fmt.Sprintf("%s#%d", hostLabel(h), n)
				}
			}
			taken[b.ID()] = true
		}
	}
}

// hostLabel names a vhost for balancer IDs: its ServerName with the port
// of its first address ("www.example.com:80"), or that address when it
// has no ServerName.
func hostLabel(h *Host) string {
	addr := ""
	if len(h.Addrs) > 0 {
		addr = h.Addrs[0]
	}
	name := strings.ToLower(h.ServerName)
	if name == "" {
		return addr
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "*" && !strings.Contains(name, ":") {
		return name + ":" + port
	}
	return name
}

// scopeRegexp checks a rule's <LocationMatch> expression, which the
// rewrite package compiles again.
func scopeRegexp(scope string, match bool) error {
	if !match {
		return nil
	}
	_, err := compileMatch(scope)
	return err
}
