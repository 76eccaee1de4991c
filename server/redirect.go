package server

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/modrewrite"
	"github.com/sluiceproxy/sluice/pathscope"
)

// redirectRule is one Redirect or RedirectMatch, ready to serve.
type redirectRule struct {
	cfg    *config.Redirect
	prefix []byte         // Redirect's URL-path
	re     *regexp.Regexp // RedirectMatch's
	// template is RedirectMatch's URL in regexp.Expand's syntax.
	template []byte
}

func newRedirectRules(hosts ...*config.Host) []redirectRule {
	var out []redirectRule
	for _, h := range hosts {
		for _, r := range h.Redirects {
			rr := redirectRule{cfg: r, re: r.Regexp}
			if rr.re == nil {
				rr.prefix = []byte(r.Path)
			} else {
				rr.template = modheaders.AppendRegexTemplate(nil, []byte(r.URL))
			}
			out = append(out, rr)
		}
	}
	return out
}

// redirect answers a request that no ProxyPass took with the first of
// vh's Redirect and RedirectMatch rules (its own, then the main server's)
// that covers path, as mod_alias does once mod_proxy declined. It reports
// whether it answered.
func (s *Server) redirect(ctx *fasthttp.RequestCtx, vh *vhost, path []byte, x *exchange) bool {
	for i := range vh.redirects {
		r := &vh.redirects[i]
		loc, ok := r.location(x.val[:0], ctx, path)
		if !ok {
			continue
		}
		x.val = loc
		if r.cfg.URL == "" { // gone, or another status without a URL
			s.fail(ctx, r.cfg.Status)
			return true
		}
		s.sendRedirect(ctx, vh, r.cfg.Status, loc)
		return true
	}
	return false
}

// location appends the Location r sends for path to dst, and reports
// whether r covers path: Redirect's URL with the rest of the path
// appended, or RedirectMatch's with $N filled in; a URL that starts with
// / gets the request's scheme and Host, and the query goes along unless
// the URL has one.
func (r *redirectRule) location(dst []byte, ctx *fasthttp.RequestCtx, path []byte) ([]byte, bool) {
	var sub []int
	if r.re == nil {
		if !pathscope.Under(path, r.prefix) {
			return dst, false
		}
	} else if sub = r.re.FindSubmatchIndex(path); sub == nil {
		return dst, false
	}
	if r.cfg.URL == "" {
		return dst, true
	}
	if r.cfg.URL[0] == '/' { // config requires an absolute URL otherwise
		if ctx.IsTLS() {
			dst = append(dst, "https://"...)
		} else {
			dst = append(dst, "http://"...)
		}
		dst = append(dst, ctx.Host()...)
	}
	start := len(dst)
	if r.re == nil {
		rest := path[len(r.prefix):]
		if len(rest) > 0 && rest[0] == '/' && strings.HasSuffix(r.cfg.URL, "/") {
			rest = rest[1:] // one slash at the join, as for ProxyPass
		}
		dst = modrewrite.AppendPath(append(dst, r.cfg.URL...), rest, false)
	} else {
		expanded := r.re.Expand(nil, r.template, path, sub)
		target, query, hasQuery := bytes.Cut(expanded, []byte("?"))
		dst = modrewrite.AppendPath(dst, target, false)
		if hasQuery {
			dst = append(append(dst, '?'), query...)
		}
	}
	if q := ctx.URI().QueryString(); len(q) > 0 && bytes.IndexByte(dst[start:], '?') < 0 {
		dst = append(append(dst, '?'), q...)
	}
	return dst, true
}

// sendRedirect answers status with Location loc, with vh's Header always
// rules (Apache sends a redirect as an error response), and logs it.
func (s *Server) sendRedirect(ctx *fasthttp.RequestCtx, vh *vhost, status int, loc []byte) {
	redirectResponse(ctx, status, loc)
	alwaysHeaders(ctx, vh)
	s.logRequest(ctx, s.now(), len(ctx.Response.Body()))
}

// redirectResponse answers status with Location loc and a short page.
func redirectResponse(ctx *fasthttp.RequestCtx, status int, loc []byte) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetBytesV("Location", loc)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.SetBodyString("<!DOCTYPE html>\n<html><head><title>" + strconv.Itoa(status) + " " +
		fasthttp.StatusMessage(status) + "</title></head><body><h1>" + fasthttp.StatusMessage(status) + "</h1></body></html>\n")
}
