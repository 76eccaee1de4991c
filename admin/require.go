package admin

import (
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/access"
)

// Resolver is what "Require host" needs from DNS.
type Resolver = access.Resolver

// permitted evaluates a manager location's Require lines as Apache's
// implicit RequireAny: one matching line grants. With no line at all only
// local clients get in (Apache would grant everyone; see docs/admin.md).
func (a *Admin) permitted(ctx *fasthttp.RequestCtx, rules []string) bool {
	if len(rules) == 0 {
		rules = []string{"local"}
	}
	// The lines were checked when the config loaded; a manager page is not
	// a hot path, so they are compiled per request.
	p, err := access.Compile(rules)
	if err != nil {
		a.log.Warn("admin: bad Require line", "err", err)
		return false
	}
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	local, _ := netip.AddrFromSlice(ctx.LocalIP())
	return p.Allows(peer, local, a.now(), a.opts.Resolver)
}
