package hcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
	"github.com/sluiceproxy/sluice/pool"
)

// maxDrain bounds how much unread body is discarded to keep a connection;
// past it the connection is closed instead.
const maxDrain = 1 << 20

// conn is a check connection kept alive between a member's checks (the
// HTTP/1.1 methods only).
type conn struct {
	net.Conn
	br  *bufio.Reader
	key string // plan.connKey it was dialled for
}

// netProbe runs one check over the network. It reuses cn when it fits p,
// and returns the connection to keep for the next check, or nil.
func (c *Checker) netProbe(ctx context.Context, p *plan, cn *conn) (outcome, *conn) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if p.cping {
		return c.cpingProbe(ctx, p), nil
	}
	if p.tcp {
		// Apache's TCP check connects and closes; no TLS handshake.
		d := net.Dialer{Timeout: p.connectTimeout}
		nc, err := pool.Dial(ctx, &d, p.policy, p.addr, p.socket)
		if err != nil {
			return outcome{why: "cannot connect: " + describe(err, p)}, nil
		}
		nc.Close()
		return outcome{ok: true}, nil
	}
	if cn != nil && (cn.key != p.connKey() || cn.br.Buffered() > 0) {
		// Another address, or bytes nobody asked for: start afresh.
		cn.Close()
		cn = nil
	}
	if cn != nil {
		out, keep, stale := c.exchange(ctx, p, cn)
		if !stale {
			return out, keep
		}
		// The backend closed the idle connection: try once on a new one.
	}
	cn, err := c.dial(ctx, p)
	if err != nil {
		return outcome{why: "cannot connect: " + describe(err, p)}, nil
	}
	out, keep, _ := c.exchange(ctx, p, cn)
	return out, keep
}

// cpingProbe is mod_proxy_hcheck's CPING: a new connection, AJP's CPING,
// and its CPONG within the check's timeout.
func (c *Checker) cpingProbe(ctx context.Context, p *plan) outcome {
	d := net.Dialer{Timeout: p.connectTimeout}
	nc, err := pool.Dial(ctx, &d, p.policy, p.addr, p.socket)
	if err != nil {
		return outcome{why: "cannot connect: " + describe(err, p)}
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// Shutdown interrupts a check in flight, as in exchange.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := nc.Write([]byte{0x12, 0x34, 0, 1, 10}); err != nil {
		return outcome{why: "CPING not sent: " + describe(err, p)}
	}
	var pong [5]byte
	if _, err := io.ReadFull(nc, pong[:]); err != nil {
		return outcome{why: "no CPONG: " + describe(err, p)}
	}
	if pong != [5]byte{'A', 'B', 0, 1, 9} {
		return outcome{why: fmt.Sprintf("answer % x is not a CPONG", pong)}
	}
	return outcome{ok: true}
}

func (c *Checker) dial(ctx context.Context, p *plan) (*conn, error) {
	d := net.Dialer{Timeout: p.connectTimeout}
	nc, err := pool.Dial(ctx, &d, p.policy, p.addr, p.socket)
	if err != nil {
		return nil, err
	}
	if p.tls {
		var cfg *tls.Config
		switch {
		case p.tlsConf != nil: // the member's, ServerName included
			cfg = p.tlsConf
		case c.tls != nil:
			cfg = c.tls.Clone()
			cfg.ServerName = p.serverName
		default:
			cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.serverName}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	return &conn{Conn: nc, br: bufio.NewReaderSize(nc, pool.DefaultResponseHeaderBytes), key: p.connKey()}, nil
}

// exchange sends p's request on cn and judges the response. keep is cn
// when it may be reused (nil otherwise: it was closed). stale reports a
// reused connection that failed before any response byte, which is worth
// one retry on a fresh connection.
func (c *Checker) exchange(ctx context.Context, p *plan, cn *conn) (out outcome, keep *conn, stale bool) {
	deadline, _ := ctx.Deadline()
	if err := cn.SetDeadline(deadline); err != nil {
		cn.Close()
		return outcome{why: "cannot set a deadline: " + err.Error()}, nil, true
	}
	// Shutdown interrupts a check in flight.
	stop := context.AfterFunc(ctx, func() { cn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(cn, p.request); err != nil {
		cn.Close()
		return outcome{why: "cannot send the request: " + describe(err, p)}, nil, closedByPeer(err)
	}
	if _, err := cn.br.Peek(1); err != nil {
		cn.Close()
		return outcome{why: "cannot read the response: " + describe(err, p)}, nil, closedByPeer(err)
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.StreamBody = true
	resp.SkipBody = p.head
	// hcexpr sees the backend's Content-Type, not fasthttp's default.
	resp.Header.SetNoDefaultContentType(true)
	if err := resp.Read(cn.br); err != nil {
		cn.Close()
		return outcome{why: "cannot read the response: " + describe(err, p)}, nil, false
	}
	status := resp.StatusCode()
	body, complete, err := c.readBody(resp, p.getBody)
	if err != nil {
		cn.Close()
		return outcome{status: status, why: "cannot read the body: " + describe(err, p)}, nil, false
	}
	out = judge(p, status, &resp.Header, body)
	if p.http11 && complete && !resp.ConnectionClose() && status != fasthttp.StatusSwitchingProtocols {
		return out, cn, false
	}
	cn.Close()
	return out, nil, false
}

// readBody keeps up to maxBody bytes of a GET check's body and drains the
// rest up to maxDrain. complete is false when the body was not read to its
// end, so the connection cannot be reused.
func (c *Checker) readBody(resp *fasthttp.Response, keep bool) (body []byte, complete bool, err error) {
	stream := resp.BodyStream()
	if stream == nil {
		return nil, true, nil
	}
	defer resp.CloseBodyStream()
	if keep {
		body, err = io.ReadAll(io.LimitReader(stream, int64(c.maxBody)))
		if err != nil {
			return nil, false, err
		}
	}
	_, err = io.CopyN(io.Discard, stream, maxDrain+1)
	switch {
	case err == nil: // more than maxDrain left: give the connection up
		return body, false, nil
	case errors.Is(err, io.EOF):
		return body, resp.Header.ContentLength() != -2, nil // -2: read until close
	}
	return body, false, err
}

// judge decides pass or fail: by hcexpr when set, else 200-399 passes.
func judge(p *plan, status int, h *fasthttp.ResponseHeader, body []byte) outcome {
	out := outcome{status: status}
	switch {
	case p.exprName != "" && p.expr == nil:
		out.why = "hcexpr " + strconv.Quote(p.exprName) + " is not defined"
	case p.expr != nil:
		in := hcexpr.Input{Status: status, Body: body, Header: func(name string) []byte { return h.Peek(name) }}
		var why string
		out.ok, why = p.expr.Eval(in)
		if !out.ok {
			out.why = "hcexpr " + p.exprName + ": " + why
		}
	case status >= 200 && status <= 399:
		out.ok = true
	default:
		out.why = "status " + strconv.Itoa(status) + " is not in 200-399"
	}
	return out
}

// closedByPeer reports the errors of a connection the backend closed.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// describe words a network error for Probe.Why.
func describe(err error, p *plan) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timed out (timeout " + p.timeout.String() + ", connect " + p.connectTimeout.String() + ")"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the backend"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused by " + p.addr
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the backend"
	}
	return err.Error()
}
