// Package modrewrite is the proxy subset of Apache's mod_rewrite:
// RewriteCond and RewriteRule with back-references, server variables and
// the flags reverse-proxy configs use (P, L, END, PT, QSA, QSD, NE, NC,
// R, F, G, E, UnsafeAllow3F). Anything else fails to compile with a message
// saying what is missing, so a config never silently loses a rule.
package modrewrite

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Rule is one compiled RewriteRule with its conditions.
type Rule struct {
	conds   []*Cond
	re      *regexp.Regexp
	negate  bool
	subst   template
	noSubst bool // "-"
	// noGroups is set when nothing reads $N: the pattern is only tested
	// (see Cond.noGroups). always: the pattern matches every path (".*",
	// "^"), so testing it is skipped; Go's backtracker spent some 1,000
	// instructions to find so.
	noGroups, always bool
	flags            Flags
	// balancer is the balancer name of a [P] rule to balancer://name;
	// origin is the scheme://host[:port] of a [P] rule to a URL. Both are
	// literal in the substitution, so a rule can never proxy to a host
	// taken from the request.
	balancer string
	origin   string
	// envs are the [E=] flags, in the order written.
	envs []envFlag
}

// envFlag is one [E=VAR:VAL] (VAL expanded as a substitution is), [E=VAR]
// (an empty value) or [E=!VAR] (unset).
type envFlag struct {
	name  string
	unset bool
	value template
}

// EnvNames are the variables the rule's [E=] flags set or unset, in the
// order written; State.Env refers to them by index.
func (r *Rule) EnvNames() []string {
	names := make([]string, len(r.envs))
	for i, e := range r.envs {
		names[i] = e.name
	}
	return names
}

// Flags are a rule's parsed flags.
type Flags struct {
	Proxy, Last, PassThrough, QSAppend, QSDiscard, NoEscape, NoCase bool
	Forbidden, Gone, Unsafe3F                                       bool
	// End ([END]) is Last for the rest of the request: later phases (the
	// <Location> rules) run none either.
	End bool
	// Redirect is the [R] status, 0 without R.
	Redirect int
}

// Balancer is the balancer name of a [P] rule to balancer://name, or "".
func (r *Rule) Balancer() string { return r.balancer }

// Origin is scheme://host[:port] of a [P] rule to a URL, or "".
func (r *Rule) Origin() string { return r.origin }

// Flags returns the rule's flags.
func (r *Rule) Flags() Flags { return r.flags }

// CompileRule compiles RewriteRule Pattern Substitution [flags] with the
// conditions written before it.
func CompileRule(pattern, subst, flags string, conds []*Cond) (*Rule, error) {
	r := &Rule{conds: conds}
	if err := r.parseFlags(flags); err != nil {
		return nil, err
	}
	if p, ok := strings.CutPrefix(pattern, "!"); ok {
		r.negate, pattern = true, p
	}
	src := pattern
	if r.flags.NoCase {
		src = "(?i)" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("cannot compile regex %q: %w", pattern, err)
	}
	r.re = re
	r.always = matchesAll(re)
	if subst == "-" {
		r.noSubst = true
		if r.flags.Proxy {
			return nil, errors.New(`[P] needs a substitution URL, not "-"`)
		}
		r.markGroups()
		return r, nil
	}
	t, err := parseTemplate(subst)
	if err != nil {
		return nil, err
	}
	r.subst = t
	if r.flags.Proxy {
		if err := r.proxyTarget(subst); err != nil {
			return nil, err
		}
	}
	r.markGroups()
	return r, nil
}

// markGroups notes which regexes' groups nothing reads: $N in the
// substitution or a condition's test string reads the rule's, %N there
// the last matched condition's.
func (r *Rule) markGroups() {
	ruleRefs, condRefs := r.subst.refers(segRuleRef), r.subst.refers(segCondRef)
	for _, e := range r.envs {
		ruleRefs = ruleRefs || e.value.refers(segRuleRef)
		condRefs = condRefs || e.value.refers(segCondRef)
	}
	for _, c := range r.conds {
		ruleRefs = ruleRefs || c.test.refers(segRuleRef)
		condRefs = condRefs || c.test.refers(segCondRef)
	}
	r.noGroups = !ruleRefs
	for _, c := range r.conds {
		c.noGroups = !condRefs
	}
}

// matchesAll reports whether re finds a match in every string: it starts,
// after an optional ^, with nothing but parts that may match nothing
// (".*", "^", "(.*)"), so it matches at the start of any input.
func matchesAll(re *regexp.Regexp) bool {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return false
	}
	parts := []*syntax.Regexp{t}
	if t.Op == syntax.OpConcat {
		parts = t.Sub
	}
	for i, p := range parts {
		for p.Op == syntax.OpCapture {
			p = p.Sub[0]
		}
		switch {
		case p.Op == syntax.OpBeginText && i == 0, p.Op == syntax.OpBeginLine && i == 0:
		case p.Op == syntax.OpEmptyMatch, p.Op == syntax.OpStar, p.Op == syntax.OpQuest:
		case p.Op == syntax.OpRepeat && p.Min == 0:
		default:
			return false
		}
	}
	return true
}

// proxyTarget checks a [P] substitution: balancer://name/… or
// http(s)/ws(s)://host[:port]/… with the scheme and authority written out.
func (r *Rule) proxyTarget(subst string) error {
	lit := r.subst.literalPrefix()
	scheme, rest, ok := strings.Cut(lit, "://")
	if !ok {
		return fmt.Errorf("[P] target %q must start with a literal scheme://host (http, https, ws, wss, fcgi or balancer)", subst)
	}
	// The authority may run into a back-reference or variable
	// (balancer://galaxy$1): the expanded target must then go on with / or
	// ?, which Apply checks, so a request can never extend the host.
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if host == "" {
		return fmt.Errorf("[P] target %q has no host", subst)
	}
	switch s := strings.ToLower(scheme); s {
	case "balancer":
		r.balancer = strings.ToLower(host)
	case "http", "https", "ws", "wss", "fcgi":
		r.origin = s + "://" + strings.ToLower(host)
	default:
		return fmt.Errorf("[P] target %q: scheme %q is not supported: use http://", subst, scheme)
	}
	return nil
}

// prefixLen is how many bytes of an expanded [P] target are the scheme and
// authority.
func (r *Rule) prefixLen() int {
	if r.balancer != "" {
		return len("balancer://") + len(r.balancer)
	}
	return len(r.origin)
}

// splitFlags reads "[P,L]" (brackets optional) into its flags.
func splitFlags(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// unsupportedFlags explain the flags sluice refuses.
var unsupportedFlags = map[string]string{
	"c": "chain", "chain": "chain", "co": "cookie", "cookie": "cookie",
	"h": "handler", "handler": "handler", "n": "next", "next": "next", "s": "skip", "skip": "skip",
	"t": "type", "type": "type", "b": "escape backreferences", "bnp": "escape backreferences",
	"bctls": "escape backreferences", "bne": "escape backreferences", "dpi": "discardpath",
	"discardpath": "discardpath", "qsl": "qslast", "qslast": "qslast",
}

// parseEnv reads an [E=] flag's VAR:VAL, VAR or !VAR.
func (r *Rule) parseEnv(val string, hasVal bool) error {
	name, value, _ := strings.Cut(val, ":")
	e := envFlag{name: name}
	if n, ok := strings.CutPrefix(name, "!"); ok {
		e.name, e.unset = n, true
	}
	if !hasVal || !validEnvName(e.name) || e.unset && value != "" {
		return fmt.Errorf("flag [E=%s] must be E=VAR:VAL, E=VAR or E=!VAR with VAR made of letters, digits and _", val)
	}
	t, err := parseTemplate(value)
	if err != nil {
		return fmt.Errorf("flag [E=%s]: %w", val, err)
	}
	e.value = t
	r.envs = append(r.envs, e)
	return nil
}

func validEnvName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z') && !('0' <= c && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

func (r *Rule) parseFlags(s string) error {
	f := &r.flags
	for _, raw := range splitFlags(s) {
		name, val, hasVal := strings.Cut(raw, "=")
		switch lower := strings.ToLower(name); lower {
		case "p", "proxy":
			f.Proxy = true
		case "l", "last":
			f.Last = true
		case "end":
			f.Last, f.End = true, true
		case "pt", "passthrough":
			f.PassThrough = true
		case "qsa", "qsappend":
			f.QSAppend = true
		case "qsd", "qsdiscard":
			f.QSDiscard = true
		case "ne", "noescape":
			f.NoEscape = true
		case "nc", "nocase":
			f.NoCase = true
		case "ns", "nosubreq":
			// sluice makes no subrequests: the flag changes nothing.
		case "f", "forbidden":
			f.Forbidden = true
		case "g", "gone":
			f.Gone = true
		case "unsafeallow3f":
			f.Unsafe3F = true
		case "r", "redirect":
			code, err := redirectCode(val, hasVal)
			if err != nil {
				return err
			}
			f.Redirect = code
		case "e", "env":
			if err := r.parseEnv(val, hasVal); err != nil {
				return err
			}
		default:
			if what, ok := unsupportedFlags[lower]; ok {
				return fmt.Errorf("RewriteRule flag %q (%s) is not supported (allowed: P, L, END, PT, QSA, QSD, NE, NC, NS, R[=code], F, G, E=VAR[:VAL], UnsafeAllow3F)", raw, what)
			}
			return fmt.Errorf("unknown RewriteRule flag %q (allowed: P, L, END, PT, QSA, QSD, NE, NC, NS, R[=code], F, G, E=VAR[:VAL], UnsafeAllow3F)", raw)
		}
	}
	if f.Proxy && f.Redirect != 0 {
		return errors.New("[P] and [R] cannot be combined")
	}
	return nil
}

func redirectCode(val string, hasVal bool) (int, error) {
	if !hasVal {
		return 302, nil
	}
	switch strings.ToLower(val) {
	case "permanent":
		return 301, nil
	case "temp":
		return 302, nil
	case "seeother":
		return 303, nil
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 300 || n > 599 {
		return 0, fmt.Errorf("[R=%s] needs a status between 300 and 599, or permanent, temp, seeother", val)
	}
	return n, nil
}
