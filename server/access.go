package server

import (
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// permit applies the Require rules of the <Location> and <Proxy> sections
// that cover a request routed by r, and answers 403 when they refuse it:
// the request never reaches a backend. A config without Require rules
// costs two length checks.
func (s *Server) permit(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, x *exchange) bool {
	main, own := rt.cfg.Main.Access, vh.cfg.Access
	if vh.cfg == rt.cfg.Main {
		own = nil
	}
	if len(main) == 0 && len(own) == 0 {
		return true
	}
	path := x.requestPath(ctx)
	if !ctx.IsTLS() && needsTLS(main, own, path, r, x.path) {
		s.log.Debug("SSL connection required", "path", string(ctx.Path()))
		s.fail(ctx, fasthttp.StatusForbidden)
		return false
	}
	a := deciding(main, own, path, r, x.path)
	if a == nil {
		return true
	}
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	local, _ := netip.AddrFromSlice(ctx.LocalIP())
	if a.Compiled != nil && a.Compiled.Allows(peer, local, s.now(), nil) {
		return true
	}
	s.log.Debug("client denied by server configuration", "peer", peer.String(), "path", string(ctx.Path()), "section", a.Pos.String())
	s.fail(ctx, fasthttp.StatusForbidden)
	return false
}

// deciding returns the section whose Require lines decide: the last that
// covers the request in Apache's merge order (main server's <Proxy>, the
// vhost's <Proxy>, main server's <Location>, the vhost's <Location>), as
// each section with Require replaces what came before (AuthMerging Off).
// Sections with no Require line (only SSLRequireSSL) take no part.
func deciding(main, own []*config.Access, path []byte, r *route, backendPath []byte) *config.Access {
	for _, list := range [2][]*config.Access{own, main} {
		for i := len(list) - 1; i >= 0; i-- {
			if a := list[i]; a.Proxy == "" && len(a.Require) > 0 && underLocation(a, path) {
				return a
			}
		}
	}
	for _, list := range [2][]*config.Access{own, main} {
		for i := len(list) - 1; i >= 0; i-- {
			if a := list[i]; a.Proxy != "" && len(a.Require) > 0 && coversBackend(a.Proxy, r, backendPath) {
				return a
			}
		}
	}
	return nil
}

// needsTLS reports whether a section with SSLRequireSSL covers the
// request: any one does, whatever decides by Require.
func needsTLS(main, own []*config.Access, path []byte, r *route, backendPath []byte) bool {
	for _, list := range [2][]*config.Access{own, main} {
		for _, a := range list {
			if a.TLSOnly && (a.Proxy == "" && underLocation(a, path) || a.Proxy != "" && coversBackend(a.Proxy, r, backendPath)) {
				return true
			}
		}
	}
	return false
}

// underLocation is <Location> matching: /x covers /x and /x/…, not /xy.
func underLocation(a *config.Access, path []byte) bool {
	if a.Regexp != nil {
		return a.Regexp.Match(path)
	}
	loc := a.Location
	n := len(loc)
	if n == 0 || len(path) < n || string(path[:n]) != loc {
		return false
	}
	return len(path) == n || loc[n-1] == '/' || path[n] == '/'
}

// coversBackend is <Proxy> matching: "*" covers every proxied request,
// balancer://name the requests routed to that balancer, and a URL the
// direct requests whose backend URL (worker URL and path) starts with it.
func coversBackend(scope string, r *route, backendPath []byte) bool {
	if scope == "*" {
		return true
	}
	if name, ok := strings.CutPrefix(scope, "balancer://"); ok {
		return r.balancer != nil && r.balancer.Load().Config.Name == name
	}
	if r.direct == nil {
		return false
	}
	origin := r.direct.Name
	if len(scope) <= len(origin) {
		return origin[:len(scope)] == scope
	}
	rest := scope[len(origin):]
	return scope[:len(origin)] == origin && len(backendPath) >= len(rest) && string(backendPath[:len(rest)]) == rest
}
