package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
)

// request is an admitted admin request.
type request struct {
	kind  string   // "page", "asset", "metrics", "pprof", "api"
	segs  []string // API path segments after /api, unescaped
	asset string   // the file of an asset, the profile of a pprof request
	write bool
	who   string // token id or peer address, for the audit log
	// scope gives the live balancers again, for a write that released the
	// lock while it waited.
	scope func() *Scope
}

// admit parses the path and runs every check that does not need the
// balancers: Require, Host, tokens, method, and the cross-site rules for
// writes. It answers the request itself when one fails.
func (a *Admin) admit(ctx *fasthttp.RequestCtx, sc *Scope) (request, bool) {
	var req request
	if len(anycase.Request(&ctx.Request.Header, "Upgrade")) > 0 {
		fail(ctx, fasthttp.StatusBadRequest, "the admin does not upgrade connections")
		return req, false
	}
	if sc.Location && !a.permitted(ctx, sc.Require) {
		fail(ctx, fasthttp.StatusForbidden, "forbidden by the manager's Require rules")
		return req, false
	}
	if !hostAllowed(ctx.Host(), sc.Hosts) {
		fail(ctx, fasthttp.StatusForbidden, "Host is not one this admin answers to")
		return req, false
	}
	raw := string(ctx.URI().PathOriginal())
	rest, ok := strings.CutPrefix(raw, sc.Prefix)
	if !ok {
		fail(ctx, fasthttp.StatusNotFound, "not found")
		return req, false
	}
	switch {
	case rest == "":
		ctx.Redirect(sc.Prefix+"/", fasthttp.StatusMovedPermanently)
		return req, false
	case rest == "/":
		req.kind = "page"
	case rest == "/app.js" || rest == "/app.css":
		req.kind, req.asset = "asset", rest[1:]
	case rest == "/metrics" && !sc.Location && a.opts.Metrics != nil:
		req.kind = "metrics"
	case strings.HasPrefix(rest, "/debug/pprof/") && !sc.Location:
		req.kind, req.asset = "pprof", rest[len("/debug/pprof/"):]
	case strings.HasPrefix(rest, "/api/"):
		req.kind = "api"
		for _, s := range strings.Split(rest[len("/api/"):], "/") {
			u, err := url.PathUnescape(s)
			if err != nil || u == "" {
				fail(ctx, fasthttp.StatusNotFound, "not found")
				return req, false
			}
			req.segs = append(req.segs, u)
		}
	default:
		fail(ctx, fasthttp.StatusNotFound, "not found")
		return req, false
	}
	args := ctx.QueryArgs()
	for _, k := range []string{"token", "access_token", "api_key", "key"} {
		if args.Has(k) {
			fail(ctx, fasthttp.StatusBadRequest, "a token goes in the Authorization header, never in the URL")
			return req, false
		}
	}
	allow := allowedMethods(req)
	method := string(ctx.Method())
	if !slices.Contains(allow, method) {
		ctx.Response.Header.Set("Allow", strings.Join(allow, ", "))
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed here (allowed: "+strings.Join(allow, ", ")+")")
		return req, false
	}
	req.write = method != fasthttp.MethodGet && method != fasthttp.MethodHead
	req.who = ctx.RemoteAddr().String()
	if sc.Location {
		req.who += " via " + sc.Prefix
	}
	if (req.kind == "api" || req.kind == "metrics" || req.kind == "pprof") && sc.Token != "" {
		id, ok := a.authorize(ctx, sc.Token)
		if !ok {
			return req, false
		}
		req.who = id
	}
	if req.write && !sameOrigin(ctx) {
		fail(ctx, fasthttp.StatusForbidden, "cross-site requests cannot change the balancers")
		return req, false
	}
	return req, true
}

// allowedMethods lists what a path accepts.
func allowedMethods(req request) []string {
	read := []string{fasthttp.MethodGet, fasthttp.MethodHead}
	if req.kind != "api" {
		return read
	}
	switch {
	case len(req.segs) == 2 && req.segs[0] == "balancers":
		return append(read, fasthttp.MethodPatch)
	case len(req.segs) == 3 && req.segs[2] == "members":
		return append(read, fasthttp.MethodPost)
	case len(req.segs) == 4 && req.segs[2] == "members":
		return append(read, fasthttp.MethodPatch, fasthttp.MethodDelete)
	}
	return read
}

// authorize checks the bearer token in constant time. Wrong tokens are
// rate limited: past the limit every token is refused for a while.
func (a *Admin) authorize(ctx *fasthttp.RequestCtx, token string) (string, bool) {
	got, ok := bearer(anycase.Request(&ctx.Request.Header, "Authorization"))
	if !ok || len(got) == 0 {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="sluice admin"`)
		fail(ctx, fasthttp.StatusUnauthorized, "needs Authorization: Bearer TOKEN")
		return "", false
	}
	if a.failures.blocked(a.now()) {
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusTooManyRequests, "too many wrong tokens; try again later")
		return "", false
	}
	// Hashing first makes the comparison independent of the lengths.
	want, have := sha256.Sum256([]byte(token)), sha256.Sum256(got)
	if subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		a.failures.add(a.now())
		a.log.Warn("admin: wrong token", "peer", ctx.RemoteAddr().String())
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="sluice admin", error="invalid_token"`)
		fail(ctx, fasthttp.StatusUnauthorized, "wrong token")
		return "", false
	}
	return TokenID(token), true
}

// bearer is the token of an Authorization value "Bearer TOKEN"; the scheme
// is case-insensitive and spaces may repeat (RFC 9110 §11.1, §11.4).
func bearer(auth []byte) ([]byte, bool) {
	scheme, token, ok := bytes.Cut(auth, []byte(" "))
	if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) {
		return nil, false
	}
	return bytes.TrimLeft(token, " "), true
}

// TokenID names a token in logs without revealing it.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "token:" + hex.EncodeToString(sum[:4])
}

// hostAllowed is the DNS rebinding defence: a browser tricked into sending
// a request here carries the attacker's host name, never an IP literal,
// localhost or one of ours.
func hostAllowed(host []byte, names []string) bool {
	h := string(host)
	if h == "" {
		return false
	}
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		_, err := netip.ParseAddr(h[1:end])
		return err == nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	// A wildcard ServerAlias ("*.example.com") admits the names under it,
	// as the vhost's selection does; one that would admit any name ("*",
	// "www.example.*") admits none, or a rebinding page's own name would
	// pass (DNS rebinding is what this check is for).
	return slices.ContainsFunc(names, func(n string) bool {
		return n == h || wildcardSuffix(n) && matchesSuffix(n[1:], h)
	})
}

// wildcardSuffix reports a name "*.domain", whose domain has no wildcard
// and a dot of its own ("*.com" is too wide).
func wildcardSuffix(n string) bool {
	rest, ok := strings.CutPrefix(n, "*.")
	return ok && !strings.ContainsAny(rest, "*?[") && strings.Contains(rest, ".")
}

// matchesSuffix reports a host under domain (".example.com" matches
// "www.example.com" and "a.b.example.com", not "example.com").
func matchesSuffix(domain, h string) bool {
	return len(h) > len(domain) && strings.HasSuffix(h, domain)
}

// sameOrigin refuses what a browser sends for another site: an Origin that
// is not this Host, "Origin: null", Sec-Fetch-Site other than same-origin
// or none, and no-cors requests. Tools such as curl send none of these.
func sameOrigin(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	if site := string(anycase.Request(h, "Sec-Fetch-Site")); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if string(anycase.Request(h, "Sec-Fetch-Mode")) == "no-cors" {
		return false
	}
	origin := anycase.Request(h, "Origin")
	if origin == nil {
		return true
	}
	scheme := "http://"
	if ctx.IsTLS() {
		scheme = "https://"
	}
	return strings.EqualFold(string(origin), scheme+string(ctx.Host()))
}

// limiter counts failures in a fixed window.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	start time.Time
	n     int
}

func (l *limiter) add(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		l.start, l.n = now, 0
	}
	l.n++
}

func (l *limiter) blocked(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Sub(l.start) < l.window && l.n >= l.max
}
