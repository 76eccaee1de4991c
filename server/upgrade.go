package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/pool"
	"github.com/sluiceproxy/sluice/sock"
)

// upgradeRequest reports the protocol a client asks to switch to: an
// Upgrade field together with a Connection field naming "upgrade", in an
// HTTP/1.1 request. An HTTP/1.0 one's Upgrade is ignored (RFC 9110 §7.8;
// its client may not get a 101, §15.2): it is dropped as hop-by-hop.
func upgradeRequest(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	if !ctx.Request.Header.IsHTTP11() {
		return nil, false
	}
	var proto []byte
	connUpgrade := false
	for k, v := range ctx.Request.Header.All() {
		switch {
		case anycase.SameName(k, "Upgrade"):
			proto = v
		case anycase.SameName(k, "Connection"):
			if headers.HasToken(v, "upgrade") {
				connUpgrade = true
			}
		}
	}
	return proto, connUpgrade && len(proto) > 0
}

// allowsUpgrade reports whether the route may tunnel proto: Apache needs
// upgrade=NAME (or ANY) on an http:// worker; ws:// and wss:// workers
// tunnel WebSocket. A balancer may when one of its members may, and the
// tunnel then picks among those (withMember). Otherwise the request goes
// on as a plain one, its Upgrade dropped as hop-by-hop, as Apache sends it
// to a worker that cannot upgrade.
func (r *route) allowsUpgrade(proto []byte) bool {
	if r.direct != nil {
		return memberAllows(r.direct, proto)
	}
	if r.balancer == nil {
		return false
	}
	for _, m := range r.balancer.Load().Members {
		if memberAllows(m, proto) {
			return true
		}
	}
	return false
}

func memberAllows(m *pool.Member, proto []byte) bool {
	u := m.Params.Upgrade
	switch {
	case m.Proto != pool.HTTP:
		return false // FastCGI and AJP have no tunnel: the request goes as any other
	case u == "*" || equalFoldStr(u, "ANY"):
		return true
	case u != "":
		return anycase.SameName(proto, u)
	}
	return (m.Scheme == "ws" || m.Scheme == "wss") && anycase.SameName(proto, "websocket")
}

func equalFoldStr(a, b string) bool { return anycase.SameName([]byte(a), b) }

// tunnel handles an Upgrade request: it dials a member itself (fasthttp's
// client cannot hand over a connection), relays the handshake and, on a
// 101 that agrees with the request, copies bytes both ways (splice). Any
// other answer is relayed as a normal response.
func (s *Server) tunnel(ctx *fasthttp.RequestCtx, vh *vhost, r *route, x *exchange, proto []byte) {
	if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 {
		// A body would have to reach the member before it switches,
		// and the tunnel relays none: refused, and the connection
		// closed, its unread body no request (docs/compatibility.md).
		s.refuse(ctx, fasthttp.StatusBadRequest)
		return
	}
	fwd := vh.forwarder(ctx, r, x)
	x.preserveHost = fwd.PreserveHost // the dial's server name (memberPool)
	m, snap, err := s.withMember(ctx, r, x, s.now(), nil, nil, proto)
	if err != nil {
		if m != nil {
			lb.Done(m, 0, 0)
		}
		status := statusFor(err)
		if err == errBadUpgrade {
			status = fasthttp.StatusBadRequest
		}
		s.fail(ctx, status)
		s.observe(ctx, m, snap, s.now())
		return
	}
	conn := x.conn
	m.State.MarkConnected()

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	ctx.Request.Header.CopyTo(&req.Header)
	req.UseHostHeader = true
	fwd.Request(&req.Header, connPeerIP(ctx), ctx.RemoteIP(), ctx.Host(), m.HostHeader, true)
	s.requestHeaders(ctx, vh, &req.Header, x)
	x.uri = appendMemberPath(x.uri[:0], m.Path, x.path)
	if q := ctx.URI().QueryString(); len(q) > 0 {
		x.uri = append(append(x.uri, '?'), q...)
	}
	req.SetRequestURIBytes(x.uri)
	if m.TLS {
		req.URI().SetScheme("https")
	}

	timeout := m.Backend.Options.Timeout
	_ = conn.SetDeadline(time.Now().Add(timeout))
	sent := &counter{w: conn}
	bw := bufio.NewWriter(sent)
	br := bufio.NewReaderSize(conn, m.Backend.Options.HeaderBytes) // the head must fit
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.DisableNormalizing()
	resp.Header.SetNoDefaultContentType(true) // none invented (threats.md HDR-06)
	if err = req.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = pool.ReadFinalHeader(&resp.Header, br)
	}
	if snap != nil {
		// failonstatus and failontimeout, as for any balancer request.
		s.judge(snap, m, resp, err)
	}
	if err != nil {
		_ = conn.Close()
		lb.Done(m, sent.n, 0)
		s.fail(ctx, statusFor(err))
		s.observe(ctx, m, nil, s.now())
		return
	}
	// Apache's byte accounting, as for any request: transferred is the
	// head sent, read the status line and body.
	read := int64(len("HTTP/1.1 000 ") + len(resp.Header.StatusMessage())) // no CRLF, as ap_getline gives it
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		s.relayRefusal(ctx, vh, m, snap, x, resp, br, sent.n, read)
		_ = conn.Close()
		return
	}
	if got := resp.Header.Peek("Upgrade"); !anycase.SameName(got, string(proto)) && !hasUpgradeField(resp, proto) {
		_ = conn.Close()
		lb.Done(m, sent.n, read)
		s.fail(ctx, fasthttp.StatusBadGateway)
		s.observe(ctx, m, nil, s.now())
		return
	}
	if !copyResponseHeaders(ctx, vh, resp, nil, x) {
		_ = conn.Close()
		lb.Done(m, sent.n, read)
		s.fail(ctx, fasthttp.StatusBadGateway)
		s.observe(ctx, m, nil, s.now())
		return
	}
	_ = conn.SetDeadline(time.Time{})
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	addRouteCookie(&ctx.Response.Header, snap, m, x)
	vh.fwd.Response(&ctx.Response.Header, true, ctx.Request.Header.Protocol())
	s.responseHeaders(ctx, vh, m, snap, x)
	s.observe(ctx, m, nil, s.now())
	s.logRequest(ctx, s.now(), 0)

	// The tunnel writes the 101 itself, and with it the bytes the member
	// sent right after its own (already in br): fasthttp would skip the
	// handler after writing the head where the client named close or the
	// server shuts down, leaving the member's connection and busy count
	// held, and would add its Connection: close to the 101.
	out := ctx.Response.Header.AppendBytes(nil)
	pending, _ := br.Peek(br.Buffered())
	out = append(out, pending...)
	// Tracked before the handler returns: past that, Shutdown no longer
	// waits for the hijack to start.
	s.trackTunnel(conn, true)
	unlimit(ctx.Conn()) // a tunnel reads while it writes: no per-request budget
	hijack(ctx, func() {
		_ = conn.Close()
		s.trackTunnel(conn, false)
		lb.Done(m, sent.n, read)
	}, func(client net.Conn) {
		defer s.trackTunnel(conn, false)
		defer lb.Done(m, sent.n, read)
		raw := unhijacked(client)
		s.trackTunnel(raw, true)
		defer s.trackTunnel(raw, false)
		if _, err := raw.Write(out); err != nil {
			_ = conn.Close()
			return
		}
		splice(client, raw, conn, timeout)
	})
}

// hijack takes ctx's connection for handler, which writes the answer
// itself, and runs end instead when fasthttp does not run handler: it
// closes the connection without handing it over when it cannot (a failed
// flush or SetDeadline, the client gone). What the handler would have
// released is released either way: connState hears of that close
// (fasthttp's StateClosed, which a handed-over connection never reaches).
func hijack(ctx *fasthttp.RequestCtx, end func(), handler fasthttp.HijackHandler) {
	g := &hijackGuard{end: end}
	conn := ctx.Conn()
	pendingHijacks.add(conn, g)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		pendingHijacks.take(conn)
		if g.started.Swap(true) {
			return // ended already
		}
		handler(c)
	})
}

// hijackGuard runs end unless the hijack handler started first.
type hijackGuard struct {
	started atomic.Bool
	end     func()
}

func (g *hijackGuard) skipped() {
	if !g.started.Swap(true) {
		g.end()
	}
}

// pendingHijacks are the hijacks whose handler has not started, by client
// connection. n spares connState a map lookup at every close while none
// is pending, as nearly always.
var pendingHijacks hijacks

type hijacks struct {
	n atomic.Int64
	m sync.Map // net.Conn → *hijackGuard
}

func (h *hijacks) add(c net.Conn, g *hijackGuard) {
	h.n.Add(1)
	h.m.Store(c, g)
}

// take removes c's guard, if pending, and returns it.
func (h *hijacks) take(c net.Conn) *hijackGuard {
	if h.n.Load() == 0 {
		return nil
	}
	g, ok := h.m.LoadAndDelete(c)
	if !ok {
		return nil
	}
	h.n.Add(-1)
	return g.(*hijackGuard)
}

// answerStatus is the status for a member's answer that could not be
// read: the member's failure, 504 where it went quiet and 502 otherwise,
// even for a body over the limit (statusFor's 413 blames the client).
func answerStatus(err error) int {
	if isTimeout(err) {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// relayRefusal relays a member's answer to an upgrade that does not switch
// protocols as a normal response, its head already in resp and the rest
// in br; sent and read are the handshake's bytes so far.
func (s *Server) relayRefusal(ctx *fasthttp.RequestCtx, vh *vhost, m *pool.Member, snap *pool.Snapshot, x *exchange,
	resp *fasthttp.Response, br *bufio.Reader, sent, read int64) {
	status := resp.StatusCode()
	// The answer to a HEAD, a 204 and a 304 have no body, whatever
	// their Content-Length says.
	noBody := ctx.IsHead() || pool.Bodyless(status)
	var err error
	if !noBody {
		err = resp.ReadBody(br, 64<<20)
	}
	lb.Done(m, sent, read+int64(len(resp.Body())))
	if err != nil || !relayable(status) || !copyResponseHeaders(ctx, vh, resp, nil, x) {
		s.fail(ctx, answerStatus(err)) // a malformed answer (err nil): 502
		s.observe(ctx, m, nil, s.now())
		return
	}
	ctx.SetStatusCode(status)
	addRouteCookie(&ctx.Response.Header, snap, m, x)
	vh.fwd.Response(&ctx.Response.Header, false, ctx.Request.Header.Protocol())
	s.responseHeaders(ctx, vh, m, snap, x)
	if noBody {
		skipBody(&ctx.Response, status, resp.Header.ContentLength())
	} else {
		ctx.SetBody(resp.Body())
	}
	s.observe(ctx, m, nil, s.now())
	s.logRequest(ctx, s.now(), len(resp.Body()))
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// hasUpgradeField looks the Upgrade field up case-insensitively.
func hasUpgradeField(resp *fasthttp.Response, proto []byte) bool {
	for k, v := range resp.Header.All() {
		if anycase.SameName(k, "Upgrade") && anycase.SameName(v, string(proto)) {
			return true
		}
	}
	return false
}

// splice copies both ways between the client, read through client (which
// holds what fasthttp read ahead) and written, half-closed and closed
// through raw, and the member, and closes both connections once both
// directions ended, or once neither read a byte for idle: Apache's tunnel
// polls both sides with the worker's timeout.
func splice(client, raw, member net.Conn, idle time.Duration) {
	// When either direction last read, in Unix nanoseconds; the real
	// clock, as the sockets' deadlines.
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		if pipe(dst, src, idle, &last) {
			// The other direction may wait in a read or a write.
			_ = raw.Close()
			_ = member.Close()
		} else if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go cp(raw, member)
	go cp(member, client)
	<-done
	<-done
	_ = raw.Close()
	_ = member.Close()
}

// pipe copies src to dst until src ends or fails, or reports true when
// neither direction read for idle since last, or a write waited idle (a
// peer that stopped reading: after a half-close no read on the other
// direction would notice). src's deadline moves only when it fires: a read
// costs a clock reading, not a timer update.
func pipe(dst, src net.Conn, idle time.Duration, last *atomic.Int64) bool {
	buf := make([]byte, 32<<10)
	_ = src.SetReadDeadline(time.Now().Add(idle))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			last.Store(now.UnixNano())
			_ = dst.SetWriteDeadline(now.Add(idle))
			if _, err := dst.Write(buf[:n]); err != nil {
				return isTimeout(err)
			}
		}
		if err == nil {
			continue
		}
		if !isTimeout(err) {
			return false
		}
		at := time.Unix(0, last.Load()).Add(idle)
		if !time.Now().Before(at) {
			return true
		}
		_ = src.SetReadDeadline(at) // the other direction read meanwhile
	}
}

// unhijacked is the connection under fasthttp's hijacked one, whose Close
// does nothing and which cannot half-close: the tunnel ends its client's
// side itself, and Shutdown closes it at the drain deadline.
func unhijacked(c net.Conn) net.Conn {
	if h, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		return h.UnsafeConn()
	}
	return c
}

// dialMember opens a raw connection to m for a tunnel, with be's TLS
// settings (memberPool).
func dialMember(m *pool.Member, be *pool.Backend) (net.Conn, error) {
	o := m.Backend.Options
	d := net.Dialer{Timeout: o.ConnectTimeout}
	if d.Timeout <= 0 {
		d.Timeout = o.Timeout
	}
	// Members added through the admin dial through its policy (ADM-04);
	// a nil policy dials plainly.
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	conn, err := pool.Dial(ctx, &d, o.Policy, m.Addr, m.Socket)
	cancel()
	if err != nil {
		return nil, &pool.DialError{Addr: m.Addr, Err: err}
	}
	conn = sock.NewConn(conn) // by raw system calls, as every member's (package sock)
	if m.TLS {
		// The member's own TLS settings, as its HTTP requests use them.
		tc := tls.Client(conn, be.TLS)
		if err := tc.Handshake(); err != nil {
			_ = conn.Close()
			return nil, &pool.DialError{Addr: m.Addr, Err: err}
		}
		conn = tc
	}
	return conn, nil
}

// trackTunnel registers a hijacked connection so Shutdown can wait for it
// and close it at the drain deadline.
func (s *Server) trackTunnel(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.tunnels[c] = struct{}{}
		s.tunnelW.Add(1)
		return
	}
	if _, ok := s.tunnels[c]; ok {
		delete(s.tunnels, c)
		s.tunnelW.Done()
	}
}
