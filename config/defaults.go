package config

import (
	"slices"
	"strings"
	"time"
)

// Defaults sluice fills in where a configuration says nothing. The Apache
// ones are Apache's; the others are documented in docs/config.md.
const (
	DefaultProxyTimeout   = 60 * time.Second
	DefaultRetry          = 60 * time.Second
	DefaultHCInterval     = 30 * time.Second
	DefaultMaxRequestBody = 1 << 30 // Apache's LimitRequestBody since 2.4.54
	DefaultMaxHeaderBytes = 16 << 10
	DefaultMaxConns       = 16384
	DefaultClientHeader   = 30 * time.Second
	DefaultClientBody     = 60 * time.Second
	DefaultClientIdle     = 75 * time.Second
	DefaultClientPark     = 100 * time.Millisecond
	DefaultClientWrite    = 60 * time.Second
	DefaultDrain          = 30 * time.Second
)

// dropShadowedBalancers removes each balancer of a vhost that inherits one
// of Main's by its name: Apache merges Main's balancers before the vhost's
// and takes the first of a name, so Main's serves the vhost and the
// vhost's own (defined by ProxyPass or ProxySet parameters, BalancerMember
// or <Proxy>) does nothing. Dropped, it cannot answer 503 in Main's place.
func (c *checker) dropShadowedBalancers() {
	main := c.cfg.Main
	for _, h := range c.cfg.VHosts {
		if !h.BalancerInherit {
			continue
		}
		h.Balancers = slices.DeleteFunc(h.Balancers, func(b *Balancer) bool {
			mb := main.Balancer(b.Name)
			if mb != nil {
				c.warn(b.Pos, "balancer://%s of this <VirtualHost> ignored, its members and parameters with it: the vhost inherits the main server's (%s), which serves it, as in Apache (BalancerInherit Off and ProxyPassInherit Off keep the vhost's own)", b.Name, mb.Pos)
			}
			return mb != nil
		})
	}
}

// addMissingBalancers creates an empty balancer for each route target that
// names none, as Apache does (requests then get 503). A vhost sees Main's
// balancers unless BalancerInherit is Off.
func addMissingBalancers(cfg *Config) {
	for _, h := range cfg.hosts() {
		for _, r := range h.Routes {
			if !isBalancerURL(r.Target) {
				continue
			}
			name, _, err := splitBalancerURL(r.Target)
			if err != nil || h.Balancer(name) != nil {
				continue
			}
			if h != cfg.Main && h.BalancerInherit && cfg.Main.Balancer(name) != nil {
				continue
			}
			h.Balancers = append(h.Balancers, newBalancer(name, r.Pos))
		}
	}
}

// inheritHost copies Main's ProxyPreserveHost, ProxyAddHeaders, ProxyVia,
// ProxyTimeout, BalancerInherit and the others below into a vhost that does not set them, as
// Apache's server-config merge does. set reports whether the vhost set the
// setting, by YAML key.
func inheritHost(main, h *Host, set func(key string) bool) {
	if !set("preserve_host") {
		h.PreserveHost = main.PreserveHost
	}
	if !set("add_headers") {
		h.AddHeaders = main.AddHeaders
	}
	if !set("via") {
		h.Via = main.Via
	}
	if !set("proxy_timeout") {
		h.Timeout = main.Timeout
	}
	if !set("balancer_inherit") {
		h.BalancerInherit = main.BalancerInherit
	}
	if !set("allow_encoded_slashes") {
		h.EncodedSlashes = main.EncodedSlashes
	}
	if !set("error_override") {
		h.ErrorOverride = main.ErrorOverride
	}
	if !set("tls") {
		h.TLS = main.TLS
	}
	if !set("proxy_tls") {
		h.ProxyTLS = main.ProxyTLS
	}
	if !set("cgi_pass_auth") {
		h.CGIPassAuth = main.CGIPassAuth
	}
	if !set("server_admin") {
		h.ServerAdmin = main.ServerAdmin
	}
	if !set("remote_ip") {
		h.RemoteIP = main.RemoteIP
	} else if m := main.RemoteIP; m != nil && h.RemoteIP != nil {
		// Apache merges the header, the proxies header and the proxy list
		// each on its own.
		r := *h.RemoteIP
		if r.Header == "" {
			r.Header = m.Header
		}
		if r.ProxiesHeader == "" {
			r.ProxiesHeader = m.ProxiesHeader
		}
		if len(r.Internal) == 0 && len(r.Trusted) == 0 {
			r.Internal, r.Trusted = m.Internal, m.Trusted
		}
		h.RemoteIP = &r
	}
	if !set("fcgi_backend_type") {
		h.FCGIBackendType = main.FCGIBackendType
	}
}

// FCGIBackendTypes are ProxyFCGIBackendType's values, lower-cased.
var FCGIBackendTypes = []string{"fpm", "generic"}

// EncodedSlashModes are AllowEncodedSlashes' values, lower-cased.
var EncodedSlashModes = []string{"off", "on", "nodecode"}

// hosts is Main followed by the vhosts.
func (cfg *Config) hosts() []*Host {
	return append([]*Host{cfg.Main}, cfg.VHosts...)
}

// The AcceptFilter values: on Linux Apache's data, dataready and httpready
// all set TCP_DEFER_ACCEPT, and data is its default for http.
const (
	AcceptFilterData = "data"
	AcceptFilterNone = "none"
)

// DefaultHCTPSize is Apache's ProxyHCTPsize default.
const DefaultHCTPSize = 16

func setDefaults(cfg *Config) {
	if cfg.AcceptFilter == "" {
		cfg.AcceptFilter = AcceptFilterData
	}
	if cfg.HCTPSize == nil {
		n := DefaultHCTPSize
		cfg.HCTPSize = &n
	}
	for i := range cfg.HCTemplates {
		t := &cfg.HCTemplates[i].Params
		if t.HCMethod == "" {
			t.HCMethod = "TCP" // a template's default, unlike a worker's NONE
		}
		hcDefaults(t)
	}
	for _, h := range cfg.hosts() {
		setDuration(&h.Timeout, DefaultProxyTimeout)
		if h.Via == "" {
			h.Via = ViaOff
		}
		for _, b := range h.Balancers {
			if b.LBMethod == "" {
				b.LBMethod = "byrequests"
			}
			if b.StickySep == "" && !b.StickySepOff {
				b.StickySep = "."
			}
			if b.StickyURLParam == "" {
				b.StickyURLParam = b.StickyCookie // Apache's stickysession=NAME: both
			}
			if b.Members == nil {
				b.Members = []*Member{}
			}
			for _, m := range b.Members {
				memberDefaults(cfg, &m.Params)
			}
		}
	}
	if cfg.AccessLog.Format == "" {
		cfg.AccessLog.Format = "combined"
	}
	if cfg.Metrics.Listen != "" && cfg.Metrics.Path == "" {
		cfg.Metrics.Path = "/metrics"
	}
	l := &cfg.Limits
	if l.MaxRequestBody == 0 {
		l.MaxRequestBody = DefaultMaxRequestBody
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxResponseHeaderBytes == 0 {
		l.MaxResponseHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	t := &cfg.Timeouts
	setDuration(&t.ClientHeader, DefaultClientHeader)
	setDuration(&t.ClientBody, DefaultClientBody)
	setDuration(&t.ClientIdle, DefaultClientIdle)
	setDuration(&t.ClientPark, DefaultClientPark)
	setDuration(&t.ClientWrite, DefaultClientWrite)
	setDuration(&t.Drain, DefaultDrain)
	fleetDefaults(&cfg.Fleet)
}

func memberDefaults(cfg *Config, p *WorkerParams) {
	if p.LoadFactor == 0 {
		p.LoadFactor = 1
	}
	if !p.RetrySet {
		p.Retry, p.RetrySet = Duration(DefaultRetry), true
	}
	if p.HCTemplate != "" {
		for _, t := range cfg.HCTemplates {
			if t.Name == p.HCTemplate {
				applyTemplate(p, &t.Params)
			}
		}
	}
	hcDefaults(p)
}

// applyTemplate copies a ProxyHCTemplate's check settings where the worker
// has none of its own.
func applyTemplate(p, t *WorkerParams) {
	if p.HCMethod == "" {
		p.HCMethod = t.HCMethod
	}
	setDuration(&p.HCInterval, t.HCInterval.D())
	if p.HCPasses == 0 {
		p.HCPasses = t.HCPasses
	}
	if p.HCFails == 0 {
		p.HCFails = t.HCFails
	}
	if p.HCURI == "" {
		p.HCURI = t.HCURI
	}
	if p.HCExpr == "" {
		p.HCExpr = t.HCExpr
	}
}

// hcDefaults fills interval, passes and fails for a worker that is checked.
// hcpasses=0 and hcfails=0 behave as 1 in Apache, so 1 loses nothing.
func hcDefaults(p *WorkerParams) {
	if p.HCMethod == "" || strings.EqualFold(p.HCMethod, "NONE") {
		return
	}
	setDuration(&p.HCInterval, DefaultHCInterval)
	if p.HCPasses == 0 {
		p.HCPasses = 1
	}
	if p.HCFails == 0 {
		p.HCFails = 1
	}
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}
