package server

import (
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/pathscope"
)

// locationProxy is one <Location> section's ProxyPreserveHost and
// ProxyAddHeaders; nil leaves the flag as the host or an earlier section
// set it.
type locationProxy struct {
	pathscope.Scope
	proxy                    string // a <Proxy> section's URL (coversBackend), not a path scope
	preserveHost, addHeaders *bool
	cgiPassAuth              *bool // for fcgi:// members (fastcgi.go)
}

// scopeForwarders collects the <Location> sections that set
// ProxyPreserveHost or ProxyAddHeaders, Main's before the host's own, and
// makes a Forwarder for each way they can set the two flags.
func (vh *vhost) scopeForwarders(main *vhost) {
	hosts := []*config.Host{vh.cfg}
	if main != nil {
		hosts = []*config.Host{main.cfg, vh.cfg}
	}
	for _, h := range hosts {
		for _, l := range h.LocationProxy {
			vh.locProxy = append(vh.locProxy, locationProxy{Scope: pathscope.New(l.Scope, l.ScopeMatch), proxy: l.Proxy,
				preserveHost: l.PreserveHost, addHeaders: l.AddHeaders, cgiPassAuth: l.CGIPassAuth})
		}
	}
	if len(vh.locProxy) == 0 {
		return
	}
	for p := range 2 {
		for a := range 2 {
			f := *vh.fwd
			f.PreserveHost, f.AddHeaders = p == 1, a == 1
			vh.fwds[p][a] = &f
		}
	}
}

// forwarder is the Forwarder for the request: the host's, unless
// <Location> sections set ProxyPreserveHost or ProxyAddHeaders. Small
// enough to inline, so a host without them pays one length check.
func (vh *vhost) forwarder(ctx *fasthttp.RequestCtx, r *route, x *exchange) *headers.Forwarder {
	if len(vh.locProxy) == 0 {
		return vh.fwd
	}
	return vh.scopedForwarder(ctx, r, x)
}

// scopedForwarder applies the sections covering the request: the <Proxy>
// sections of its backend, then the <Location> sections of its path, the
// last one that sets a flag winning, as Apache merges the sections.
func (vh *vhost) scopedForwarder(ctx *fasthttp.RequestCtx, r *route, x *exchange) *headers.Forwarder {
	path := x.requestPath(ctx)
	preserve, add := vh.fwd.PreserveHost, vh.fwd.AddHeaders
	for _, proxySections := range [2]bool{true, false} {
		for i := range vh.locProxy {
			l := &vh.locProxy[i]
			if (l.proxy != "") != proxySections || !l.covers(path, r, x) {
				continue
			}
			if l.preserveHost != nil {
				preserve = *l.preserveHost
			}
			if l.addHeaders != nil {
				add = *l.addHeaders
			}
		}
	}
	return vh.fwds[b2i(preserve)][b2i(add)]
}

// covers reports whether l's section covers the request: its backend for
// a <Proxy> section, its path for a <Location>.
func (l *locationProxy) covers(path []byte, r *route, x *exchange) bool {
	if l.proxy != "" {
		return coversBackend(l.proxy, r, x.path)
	}
	return l.Covers(path)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
