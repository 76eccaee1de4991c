package main

// Active health checks through the real binary: members whose health
// endpoint fails stop getting traffic, come back when it recovers, slow
// endpoints see one check at a time, templates and body expressions apply,
// and a TCP check finds a closed port. Timings are measured and logged;
// the assertions only bound them generously.

import (
	"bufio"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// healthBackend answers /health with a switchable status and body (after an
// optional delay) and everything else with its name, noting when traffic
// last reached it.
type healthBackend struct {
	*rawBackend
	status  atomic.Int32
	body    atomic.Pointer[string]
	delay   time.Duration
	checks  atomic.Int32 // health requests received
	flight  atomic.Int32 // health requests being answered now
	maxSeen atomic.Int32 // most health requests ever answered at once

	mu      sync.Mutex
	traffic []time.Time // arrival of each non-health request
}

func newHealthBackend(t *testing.T, name string, delay time.Duration) *healthBackend {
	t.Helper()
	h := &healthBackend{delay: delay}
	h.setHealth(200, "all good")
	h.rawBackend = newBackend(t, name, h.handle)
	return h
}

func (h *healthBackend) setHealth(status int, body string) {
	h.status.Store(int32(status))
	h.body.Store(&body)
}

func (h *healthBackend) handle(w *bufio.Writer, r *backendReq) bool {
	if r.URI != "/health" {
		h.mu.Lock()
		h.traffic = append(h.traffic, time.Now())
		h.mu.Unlock()
		return h.echo(w, r)
	}
	h.checks.Add(1)
	n := h.flight.Add(1)
	defer h.flight.Add(-1)
	for {
		m := h.maxSeen.Load()
		if n <= m || h.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if h.delay > 0 {
		select {
		case <-time.After(h.delay):
		case <-r.Done:
		}
	}
	writeResp(w, int(h.status.Load()), nil, *h.body.Load())
	return true
}

// lastTraffic is when traffic last reached h (zero if never).
func (h *healthBackend) lastTraffic() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.traffic) == 0 {
		return time.Time{}
	}
	return h.traffic[len(h.traffic)-1]
}

// trafficSince counts traffic that reached h at or after from.
func (h *healthBackend) trafficSince(from time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, at := range h.traffic {
		if !at.Before(from) {
			n++
		}
	}
	return n
}

// drive sends GET /app through s every 10 ms until stop says so or limit
// has passed; every request must succeed.
func drive(t *testing.T, s *sluiceProc, limit time.Duration, stop func() bool) {
	t.Helper()
	end := time.Now().Add(limit)
	for time.Now().Before(end) && !stop() {
		wantStatus(t, getURI(t, s.Addr(), "/app"), 200)
		time.Sleep(10 * time.Millisecond)
	}
}

const healthConf = `Listen 127.0.0.1:0
<Proxy balancer://app>
    BalancerMember http://{B1} hcmethod=GET hcuri=/health hcinterval=200ms hcfails=2 hcpasses=2
    BalancerMember http://{B2} hcmethod=GET hcuri=/health hcinterval=200ms hcfails=2 hcpasses=2
</Proxy>
ProxyPass / balancer://app/
`

// TestHealthCheckFailAndRecover: B1's health endpoint fails, then recovers,
// twice. Each time, traffic must leave B1 within hcinterval×hcfails + 1 s
// and come back within hcinterval×hcpasses + 1 s.
func TestHealthCheckFailAndRecover(t *testing.T) {
	const interval, fails, passes = 200 * time.Millisecond, 2, 2
	b1, b2 := newHealthBackend(t, "B1", 0), newHealthBackend(t, "B2", 0)
	s := startBalancer(t, "hc.conf", healthConf, "{B1}", b1.addr, "{B2}", b2.addr)

	// Both serve until the first checks (one interval after start) pass.
	drive(t, s, 5*time.Second, func() bool { return b1.checks.Load() > 0 && b1.trafficSince(time.Now().Add(-50*time.Millisecond)) > 0 })
	downBound := interval*fails + time.Second
	upBound := interval*passes + time.Second
	for cycle := range 2 {
		failed := time.Now()
		b1.setHealth(503, "down")
		// Drive past the bound, then on until B1 has had no traffic for
		// three intervals, so a member still in rotation would show up.
		drive(t, s, downBound+5*time.Second, func() bool {
			return time.Since(failed) > downBound && time.Since(b1.lastTraffic()) > 3*interval
		})
		last := b1.lastTraffic()
		detect := max(last.Sub(failed), 0)
		t.Logf("cycle %d: detection %v (last request reaching B1 after its health endpoint failed)", cycle, detect.Round(time.Millisecond))
		if detect > downBound {
			t.Fatalf("cycle %d: B1 still got traffic %v after failing, want within %v", cycle, detect, downBound)
		}
		if b2.trafficSince(failed) == 0 {
			t.Fatalf("cycle %d: B2 got no traffic while B1 was down", cycle)
		}

		healed := time.Now()
		b1.setHealth(200, "all good")
		drive(t, s, upBound+5*time.Second, func() bool { return b1.trafficSince(healed) > 0 })
		if b1.trafficSince(healed) == 0 {
			t.Fatalf("cycle %d: B1 got no traffic within %v of recovering", cycle, upBound+5*time.Second)
		}
		recovery := b1.firstSince(healed).Sub(healed)
		t.Logf("cycle %d: recovery %v (first request reaching B1 after its health endpoint recovered)", cycle, recovery.Round(time.Millisecond))
		if recovery > upBound {
			t.Fatalf("cycle %d: B1 got traffic again only after %v, want within %v", cycle, recovery, upBound)
		}
	}
}

// firstSince is the first traffic at or after from.
func (h *healthBackend) firstSince(from time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, at := range h.traffic {
		if !at.Before(from) {
			return at
		}
	}
	return time.Time{}
}

// TestHealthCheckSlowEndpointOneAtATime: checks of an endpoint slower than
// hcinterval never overlap.
func TestHealthCheckSlowEndpointOneAtATime(t *testing.T) {
	slow := newHealthBackend(t, "SLOW", 500*time.Millisecond)
	s := startBalancer(t, "slow.conf", `Listen 127.0.0.1:0
<Proxy balancer://app>
    BalancerMember http://{SLOW} hcmethod=GET hcuri=/health hcinterval=100ms timeout=5
</Proxy>
ProxyPass / balancer://app/
`, "{SLOW}", slow.addr)
	deadline := time.Now().Add(10 * time.Second)
	for slow.checks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := slow.checks.Load(); n < 3 {
		t.Fatalf("%d checks in 10 s, want at least 3", n)
	}
	if m := slow.maxSeen.Load(); m != 1 {
		t.Fatalf("%d checks in flight at once, want 1", m)
	}
	wantStatus(t, getURI(t, s.Addr(), "/app"), 200) // a slow check is still a pass
}

// TestHealthCheckTemplateAndBodyExpr: a member takes its check from a
// ProxyHCTemplate whose hcexpr looks at the body: a 200 saying "Under
// maintenance" takes it out, and the log says why.
func TestHealthCheckTemplateAndBodyExpr(t *testing.T) {
	b1, b2 := newHealthBackend(t, "B1", 0), newHealthBackend(t, "B2", 0)
	s := startBalancer(t, "tpl.conf", `Listen 127.0.0.1:0
ProxyHCExpr in_maint {hc('body') !~ /Under maintenance/}
ProxyHCTemplate maint hcmethod=GET hcuri=/health hcinterval=200ms hcfails=1 hcpasses=1 hcexpr=in_maint
<Proxy balancer://app>
    BalancerMember http://{B1} hctemplate=maint
    BalancerMember http://{B2}
</Proxy>
ProxyPass / balancer://app/
`, "{B1}", b1.addr, "{B2}", b2.addr)
	drive(t, s, 5*time.Second, func() bool { return b1.checks.Load() > 0 })
	if b2.checks.Load() != 0 {
		t.Fatalf("B2 has no check but got %d", b2.checks.Load())
	}

	from := s.lineCount()
	b1.setHealth(200, "<h1>Under maintenance</h1>")
	f := s.waitMsg(from, "health check failed, member disabled")
	if !strings.Contains(f["member"], b1.addr) || !strings.Contains(f["why"], "in_maint") {
		t.Fatalf("failure logged as member=%q why=%q, want B1 and the in_maint expression", f["member"], f["why"])
	}
	out := time.Now()
	drive(t, s, 600*time.Millisecond, func() bool { return false })
	if n := b1.trafficSince(out.Add(50 * time.Millisecond)); n != 0 {
		t.Fatalf("B1 under maintenance still got %d requests", n)
	}

	from = s.lineCount()
	b1.setHealth(200, "all good")
	s.waitMsg(from, "health check passed, member enabled")
	back := time.Now()
	drive(t, s, 5*time.Second, func() bool { return b1.trafficSince(back) > 0 })
	if b1.trafficSince(back) == 0 {
		t.Fatal("B1 got no traffic after passing again")
	}
}

// TestHealthCheckTCPClosedPort: hcmethod=TCP against a port nobody listens
// on disables the member without any traffic; a listening one stays up.
func TestHealthCheckTCPClosedPort(t *testing.T) {
	b1 := newHealthBackend(t, "B1", 0)
	dead := testnet.ClosedAddr(t)
	s := startBalancer(t, "tcp.conf", `Listen 127.0.0.1:0
<Proxy balancer://app>
    BalancerMember http://{DEAD} hcmethod=TCP hcinterval=200ms hcfails=1
    BalancerMember http://{B1} hcmethod=TCP hcinterval=200ms hcfails=1
</Proxy>
ProxyPass / balancer://app/
`, "{DEAD}", dead, "{B1}", b1.addr)
	f := s.waitMsg(0, "health check failed, member disabled")
	if !strings.Contains(f["member"], dead) {
		t.Fatalf("disabled member %q, want the one on %s", f["member"], dead)
	}
	// Two more intervals: the live member must not follow.
	time.Sleep(500 * time.Millisecond)
	if countDisabled(s) != 1 {
		t.Fatalf("want only the dead member disabled\nstderr:\n%s", s.log())
	}
	if n := b1.checks.Load(); n != 0 {
		t.Fatalf("a TCP check sent %d HTTP requests", n)
	}
	for range 4 {
		m := getURI(t, s.Addr(), "/app")
		wantStatus(t, m, 200)
		if m.Get("X-Backend") != "B1" {
			t.Fatalf("answered by %q, want B1", m.Get("X-Backend"))
		}
	}
}

func countDisabled(s *sluiceProc) int {
	n := 0
	for _, l := range strings.Split(s.log(), "\n") {
		if logfmt(l)["msg"] == "health check failed, member disabled" {
			n++
		}
	}
	return n
}

// TestPingFailsOverSilentMember: with ping, a member that never answers the
// request head (Expect: 100-continue) is given up after ping, tried once
// more, and the request, body unsent so far, goes to the next member.
func TestPingFailsOverSilentMember(t *testing.T) {
	silent := newStreamingBackend(t, "SILENT", func(_ *bufio.Writer, r *backendReq) bool {
		<-r.Done // never answers, never reads the body
		return true
	})
	b2 := newBackend(t, "B2", nil)
	s := startBalancer(t, "ping.conf", `Listen 127.0.0.1:0
<Proxy balancer://app>
    BalancerMember http://{SILENT} ping=200ms
    BalancerMember http://{B2}
</Proxy>
ProxyPass / balancer://app/
`, "{SILENT}", silent.addr, "{B2}", b2.addr)
	start := time.Now()
	m := rawDo(t, s.Addr(), buildReq("POST", "/up", "front.example.com", nil, "payload"))
	took := time.Since(start)
	wantStatus(t, m, 200)
	if m.Get("X-Backend") != "B2" {
		t.Fatalf("answered by %q, want B2", m.Get("X-Backend"))
	}
	got := b2.last()
	if string(got.Body) != "payload" || got.Has("Expect") {
		t.Fatalf("B2 got body %q, Expect %q; want the whole body and no Expect", got.Body, got.Get("Expect"))
	}
	heads := silent.requests()
	if len(heads) != 2 {
		t.Fatalf("silent member got %d request heads, want 2 (one retry)", len(heads))
	}
	for _, h := range heads {
		if !strings.EqualFold(h.Get("Expect"), "100-continue") {
			t.Fatalf("silent member got Expect %q, want 100-continue", h.Get("Expect"))
		}
	}
	t.Logf("failover after two pings of 200ms took %v", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Fatalf("took %v, want about 2 × ping", took)
	}
}
