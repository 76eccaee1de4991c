// Package config holds sluice's configuration model and its two syntaxes:
// Apache httpd directives (*.conf) and native YAML (*.yaml). Both decode into
// the same *Config; Load runs decode → defaults → validate, and every error
// names the file, line, directive or key, the value and what is allowed.
//
// A *Config is immutable once Load returns it: the server builds its runtime
// state from it and never writes back.
package config

import (
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/modheaders"
)

// ErrorOverride is ProxyErrorOverride: with On, a member's answer of an
// error status (Codes, or any from 400 to 599 when Codes is empty) is
// replaced by sluice's own page for that status, or the ErrorDocument.
type ErrorOverride struct {
	On    bool  `yaml:"on"`
	Codes []int `yaml:"codes,omitempty"`
}

// Overrides reports whether the member's status is replaced.
func (e *ErrorOverride) Overrides(status int) bool {
	switch {
	case e == nil || !e.On:
		return false
	case len(e.Codes) == 0:
		return status >= 400 && status <= 599
	}
	return slices.Contains(e.Codes, status)
}

// maxBalancerGrowth is the largest BalancerGrowth Apache accepts.
const maxBalancerGrowth = 1000

// Config is one loaded, validated configuration.
type Config struct {
	// Source is the file the configuration was loaded from.
	Source string `yaml:"-"`

	// Listen holds the addresses the proxy accepts on ("127.0.0.1:8080", ":80").
	Listen []string `yaml:"listen"`

	// AcceptFilter is Apache's AcceptFilter for the http listeners:
	// AcceptFilterData (the default, Apache's on Linux) hands a connection
	// over once its first bytes have arrived (TCP_DEFER_ACCEPT),
	// AcceptFilterNone at once.
	AcceptFilter string `yaml:"accept_filter,omitempty"`

	// Main is the main server: directives outside any <VirtualHost>.
	Main *Host `yaml:"server"`

	// VHosts are the <VirtualHost> sections in config order. A request is
	// served by the first vhost whose ServerName or ServerAlias matches its
	// Host; with no match, by the first vhost (Apache's default-vhost rule),
	// or by Main when there are no vhosts.
	VHosts []*Host `yaml:"vhosts,omitempty"`

	// BalancerPersist keeps balancer-manager changes across restarts.
	BalancerPersist bool `yaml:"balancer_persist,omitempty"`
	// BalancerGrowth is Apache's extra balancer slots (0..1000); sluice
	// takes it as the member growth of balancers without their own
	// (docs/compatibility.md), 0 meaning Apache's default of 5.
	BalancerGrowth int `yaml:"balancer_growth,omitempty"`

	// HCExprs are the ProxyHCExpr conditions by name.
	HCExprs []HCExpr `yaml:"hc_exprs,omitempty"`
	// HCTemplates are the ProxyHCTemplate parameter sets by name.
	HCTemplates []HCTemplate `yaml:"hc_templates,omitempty"`
	// HCTPSize is ProxyHCTPsize: how many checks run at once (0 = serially).
	// Nil until defaults set Apache's 16.
	HCTPSize *int `yaml:"hc_tpsize,omitempty"`

	// What Apache cannot say; YAML only.
	Admin          Admin     `yaml:"admin,omitempty"`
	Metrics        Metrics   `yaml:"metrics,omitempty"`
	AccessLog      AccessLog `yaml:"access_log,omitempty"`
	TrustedProxies []string  `yaml:"trusted_proxies,omitempty"` // CIDRs whose X-Forwarded-For is kept
	Limits         Limits    `yaml:"limits,omitempty"`
	Timeouts       Timeouts  `yaml:"timeouts,omitempty"`
	Fleet          Fleet     `yaml:"fleet,omitempty"` // shared admin state through etcd (fleet.go)
	// IgnoreClientAbort keeps waiting for a member's answer after the
	// client closed its connection (nginx's proxy_ignore_client_abort). By
	// default sluice closes the member connection instead, cancelling the
	// member's work, and logs 499 (threats.md RES-08).
	IgnoreClientAbort bool `yaml:"ignore_client_abort,omitempty"`

	// Warnings are non-fatal findings (ignored directives), one per line.
	Warnings []string `yaml:"-"`

	// vars names the environment variables of the configuration, for the
	// access logs' env= and %{VAR}e (set when loading).
	vars *modheaders.Vars
}

// Vars names the configuration's environment variables (SetEnvIf,
// RewriteRule [E=], the built-in ones); nil before it was checked.
func (cfg *Config) Vars() *modheaders.Vars { return cfg.vars }

// Host is the main server or one <VirtualHost>.
type Host struct {
	Pos Pos `yaml:"-"`
	// Addrs are the <VirtualHost> addresses ("*:80"); empty for Main.
	Addrs         []string `yaml:"addrs,omitempty"`
	ServerName    string   `yaml:"server_name,omitempty"`
	ServerAliases []string `yaml:"server_aliases,omitempty"`

	// Routes are ProxyPass / ProxyPassMatch rules in matching order:
	// <Location> rules first (in config order), then server-level rules.
	// For a vhost, Main's server-level rules are not copied here; the server
	// consults the vhost's routes, then Main's (Apache prepends Main's
	// rules, see docs/compatibility.md).
	Routes []*Route `yaml:"routes,omitempty"`

	// Reverse holds ProxyPassReverse rules in config order.
	Reverse []ReverseRule `yaml:"reverse,omitempty"`
	// CookieDomains and CookiePaths are ProxyPassReverseCookieDomain/Path.
	CookieDomains []CookieRule `yaml:"cookie_domains,omitempty"`
	CookiePaths   []CookieRule `yaml:"cookie_paths,omitempty"`

	// A vhost inherits each of these five from Main unless it sets them.
	PreserveHost    bool     `yaml:"preserve_host"`           // ProxyPreserveHost (default Off)
	AddHeaders      bool     `yaml:"add_headers"`             // ProxyAddHeaders (default On)
	Via             ViaMode  `yaml:"via,omitempty"`           // ProxyVia (default Off)
	Timeout         Duration `yaml:"proxy_timeout,omitempty"` // ProxyTimeout (default 60s)
	BalancerInherit bool     `yaml:"balancer_inherit"`        // BalancerInherit or ProxyPassInherit (default On)
	// EncodedSlashes is AllowEncodedSlashes: "off" (the default: a %2F in
	// the path is answered 404), "on" (decoded to /) or "nodecode" (kept
	// as %2F, in matching and towards the member); inherited like the five.
	EncodedSlashes string `yaml:"allow_encoded_slashes,omitempty"`
	// LocationProxy are the ProxyPreserveHost and ProxyAddHeaders lines of
	// <Location> sections, in config order; for a vhost, Main's apply
	// first.
	LocationProxy []*LocationProxy `yaml:"location_proxy,omitempty"`
	// CGIPassAuth passes Authorization and Proxy-Authorization to fcgi://
	// members as HTTP_AUTHORIZATION and HTTP_PROXY_AUTHORIZATION (Apache's
	// CGIPassAuth; Off by default). Inherited like the five.
	CGIPassAuth bool `yaml:"cgi_pass_auth,omitempty"`
	// ServerAdmin is SERVER_ADMIN for fcgi:// members. Inherited.
	ServerAdmin string `yaml:"server_admin,omitempty"`
	// RemoteIP is mod_remoteip (RemoteIPHeader and friends); nil is off.
	// A vhost without one takes Main's.
	RemoteIP *RemoteIP `yaml:"remote_ip,omitempty"`
	// FCGIBackendType is ProxyFCGIBackendType: "fpm" (the default) sends
	// SCRIPT_FILENAME as proxy:fcgi://host:port/path, which PHP-FPM reads;
	// "generic" sends the path alone. Inherited.
	FCGIBackendType string `yaml:"fcgi_backend_type,omitempty"`
	// ErrorOverride is ProxyErrorOverride; nil is Off. Inherited like the
	// five.
	ErrorOverride *ErrorOverride `yaml:"error_override,omitempty"`
	// TLS terminates TLS for this host (SSLEngine on). A vhost without
	// its own takes Main's (in YAML, "tls: ~" opts out; Apache's vhosts
	// inherit each mod_ssl directive on its own).
	TLS *TLS `yaml:"tls,omitempty"`
	// ProxyTLS is how https:// and wss:// members' certificates are
	// checked (SSLProxy*); nil: against the system's roots. A vhost
	// without its own takes Main's.
	ProxyTLS *ProxyTLS `yaml:"proxy_tls,omitempty"`
	// AccessLogs are the host's CustomLog and TransferLog lines; a vhost
	// without any logs to Main's (Apache's inheritance), and every request
	// to the config-wide access_log besides.
	AccessLogs []*AccessLog `yaml:"access_logs,omitempty"`
	// LimitRequestBody is a vhost's own body limit in bytes (Apache's
	// LimitRequestBody in a <VirtualHost>); 0: limits.max_request_body.
	LimitRequestBody int64 `yaml:"limit_request_body,omitempty"`

	// Balancers defined in this host (<Proxy balancer://…>, ProxySet, or
	// created implicitly by a ProxyPass to an undefined balancer).
	Balancers []*Balancer `yaml:"balancers,omitempty"`

	// Managers are <Location> sections with SetHandler balancer-manager.
	Managers []Manager `yaml:"managers,omitempty"`

	// Access are the Require rules of <Location> and <Proxy> sections, in
	// config order (model_access.go).
	Access []*Access `yaml:"access,omitempty"`

	// The mod_rewrite, mod_headers and ErrorDocument subset (model_mods.go).
	Mods `yaml:",inline"`
}

// LocationProxy is what one <Location> or <LocationMatch> section sets of
// ProxyPreserveHost, ProxyAddHeaders and CGIPassAuth: for a request whose URL-path
// Scope covers (a prefix, or with ScopeMatch a regular expression), each
// flag set here overrides the host's and earlier sections' (Apache merges
// the sections that match in config order).
type LocationProxy struct {
	Pos Pos `yaml:"-"`
	// Proxy, instead of Scope, makes the entry a <Proxy> section's: it
	// covers the requests routed to the backends of that URL (as access
	// sections' proxy), before every <Location> entry.
	Proxy        string `yaml:"proxy,omitempty"`
	Scope        string `yaml:"scope,omitempty"`
	ScopeMatch   bool   `yaml:"scope_match,omitempty"`
	PreserveHost *bool  `yaml:"preserve_host,omitempty"`
	AddHeaders   *bool  `yaml:"add_headers,omitempty"`
	CGIPassAuth  *bool  `yaml:"cgi_pass_auth,omitempty"`
}

// Route is one ProxyPass or ProxyPassMatch.
type Route struct {
	Pos Pos `yaml:"-"`
	// Path is the URL-path prefix (ProxyPass) or the regular expression
	// source (Match true).
	Path  string `yaml:"path,omitempty"`
	Match bool   `yaml:"match,omitempty"`
	// Regexp is Path compiled, set when Match is true.
	Regexp *regexp.Regexp `yaml:"-"`
	// Exclude is the "!" target: matching requests are not proxied.
	Exclude bool `yaml:"exclude,omitempty"`
	// Target is the backend URL as normalized ("http://h:8080/app",
	// "balancer://name/sub"); empty when Exclude. May hold $1…$9 when Match.
	Target string `yaml:"target,omitempty"`
	// Location is true for a ProxyPass written inside <Location>.
	Location bool `yaml:"location,omitempty"`
	NoCanon  bool `yaml:"nocanon,omitempty"`
	NoQuery  bool `yaml:"noquery,omitempty"`
	// Worker holds key=value parameters for a direct (non-balancer) target.
	Worker *WorkerParams `yaml:"worker,omitempty"`
	// Files makes the route a handler, Apache's <Files> or <FilesMatch>
	// with SetHandler "proxy:URL" (Path empty): it serves a request no
	// ProxyPass took whose URL-path has a segment whose name matches Files
	// (a glob; a regular expression with FilesMatch), the file under
	// DocumentRoot that the request maps to.
	Files      string         `yaml:"files,omitempty"`
	FilesMatch bool           `yaml:"files_match,omitempty"`
	FilesRe    *regexp.Regexp `yaml:"-"` // Files compiled, with FilesMatch
}

// ReverseRule is one ProxyPassReverse: a Location, Content-Location or URI
// response header starting with URL is rewritten to start with Path.
type ReverseRule struct {
	Pos Pos `yaml:"-"`
	// Scope is the <Location> path the rule was written in, "" for server
	// level; with ScopeMatch a <LocationMatch> regular expression.
	Scope      string `yaml:"scope,omitempty"`
	ScopeMatch bool   `yaml:"scope_match,omitempty"`
	Path       string `yaml:"path"`
	URL        string `yaml:"url"` // "http://h/x" or "balancer://name[/urlpart]"
}

// CookieRule is one ProxyPassReverseCookieDomain or ProxyPassReverseCookiePath.
type CookieRule struct {
	Pos Pos `yaml:"-"`
	// Scope and ScopeMatch are as in ReverseRule.
	Scope      string `yaml:"scope,omitempty"`
	ScopeMatch bool   `yaml:"scope_match,omitempty"`
	Internal   string `yaml:"internal"`
	Public     string `yaml:"public"`
}

// ViaMode is ProxyVia.
type ViaMode string

// ProxyVia values.
const (
	ViaOff   ViaMode = "off"
	ViaOn    ViaMode = "on"
	ViaFull  ViaMode = "full"
	ViaBlock ViaMode = "block"
)

// Balancer is one balancer://name group.
type Balancer struct {
	Pos  Pos    `yaml:"-"`
	Name string `yaml:"name"` // lower-cased, without scheme: "mycluster"
	// Host tells this balancer apart from those of the same name that
	// other hosts define (each <VirtualHost> has its own, as in Apache):
	// set when loading, to the host's name and port, only where the name
	// is defined more than once (see ID).
	Host string `yaml:"-"`

	Members []*Member `yaml:"members"`
	// ProxyTLS is how the members' certificates are checked when the
	// balancer's <Proxy> section says (SSLProxy*); nil: the host's.
	ProxyTLS *ProxyTLS `yaml:"proxy_tls,omitempty"`

	LBMethod string `yaml:"lbmethod,omitempty"` // byrequests (default), bytraffic, bybusyness, heartbeat
	// MaxAttempts is the number of extra attempts after the first. Nil means
	// Apache's default: members-1 (0 for one member).
	MaxAttempts     *int     `yaml:"maxattempts,omitempty"`
	NoFailover      bool     `yaml:"nofailover,omitempty"`
	StickyCookie    string   `yaml:"sticky_cookie,omitempty"`    // stickysession=C|U: C
	StickyURLParam  string   `yaml:"sticky_urlparam,omitempty"`  // stickysession=C|U: U
	StickySep       string   `yaml:"stickysessionsep,omitempty"` // default "."; Off is StickySepOff
	StickySepOff    bool     `yaml:"stickysessionsep_off,omitempty"`
	SColonPathDelim bool     `yaml:"scolonpathdelim,omitempty"`
	Timeout         Duration `yaml:"timeout,omitempty"` // wait for a usable member
	FailOnStatus    []int    `yaml:"failonstatus,omitempty"`
	FailOnTimeout   bool     `yaml:"failontimeout,omitempty"`
	ForceRecovery   bool     `yaml:"forcerecovery"` // default On
	Nonce           string   `yaml:"nonce,omitempty"`
	Growth          int      `yaml:"growth,omitempty"`

	// What Apache cannot say; YAML only.

	// RetryIdempotent retries an idempotent request whose body is in
	// memory on another member when the attempt failed after it was sent
	// (connection reset or closed, read timeout) but before any response
	// byte reached the client. Apache never does (apache.md §4.6).
	RetryIdempotent bool `yaml:"retry_idempotent,omitempty"`
	// StickySetCookie makes sluice set StickyCookie to the chosen member's
	// route when the request was not routed to it, as Apache does with
	// mod_headers and BALANCER_ROUTE_CHANGED.
	StickySetCookie bool `yaml:"sticky_set_cookie,omitempty"`
}

// Member is one BalancerMember.
type Member struct {
	Pos Pos `yaml:"-"`
	// URL is the normalized worker name: scheme and host lower-cased,
	// default port dropped, path kept ("http://b1:8080", "http://h/app/").
	URL    string       `yaml:"url"`
	Params WorkerParams `yaml:",inline"`
}

// WorkerParams are the worker key=value parameters of BalancerMember and
// ProxyPass (apache.md §2). Zero durations mean "inherit" where noted.
type WorkerParams struct {
	LoadFactor float64 `yaml:"loadfactor,omitempty"` // 1..100, default 1
	LBSet      int     `yaml:"lbset,omitempty"`      // 0..99
	Route      string  `yaml:"route,omitempty"`
	Redirect   string  `yaml:"redirect,omitempty"`
	// Status is the initial flag string as normalized, e.g. "+H", "+D-E".
	Status string   `yaml:"status,omitempty"`
	Retry  Duration `yaml:"retry,omitempty"` // default 60s; "0s" allowed
	// RetrySet distinguishes retry=0 from unset.
	RetrySet bool `yaml:"-"`

	Timeout           Duration `yaml:"timeout,omitempty"`           // backend I/O; 0 = ProxyTimeout
	ConnectionTimeout Duration `yaml:"connectiontimeout,omitempty"` // 0 = Timeout
	Acquire           Duration `yaml:"acquire,omitempty"`           // wait for a pooled connection; 0 = Timeout (docs/compatibility.md)
	Ping              Duration `yaml:"ping,omitempty"`
	Max               int      `yaml:"max,omitempty"` // max connections; 0 = unlimited
	Min               int      `yaml:"min,omitempty"`
	SMax              int      `yaml:"smax,omitempty"`
	TTL               Duration `yaml:"ttl,omitempty"` // idle connection lifetime
	DisableReuse      bool     `yaml:"disablereuse,omitempty"`
	// Secret is an ajp:// member's secret (Tomcat's requiredSecret).
	Secret string `yaml:"secret,omitempty"`
	// EnableReuse is enablereuse=on (or disablereuse=off) said outright:
	// an fcgi:// member's connections are kept only then, as in Apache.
	EnableReuse bool   `yaml:"enablereuse,omitempty"`
	KeepAlive   bool   `yaml:"keepalive,omitempty"` // SO_KEEPALIVE
	Upgrade     string `yaml:"upgrade,omitempty"`   // "websocket", "*" for ANY

	HCMethod   string   `yaml:"hcmethod,omitempty"` // NONE, TCP, OPTIONS, HEAD, GET, OPTIONS11, HEAD11, GET11
	HCInterval Duration `yaml:"hcinterval,omitempty"`
	HCPasses   int      `yaml:"hcpasses,omitempty"`
	HCFails    int      `yaml:"hcfails,omitempty"`
	HCURI      string   `yaml:"hcuri,omitempty"`
	HCExpr     string   `yaml:"hcexpr,omitempty"`
	HCTemplate string   `yaml:"hctemplate,omitempty"`
}

// Manager is a balancer-manager location.
type Manager struct {
	Pos     Pos      `yaml:"-"`
	Path    string   `yaml:"path"`
	Require []string `yaml:"require,omitempty"` // "ip 127.0.0.1", "host example.com", "all granted"
	// TLSOnly is SSLRequireSSL: 403 for a request not over TLS.
	TLSOnly bool `yaml:"tls_only,omitempty"`
}

// HCExpr is one ProxyHCExpr.
type HCExpr struct {
	Pos  Pos    `yaml:"-"`
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`
}

// HCTemplate is one ProxyHCTemplate.
type HCTemplate struct {
	Pos    Pos          `yaml:"-"`
	Name   string       `yaml:"name"`
	Params WorkerParams `yaml:",inline"`
}

// Admin is the JSON admin API listener (YAML only). It is off unless
// Listen is set. Off loopback a bearer token is required: Token itself, or
// read at start from TokenFile or the environment variable TokenEnv (at
// most one of the three).
type Admin struct {
	// Listen is host:port (port 0: the kernel picks) or unix:/path.
	Listen    string `yaml:"listen,omitempty"`
	Token     string `yaml:"token,omitempty"`
	TokenFile string `yaml:"token_file,omitempty"`
	TokenEnv  string `yaml:"token_env,omitempty"`
	// Hosts are extra host names the admin answers to; requests with any
	// other Host (except loopback and the listen address) are refused,
	// which defeats DNS rebinding.
	Hosts []string `yaml:"hosts,omitempty"`
	// MemberNetworks (CIDRs) is where members added through the admin API
	// may connect; empty refuses loopback, link-local and the like only.
	MemberNetworks []string `yaml:"member_networks,omitempty"`
	// TLS makes the admin listener speak TLS (a reload reads its files
	// again); off loopback without it the token crosses the network in
	// clear, which is warned about.
	TLS *TLS `yaml:"tls,omitempty"`
}

// HasToken reports whether a bearer token is configured.
func (a Admin) HasToken() bool { return a.Token != "" || a.TokenFile != "" || a.TokenEnv != "" }

// Metrics is a listener of its own for the Prometheus metrics (YAML
// only), besides /metrics on the admin listener. It is off unless Listen
// is set; off loopback it needs the admin token.
type Metrics struct {
	// Listen is host:port (port 0: the kernel picks).
	Listen string `yaml:"listen,omitempty"`
	// Path is where the metrics are served (default /metrics).
	Path string `yaml:"path,omitempty"`
}

// AccessLog configures request logging: the config-wide access_log, or
// one CustomLog / TransferLog of a host.
type AccessLog struct {
	Pos Pos `yaml:"-"`
	// Path is a file, "stdout", or "" for none.
	Path string `yaml:"path,omitempty"`
	// Format is "combined" (the default), "common", "json", a nickname
	// Debian's apache2.conf defines (vhost_combined, referer, agent), or
	// an Apache LogFormat string ("%h %t \"%r\" %>s %D").
	Format string `yaml:"format,omitempty"`
	// Env logs only the requests where the variable is set ("VAR") or
	// not ("!VAR"): CustomLog's env=.
	Env string `yaml:"env,omitempty"`
}

// Limits bound what a client may send.
type Limits struct {
	MaxRequestBody         int64 `yaml:"max_request_body,omitempty"`          // bytes; 413 above; default 1 GiB (Apache's LimitRequestBody)
	MaxHeaderBytes         int   `yaml:"max_header_bytes,omitempty"`          // request head; 431 above; default 16 KiB
	MaxConns               int   `yaml:"max_conns,omitempty"`                 // concurrent client connections; default 16384
	MaxConnsPerIP          int   `yaml:"max_conns_per_ip,omitempty"`          // 0 = no per-IP cap (the default)
	MaxResponseHeaderBytes int   `yaml:"max_response_header_bytes,omitempty"` // backend response head; 502 above; default 16 KiB
}

// Timeouts on the client side, and the shutdown drain.
type Timeouts struct {
	ClientHeader Duration `yaml:"client_header,omitempty"` // read the request head; default 30s
	ClientBody   Duration `yaml:"client_body,omitempty"`   // between body reads; default 60s
	ClientIdle   Duration `yaml:"client_idle,omitempty"`   // keep-alive idle; default 75s
	ClientPark   Duration `yaml:"client_park,omitempty"`   // keep-alive idle before the connection parks; default 100ms
	ClientWrite  Duration `yaml:"client_write,omitempty"`  // default 60s
	Drain        Duration `yaml:"drain,omitempty"`         // SIGTERM drain deadline; default 30s
}

// Pos is where a directive or key was written.
type Pos struct {
	File string
	Line int
}

// String is "file:line", or "file" when the line is unknown.
func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Duration is a time.Duration written as Go duration text in YAML ("1.5s").
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ID names the balancer across the configuration: its Name, or
// "name@host" where several hosts define that name (the main server's
// keeps the plain name). Member state, the admin API, the state file,
// fleet records and metrics go by it; BALANCER_NAME and ProxyPass by Name.
func (b *Balancer) ID() string {
	if b.Host == "" {
		return b.Name
	}
	return b.Name + "@" + b.Host
}

// Balancer returns the balancer of h named name (lower-case, no scheme), or
// nil. It looks in h only: inheritance from Main is the caller's business.
func (h *Host) Balancer(name string) *Balancer {
	for _, b := range h.Balancers {
		if b.Name == name {
			return b
		}
	}
	return nil
}
