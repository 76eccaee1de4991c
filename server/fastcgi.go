package server

import (
	"io"
	"net"
	"os"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/fastcgi"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/pool"
)

// The CGI environment of a request to an fcgi:// member, as
// mod_proxy_fcgi builds it (ap_add_common_vars, ap_add_cgi_vars; checked
// against Apache 2.4 in cmd/sluice TestFastCGIApacheParams):
//   - the request's fields as HTTP_*, after RequestHeader rules, repeated
//     fields joined by ", "; Content-Type and Content-Length as
//     CONTENT_TYPE and CONTENT_LENGTH; never Authorization or
//     Proxy-Authorization (unless CGIPassAuth On), nor Proxy ("httpoxy"),
//     nor a name with a byte other than a letter, digit or '-' (so that
//     X_Real_IP cannot pass for X-Real-IP), nor, with trusted_proxies and
//     a peer not in them, X-Forwarded-*, Forwarded or X-Real-IP;
//   - the server's and the connection's variables; SCRIPT_FILENAME is
//     "proxy:" and the member URL with the request's path, which PHP-FPM
//     understands; SCRIPT_NAME the decoded path, no PATH_INFO (but for a
//     file handler: its script and what follows, filehandler.go);
//   - the variables SetEnv, SetEnvIf and RewriteRule [E=] set, and HTTPS.
//
// No X-Forwarded-* field is added and no hop-by-hop field removed: the
// application is not a proxy, and REMOTE_ADDR names the client.

// serverSoftware is SERVER_SOFTWARE.
const serverSoftware = "sluice"

// cgiPath is PATH, Apache's own (its environment's, else its default).
var cgiPath = func() string {
	if p := os.Getenv("PATH"); p != "" {
		return p
	}
	return "/bin:/usr/bin:/usr/ucb:/usr/bsd:/usr/local/bin"
}()

// defaultDocRoot is DOCUMENT_ROOT without a DocumentRoot: Debian's
// Apache default.
const defaultDocRoot = "/var/www/html"

// gatewayRequest readies a FastCGI or AJP route's request: x.vh, and an
// fcgi:// route's CGI environment in x.params but for what names the
// member (fastCGITarget); nothing for HTTP routes.
func (s *Server) gatewayRequest(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, h *fasthttp.RequestHeader, x *exchange) {
	if x.proto != pool.HTTP {
		s.prepareGateway(ctx, rt, vh, r, h, x)
	}
}

func (s *Server) prepareGateway(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, h *fasthttp.RequestHeader, x *exchange) {
	x.vh = vh
	if x.proto == pool.FastCGI {
		x.params = s.appendFastCGIParams(x.params[:0], ctx, rt, vh, r, h, x)
		x.paramsLen = len(x.params)
	}
}

// gatewayTarget completes the request for m, a FastCGI or AJP member of
// balancer snapshot snap (nil for a direct worker).
func (s *Server) gatewayTarget(ctx *fasthttp.RequestCtx, req *fasthttp.Request, m *pool.Member, snap *pool.Snapshot, x *exchange) error {
	switch {
	case m.Proto != x.proto:
		// The admin turned the balancer from one protocol to another
		// since the request was prepared for it.
		return errProtocolChanged
	case m.Proto == pool.AJP:
		return s.ajpRequest(ctx, req, m, x)
	}
	s.fastCGITarget(ctx, m, snap, x)
	return nil
}

// fastCGITarget completes the CGI environment for m: SCRIPT_FILENAME from
// the path in x.uri, the balancer's variables.
func (s *Server) fastCGITarget(ctx *fasthttp.RequestCtx, m *pool.Member, snap *pool.Snapshot, x *exchange) {
	path := x.uri
	if q := ctx.URI().QueryString(); len(q) > 0 {
		path = path[:len(path)-len(q)-1]
	}
	x.params = appendScriptFilename(x.params[:x.paramsLen], m, path, x.vh.cfg.FCGIBackendType == "generic")
	x.params = appendBalancerVars(x.params, ctx, m, snap, x)
	if x.scriptLen > 0 && snap == nil {
		// Apache's handler form sends a worker no ProxyPass defined
		// through its default worker, which it never reuses.
		x.params = fastcgi.AppendPair(x.params, "proxy-nokeepalive", "1")
	}
	x.call.SetEncodedRequest(x.params)
}

// appendFastCGIParams appends the encoded CGI environment of ctx's
// request, whose fields h holds after RequestHeader rules, but for
// SCRIPT_FILENAME, which names the member (appendScriptFilename).
func (s *Server) appendFastCGIParams(dst []byte, ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, h *fasthttp.RequestHeader, x *exchange) []byte {
	// trusted_proxies judges the peer, not a client mod_remoteip read.
	untrusted := vh.fwd.Trusted != nil && !vh.fwd.Trusted.Contains(connPeerIP(ctx))
	dst = appendHTTPVars(dst, h, vh.passAuth(x.requestPath(ctx), r, x), untrusted)
	host := ctx.Host()
	docRoot := vh.documentRoot()
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	dst = fastcgi.AppendPair(dst, "PATH", cgiPath)
	dst = fastcgi.AppendPair(dst, "SERVER_SIGNATURE", "")
	dst = fastcgi.AppendPair(dst, "SERVER_SOFTWARE", serverSoftware)
	dst = fastcgi.AppendPair(dst, "SERVER_NAME", requestServerName(ctx, vh))
	x.val = appendIP(x.val[:0], ctx.LocalIP())
	dst = fastcgi.AppendPair(dst, "SERVER_ADDR", x.val)
	x.val = appendServerPort(x.val[:0], host, vh.namePort, ctx.IsTLS())
	dst = fastcgi.AppendPair(dst, "SERVER_PORT", x.val)
	x.val = appendClientIP(x.val[:0], ctx)
	dst = fastcgi.AppendPair(dst, "REMOTE_ADDR", x.val)
	dst = fastcgi.AppendPair(dst, "DOCUMENT_ROOT", docRoot)
	dst = fastcgi.AppendPair(dst, "REQUEST_SCHEME", scheme)
	dst = fastcgi.AppendPair(dst, "CONTEXT_PREFIX", "")
	dst = fastcgi.AppendPair(dst, "CONTEXT_DOCUMENT_ROOT", docRoot)
	admin := vh.cfg.ServerAdmin
	if admin == "" {
		admin = "[no address given]"
	}
	dst = fastcgi.AppendPair(dst, "SERVER_ADMIN", admin)
	x.val = remotePort(x.val[:0], ctx)
	dst = fastcgi.AppendPair(dst, "REMOTE_PORT", x.val)
	dst = s.appendEnvVars(dst, ctx, rt, vh, x)
	dst = fastcgi.AppendPair(dst, "GATEWAY_INTERFACE", "CGI/1.1")
	dst = fastcgi.AppendPair(dst, "SERVER_PROTOCOL", ctx.Request.Header.Protocol())
	dst = fastcgi.AppendPair(dst, "REQUEST_METHOD", ctx.Method())
	dst = fastcgi.AppendPair(dst, "QUERY_STRING", ctx.URI().QueryString())
	dst = fastcgi.AppendPair(dst, "REQUEST_URI", ctx.Request.Header.RequestURI())
	path := x.requestPath(ctx)
	if x.scriptLen == 0 {
		return fastcgi.AppendPair(dst, "SCRIPT_NAME", path)
	}
	// A file handler's script, and what follows it in the path.
	dst = fastcgi.AppendPair(dst, "SCRIPT_NAME", path[:x.scriptLen])
	if info := path[x.scriptLen:]; len(info) > 0 {
		dst = fastcgi.AppendPair(dst, "PATH_INFO", info)
		x.val = appendJoinBytes(append(x.val[:0], docRoot...), info)
		dst = fastcgi.AppendPair(dst, "PATH_TRANSLATED", x.val)
	}
	return dst
}

// appendScriptFilename appends SCRIPT_FILENAME for m: "proxy:fcgi://",
// the member's host[:port] (the name after "|" for a socket) and the
// path, as mod_proxy_fcgi has r->filename (PHP-FPM drops what comes
// before the path); the path alone for ProxyFCGIBackendType GENERIC.
func appendScriptFilename(dst []byte, m *pool.Member, path []byte, generic bool) []byte {
	if generic {
		return fastcgi.AppendPair(dst, "SCRIPT_FILENAME", path)
	}
	n := len("proxy:fcgi://") + len(m.HostHeader) + len(path)
	dst = fastcgi.AppendLengths(dst, len("SCRIPT_FILENAME"), n)
	dst = append(dst, "SCRIPT_FILENAME"...)
	dst = append(dst, "proxy:fcgi://"...)
	dst = append(dst, m.HostHeader...)
	return append(dst, path...)
}

// appendBalancerVars appends the variables mod_proxy_balancer sets for
// the member it chose (balancerEnv): BALANCER_NAME, BALANCER_WORKER_NAME,
// BALANCER_WORKER_ROUTE and, as they apply, the sticky session ones.
func appendBalancerVars(dst []byte, ctx *fasthttp.RequestCtx, m *pool.Member, snap *pool.Snapshot, x *exchange) []byte {
	if snap == nil {
		return dst
	}
	mr := modsReqPool.Get().(*modsReq)
	defer modsReqPool.Put(mr)
	mr.env.Reset()
	balancerEnv(mr, m, snap, x)
	var builtin *modheaders.Vars
	for v := modheaders.Var(0); v < modheaders.HTTPS; v++ {
		if val, ok := mr.env.Get(v); ok {
			dst = fastcgi.AppendPair(dst, builtin.Name(v), val)
		}
	}
	return dst
}

// passAuth is CGIPassAuth for a request to path through r: the host's,
// unless a <Proxy> section of its backend, then a <Location> section of
// its path, says otherwise (the last one that does).
func (vh *vhost) passAuth(path []byte, r *route, x *exchange) bool {
	on := vh.cfg.CGIPassAuth
	for _, proxySections := range [2]bool{true, false} {
		for i := range vh.locProxy {
			if l := &vh.locProxy[i]; l.cgiPassAuth != nil && (l.proxy != "") == proxySections && l.covers(path, r, x) {
				on = *l.cgiPassAuth
			}
		}
	}
	return on
}

// spool reads a chunked request body whole for an fcgi:// member, as
// mod_proxy_fcgi does: CGI gives the application the body's length
// (CONTENT_LENGTH), and PHP reads no body without one. Up to prefetchBody
// bytes stay in x.replay, more go to an unlinked temporary file (the body
// limit bounds both); req then carries the body with its length.
func (x *exchange) spool(req *fasthttp.Request) error {
	if cap(x.replay) < prefetchBody {
		x.replay = make([]byte, 0, prefetchBody)
	}
	n, err := io.ReadFull(&x.body, x.replay[:prefetchBody])
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		x.replay = x.replay[:n]
		req.SetBodyRaw(x.replay)
		req.Header.SetContentLength(n)
		return nil
	case nil:
	default:
		return err
	}
	f, err := os.CreateTemp("", "sluice-body-")
	if err != nil {
		return err
	}
	_ = os.Remove(f.Name()) // gone with its last descriptor
	x.spooled = f
	if _, err := f.Write(x.replay[:n]); err != nil {
		return err
	}
	rest, err := io.Copy(f, &x.body)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	req.SetBodyStream(f, n+int(rest))
	x.streamed = true
	return nil
}

// requestServerName is the server's name as Apache has it under
// UseCanonicalName Off (SERVER_NAME, AJP's server_name): the client's
// Host without its port, else the ServerName.
func requestServerName(ctx *fasthttp.RequestCtx, vh *vhost) []byte {
	name := ctx.Host()
	if i := lastColon(name); i >= 0 {
		name = name[:i]
	}
	if len(name) == 0 {
		return []byte(vh.serverName)
	}
	return name
}

// remotePort appends the client's port.
func remotePort(dst []byte, ctx *fasthttp.RequestCtx) []byte {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return strconv.AppendInt(dst, int64(a.Port), 10)
	}
	return dst
}

// appendEnvVars appends the request's variables: what SetEnv, SetEnvIf
// and [E=] set, and HTTPS. The balancer's are not among them: the member
// is not chosen when they are built, as in Apache.
func (s *Server) appendEnvVars(dst []byte, ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, x *exchange) []byte {
	requestEnv(ctx, rt, vh, x, func(name string, val []byte) { dst = fastcgi.AppendPair(dst, name, val) })
	return dst
}

// requestEnv calls add with each variable of the request: what SetEnv,
// SetEnvIf and [E=] set, and mod_ssl's HTTPS.
func requestEnv(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, x *exchange, add func(name string, val []byte)) {
	hm := vh.mods
	if hm == nil {
		if ctx.IsTLS() {
			add("HTTPS", httpsOn)
		}
		return
	}
	mr := modsReqPool.Get().(*modsReq)
	defer modsReqPool.Put(mr)
	mr.fill(ctx, vh, hm, x.requestPath(ctx))
	mr.startEnv(hm, x)
	vars := rt.cfg.Vars()
	for v := modheaders.HTTPS; int(v) < vars.Len(); v++ {
		if val, ok := mr.env.Get(v); ok {
			add(vars.Name(v), val)
		}
	}
}

// appendHTTPVars appends the request's fields as Apache's
// ap_add_common_vars does; from an untrusted peer (trusted_proxies set,
// threats.md HDR-03) without the forwarding fields it may not assert.
func appendHTTPVars(dst []byte, h *fasthttp.RequestHeader, passAuth, untrusted bool) []byte {
	i := -1
	for k, v := range h.All() {
		i++
		switch {
		case !cgiName(k),
			!passAuth && (anycase.SameName(k, "Authorization") || anycase.SameName(k, "Proxy-Authorization")),
			anycase.SameName(k, "Proxy"),
			untrusted && headers.ClientForwarding(k),
			seenBefore(h, k, i):
			continue
		}
		// Repeated fields are one variable, their values joined by ", ":
		// its length first, then its value.
		n := len(v)
		for k2, v2 := range fieldsAfter(h, i) {
			if headers.SameName(k, k2) {
				n += len(", ") + len(v2)
			}
		}
		switch {
		case anycase.SameName(k, "Content-Type"):
			dst = fastcgi.AppendLengths(dst, len("CONTENT_TYPE"), n)
			dst = append(dst, "CONTENT_TYPE"...)
		case anycase.SameName(k, "Content-Length"):
			dst = fastcgi.AppendLengths(dst, len("CONTENT_LENGTH"), n)
			dst = append(dst, "CONTENT_LENGTH"...)
		default:
			dst = fastcgi.AppendLengths(dst, len("HTTP_")+len(k), n)
			dst = append(dst, "HTTP_"...)
			for _, c := range k {
				switch {
				case c == '-':
					c = '_'
				case 'a' <= c && c <= 'z':
					c -= 'a' - 'A'
				}
				dst = append(dst, c)
			}
		}
		dst = append(dst, v...)
		if n > len(v) {
			for k2, v2 := range fieldsAfter(h, i) {
				if headers.SameName(k, k2) {
					dst = append(append(dst, ", "...), v2...)
				}
			}
		}
	}
	return dst
}

// fieldsAfter yields h's fields after the first n+1, in All's order.
func fieldsAfter(h *fasthttp.RequestHeader, n int) func(func(k, v []byte) bool) {
	return func(yield func(k, v []byte) bool) {
		j := -1
		for k, v := range h.All() {
			if j++; j > n && !yield(k, v) {
				return
			}
		}
	}
}

// seenBefore reports whether one of h's first n fields is called k.
func seenBefore(h *fasthttp.RequestHeader, k []byte, n int) bool {
	j := 0
	for k2 := range h.All() {
		if j == n {
			return false
		}
		j++
		if headers.SameName(k, k2) {
			return true
		}
	}
	return false
}

// cgiName reports whether a field name becomes a CGI variable: letters,
// digits and '-' only.
func cgiName(k []byte) bool {
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return len(k) > 0
}

// backendHost is a direct worker's Host, "" for a balancer's route.
func (r *route) backendHost() string {
	if r.direct != nil {
		return r.direct.HostHeader
	}
	return ""
}

// proto is what the route's members speak.
func (r *route) proto() pool.Protocol {
	switch {
	case r.direct != nil:
		return r.direct.Proto
	case r.balancer != nil:
		return r.balancer.Load().Proto
	}
	return pool.HTTP
}
