package server

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/ajp"
	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/pool"
)

// exchange is one request's scratch space, pooled so the request path does
// not allocate.
type exchange struct {
	path   []byte // target path + rest of the client path, encoded
	uri    []byte // outbound request-target
	val    []byte // rewritten header value
	origin []byte // client-facing scheme://host
	tried  lb.Tried
	body   limitedBody
	conn   net.Conn // a tunnel's backend connection
	// route is the sticky route the request asked for (aliases the request,
	// or cookies); routeByURL: it came from the URL parameter.
	route      []byte
	routeByURL bool
	// cookies joins a request's Cookie fields where it has several
	// (cookieHeader).
	cookies []byte
	// waitUntil ends the balancer timeout wait; zero until the first wait.
	waitUntil time.Time
	// replay holds a request body read whole so a retry can send it again;
	// its capacity is kept across requests (at most prefetchBody).
	replay []byte
	// streamed is set when the body goes to the member as a stream, which
	// a retry cannot send again.
	streamed bool
	// call is the request's hold on its member connection, which watch
	// aborts when the client goes away.
	call  pool.Call
	watch clientWatch
	// keptPath is the URL-path under AllowEncodedSlashes NoDecode when the
	// client's path holds a %2F: decoded but for those, which keepSlashes
	// then sends on as they are. nil otherwise.
	keptPath    []byte
	keepSlashes bool
	// preserveHost is ProxyPreserveHost as it applies to this request.
	preserveHost bool
	// env are the variables the rewrite rules' [E=] flags set.
	env []envValue
	// proto is what the route's members speak; for FastCGI, params holds
	// the CGI environment sent to one: paramsLen bytes for every member,
	// then the member's SCRIPT_FILENAME (for AJP, the forward request).
	proto     pool.Protocol
	params    []byte
	paramsLen int
	// vh is the request's host, for a FastCGI or AJP member; ajp builds
	// an AJP forward request in params.
	vh  *vhost
	ajp ajp.Request
	// spooled holds a chunked body too large for replay (spool).
	spooled *os.File
	// scriptLen is set (> 0) when a file handler took the request: the
	// script is the first scriptLen bytes of the request path, the rest
	// PATH_INFO.
	scriptLen int
	// headerScratch is the Header rules' working memory where they read
	// no variables (responseHeaders).
	headerScratch modheaders.Scratch
	// lines is what headers.Check saw of the client's fields: an Upgrade
	// field, which may ask for a tunnel (upgradeRequest), the Cookie field
	// (cookieHeader), and where each field is (forwardRequest).
	lines headers.Lines
	// ownHead: the request goes out with the field lines in fields, built
	// from the client's (prepareRequest, forwardRequest) and edited by the
	// RequestHeader rules (requestHeaders).
	ownHead bool
	fields  modheaders.Lines
	// mods is the modsReq the request's header rules share (proxiedMods).
	mods *modsReq
}

// requestPath is the URL-path routes, rules and scopes match: the
// decoded path, or keptPath.
func (x *exchange) requestPath(ctx *fasthttp.RequestCtx) []byte {
	if x.keptPath != nil {
		return x.keptPath
	}
	return ctx.Path()
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func acquireExchange() *exchange { return exchangePool.Get().(*exchange) }

func releaseExchange(x *exchange) {
	x.tried = lb.Tried{}
	x.body = limitedBody{}
	x.conn = nil
	x.route = nil
	x.waitUntil = time.Time{}
	x.call.Reset()
	x.keptPath, x.keepSlashes = nil, false
	x.preserveHost, x.ownHead = false, false
	x.lines.Release()
	if x.mods != nil {
		modsReqPool.Put(x.mods)
		x.mods = nil
	}
	x.env = x.env[:0]
	x.proto, x.scriptLen, x.vh = pool.HTTP, 0, nil
	if x.spooled != nil {
		_ = x.spooled.Close()
		x.spooled = nil
	}
	exchangePool.Put(x)
}

// handle is the fasthttp handler: validate, route, proxy.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	defer s.recoverPanic(ctx)
	rt := s.rt.Load()
	// Taken first: Check fills in x.lines what the proxying reads.
	x := acquireExchange()
	defer releaseExchange(x)
	if status, _ := headers.Check(ctx, &x.lines); status != 0 {
		s.refuse(ctx, status)
		return
	}
	if ctx.IsOptions() && string(ctx.RequestURI()) == "*" {
		// OPTIONS * asks about the server, not a resource: sluice answers
		// it (fasthttp would forward it as "/*").
		ctx.Response.Header.Set("Allow", allowedMethods)
		ctx.SetStatusCode(fasthttp.StatusOK)
		s.logRequest(ctx, s.now(), 0)
		return
	}
	vh := rt.vhostOf(ctx)
	// One return for both: more returns would turn handle's deferred
	// calls from inlined into runtime ones (Go inlines defers only while
	// defers × returns ≤ 15), about 200 instructions per request.
	if rt.tlsDiffer && s.misdirected(ctx, rt, vh) || len(vh.managers) > 0 && s.manage(ctx, vh) {
		return
	}
	raw := ctx.URI().PathOriginal()
	if hasEncodedSlash(raw) {
		// Apache's AllowEncodedSlashes: Off refuses, On decodes (fasthttp
		// did), NoDecode keeps them encoded.
		switch vh.cfg.EncodedSlashes {
		case "on":
		case "nodecode":
			x.keptPath, x.keepSlashes = appendKeepingSlashes(make([]byte, 0, len(raw)), raw), true
		default:
			s.fail(ctx, fasthttp.StatusNotFound)
			return
		}
	}
	if s.rewrite(ctx, rt, vh, x) {
		return
	}
	path := x.requestPath(ctx)
	var r *route
	for _, candidate := range vh.routes {
		if out, ok := candidate.match(x.path[:0], path, raw, x.keepSlashes); ok {
			r, x.path = candidate, out
			break
		}
	}
	if r == nil || r.exclude || x.noProxy(ctx, vh) {
		if len(vh.redirects) > 0 && s.redirect(ctx, vh, path, x) {
			return
		}
		if r = vh.fileRoute(path, x); r == nil {
			s.fail(ctx, fasthttp.StatusNotFound)
			return
		}
	}
	s.proxyRoute(ctx, rt, vh, r, x)
}

// proxyRoute is the tail of every proxied request, whether a ProxyPass or
// a RewriteRule [P] chose the route: access rules, the body limit, then a
// tunnel or a proxied exchange.
func (s *Server) proxyRoute(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, x *exchange) {
	if !s.permit(ctx, rt, vh, r, x) {
		return
	}
	if vh.maxBody > 0 && int64(ctx.Request.Header.ContentLength()) > vh.maxBody {
		s.refuse(ctx, fasthttp.StatusRequestEntityTooLarge)
		return
	}
	if x.lines.Upgrade {
		if proto, ok := upgradeRequest(ctx); ok && r.allowsUpgrade(proto) {
			s.tunnel(ctx, vh, r, x, proto)
			return
		}
	}
	s.proxy(ctx, rt, vh, r, x)
}

// recoverPanic keeps one broken request from taking the process down.
func (s *Server) recoverPanic(ctx *fasthttp.RequestCtx) {
	if v := recover(); v != nil {
		s.log.Error("panic serving request", "panic", v, "stack", string(debug.Stack()))
		s.refuse(ctx, fasthttp.StatusInternalServerError)
	}
}

// fail answers with an error page and logs the request.
func (s *Server) fail(ctx *fasthttp.RequestCtx, status int) {
	s.errorResponse(ctx, status)
	s.logRequest(ctx, s.now(), len(ctx.Response.Body()))
}

// refuse answers like fail and closes the connection: after a refused or
// half-read request the next bytes on it cannot be trusted to start a
// request.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, status int) {
	errorPage(ctx, status)
	ctx.SetConnectionClose()
	s.logRequest(ctx, s.now(), len(ctx.Response.Body()))
}

// statusClientGone is nginx's 499, logged for a request whose client left
// before its answer came (threats.md RES-08); nothing reaches the client.
const statusClientGone = 499

// abandoned ends a request whose client went away: it is logged with 499
// and its connection closed without a byte written, as nginx does (a
// client that only half-closed may still be reading).
func (s *Server) abandoned(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(statusClientGone)
	ctx.SetConnectionClose()
	mute(ctx.Conn())
	s.logRequest(ctx, s.now(), 0)
}

// proxy forwards the request to the route's member, failing over between
// balancer members while nothing of the request has reached one.
func (s *Server) proxy(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, r *route, x *exchange) {
	o := outboundPool.Get().(*outbound)
	req, resp := &o.req, &o.resp
	if err := prepareRequest(req, ctx, rt, vh, bodyFor(r, ctx, x), x); err != nil {
		o.release()
		s.refuse(ctx, clientBodyStatus(err))
		return
	}
	fwd := vh.forwarder(ctx, r, x)
	x.preserveHost = fwd.PreserveHost
	if x.proto == pool.HTTP { // an application gets no forwarding fields (bodyFor set it)
		forwardRequest(fwd, req, ctx, r.backendHost(), x)
	}
	s.requestHeaders(ctx, vh, &req.Header, x)
	// A FastCGI route's CGI environment, but for what names the member.
	s.gatewayRequest(ctx, rt, vh, r, &req.Header, x)

	// fasthttp read the clock as the handler started: reading it again
	// here would cost some 50 ns and tell nothing more.
	now := ctx.Time()
	watched := !rt.cfg.IgnoreClientAbort
	if watched {
		s.watches.start(&x.watch, ctx.Conn(), &x.call, now)
	}
	m, snap, err := s.withMember(ctx, r, x, now, req, resp, nil)
	if watched {
		s.watches.stop(&x.watch)
	}
	if len(x.replay) > 0 {
		// req must not keep x.replay once the exchange is released.
		req.SetBodyRaw(nil)
	}
	if m != nil && snap != nil {
		s.judge(snap, m, resp, err)
	}
	if err != nil {
		if m != nil {
			lb.Done(m, 0, 0)
		}
		s.log.Debug("proxy error", "member", memberName(m), "err", err)
		o.release()
		if statusFor(err) == statusClientGone {
			s.abandoned(ctx)
			s.observe(ctx, m, snap, s.now())
			return
		}
		if x.body.failed {
			// The client's body broke, not the backend: 400 or 408, and the
			// rest of this connection is not a request.
			s.refuse(ctx, clientBodyStatus(err))
			s.observe(ctx, m, snap, s.now())
			return
		}
		s.fail(ctx, statusFor(err))
		s.observe(ctx, m, snap, s.now())
		return
	}
	s.respond(ctx, rt, vh, o, m, snap, x)
}

func memberName(m *pool.Member) string {
	if m == nil {
		return ""
	}
	return m.Name
}

// bodyHandling is how prepareRequest takes a request body.
type bodyHandling uint8

const (
	streamBody bodyHandling = iota
	// replayBody reads a small body whole, for a retry to send again.
	replayBody
	// spoolBody reads a chunked body whole, for FastCGI's CONTENT_LENGTH.
	spoolBody
)

// bodyFor is the body handling r's requests need; it notes in x what the
// route's members speak.
func bodyFor(r *route, ctx *fasthttp.RequestCtx, x *exchange) bodyHandling {
	switch x.proto = r.proto(); {
	case x.proto == pool.FastCGI:
		return spoolBody
	case replayable(r, ctx):
		return replayBody
	}
	return streamBody
}

// prepareRequest copies the client request into req: method, headers (name
// case, order and duplicates kept; for ownHead only the method, the fields
// going out as the client sent them) and the body, streamed or, with
// replayBody, read whole into x.replay so that a retry can send it again
// (spoolBody: fastcgi.go's spool).
func prepareRequest(req *fasthttp.Request, ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, body bodyHandling, x *exchange) error {
	x.replay, x.streamed = x.replay[:0], false
	if x.ownHead = ownHead(ctx, vh, x); x.ownHead {
		// forwardRequest builds the fields; the header carries what the
		// transport and a retry read: method, target, Host, close.
		req.Header.SetMethodBytes(ctx.Method())
	} else {
		ctx.Request.Header.CopyTo(&req.Header)
		req.UseHostHeader = true
	}
	if x.proto != pool.HTTP {
		// sluice already answered 100 Continue to the client (fasthttp
		// does before the handler runs), so the application must not be
		// asked again (for HTTP members the Forwarder drops it, keeping
		// the order of the other fields, which Del does not).
		anycase.DelRequest(&req.Header, "Expect")
	}
	// ContentLength is -1 for chunked bodies, -2 for none (fasthttp).
	cl := ctx.Request.Header.ContentLength()
	if (cl <= 0 && cl != -1) || ctx.RequestBodyStream() == nil {
		return nil
	}
	x.body = limitedBody{r: ctx.RequestBodyStream(), left: vh.maxBody, length: int64(cl)}
	if c := clientOf(ctx.Conn()); c != nil {
		c.bodyWaits(rt.clientBody)
	}
	if body == spoolBody && cl == -1 {
		return x.spool(req)
	}
	if body != replayBody || cl < 0 || cl > prefetchBody { // cl < 0: chunked
		req.SetBodyStream(&x.body, cl)
		x.streamed = true
		return nil
	}
	if cap(x.replay) < cl {
		x.replay = make([]byte, 0, prefetchBody)
	}
	x.replay = x.replay[:cl]
	if _, err := io.ReadFull(&x.body, x.replay); err != nil {
		x.replay = x.replay[:0]
		return err
	}
	req.SetBodyRaw(x.replay)
	return nil
}

// ownHead reports whether the request's head is written from the client's
// own field lines (headers.Forwarder.AppendRequestFields, forwardRequest)
// instead of a copy of fasthttp's parsed header, edited and serialised
// again: a request to an HTTP member without a chunked body (its framing
// stays fasthttp's), whose host's RequestHeader rules can all edit field
// lines (headers.LineEditable), and without mod_remoteip, which edits
// the client's fields (remoteip.go).
func ownHead(ctx *fasthttp.RequestCtx, vh *vhost, x *exchange) bool {
	h := &ctx.Request.Header
	if x.proto != pool.HTTP || h.ContentLength() == -1 || len(h.RawHeaders()) == 0 || vh.remoteIP != nil {
		return false
	}
	return vh.mods == nil || vh.mods.requestLines
}

// forwardRequest applies fwd's hop-by-hop and forwarding rules to the
// outbound request: to its copied header, or for ownHead into the call's
// field lines, with Host set as Forwarder.Request sets it.
func forwardRequest(fwd *headers.Forwarder, req *fasthttp.Request, ctx *fasthttp.RequestCtx, backendHost string, x *exchange) {
	if !x.ownHead {
		fwd.Request(&req.Header, connPeerIP(ctx), ctx.RemoteIP(), ctx.Host(), backendHost, false)
		return
	}
	h := &ctx.Request.Header
	x.fields.B = fwd.AppendRequestFields(x.fields.B[:0], &x.lines, ctx.RemoteIP(), clientIPText(ctx), ctx.Host(), h.Protocol())
	if h.ContentLength() == 0 && (h.IsGet() || h.IsHead()) {
		// The transport frames only a body or a method that has one; the
		// client's own "Content-Length: 0" goes on as it came.
		x.fields.B = append(x.fields.B, "Content-Length: 0\r\n"...)
	}
	x.call.SetHeaderFields(x.fields.B)
	if x.preserveHost {
		// Else roundTrip has the member's own Host written.
		fwd.SetHost(&req.Header, ctx.Host(), backendHost)
	}
}

// replayable reports whether the request's body is worth reading whole
// before the first attempt: its balancer retries idempotent requests and
// its method is one (a chunked or larger body is streamed all the same).
func replayable(r *route, ctx *fasthttp.RequestCtx) bool {
	return r.balancer != nil && r.balancer.Load().Config.RetryIdempotent && pool.Idempotent(ctx.Method())
}

// clientBodyStatus is the status for a request body the client did not
// finish sending: 408 when it stalled, 400 when it was cut.
func clientBodyStatus(err error) int {
	if errors.Is(err, errBodyTooLarge) {
		return fasthttp.StatusRequestEntityTooLarge
	}
	if isTimeout(err) {
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// sentBytes is Apache's transferred count for the last attempt: what went
// to the member, head and body.
func sentBytes(x *exchange) int64 { return x.call.Sent() }

// roundTrip sends req to m, of balancer snapshot snap (nil for a direct
// worker), and reads the response head into resp.
func (s *Server) roundTrip(ctx *fasthttp.RequestCtx, req *fasthttp.Request, resp *fasthttp.Response, m *pool.Member, snap *pool.Snapshot, x *exchange) error {
	x.uri = appendMemberPath(x.uri[:0], m.Path, x.path)
	if q := ctx.URI().QueryString(); len(q) > 0 {
		x.uri = append(x.uri, '?')
		x.uri = append(x.uri, q...)
	}
	switch {
	case m.Proto != pool.HTTP || x.proto != pool.HTTP:
		req.SetRequestURIBytes(x.uri)
		if err := s.gatewayTarget(ctx, req, m, snap, x); err != nil {
			return err
		}
	case x.ownHead:
		// The head is sluice's own (forwardRequest): target and Host go
		// into it as they are, not copied into req's header first.
		host := m.HostHeader
		if preservesHost(ctx, x) {
			host = "" // the client's, in req's header
		}
		x.call.SetTarget(x.uri, host)
	default:
		req.SetRequestURIBytes(x.uri)
		if !preservesHost(ctx, x) {
			req.Header.SetHost(m.HostHeader)
		}
	}
	if m.Backend.Options.DisableReuse {
		req.SetConnectionClose()
	}
	be := memberPool(m, x, ctx.Host())
	err := be.Do(req, resp, &x.call)
	if errors.Is(err, pool.ErrStaleConn) {
		// Found before anything was written, body stream untouched; the
		// member's idle connections were dropped, so this dials afresh.
		err = be.Do(req, resp, &x.call)
	}
	if err == nil {
		m.State.MarkConnected()
	}
	return err
}

// preservesHost reports whether the member is sent the client's Host:
// with ProxyPreserveHost, unless the client (HTTP/1.0) sent none, when a
// balancer's member gets its own as a direct worker does (Forwarder.SetHost).
func preservesHost(ctx *fasthttp.RequestCtx, x *exchange) bool {
	return x.preserveHost && len(ctx.Host()) > 0
}

// memberPool is the pool a request to m goes through: with
// ProxyPreserveHost, the one whose TLS handshakes name host, the client's
// Host, as Apache sends it (r->hostname) as the server name.
func memberPool(m *pool.Member, x *exchange, host []byte) *pool.Backend {
	if x.preserveHost && m.TLS {
		return m.Backend.ForServerName(host)
	}
	return m.Backend
}

// respond copies the backend response to the client: status, headers
// (rewritten by ProxyPassReverse and the cookie rules, hop-by-hop removed)
// and the body, streamed.
func (s *Server) respond(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, o *outbound, m *pool.Member, snap *pool.Snapshot, x *exchange) {
	out, resp := &ctx.Response, &o.resp
	status := resp.StatusCode()
	if vh.cfg.ErrorOverride.Overrides(status) {
		// ProxyErrorOverride: the member's error page gives way to
		// sluice's, or the ErrorDocument. Its body is left unread, so its
		// connection is closed rather than pooled.
		s.dropAnswer(ctx, o, m, x, status)
		return
	}
	head := x.call.Head()
	if !relayable(status) || !copyResponseHeaders(ctx, vh, resp, head, x) {
		// Relaying it would pass the backend's confusion on; its connection
		// is closed, never pooled (threats.md SMG-15, HDR-12).
		resp.SetConnectionClose()
		s.dropAnswer(ctx, o, m, x, fasthttp.StatusBadGateway)
		return
	}
	out.SetStatusCode(status)
	reason := resp.Header.StatusMessage()
	if head != nil {
		reason = head.Reason()
	}
	if len(reason) > 0 && headers.IsFieldValue(reason) && string(reason) != fasthttp.StatusMessage(status) {
		// fasthttp writes its own status line for the usual reason.
		out.Header.SetStatusMessage(reason)
	}
	addRouteCookie(&out.Header, snap, m, x)
	if head != nil {
		vh.fwd.ResponseOf(&out.Header, head.Present(), ctx.Request.Header.Protocol())
	} else {
		vh.fwd.Response(&out.Header, false, ctx.Request.Header.Protocol())
	}
	s.responseHeaders(ctx, vh, m, snap, x)

	// Apache's byte accounting: transferred is the request head and body,
	// read the status line and body (bytraffic scores on these).
	sent := sentBytes(x)
	statusLine := int64(len("HTTP/1.1 000 ") + len(reason)) // as ap_getline gives it: no CRLF
	if ctx.IsHead() || pool.Bodyless(status) {
		skipBody(out, status, memberLength(resp, head))
		s.answered(ctx, rt, vh, o, m, x.call.TakeLease(), false, sent, statusLine, 0)
		return
	}
	cl := memberLength(resp, head)
	if cl < 0 {
		cl = -1 // chunked to the client, whatever framing the backend used
	}
	lease := x.call.TakeLease()
	r := pool.BodyReader(resp, lease)
	if w, ok := r.(wholeBody); ok && cl <= copiedBody {
		if body, ok := w.Whole(); ok {
			// The answer came whole with its head: the client's copy
			// takes its body, and the member's connection goes back now.
			out.KeepBodyBuffer = true // this connection's next answers may copy too
			out.SetBody(body)
			s.answered(ctx, rt, vh, o, m, lease, true, sent, statusLine+int64(len(body)), len(body))
			return
		}
	}
	relay := &o.relay
	*relay = bodyRelay{s: s, ctx: ctx, rt: rt, vh: vh, o: o, lease: lease, m: m,
		sent: sent, head: statusLine, r: r, cl: int64(cl)}
	if cl < 0 && !ctx.Request.Header.IsHTTP11() {
		s.relayUntilClose(ctx, relay)
		return
	}
	if c := spliceSink(ctx.Conn()); c != nil && cl >= pool.SpliceMin && relay.lease != nil && relay.lease.Spliceable() {
		// The head leaves fasthttp's buffer at once and waits in the
		// connection for the body bytes read with it; the rest of the
		// body follows by splice, socket to socket.
		relay.splice = true
		out.ImmediateHeaderFlush = true
		c.holdHead()
	}
	out.SetBodyStream(relay, cl)
}

// relayUntilClose sends an answer of unknown length to an HTTP/1.0
// client, which must not get chunked framing (RFC 9112 §6.1): the head
// goes without a length and with "Connection: close", and the body after
// it until the connection closes, as nginx and Apache send it. fasthttp
// chunks every stream it writes, so sluice takes the connection and writes
// both itself. A shutdown waits for it as for a tunnel.
func (s *Server) relayUntilClose(ctx *fasthttp.RequestCtx, relay *bodyRelay) {
	ctx.Response.Header.SetConnectionClose()
	head := ctx.Response.Header.AppendBytes(nil)
	// Tracked before the handler returns: past that, Shutdown no longer
	// waits for the hijack to start. fasthttp's c cannot be closed by a
	// shutdown; ctx.Conn() can.
	conn := ctx.Conn()
	s.trackTunnel(conn, true)
	hijack(ctx, func() {
		_ = relay.Close()
		s.trackTunnel(conn, false)
	}, func(c net.Conn) {
		defer s.trackTunnel(conn, false)
		if _, err := c.Write(head); err == nil {
			_, _ = relay.WriteTo(c)
		}
		_ = relay.Close()
	})
}

// skipBody sends the client's answer, one to HEAD or of a status without
// a body, with none, and with the member's length cl where the status
// allows one (RFC 9110 §8.6: not for 1xx and 204).
func skipBody(out *fasthttp.Response, status, cl int) {
	if cl >= 0 && status >= 200 && status != fasthttp.StatusNoContent {
		out.Header.SetContentLength(cl)
	}
	out.SkipBody = true
}

// copiedBody is the largest body sluice copies into the client's response
// when the member's reader holds it whole, instead of relaying it: the
// copy stays with the client connection's response (KeepBodyBuffer).
const copiedBody = 4 << 10

// answered ends an exchange once its answer is out, or copied, or has no
// body: the member's connection goes back to the pool when complete, else
// is closed; then the accounting, the log, and o back to its pool, last
// (o holds the relay, whose Close may be called again after a panic
// here). Its clock reading is the answer's end (clientConn.awaits).
func (s *Server) answered(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, o *outbound, m *pool.Member, lease pool.Lease, complete bool, sent, read int64, body int) {
	closeBody(&o.resp, lease, complete)
	lb.Done(m, sent, read)
	now := s.now()
	if c := clientOf(ctx.Conn()); c != nil {
		c.idleAt, c.fresh = now.UnixNano(), true
	}
	s.observe(ctx, m, nil, now)
	s.logServed(ctx, rt, vh, now, body)
	o.release()
}

// dropAnswer answers the client with status instead of the member's
// answer, whose body goes unread and whose connection is closed.
func (s *Server) dropAnswer(ctx *fasthttp.RequestCtx, o *outbound, m *pool.Member, x *exchange, status int) {
	closeBody(&o.resp, x.call.TakeLease(), false)
	lb.Done(m, sentBytes(x), 0)
	o.release()
	s.fail(ctx, status)
	s.observe(ctx, m, nil, s.now())
}

// memberLength is the length of the member's body as its answer framed
// it (fasthttp's ContentLength: -1 chunked, -2 until the member closes),
// from head as the transport read it, else from resp's header.
func memberLength(resp *fasthttp.Response, head *pool.ResponseHead) int {
	if head != nil {
		return head.Length()
	}
	return resp.Header.ContentLength()
}

// relayable rejects the statuses sluice must not relay: outside 100–599,
// and a 101 that nobody asked for (tunnels do not come here).
func relayable(status int) bool {
	return status >= 100 && status <= 599 && status != fasthttp.StatusSwitchingProtocols
}

// copyResponseHeaders copies the member's fields to the client response,
// rewriting Location-like fields and Set-Cookie: from head, as the
// transport read it, or else (AJP, FastCGI, an upgrade's answer) from
// resp's header. It reports false, having copied part of them, when a
// field name in resp's header is not a token (fasthttp keeps "X Y: z"):
// such a response must not be relayed.
func copyResponseHeaders(ctx *fasthttp.RequestCtx, vh *vhost, resp *fasthttp.Response, head *pool.ResponseHead, x *exchange) bool {
	out := &ctx.Response.Header
	out.DisableNormalizing()
	out.SetNoDefaultContentType(true)
	reqPath := x.requestPath(ctx)
	if !vh.reverse.Empty() {
		// The client's origin, which ProxyPassReverse makes a path absolute
		// with; none (a path stays a path) for a request without a Host
		// to a host without a ServerName.
		scheme := "http://"
		if ctx.IsTLS() {
			scheme = "https://"
		}
		x.origin = x.origin[:0]
		if host := ctx.Host(); len(host) > 0 {
			x.origin = append(append(x.origin, scheme...), host...)
		} else if vh.hostless != "" {
			x.origin = append(append(x.origin, scheme...), vh.hostless...)
		}
	}
	if head != nil {
		// Its names and values were checked as it was read.
		var seen uint64 // the names met so far, by nameBit
		for i := range head.Fields() {
			k, v := head.Field(i)
			bit := nameBit(k)
			copyField(out, vh, k, v, reqPath, x, seen&bit == 0 || !namedBefore(head, i, k))
			seen |= bit
		}
		return true
	}
	for k, v := range resp.Header.All() {
		if !headers.IsToken(k) {
			return false
		}
		copyField(out, vh, k, v, reqPath, x, false)
	}
	return true
}

// namedBefore reports whether a field of head before the i-th is named k,
// in any case: asked only where nameBit says it may be.
func namedBefore(head *pool.ResponseHead, i int, k []byte) bool {
	for j := range i {
		if name := head.Name(j); len(name) == len(k) && headers.SameName(name, k) {
			return true
		}
	}
	return false
}

// nameBit is one of 64 bits for a field name, the same for names that
// differ only in case.
func nameBit(k []byte) uint64 {
	return 1 << ((uint(len(k)) + 3*uint(k[0]|0x20) + 5*uint(k[len(k)-1]|0x20)) & 63)
}

// copyField adds one of the member's fields to out, less the body's
// framing, with ProxyPassReverse and the cookie rules applied. first is
// set for a field whose name and value were checked (no line break) and
// whose name no field before it may have had: fasthttp's SetCanonical
// then takes it without the two copies and the scans AddBytesKV makes,
// and cannot replace an earlier field of the same name.
func copyField(out *fasthttp.ResponseHeader, vh *vhost, k, v, reqPath []byte, x *exchange, first bool) {
	switch responseField(k) {
	case framingField, dateField:
		return
	case typeField:
		out.SetContentTypeBytes(v) // what AddBytesKV comes to, less two copies
		return
	case serverField:
		out.SetServerBytes(v)
		return
	case connectionField:
		if headers.OnlyToken(v, "close") {
			return
		}
	case uriField:
		if !vh.reverse.Empty() {
			if nv, ok := vh.reverse.Apply(x.val[:0], v, reqPath, x.origin); ok {
				x.val, v = nv, nv
			}
		}
	case cookieField:
		if !vh.cookies.Empty() {
			if nv, ok := vh.cookies.Apply(x.val[:0], v, reqPath); ok {
				x.val, v = nv, nv
			}
		}
		// fasthttp adds a Set-Cookie by either call, one that came before
		// with the same cookie name kept: SetCanonical skips AddBytesKV's
		// copy and check of the name, which fasthttp writes as its own.
		out.SetCanonical(k, v)
		return
	default:
		if first {
			out.SetCanonical(k, v)
			return
		}
	}
	out.AddBytesKV(k, v)
}

// What copyResponseHeaders does with a member's field.
const (
	plainField   = iota
	framingField // Content-Length, Transfer-Encoding: fasthttp frames the body itself
	uriField     // a URI ProxyPassReverse rewrites
	cookieField  // Set-Cookie, for ProxyPassReverseCookieDomain/Path
	dateField    // Date: fasthttp writes its own, and drops one added
	typeField    // Content-Type, which fasthttp keeps apart
	serverField  // Server, likewise
	// Connection: one that says only "close" is dropped, for fasthttp
	// would drop every Connection field with it, the lists of the fields
	// to remove too; the member's close is not the client's anyway.
	connectionField
)

// responseField classifies a member's field name for copyResponseHeaders,
// comparing it only with the names of its length, spelt as members
// usually spell them (SameName's fast case).
func responseField(k []byte) int {
	switch len(k) {
	case 3:
		if anycase.SameName(k, "URI") {
			return uriField
		}
	case 4:
		if anycase.SameName(k, "Date") {
			return dateField
		}
	case 6:
		if anycase.SameName(k, "Server") {
			return serverField
		}
	case 8:
		if anycase.SameName(k, "Location") {
			return uriField
		}
	case 10:
		if anycase.SameName(k, "Set-Cookie") {
			return cookieField
		}
		if anycase.SameName(k, "Connection") {
			return connectionField
		}
	case 11:
		if anycase.SameName(k, "Destination") {
			return uriField
		}
	case 12:
		if anycase.SameName(k, "Content-Type") {
			return typeField
		}
	case 14:
		if anycase.SameName(k, "Content-Length") {
			return framingField
		}
	case 16:
		if anycase.SameName(k, "Content-Location") {
			return uriField
		}
	case 17:
		if anycase.SameName(k, "Transfer-Encoding") {
			return framingField
		}
	}
	return plainField
}

// bodyRelay streams a backend response body to the client. fasthttp closes
// it once the response is written; Close then releases the backend
// response (returning the connection to the pool) and does the accounting.
type bodyRelay struct {
	s     *Server
	ctx   *fasthttp.RequestCtx
	rt    *runtime // the configuration and host that served the request
	vh    *vhost
	o     *outbound  // the request and response it belongs to
	lease pool.Lease // o.resp's connection; nil under ping, whose stream owns it
	m     *pool.Member
	r     io.Reader
	sent  int64
	head  int64 // status line bytes
	n     int64
	cl    int64 // the body's length; -1 until the member closes or chunked
	eof   bool
	// splice moves the body socket to socket (a plain member and client,
	// a known length of at least pool.SpliceMin).
	splice bool
	// closed is set as Close begins: fasthttp recovers a panic in writing
	// a body stream and then closes the stream again, which must not
	// release the member connection twice.
	closed bool
}

// outbound is a proxied request's member side: the request sent, the
// member's answer, and the relay of its body, which outlive the handler
// while the body streams. One pooled object, not three.
type outbound struct {
	req   fasthttp.Request
	resp  fasthttp.Response
	relay bodyRelay
}

var outboundPool = sync.Pool{New: func() any { return new(outbound) }}

// release resets o, as fasthttp's ReleaseRequest and ReleaseResponse
// would reset its parts, and pools it.
func (o *outbound) release() {
	o.req.Reset()
	o.resp.Reset()
	o.relay = bodyRelay{}
	outboundPool.Put(o)
}

func (b *bodyRelay) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.eof = err == io.EOF
	return n, err
}

// SupportsBodyWriteTo lets fasthttp hand the client connection to WriteTo,
// which copies through a pooled 32 KiB buffer: fasthttp's own copy uses
// 4 KiB (eight times the system calls for a large body), and without this
// its fixed-size path falls back to io.Copy, which allocates 32 KiB per
// response.
func (b *bodyRelay) SupportsBodyWriteTo() bool { return true }

// wholeBody is a member's body that can be taken whole from its
// connection's reader when that holds all of it (pool's fixedBody).
type wholeBody interface {
	Whole() (body []byte, ok bool)
}

var relayBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// WriteTo copies the body to w, counting bytes as Read does.
func (b *bodyRelay) WriteTo(w io.Writer) (int64, error) {
	if b.splice {
		if c := spliceSink(b.ctx.Conn()); c != nil {
			n, err := b.lease.SpliceBody(c, b.cl-b.n)
			b.n += n
			return n, err
		}
	}
	if wb, ok := b.r.(wholeBody); ok {
		if body, ok := wb.Whole(); ok {
			// Straight from the reader's buffer, without a copy through
			// relayBufs.
			k, err := w.Write(body)
			b.n += int64(k)
			b.eof = err == nil
			return int64(k), err
		}
	}
	bp := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(bp)
	buf := *bp
	var written int64
	for {
		n, rerr := b.Read(buf)
		if n > 0 {
			k, werr := w.Write(buf[:n])
			written += int64(k)
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

var _ fasthttp.BodyWriterTo = (*bodyRelay)(nil)

func (b *bodyRelay) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if c := clientOf(b.ctx.Conn()); c != nil && b.splice {
		// A head held for a body that never came still goes out, and a hold
		// that no write took (the head failed) ends here.
		_ = c.flushHeld()
	}
	// b goes with b.o, last.
	b.s.answered(b.ctx, b.rt, b.vh, b.o, b.m, b.lease, b.eof || b.cl >= 0 && b.n == b.cl, b.sent, b.head+b.n, int(b.n))
	return nil
}

// closeBody ends a member response's body: the connection goes back to the
// pool when the body was complete, else it is closed.
func closeBody(resp *fasthttp.Response, lease pool.Lease, complete bool) {
	if lease != nil {
		lease.Release(complete)
		return
	}
	_ = resp.CloseBodyStream()
}

// limitedBody reads the client's request body stream, failing once more
// than left bytes (when left > 0) have been read. Each of its reads may
// wait client_body for the client (clientConn.bodyWaits): one deadline
// for the request, as the head's, would cut long uploads that keep making
// progress.
type limitedBody struct {
	r    io.Reader
	left int64
	n    int64
	// length is the body's Content-Length, -1 for a chunked one.
	length int64
	// failed is set when reading the client's body failed or overran the
	// limit: the error is the client's, not the backend's. err is that
	// error, which every later read returns again.
	failed bool
	err    error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.failed {
		// fasthttp's chunked writer drops an error that comes with bytes
		// and reads on; the stream would then parse what follows a
		// broken chunk as the next one (RFC 9112 §7.1).
		return 0, l.err
	}
	if l.left > 0 && l.n >= l.left {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			l.failed, l.err = true, errBodyTooLarge
			return 0, l.err
		}
		return 0, io.EOF
	}
	if l.left > 0 && int64(len(p)) > l.left-l.n {
		p = p[:l.left-l.n]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if err == io.ErrUnexpectedEOF || err == io.EOF && l.n < l.length {
		// Not io.ErrUnexpectedEOF, which io.ReadFull's callers (the
		// FastCGI spool, AJP's body chunks) take for a short body's end;
		// nor the io.EOF fasthttp's stream ends a body of a
		// Content-Length the client stopped sending with, as if whole.
		err = errBodyCut
	}
	if err != nil && err != io.EOF {
		l.failed, l.err = true, err
	}
	return n, err
}

// methodFor returns the balancer's lbmethod; config validation rejects
// unknown names, so the fallback only covers an empty one.
func methodFor(name string) lb.Method {
	if m, ok := lb.MethodByName(name); ok {
		return m
	}
	m, _ := lb.MethodByName("byrequests")
	return m
}
