package config

import (
	"strconv"
	"strings"
)

// The mod_alias redirects (Redirect, RedirectMatch, RedirectPermanent and
// RedirectTemp, in the server, a <VirtualHost> or a <Location>) and
// mod_setenvif's SetEnvIf and SetEnvIfNoCase.
func init() {
	for _, s := range []directiveSpec{
		{name: "Redirect", fn: func(p *apacheParser, d *directive) error { return p.redirect(d, false, "") }},
		{name: "RedirectMatch", fn: func(p *apacheParser, d *directive) error { return p.redirect(d, true, "") }},
		{name: "RedirectPermanent", fn: func(p *apacheParser, d *directive) error { return p.redirect(d, false, "permanent") }},
		{name: "RedirectTemp", fn: func(p *apacheParser, d *directive) error { return p.redirect(d, false, "temp") }},
		{name: "SetEnvIf", fn: func(p *apacheParser, d *directive) error { return p.setEnvIf(d, false) }},
		{name: "SetEnvIfNoCase", fn: func(p *apacheParser, d *directive) error { return p.setEnvIf(d, true) }},
		{name: "SetEnv", fn: (*apacheParser).setEnv},
		{name: "UnsetEnv", fn: (*apacheParser).unsetEnv},
	} {
		apacheDirectives[strings.ToLower(s.name)] = s
	}
}

// redirectStatuses are mod_alias's status words.
var redirectStatuses = map[string]int{"permanent": 301, "temp": 302, "seeother": 303, "gone": 410}

// redirect reads Redirect [status] URL-path URL and RedirectMatch
// [status] regex URL; inside <Location> the URL-path is the section's and
// is left out. status is the word RedirectPermanent or RedirectTemp
// implies.
func (p *apacheParser) redirect(d *directive, match bool, status string) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	args := d.args
	r := &Redirect{Pos: d.pos, Match: match, Status: 302}
	if status == "" && len(args) > 0 {
		if n, ok := redirectStatuses[strings.ToLower(args[0])]; ok {
			r.Status, args = n, args[1:]
		} else if n, err := strconv.Atoi(args[0]); err == nil {
			r.Status, args = n, args[1:]
		}
	} else if status != "" {
		r.Status = redirectStatuses[status]
	}
	if loc := p.location(); loc != nil && !match {
		// Inside <Location> the section gives the path (Apache 2.4.19+).
		r.Path, r.Match = loc.path, loc.match
	} else {
		if len(args) == 0 {
			return d.fail(d.joined(), "needs a URL-path")
		}
		r.Path, args = args[0], args[1:]
	}
	if len(args) > 0 {
		r.URL, args = args[0], args[1:]
	}
	if len(args) > 0 {
		return d.fail(d.joined(), "takes [status] URL-path URL")
	}
	p.host.Redirects = append(p.host.Redirects, r)
	return nil
}

// setEnvIf reads SetEnvIf attribute regex [!]VAR[=value] … in the server,
// a vhost or a <Location>, which scopes it.
// setEnv is mod_env's SetEnv VAR [value]: a SetEnvIf that always holds
// (its line, scope and place in the order kept), so that Header rules'
// env= and proxy-nokeepalive see it.
func (p *apacheParser) setEnv(d *directive) error {
	if len(d.args) < 1 || len(d.args) > 2 {
		return d.fail(d.joined(), "takes a variable and an optional value")
	}
	a := d.args[0]
	if len(d.args) == 2 {
		a += "=" + d.args[1]
	} else {
		a += "="
	}
	return p.alwaysSetEnv(d, a)
}

// unsetEnv is mod_env's UnsetEnv VAR ….
func (p *apacheParser) unsetEnv(d *directive) error {
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one variable")
	}
	return p.alwaysSetEnv(d, "!"+d.args[0])
}

func (p *apacheParser) alwaysSetEnv(d *directive, assignment string) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	se := &SetEnvIf{Pos: d.pos, Attribute: "Request_URI", Regex: "^", Assignments: []string{assignment}}
	if loc := p.location(); loc != nil {
		se.Scope, se.ScopeMatch = loc.path, loc.match
	}
	p.host.SetEnvIf = append(p.host.SetEnvIf, se)
	return nil
}

func (p *apacheParser) setEnvIf(d *directive, nocase bool) error {
	if err := p.only(d, ctxMain, ctxVHost, ctxLocation); err != nil {
		return err
	}
	if len(d.args) < 3 {
		return d.fail(d.joined(), "takes an attribute, a regular expression and [!]VAR[=value] …")
	}
	se := &SetEnvIf{Pos: d.pos, Attribute: d.args[0], Regex: d.args[1], NoCase: nocase, Assignments: d.args[2:]}
	if loc := p.location(); loc != nil {
		se.Scope, se.ScopeMatch = loc.path, loc.match
	}
	p.host.SetEnvIf = append(p.host.SetEnvIf, se)
	return nil
}
