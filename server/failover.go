package server

import (
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/fastcgi"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/pool"
)

// minWaitStep bounds how often a balancer timeout re-runs selection.
const minWaitStep = 10 * time.Millisecond

// withMember runs one attempt against the route's member and, for a
// balancer, tries another member, up to maxattempts extra attempts, when
//   - the failure left the member untouched (nothing of the request reached
//     it): the member is put in error, as Apache does (a FastCGI
//     application's FCGI_OVERLOADED too, but after a streamed body, which
//     cannot go out again, that is the answer); or
//   - retry_idempotent is on and retryable says the request may be sent
//     again.
//
// No member is tried twice. It returns the last member tried, still counted
// busy (the caller calls lb.Done), its snapshot (nil for a direct worker)
// and the last error. With proto set the attempt dials a tunnel into
// x.conn instead of sending req, to a member that may upgrade to proto.
func (s *Server) withMember(ctx *fasthttp.RequestCtx, r *route, x *exchange, now time.Time,
	req *fasthttp.Request, resp *fasthttp.Response, proto []byte) (*pool.Member, *pool.Snapshot, error) {
	if r.direct != nil {
		r.direct.State.Busy.Add(1)
		return r.direct, nil, s.attempt(ctx, req, resp, r.direct, nil, x, proto)
	}
	snap := r.balancer.Load()
	method := methodFor(snap.Config.LBMethod)
	if proto != nil {
		// A tunnel goes only to a member that may upgrade: the others
		// count as tried, so a spare may stand in for them.
		for _, m := range snap.Members {
			if !memberAllows(m, proto) {
				x.tried.Add(m.Index)
			}
		}
	}
	var prev error
	for tries := 0; ; tries++ {
		m, err := s.pick(ctx, snap, method, now, x)
		if err != nil {
			if prev != nil {
				err = prev // every member was tried: report why the last one failed
			}
			return nil, snap, err
		}
		err = s.attempt(ctx, req, resp, m, snap, x, proto)
		if err == nil {
			return m, snap, nil
		}
		last := tries >= snap.MaxAttempts
		var sent int64
		switch {
		case x.streamed && errors.Is(err, fastcgi.ErrOverloaded):
			// The application refused the request after reading its body
			// as a stream: there is none left to send another member.
			s.markError(m, s.now(), errUnreachable, err, 0)
			return m, snap, err
		case failover(err):
			// Apache puts the member in error on the last attempt too,
			// dated when the failure was seen: a connect that timed out
			// took connectiontimeout, as long as retry by default.
			s.markError(m, s.now(), errUnreachable, err, 0)
		case !last && proto == nil && !x.streamed && retryable(snap, req, err):
			s.judge(snap, m, resp, err)
			sent = sentBytes(x)
		default:
			return m, snap, err // the caller judges the last member
		}
		if last {
			return m, snap, err
		}
		lb.Done(m, sent, 0)
		s.failedOver(m)
		now, prev = s.now(), err
	}
}

// attempt sends req to m, or dials m for a tunnel when proto is set.
func (s *Server) attempt(ctx *fasthttp.RequestCtx, req *fasthttp.Request, resp *fasthttp.Response, m *pool.Member, snap *pool.Snapshot, x *exchange, proto []byte) error {
	if proto == nil {
		return s.roundTrip(ctx, req, resp, m, snap, x)
	}
	if !memberAllows(m, proto) {
		return errBadUpgrade
	}
	conn, err := dialMember(m, memberPool(m, x, ctx.Host()))
	x.conn = conn
	return err
}

// pick chooses the member for one attempt. A sticky request goes to its
// route's member (or that member's redirect or a standby) when one is
// usable; with nofailover it gets no other member at all. Everything else
// is the lbmethod's choice, waiting up to the balancer timeout for a usable
// member. Members already tried are skipped.
func (s *Server) pick(ctx *fasthttp.RequestCtx, snap *pool.Snapshot, method lb.Method, now time.Time, x *exchange) (*pool.Member, error) {
	bc := snap.Config
	if bc.StickyCookie != "" || bc.StickyURLParam != "" {
		route, src := lb.StickyRoute(snap, ctx.URI().PathOriginal(), ctx.URI().QueryString(), cookieHeader(ctx, &x.lines, &x.cookies))
		x.route, x.routeByURL = route, src == lb.StickyURL
		if len(route) > 0 {
			if m := lb.FindRouteMember(snap, route, now, &x.tried); m != nil {
				lb.ElectRoute(snap, m, &x.tried)
				return m, nil
			}
			if bc.NoFailover && lb.HasRoute(snap, route) {
				return nil, errNoMember
			}
		}
	}
	if m := lb.Pick(snap, method, now, &x.tried); m != nil {
		return m, nil
	}
	if bc.Timeout > 0 {
		if m := s.waitMember(snap, method, x); m != nil {
			return m, nil
		}
	}
	return nil, errNoMember
}

// waitMember is the balancer timeout, Apache's find_best_worker loop: with
// no usable member, sleep timeout/100 (at least minWaitStep) and run the
// lbmethod again, until it yields a member or the timeout has passed. The
// deadline is set at the first wait of a request, so failover attempts
// share one timeout rather than each waiting a full one.
func (s *Server) waitMember(snap *pool.Snapshot, method lb.Method, x *exchange) *pool.Member {
	timeout := snap.Config.Timeout.D()
	now := s.now()
	if x.waitUntil.IsZero() {
		x.waitUntil = now.Add(timeout)
	}
	step := max(timeout/100, minWaitStep)
	for now.Before(x.waitUntil) {
		time.Sleep(min(step, x.waitUntil.Sub(now)))
		now = s.now()
		if m := lb.Pick(snap, method, now, &x.tried); m != nil {
			return m
		}
	}
	return nil
}

// retryable reports whether an attempt that failed after req was sent may
// be sent to another member: the balancer has retry_idempotent, the method
// is idempotent (RFC 9110 §9.2.2) and the member reset or closed the
// connection or timed out. The response head is read before anything goes
// to the client, so no response byte has reached it. The caller also
// checks that the body was not streamed: a consumed stream cannot be
// replayed.
func retryable(snap *pool.Snapshot, req *fasthttp.Request, err error) bool {
	return snap.Config.RetryIdempotent && pool.Idempotent(req.Header.Method()) && (cutShort(err) || isTimeout(err))
}

// cutShort reports a connection the member closed or reset before its
// response head was complete.
func cutShort(err error) bool {
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// judge applies failonstatus and failontimeout to the member that answered.
// It only marks the member: the response itself still goes to the client.
// The error is dated now, not at the request's start, as Apache's
// error_time is: a member that took its timeout to fail would otherwise be
// out for retry less that long. A connect that timed out was marked
// unreachable already (withMember), and failontimeout is for answers that
// did not come in time.
func (s *Server) judge(snap *pool.Snapshot, m *pool.Member, resp *fasthttp.Response, err error) {
	bc := snap.Config
	switch {
	case err == nil:
		status := resp.StatusCode()
		for _, code := range bc.FailOnStatus {
			if code == status {
				now := s.now()
				if s.markError(m, now, errFailOnStatus, nil, status) {
					s.hc.RecordPassive(m.ID, now, status, "failonstatus")
				}
				return
			}
		}
	case bc.FailOnTimeout && isTimeout(err) && !failover(err):
		now := s.now()
		if s.markError(m, now, errFailOnTimeout, err, 0) {
			s.hc.RecordPassive(m.ID, now, 0, "failontimeout")
		}
	}
}
