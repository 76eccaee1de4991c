package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/pool"
)

// inError builds a one-member balancer whose member went into error at now
// with retry=2s, forcerecovery off and the balancer timeout given.
func inError(t *testing.T, timeout time.Duration, now time.Time) *pool.Snapshot {
	t.Helper()
	bc := &config.Balancer{Name: "w", Timeout: config.Duration(timeout), Members: []*config.Member{
		{URL: "http://b1", Params: config.WorkerParams{LoadFactor: 1, Retry: config.Duration(2 * time.Second), RetrySet: true}},
	}}
	snap, err := pool.NewSnapshot(pool.NewRegistry(), bc)
	if err != nil {
		t.Fatal(err)
	}
	snap.Members[0].State.MarkError(now)
	return snap
}

func TestWaitMember(t *testing.T) {
	method, _ := lb.MethodByName("byrequests")
	t.Run("member recovers within the timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &Server{now: time.Now}
			start := time.Now()
			snap := inError(t, 5*time.Second, start)
			x := &exchange{}
			m := s.waitMember(snap, method, x)
			if m == nil {
				t.Fatal("no member, want b1 once its retry passed")
			}
			// retry is strict (now > error + 2s) and the step is 5s/100.
			if got := time.Since(start); got != 2050*time.Millisecond {
				t.Errorf("got the member after %v, want 2.05s", got)
			}
			lb.Done(m, 0, 0)
		})
	})
	t.Run("timeout passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &Server{now: time.Now}
			start := time.Now()
			snap := inError(t, time.Second, start)
			x := &exchange{}
			if m := s.waitMember(snap, method, x); m != nil {
				t.Fatalf("got %s, want none", m.Name)
			}
			if got := time.Since(start); got != time.Second {
				t.Errorf("gave up after %v, want 1s", got)
			}
			// A failover attempt of the same request does not wait again.
			if m := s.waitMember(snap, method, x); m != nil || time.Since(start) != time.Second {
				t.Errorf("second wait: %v after %v, want none at once", m, time.Since(start))
			}
		})
	})
	t.Run("short timeouts step at least 10ms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &Server{now: time.Now}
			start := time.Now()
			snap := inError(t, 15*time.Millisecond, start)
			if m := s.waitMember(snap, method, &exchange{}); m != nil {
				t.Fatalf("got %s, want none", m.Name)
			}
			if got := time.Since(start); got != 15*time.Millisecond {
				t.Errorf("gave up after %v, want 15ms", got)
			}
		})
	})
}

func TestRetryable(t *testing.T) {
	on := &pool.Snapshot{Config: &config.Balancer{RetryIdempotent: true}}
	off := &pool.Snapshot{Config: &config.Balancer{}}
	reset := fmt.Errorf("cannot read response: %w", syscall.ECONNRESET)
	cases := []struct {
		desc   string
		snap   *pool.Snapshot
		method string
		err    error
		want   bool
	}{
		{"GET, closed before the first byte", on, "GET", fasthttp.ErrConnectionClosed, true},
		{"PUT, reset", on, "PUT", reset, true},
		{"DELETE, cut head", on, "DELETE", io.ErrUnexpectedEOF, true},
		{"OPTIONS, read timeout", on, "OPTIONS", os.ErrDeadlineExceeded, true},
		{"HEAD, fasthttp timeout", on, "HEAD", fasthttp.ErrTimeout, true},
		{"option off", off, "GET", fasthttp.ErrConnectionClosed, false},
		{"POST is not idempotent", on, "POST", fasthttp.ErrConnectionClosed, false},
		{"PATCH is not idempotent", on, "PATCH", reset, false},
		{"malformed response is not retried", on, "GET", errors.New("cannot parse response status line"), false},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			req.Header.SetMethod(c.method)
			if got := retryable(c.snap, req, c.err); got != c.want {
				t.Errorf("retryable = %v, want %v", got, c.want)
			}
		})
	}
}

func TestRouteCookie(t *testing.T) {
	r1 := &pool.Member{Route: "r1"}
	noRoute := &pool.Member{}
	bc := &config.Balancer{StickyCookie: "ROUTEID", StickySep: ".", StickySetCookie: true}
	snap := &pool.Snapshot{Config: bc}
	for _, c := range []struct {
		desc      string
		snap      *pool.Snapshot
		m         *pool.Member
		requested string
		want      bool
	}{
		{"no route asked", snap, r1, "", true},
		{"another route asked", snap, r1, "r2", true},
		{"routed by its route", snap, r1, "r1", false},
		{"member without a route", snap, noRoute, "", false},
		{"option off", &pool.Snapshot{Config: &config.Balancer{StickyCookie: "ROUTEID"}}, r1, "", false},
		{"direct worker", nil, r1, "", false},
	} {
		if got := setsRouteCookie(c.snap, c.m, []byte(c.requested)); got != c.want {
			t.Errorf("%s: setsRouteCookie = %v, want %v", c.desc, got, c.want)
		}
	}
	for _, c := range []struct {
		bc   config.Balancer
		want string
	}{
		{config.Balancer{StickyCookie: "ROUTEID", StickySep: "."}, "ROUTEID=.r1; Path=/"},
		{config.Balancer{StickyCookie: "JSESSIONID", StickySep: "!"}, "JSESSIONID=!r1; Path=/"},
		{config.Balancer{StickyCookie: "ROUTEID"}, "ROUTEID=.r1; Path=/"},
		{config.Balancer{StickyCookie: "ROUTEID", StickySepOff: true}, "ROUTEID=r1; Path=/"},
	} {
		if got := string(appendRouteCookie([]byte("junk"), &c.bc, "r1")); got != "junk"+c.want {
			t.Errorf("appendRouteCookie = %q, want junk%q", got, c.want)
		}
	}
}

// TestErrorDatedWhenSeen: a member is put in error as of when its failure
// was seen, not when the request started (Apache's error_time): with a
// timeout as long as retry it would otherwise be out for no time at all.
// Both members here take 50 ms to fail. A connect that timed out counts
// once, as unreachable, not also as failontimeout.
func TestErrorDatedWhenSeen(t *testing.T) {
	const slow = 50 * time.Millisecond
	silent := serveConns(t, func(c net.Conn) { // accepts, never answers a TLS hello
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	})
	failing := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		time.Sleep(slow)
		ctx.SetStatusCode(500)
	})
	s, c := startProxyYAML(t, `  routes:
    - {path: /status, target: balancer://status/}
    - {path: /silent, target: balancer://silent/}
  balancers:
    - name: status
      failonstatus: [500]
      members: [{url: http://BACKEND1}]
    - name: silent
      failontimeout: true
      members: [{url: https://BACKEND2, connectiontimeout: 50ms}]
`, failing, silent)
	for _, tc := range []struct {
		path     string
		status   int
		balancer string
	}{{"/status", 500, "status"}, {"/silent", 503, "silent"}} {
		start := time.Now()
		if status, _ := doBody(t, c, "GET", tc.path, ""); status != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.path, status, tc.status)
		}
		st := s.rt.Load().hosts[0].balancers[tc.balancer].Load().Members[0].State
		if at := time.Unix(0, st.ErrorTime.Load()); at.Sub(start) < slow {
			t.Errorf("%s: member in error as of %v after the request began, before its failure was seen (%v in)", tc.balancer, at.Sub(start), slow)
		}
		if n := st.Errors.Load(); n != 1 {
			t.Errorf("%s: %d errors counted for one failure", tc.balancer, n)
		}
	}
}
