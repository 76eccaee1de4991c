package config

import (
	"strconv"
	"strings"
)

// modsState is what the parser keeps between mod_rewrite lines: the
// RewriteCond lines waiting for their RewriteRule, and which hosts wrote
// RewriteEngine or RewriteOptions themselves.
type modsState struct {
	conds      []RewriteCond
	condCtx    *Rewrite
	engineSet  map[*Host]bool
	optionsSet map[*Host]bool
	locRewrite map[*location]*Rewrite
}

func init() {
	for _, s := range []directiveSpec{
		{name: "RewriteEngine", fn: (*apacheParser).rewriteEngine},
		{name: "RewriteOptions", fn: (*apacheParser).rewriteOptions},
		{name: "RewriteCond", fn: (*apacheParser).rewriteCond},
		{name: "RewriteRule", fn: (*apacheParser).rewriteRule},
		{name: "Header", fn: func(p *apacheParser, d *directive) error { return p.header(d, false) }},
		{name: "RequestHeader", fn: func(p *apacheParser, d *directive) error { return p.header(d, true) }},
		{name: "ErrorDocument", fn: (*apacheParser).errorDocument},
		{name: "DocumentRoot", fn: (*apacheParser).documentRoot},
	} {
		apacheDirectives[strings.ToLower(s.name)] = s
	}
	for name, why := range unsupportedRewrite {
		apacheDirectives[strings.ToLower(name)] = directiveSpec{name: name, fn: func(p *apacheParser, d *directive) error {
			return d.fail(d.joined(), "is not supported: %s", why)
		}}
	}
}

// unsupportedRewrite are mod_rewrite directives outside sluice's subset.
var unsupportedRewrite = map[string]string{
	"RewriteBase": "write absolute substitutions (sluice matches <Location> rules against the whole URL-path)",
	"RewriteMap":  "sluice has no rewrite maps; write the mapping as rules",
}

// rewriteSet returns the Rewrite of the current context, creating it.
func (p *apacheParser) rewriteSet(d *directive) (*Rewrite, error) {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return nil, err
	}
	if loc := p.location(); loc != nil {
		if p.mods.locRewrite == nil {
			p.mods.locRewrite = map[*location]*Rewrite{}
		}
		rw := p.mods.locRewrite[loc]
		if rw == nil {
			rw = &Rewrite{Pos: d.pos, Scope: loc.path, ScopeMatch: loc.match}
			p.mods.locRewrite[loc] = rw
			p.host.LocationRewrites = append(p.host.LocationRewrites, rw)
		}
		return rw, nil
	}
	if p.host.Rewrite == nil {
		p.host.Rewrite = &Rewrite{Pos: d.pos}
	}
	return p.host.Rewrite, nil
}

func (p *apacheParser) rewriteEngine(d *directive) error {
	rw, err := p.rewriteSet(d)
	if err != nil {
		return err
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	rw.Engine = on
	if p.location() == nil {
		if p.mods.engineSet == nil {
			p.mods.engineSet = map[*Host]bool{}
		}
		p.mods.engineSet[p.host] = true
	}
	return nil
}

func (p *apacheParser) rewriteOptions(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	rw, err := p.rewriteSet(d)
	if err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one option (allowed: Inherit, InheritBefore)")
	}
	switch o := strings.ToLower(d.args[0]); o {
	case "inherit", "inheritbefore":
		rw.Inherit = o
	default:
		return d.fail(d.args[0], "is not supported (allowed: Inherit, InheritBefore)")
	}
	if p.mods.optionsSet == nil {
		p.mods.optionsSet = map[*Host]bool{}
	}
	p.mods.optionsSet[p.host] = true
	return nil
}

func (p *apacheParser) rewriteCond(d *directive) error {
	rw, err := p.rewriteSet(d)
	if err != nil {
		return err
	}
	if len(d.args) < 2 || len(d.args) > 3 {
		return d.fail(d.joined(), "takes a test string, a condition pattern and optional [flags]")
	}
	if p.mods.condCtx != rw {
		p.mods.conds = nil
	}
	c := RewriteCond{Pos: d.pos, Test: d.args[0], Pattern: d.args[1]}
	if len(d.args) == 3 {
		c.Flags = trimBrackets(d.args[2])
	}
	p.mods.conds, p.mods.condCtx = append(p.mods.conds, c), rw
	return nil
}

func (p *apacheParser) rewriteRule(d *directive) error {
	rw, err := p.rewriteSet(d)
	if err != nil {
		return err
	}
	if len(d.args) < 2 || len(d.args) > 3 {
		return d.fail(d.joined(), "takes a pattern, a substitution and optional [flags]")
	}
	r := &RewriteRule{Pos: d.pos, Pattern: d.args[0], Substitution: d.args[1]}
	if len(d.args) == 3 {
		r.Flags = trimBrackets(d.args[2])
	}
	if p.mods.condCtx == rw {
		r.Conds = p.mods.conds
	}
	p.mods.conds, p.mods.condCtx = nil, nil
	rw.Rules = append(rw.Rules, r)
	return nil
}

func trimBrackets(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
}

// header reads Header [always|onsuccess] action name [value] [env=…] and
// RequestHeader action name [value] [env=…]; edit and edit* take a regex
// and a replacement where the others take a value.
func (p *apacheParser) header(d *directive, request bool) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	args := d.args
	h := &HeaderRule{Pos: d.pos}
	if !request && len(args) > 0 {
		switch strings.ToLower(args[0]) {
		case "always":
			h.Always, args = true, args[1:]
		case "onsuccess":
			args = args[1:]
		}
	}
	if len(args) < 2 {
		return d.fail(d.joined(), "needs an action and a header name")
	}
	h.Action, h.Name, args = strings.ToLower(args[0]), args[1], args[2:]
	if h.Action == "edit" || h.Action == "edit*" {
		if len(args) < 2 {
			return d.fail(d.joined(), "edit needs a regular expression and a replacement")
		}
		h.Regex, args = args[0], args[1:]
	}
	if h.Action != "unset" && len(args) > 0 {
		h.Value, args = args[0], args[1:]
	}
	if len(args) > 0 {
		h.Cond, args = args[0], args[1:]
	}
	if len(args) > 0 {
		return d.fail(d.joined(), "has extra arguments after the condition")
	}
	if loc := p.location(); loc != nil {
		h.Scope, h.ScopeMatch = loc.path, loc.match
	}
	if request {
		p.host.RequestHeaders = append(p.host.RequestHeaders, h)
	} else {
		p.host.Headers = append(p.host.Headers, h)
	}
	return nil
}

func (p *apacheParser) errorDocument(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	if len(d.args) != 2 {
		return d.fail(d.joined(), "takes a status code and a /path, URL or \"message\"")
	}
	code, err := strconv.Atoi(d.args[0])
	if err != nil || code < 400 || code > 599 {
		return d.fail(d.args[0], "must be an error status between 400 and 599")
	}
	e := &ErrorDocument{Pos: d.pos, Status: code}
	switch v := d.args[1]; {
	case strings.EqualFold(v, "default"):
		// Back to the built-in page, in a vhost over the main server's
		// document too.
		e.Default = true
	case strings.HasPrefix(v, "/"):
		e.Path = v
	case strings.Contains(v, "://"):
		e.URL = v
	default:
		e.Message = v
	}
	if loc := p.location(); loc != nil {
		// Sections apply in config order, the last that covers a request
		// winning, so a scoped document is never folded into an earlier one.
		e.Scope, e.ScopeMatch = loc.path, loc.match
		p.host.ErrorDocuments = append(p.host.ErrorDocuments, e)
		return nil
	}
	for i, old := range p.host.ErrorDocuments {
		if old.Status == code && old.Scope == "" {
			p.host.ErrorDocuments[i] = e
			return nil
		}
	}
	p.host.ErrorDocuments = append(p.host.ErrorDocuments, e)
	return nil
}

func (p *apacheParser) documentRoot(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one directory")
	}
	p.host.DocumentRoot = p.rootPath(d.args[0])
	return nil
}

// finishMods applies Apache's inheritance of the rewrite engine state and
// options: a vhost that did not write them takes the main server's.
func (p *apacheParser) finishMods() {
	main := p.cfg.Main
	if main.Rewrite == nil {
		return
	}
	for _, h := range p.cfg.VHosts {
		if p.mods.engineSet[h] && p.mods.optionsSet[h] {
			continue
		}
		if h.Rewrite == nil {
			h.Rewrite = &Rewrite{Pos: h.Pos}
		}
		if !p.mods.engineSet[h] {
			h.Rewrite.Engine = main.Rewrite.Engine
		}
		if !p.mods.optionsSet[h] {
			h.Rewrite.Inherit = main.Rewrite.Inherit
		}
	}
}
