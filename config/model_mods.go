package config

import (
	"regexp"

	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/modrewrite"
)

// Mods is what a host holds of mod_rewrite, mod_headers and the core's
// ErrorDocument: the subset reverse-proxy configs use. The Compiled fields
// are filled when the config loads; the server runs those.
type Mods struct {
	// Rewrite is the server or vhost RewriteEngine / RewriteOptions /
	// RewriteRule set. A vhost runs the main server's rules only with
	// RewriteOptions Inherit (after its own) or InheritBefore, as Apache.
	Rewrite *Rewrite `yaml:"rewrite,omitempty"`
	// LocationRewrites are the rule sets of <Location> sections; they run
	// after the host's rules and take precedence over ProxyPass.
	LocationRewrites []*Rewrite `yaml:"location_rewrites,omitempty"`
	// Headers are Header directives (response), RequestHeaders the
	// RequestHeader ones, in config order. A vhost runs Main's first.
	Headers        []*HeaderRule `yaml:"headers,omitempty"`
	RequestHeaders []*HeaderRule `yaml:"request_headers,omitempty"`
	// ErrorDocuments replace sluice's error pages; a vhost falls back to
	// Main's for a status it does not set.
	ErrorDocuments []*ErrorDocument `yaml:"error_documents,omitempty"`
	// DocumentRoot is where ErrorDocument paths are read (inherited by
	// vhosts that do not set it).
	DocumentRoot string `yaml:"document_root,omitempty"`
	// Redirects are mod_alias's Redirect and RedirectMatch, in config
	// order; a vhost runs its own, then Main's.
	Redirects []*Redirect `yaml:"redirects,omitempty"`
	// SetEnvIf are mod_setenvif's SetEnvIf and SetEnvIfNoCase lines; a
	// vhost runs Main's, then its own.
	SetEnvIf []*SetEnvIf `yaml:"set_env_if,omitempty"`
}

// SetEnvIf is one SetEnvIf or SetEnvIfNoCase line: when Attribute (a
// request header, Remote_Addr, Request_Method or Request_URI) matches
// Regex, the variables are set ("VAR=value", $0..$9 read the match; "VAR"
// sets 1) or unset ("!VAR"), for Header and RequestHeader rules' env= and
// %{VAR}e.
type SetEnvIf struct {
	Pos Pos `yaml:"-"`
	// Scope is the <Location> path (a regular expression with ScopeMatch)
	// the line applies under; "" at host level.
	Scope       string   `yaml:"scope,omitempty"`
	ScopeMatch  bool     `yaml:"scope_match,omitempty"`
	Attribute   string   `yaml:"attribute"`
	Regex       string   `yaml:"regex"`
	NoCase      bool     `yaml:"nocase,omitempty"`
	Assignments []string `yaml:"set"`
	// Compiled is the line compiled.
	Compiled *modheaders.EnvRule `yaml:"-"`
}

// Redirect is one Redirect or RedirectMatch: a request whose URL-path
// Path covers (a prefix, or with Match a regular expression) and that no
// ProxyPass takes is answered Status with Location URL, the rest of the
// path appended (with Match, URL's $0..$9 filled in) and the query kept.
// A status outside 300–399 has no URL.
type Redirect struct {
	Pos    Pos    `yaml:"-"`
	Status int    `yaml:"status"`
	Path   string `yaml:"path"`
	Match  bool   `yaml:"match,omitempty"`
	URL    string `yaml:"url,omitempty"`
	// Regexp is Path compiled, with Match.
	Regexp *regexp.Regexp `yaml:"-"`
}

// Rewrite is one context's mod_rewrite configuration.
type Rewrite struct {
	Pos Pos `yaml:"-"`
	// Scope is the <Location> path (or regular expression with
	// ScopeMatch) the rules apply under; "" at host level.
	Scope      string `yaml:"scope,omitempty"`
	ScopeMatch bool   `yaml:"scope_match,omitempty"`
	Engine     bool   `yaml:"engine"`
	// Inherit is RewriteOptions: "" (none), "inherit" or "inheritbefore".
	Inherit string         `yaml:"inherit,omitempty"`
	Rules   []*RewriteRule `yaml:"rules,omitempty"`
	// Compiled is Rules compiled, in order; EnvVars gives each compiled
	// rule with [E=] flags the variables of its EnvNames, for Header rules.
	Compiled *modrewrite.Rules                     `yaml:"-"`
	EnvVars  map[*modrewrite.Rule][]modheaders.Var `yaml:"-"`
}

// RewriteRule is one RewriteRule with the RewriteCond lines before it.
type RewriteRule struct {
	Pos          Pos           `yaml:"-"`
	Conds        []RewriteCond `yaml:"conds,omitempty"`
	Pattern      string        `yaml:"pattern"`
	Substitution string        `yaml:"substitution"`
	Flags        string        `yaml:"flags,omitempty"` // "P,L", without brackets
}

// RewriteCond is one RewriteCond.
type RewriteCond struct {
	Pos     Pos    `yaml:"-"`
	Test    string `yaml:"test"`
	Pattern string `yaml:"pattern"`
	Flags   string `yaml:"flags,omitempty"`
}

// HeaderRule is one Header or RequestHeader directive.
type HeaderRule struct {
	Pos        Pos    `yaml:"-"`
	Scope      string `yaml:"scope,omitempty"`
	ScopeMatch bool   `yaml:"scope_match,omitempty"`
	Always     bool   `yaml:"always,omitempty"`
	Action     string `yaml:"action"`
	Name       string `yaml:"name"`
	// Regex is edit's and edit*'s regular expression; Value is then the
	// replacement ($1..$9).
	Regex string `yaml:"regex,omitempty"`
	Value string `yaml:"value,omitempty"`
	// Cond is env=VAR or env=!VAR.
	Cond     string           `yaml:"cond,omitempty"`
	Compiled *modheaders.Rule `yaml:"-"`
}

// ErrorDocument is one ErrorDocument: exactly one of Path (served from
// DocumentRoot), URL (a redirect), Message and Default.
type ErrorDocument struct {
	Pos    Pos `yaml:"-"`
	Status int `yaml:"status"`
	// Scope is the <Location> path (a regular expression with ScopeMatch)
	// the document applies under, over the host's; "" at host level.
	Scope      string `yaml:"scope,omitempty"`
	ScopeMatch bool   `yaml:"scope_match,omitempty"`
	Path       string `yaml:"path,omitempty"`
	URL        string `yaml:"url,omitempty"`
	Message    string `yaml:"message,omitempty"`
	// Default is Apache's "ErrorDocument 503 default": the built-in page,
	// also where the main server set a document for the status.
	Default bool `yaml:"default,omitempty"`
	// Body is the file DocumentRoot+Path, read when the config loads;
	// nil when it could not be read (a warning says so).
	Body []byte `yaml:"-"`
}
