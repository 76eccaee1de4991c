package config

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/modrewrite"
)

// maxErrorDocument bounds an ErrorDocument file: it is held in memory.
const maxErrorDocument = 1 << 20

// compileMods compiles every host's rewrite and header rules (a rule
// outside sluice's subset is an error naming its line) and reads the
// ErrorDocument files.
func (c *checker) compileMods() error {
	// The variables SetEnvIf lines set, config-wide, before the Header
	// rules that read them compile.
	c.vars = modheaders.NewVars()
	c.cfg.vars = c.vars
	for _, h := range c.cfg.hosts() {
		for _, se := range h.SetEnvIf {
			for _, a := range se.Assignments {
				name := modheaders.AssignedVar(a)
				if _, err := c.vars.Define(name); err != nil {
					return c.modsError(se, se.Pos, "SetEnvIf", se.Attribute+" "+se.Regex, err)
				}
				if why, ok := ignoredEnv[strings.ToLower(name)]; ok && !strings.HasPrefix(a, "!") {
					c.warn(se.Pos, "%s: sluice does not act on it (%s)", name, why)
				}
			}
		}
	}
	// RewriteRules first: their [E=] flags set variables too.
	for _, h := range c.cfg.hosts() {
		sets := h.LocationRewrites
		if h.Rewrite != nil {
			sets = append([]*Rewrite{h.Rewrite}, sets...)
		}
		for _, rw := range sets {
			if rw != h.Rewrite && rw.Scope == "" {
				return c.fail(rw, rw.Pos, "scope", "", "a <Location> rule set needs its path")
			}
			if err := c.compileRewrite(rw); err != nil {
				return err
			}
		}
	}
	for _, h := range c.cfg.hosts() {
		for _, se := range h.SetEnvIf {
			if se.ScopeMatch {
				if _, err := regexp.Compile(se.Scope); err != nil {
					return c.fail(se, se.Pos, "scope", se.Scope, "cannot compile regex: %v", err)
				}
			}
			rule, err := modheaders.CompileEnv(modheaders.EnvSpec{Attribute: se.Attribute, Regex: se.Regex, NoCase: se.NoCase,
				Assignments: se.Assignments, Vars: c.vars})
			if err != nil {
				return c.modsError(se, se.Pos, "SetEnvIf", strings.Join(append([]string{se.Attribute, se.Regex}, se.Assignments...), " "), err)
			}
			se.Compiled = rule
		}
		for _, hr := range h.Headers {
			if err := c.compileHeader(hr, false); err != nil {
				return err
			}
		}
		for _, hr := range h.RequestHeaders {
			if err := c.compileHeader(hr, true); err != nil {
				return err
			}
		}
		if err := c.errorDocuments(h); err != nil {
			return err
		}
		for _, r := range h.Redirects {
			if err := c.redirect(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// redirect checks a Redirect as mod_alias does: a 3xx status needs a URL,
// absolute or starting with /, any other status (410, 403…) takes none.
func (c *checker) redirect(r *Redirect) error {
	var err error
	switch {
	case r.Status < 300 || r.Status > 599:
		err = fmt.Errorf("status %d: must be permanent, temp, seeother, gone or a status from 300 to 599", r.Status)
	case r.Status < 400 && r.URL == "":
		err = errors.New("a redirect (3xx) needs a URL")
	case r.Status >= 400 && r.URL != "":
		err = fmt.Errorf("a %d takes no URL", r.Status)
	case r.URL != "" && !strings.HasPrefix(r.URL, "/") && !strings.Contains(r.URL, "://"):
		err = fmt.Errorf("URL %q must be absolute or start with /", r.URL)
	case r.Path == "":
		err = errors.New("needs a URL-path")
	case r.Match:
		re, cerr := regexp.Compile(r.Path)
		if cerr != nil {
			err = fmt.Errorf("cannot compile regex %q: %w", r.Path, cerr)
		}
		r.Regexp = re
	case !strings.HasPrefix(r.Path, "/"):
		err = fmt.Errorf("URL-path %q must start with /", r.Path)
	}
	if err == nil {
		return nil
	}
	name := "Redirect"
	if r.Match {
		name = "RedirectMatch"
	}
	return c.modsError(r, r.Pos, name, strings.TrimSpace(strconv.Itoa(r.Status)+" "+r.Path+" "+r.URL), err)
}

func (c *checker) compileRewrite(rw *Rewrite) error {
	switch rw.Inherit {
	case "", "inherit", "inheritbefore":
	default:
		return c.fail(rw, rw.Pos, "inherit", rw.Inherit, "must be inherit or inheritbefore")
	}
	if rw.ScopeMatch {
		if _, err := regexp.Compile(rw.Scope); err != nil {
			return c.fail(rw, rw.Pos, "scope", rw.Scope, "cannot compile regex: %v", err)
		}
	}
	rules := make([]*modrewrite.Rule, 0, len(rw.Rules))
	rw.EnvVars = nil
	for _, r := range rw.Rules {
		conds := make([]*modrewrite.Cond, 0, len(r.Conds))
		for i := range r.Conds {
			rc := &r.Conds[i]
			cond, err := modrewrite.CompileCond(rc.Test, rc.Pattern, rc.Flags)
			if err != nil {
				return c.modsError(rc, rc.Pos, "RewriteCond", rc.Test+" "+rc.Pattern, err)
			}
			conds = append(conds, cond)
		}
		rule, err := modrewrite.CompileRule(r.Pattern, r.Substitution, r.Flags, conds)
		if err != nil {
			return c.modsError(r, r.Pos, "RewriteRule", r.Pattern+" "+r.Substitution, err)
		}
		for _, name := range rule.EnvNames() {
			v, err := c.vars.Define(name)
			if err != nil {
				return c.modsError(r, r.Pos, "RewriteRule", r.Pattern+" "+r.Substitution, err)
			}
			if rw.EnvVars == nil {
				rw.EnvVars = map[*modrewrite.Rule][]modheaders.Var{}
			}
			rw.EnvVars[rule] = append(rw.EnvVars[rule], v)
		}
		rules = append(rules, rule)
	}
	rw.Compiled = modrewrite.NewRules(rules)
	return nil
}

func (c *checker) compileHeader(hr *HeaderRule, request bool) error {
	key := "Header"
	if request {
		key = "RequestHeader"
	}
	if hr.ScopeMatch {
		if _, err := regexp.Compile(hr.Scope); err != nil {
			return c.fail(hr, hr.Pos, "scope", hr.Scope, "cannot compile regex: %v", err)
		}
	}
	rule, err := modheaders.Compile(modheaders.Spec{Always: hr.Always, Action: hr.Action, Name: hr.Name,
		Regex: hr.Regex, Value: hr.Value, Cond: hr.Cond, Request: request, Vars: c.vars})
	if err != nil {
		what := []string{hr.Action, hr.Name}
		for _, s := range []string{hr.Regex, hr.Value} {
			if s != "" {
				what = append(what, s)
			}
		}
		return c.modsError(hr, hr.Pos, key, strings.Join(what, " "), err)
	}
	hr.Compiled = rule
	if request && (strings.EqualFold(hr.Name, "Content-Length") || strings.EqualFold(hr.Name, "Transfer-Encoding")) {
		c.warn(hr.Pos, "RequestHeader %s %s is ignored: sluice frames the request's body itself, as mod_proxy does", hr.Action, hr.Name)
	}
	return nil
}

// modsError names the directive for Apache input and the key for YAML.
func (c *checker) modsError(owner any, pos Pos, directive, value string, err error) *Error {
	if c.idx != nil {
		return c.fail(owner, pos, strings.ToLower(directive), value, "%v", err)
	}
	return &Error{Pos: pos, Key: directive, Value: value, Msg: err.Error()}
}

// errorDocuments checks each ErrorDocument and reads the files, which are
// served from memory; a file that cannot be read is a warning, and the
// built-in page is served instead.
func (c *checker) errorDocuments(h *Host) error {
	root := h.DocumentRoot
	if root == "" {
		root = c.cfg.Main.DocumentRoot
	}
	for _, e := range h.ErrorDocuments {
		n := 0
		for _, s := range []string{e.Path, e.URL, e.Message} {
			if s != "" {
				n++
			}
		}
		if e.Default {
			n++
		}
		switch {
		case e.Status < 400 || e.Status > 599:
			return c.fail(e, e.Pos, "status", "", "must be an error status between 400 and 599")
		case n != 1:
			return c.fail(e, e.Pos, "path", e.Path, "needs exactly one of path, url, message and default")
		case e.Path != "" && !strings.HasPrefix(e.Path, "/"):
			return c.fail(e, e.Pos, "path", e.Path, "must start with /")
		case e.ScopeMatch:
			if _, err := regexp.Compile(e.Scope); err != nil {
				return c.fail(e, e.Pos, "scope", e.Scope, "cannot compile regex: %v", err)
			}
		case e.Scope != "" && !strings.HasPrefix(e.Scope, "/"):
			return c.fail(e, e.Pos, "scope", e.Scope, "must be a URL-path starting with /")
		}
		if e.Path == "" {
			continue
		}
		e.Body = nil
		if root == "" {
			c.warn(e.Pos, "ErrorDocument %d %s: no DocumentRoot, the built-in page is served", e.Status, e.Path)
			continue
		}
		file := path.Join(root, path.Clean(e.Path))
		info, err := os.Stat(file)
		if err == nil && (!info.Mode().IsRegular() || info.Size() > maxErrorDocument) {
			c.warn(e.Pos, "ErrorDocument %d %s: %s is not a regular file of at most %d bytes, the built-in page is served", e.Status, e.Path, file, maxErrorDocument)
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			c.warn(e.Pos, "ErrorDocument %d %s: cannot read %s, the built-in page is served", e.Status, e.Path, file)
			continue
		}
		e.Body = body
	}
	return nil
}

func (c *checker) warn(pos Pos, format string, a ...any) {
	if pos.File == "" {
		pos.File = c.cfg.Source
	}
	w := pos.String() + ": " + fmt.Sprintf(format, a...)
	for _, old := range c.cfg.Warnings {
		if old == w {
			return
		}
	}
	c.cfg.Warnings = append(c.cfg.Warnings, w)
}

// ignoredEnv are the variables with which Apache changes how it proxies or
// answers, but sluice does not (proxy-nokeepalive it does act on).
var ignoredEnv = map[string]string{
	"force-proxy-request-1.0":  "members are sent HTTP/1.1",
	"proxy-sendchunked":        "request bodies go as the client framed them",
	"proxy-sendcl":             "request bodies go as the client framed them",
	"proxy-initial-not-pooled": "a pooled connection found closed is retried on a fresh one",
	"proxy-interim-response":   "sluice handles a member's 1xx answers its own way",
	"proxy-chain-auth":         "Proxy-Authorization is never forwarded",
	"downgrade-1.0":            "clients are answered in HTTP/1.1",
	"force-response-1.0":       "clients are answered in HTTP/1.1",
	"nokeepalive":              "client keep-alive follows the client",
	"proxy-fcgi-pathinfo":      "fcgi:// members get PATH_INFO only through a <Files>/<FilesMatch> handler",
}
