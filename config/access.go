package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluiceproxy/sluice/access"
)

// errUnreachableScheme marks a <Proxy> URL whose scheme sluice never
// proxies to (fcgi://, ajp://): no request can fall under it.
var errUnreachableScheme = errors.New("no backend of this scheme")

// proxyScope normalizes a <Proxy> URL as Access.Proxy holds it: "*",
// "balancer://name" (a path after the name is ignored, as Apache ignores it
// for the balancer), or a backend URL prefix normalized as worker URLs are,
// with a trailing "*" dropped ("http://h/app/*" is the prefix
// "http://h/app/").
func proxyScope(raw string) (string, error) {
	if raw == "*" {
		return raw, nil
	}
	if isBalancerURL(raw) {
		name, _, err := splitBalancerURL(raw)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(name, "*?[") {
			return "", errors.New("a balancer name cannot hold wildcards")
		}
		return balancerScheme + name, nil
	}
	prefix := strings.TrimSuffix(raw, "*")
	if strings.ContainsAny(prefix, "*?[") {
		return "", errors.New("wildcards are not supported here except * alone or at the end")
	}
	scheme, rest, ok := strings.Cut(prefix, "://")
	if !ok {
		return "", errors.New("must be *, balancer://name or a backend URL prefix such as http://host[:port][/path]")
	}
	scheme = strings.ToLower(scheme)
	if _, known := defaultPorts[scheme]; !known {
		return "", errUnreachableScheme
	}
	if rest == "" {
		return scheme + "://", nil
	}
	return workerURL(prefix, false)
}

// access checks, normalizes and compiles a host's Require sections.
func (c *checker) access(h *Host) error {
	for _, a := range h.Access {
		switch {
		case (a.Location == "") == (a.Proxy == ""):
			return c.fail(a, a.Pos, "location", a.Location, "set exactly one of location and proxy")
		case a.Proxy != "" && a.Match:
			return c.fail(a, a.Pos, "match", "true", "applies to location only")
		case a.Match:
			if a.Regexp == nil {
				re, err := compileMatch(a.Location)
				if err != nil {
					return c.fail(a, a.Pos, "location", a.Location, "%v", err)
				}
				a.Regexp = re
			}
		case a.Location != "":
			if !strings.HasPrefix(a.Location, "/") || strings.ContainsAny(a.Location, "*?[") {
				return c.fail(a, a.Pos, "location", a.Location, "must be a URL-path starting with / and without wildcards (use match: true for a regular expression)")
			}
		default:
			u, err := proxyScope(a.Proxy)
			if errors.Is(err, errUnreachableScheme) {
				err = fmt.Errorf("sluice proxies to no backend of scheme %q", a.Proxy[:strings.Index(a.Proxy, ":")])
			}
			if err != nil {
				return c.fail(a, a.Pos, "proxy", a.Proxy, "%v", err)
			}
			a.Proxy = u
		}
		if len(a.Require) == 0 {
			if a.TLSOnly {
				continue
			}
			return c.fail(a, a.Pos, "require", "", "needs at least one line, such as \"ip 10.0.0.0/8\", or tls_only")
		}
		for i, l := range a.Require {
			norm, err := access.Line(strings.Fields(l))
			if err != nil {
				return c.fail(a, a.Pos, "require", l, "%v", err)
			}
			a.Require[i] = norm
		}
		p, err := access.Compile(a.Require)
		if err != nil {
			return c.fail(a, a.Pos, "require", "", "%v", err)
		}
		a.Compiled = p
	}
	return nil
}
