package admin

import (
	"github.com/valyala/fasthttp"
)

// ServeMetrics answers a request on the metrics listener (metrics.listen):
// the Prometheus exposition at path, under the rules of /metrics on the
// admin listener (Host among hosts, the bearer token when token is set,
// GET and HEAD only), and 404 anywhere else.
func (a *Admin) ServeMetrics(ctx *fasthttp.RequestCtx, path, token string, hosts []string) {
	defer a.recoverPanic(ctx)
	noStore(ctx)
	switch {
	case !hostAllowed(ctx.Host(), hosts):
		fail(ctx, fasthttp.StatusForbidden, "Host is not one this admin answers to")
		return
	case string(ctx.URI().PathOriginal()) != path || a.opts.Metrics == nil:
		fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	case !ctx.IsGet() && !ctx.IsHead():
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed here (allowed: GET, HEAD)")
		return
	}
	if token != "" {
		if _, ok := a.authorize(ctx, token); !ok {
			return
		}
	}
	a.writeMetrics(ctx)
}

// writeMetrics answers with the Prometheus exposition, on either listener.
func (a *Admin) writeMetrics(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	a.opts.Metrics(ctx)
}
