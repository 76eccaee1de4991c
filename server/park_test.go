package server

import (
	"bufio"
	"context"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

// parkingProxy serves a proxy to an echo backend on a loopback socket,
// with conf's lines added, parking connections idle for a millisecond.
func parkingProxy(t *testing.T, conf string) (*Server, string) {
	t.Helper()
	src := "Listen 127.0.0.1:0\nProxyPass / http://" + startBackend(t, echo) + "/\n" + conf
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeouts.ClientPark = config.Duration(time.Millisecond)
	s, addr := serveTCP(t, cfg)
	fastLot(s.lot)
	return s, addr
}

// fastLot makes l park connections idle for a millisecond or two, and
// sweep parked ones every millisecond.
func fastLot(l *idleLot) {
	parkAfter(l, time.Millisecond, time.Millisecond)
	l.mu.Lock()
	l.expire = time.Millisecond
	l.mu.Unlock()
}

// parkAfter makes l sweep every tick and park connections idle for after.
func parkAfter(l *idleLot, tick, after time.Duration) {
	l.mu.Lock()
	l.setTick(tick, after)
	l.mu.Unlock()
}

// lotCounts is how many connections wait unparked in l, and how many are
// parked.
func lotCounts(l *idleLot) (waiting, parked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := l.waiting.head; c != nil; c = c.next {
		waiting++
	}
	for c := l.parked.head; c != nil; c = c.next {
		parked++
	}
	if parked != l.byFD.n {
		panic("parked list and byFD disagree")
	}
	return waiting, parked
}

// getOK sends GET /a on conn and fails the test unless the answer is 200.
func getOK(t *testing.T, conn net.Conn) {
	t.Helper()
	if resp := rawRequest(t, conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode() != 200 {
		t.Fatalf("status %d", resp.StatusCode())
	}
}

func parkedNow(s *Server, n int) func() bool {
	return func() bool { _, p := lotCounts(s.lot); return p == n }
}

// TestParkedConnectionServes: a keep-alive connection idle for a tick
// parks, with no goroutine of its own, and its next requests are served
// on it as before, one with a body included, by one worker goroutine; its requests are counted
// across parks (%k); a client's close of a parked connection frees it.
func TestParkedConnectionServes(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	s, addr := parkingProxy(t, `LogFormat "%k %r" k
CustomLog "`+logFile+`" k
`)
	conn := dialTCP(t, addr)
	br := bufio.NewReader(conn)
	send := func(req, wantBody string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp := new(fasthttp.Response)
		if err := resp.Read(br); err != nil {
			t.Fatalf("%q: %v", firstLine([]byte(req)), err)
		}
		if resp.StatusCode() != 200 || !strings.HasPrefix(string(resp.Body()), wantBody) {
			t.Fatalf("%q: %d %q, want 200 %q", firstLine([]byte(req)), resp.StatusCode(), resp.Body(), wantBody)
		}
	}
	send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a\n")
	eventually(t, "the idle connection parked", parkedNow(s, 1))
	if w, _ := lotCounts(s.lot); w != 0 {
		t.Errorf("%d connections wait unparked beside the parked one", w)
	}
	send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "GET /b\n")
	eventually(t, "parked again", parkedNow(s, 1))
	send("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "POST /c\n")
	eventually(t, "parked a third time", parkedNow(s, 1))
	var m strings.Builder
	s.WriteMetrics(&m)
	for _, want := range []string{"\nsluice_client_connections 1\n", "\nsluice_client_connections_parked 1\n", "\nsluice_client_parks_total 3\n"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %q", strings.TrimSpace(want))
		}
	}
	// The goroutine that served the first wake served the second and
	// waits for the next.
	eventually(t, "one worker waiting", func() bool { return s.lot.idleWorkers.Load() == 1 })
	_ = conn.Close()
	eventually(t, "the closed connection freed", func() bool { return parkedNow(s, 0)() && s.limits.open.Load() == 0 })

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the waiting worker ended", func() bool { return s.lot.idleWorkers.Load() == 0 })
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "0 GET /a HTTP/1.1\n1 GET /b HTTP/1.1\n2 POST /c HTTP/1.1\n"; got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// TestParkedConnectionTimesOut: a parked connection still closes when its
// keep-alive time is up.
func TestParkedConnectionTimesOut(t *testing.T) {
	s, addr := parkingProxy(t, "KeepAliveTimeout 300ms\n")
	conn := dialTCP(t, addr)
	getOK(t, conn)
	eventually(t, "the idle connection parked", parkedNow(s, 1))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read on a parked connection past its keep-alive time: %d, %v; want EOF", n, err)
	}
	eventually(t, "the timed-out connection freed", func() bool { return parkedNow(s, 0)() && s.limits.open.Load() == 0 })
}

// TestParkedHalfClose: a client that sends its request on a parked
// connection and shuts its sending side gets the answer.
func TestParkedHalfClose(t *testing.T) {
	s, addr := parkingProxy(t, "")
	conn := dialTCP(t, addr)
	br := bufio.NewReader(conn)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp := new(fasthttp.Response)
	if err := resp.Read(br); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle connection parked", parkedNow(s, 1))
	if _, err := io.WriteString(conn, "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := resp.Read(br); err != nil || !strings.HasPrefix(string(resp.Body()), "GET /last\n") {
		t.Fatalf("answer after the half-close: %v %q", err, resp.Body())
	}
	eventually(t, "the connection freed", func() bool { return parkedNow(s, 0)() && s.limits.open.Load() == 0 })
}

// TestShutdownClosesParked: Shutdown closes parked connections, as
// fasthttp closes idle ones.
func TestShutdownClosesParked(t *testing.T) {
	s, addr := parkingProxy(t, "")
	conn := dialTCP(t, addr)
	getOK(t, conn)
	eventually(t, "the idle connection parked", parkedNow(s, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after Shutdown: %d, %v; want EOF", n, err)
	}
	if s.limits.open.Load() != 0 {
		t.Errorf("%d connections counted open after Shutdown", s.limits.open.Load())
	}
}

// TestTLSDoesNotPark: only plain connections park; an idle TLS one stays
// in fasthttp's loop and serves its next request.
func TestTLSDoesNotPark(t *testing.T) {
	st := startTLSSite(t, tlsSiteConf, startBackend(t, echo))
	fastLot(st.s.lot)
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	plain, secure := st.dialBoth(t)
	if code, _ := tlsGet(t, secure, "a.test", "/1"); code != 200 {
		t.Fatalf("TLS: %d", code)
	}
	if code, _ := tlsGet(t, plain, "a.test", "/1"); code != 200 {
		t.Fatalf("plain: %d", code)
	}
	eventually(t, "the plain connection parked", parkedNow(st.s, 1))
	before := st.s.lot.sweeps.Load()
	eventually(t, "three more sweeps", func() bool { return st.s.lot.sweeps.Load() > before+3 })
	if w, p := lotCounts(st.s.lot); w != 0 || p != 1 {
		t.Errorf("%d waiting, %d parked; want only the plain connection, parked", w, p)
	}
	if code, line := tlsGet(t, secure, "a.test", "/2"); code != 200 || line != "GET /a/2" {
		t.Fatalf("TLS again: %d %q", code, line)
	}
}

// TestKickWithRequestWaiting: a kick that ends the wait as the next
// request's bytes arrive does not park the connection (the proxy is only
// behind); one that finds nothing does.
func TestKickWithRequestWaiting(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newClientConn(server, newConnLimits(0, 0))
	c.idleSince.Store(1)

	c.kicked.Store(true)
	if !c.kickedWhileIdle() || !c.parking.Load() {
		t.Fatal("an idle connection with nothing to read did not park")
	}
	c.parking.Store(false)

	if _, err := io.WriteString(client, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bytes arrived", func() bool {
		k, err := sockOf(c)
		if err != nil {
			t.Fatal(err)
		}
		sent, _ := k.Look()
		return sent
	})
	c.kicked.Store(true)
	if c.kickedWhileIdle() || c.parking.Load() || c.kicked.Load() {
		t.Error("a connection with its next request waiting parked, or kept its kick")
	}

	// A kick that lands once the request began is spent.
	c.idleSince.Store(0)
	c.kicked.Store(true)
	if c.kickedWhileIdle() || c.kicked.Load() {
		t.Error("a kick during a request parked the connection, or was kept")
	}
}

// TestBusyConnectionDoesNotPark: a new connection parks as soon as its
// first answer is out; a request that follows at once wakes it, and from
// then on requests that follow each other more closely than client_park
// never park it; once it idles that long, it does.
func TestBusyConnectionDoesNotPark(t *testing.T) {
	s, addr := parkingProxy(t, "")
	parkAfter(s.lot, 50*time.Millisecond, time.Second)
	conn := dialTCP(t, addr)
	getOK(t, conn)
	eventually(t, "the new connection parked at once", parkedNow(s, 1))
	sweeps := s.lot.sweeps.Load()
	for i := 0; i < 200 || s.lot.sweeps.Load() < sweeps+3; i++ {
		getOK(t, conn)
	}
	if n := s.lot.parks.Get(); n != 1 {
		t.Errorf("a connection with its requests back to back parked %d times after its first", n-1)
	}
	eventually(t, "the connection parked once idle", func() bool { return parkedNow(s, 1)() && s.lot.parks.Get() == 2 })
}

// TestIdleWorkersRetire: a worker that serves woken connections waits
// for the next one, and is retired once it has waited through
// retireEvery, whether the lot still sweeps for a parked connection or
// sleeps with none.
func TestIdleWorkersRetire(t *testing.T) {
	s, addr := parkingProxy(t, "")
	s.lot.mu.Lock()
	s.lot.retireEvery = 200 * time.Millisecond
	s.lot.mu.Unlock()
	idle := func(n int32) func() bool { return func() bool { return s.lot.idleWorkers.Load() == n } }

	// Retired while another connection stays parked.
	stays := dialTCP(t, addr)
	getOK(t, stays)
	conn := dialTCP(t, addr)
	getOK(t, conn)
	eventually(t, "both parked", parkedNow(s, 2))
	getOK(t, conn) // a worker serves the wake, then waits
	eventually(t, "a worker waiting", idle(1))
	eventually(t, "the worker retired", idle(0))
	eventually(t, "the connection parked again", parkedNow(s, 2))

	// Retired after the last connection closed, with nothing to sweep.
	_ = stays.Close()
	if _, err := io.WriteString(conn, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(conn); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("last request: %v %q", err, b)
	}
	eventually(t, "nothing parked", parkedNow(s, 0))
	eventually(t, "the last worker retired", func() bool { return idle(0)() && s.limits.open.Load() == 0 })
}

// TestIdleLotTicks: the sweeps a wait lasts before it parks, and when
// there is no lot at all.
func TestIdleLotTicks(t *testing.T) {
	for _, tc := range []struct {
		tick, after time.Duration
		ticks       uint64
	}{
		{250 * time.Millisecond, time.Second, 5},
		{time.Millisecond, time.Millisecond, 2},
		{time.Millisecond, 2500 * time.Microsecond, 4},
	} {
		var l idleLot
		if l.setTick(tc.tick, tc.after); l.ticks != tc.ticks {
			t.Errorf("tick %v, park after %v: %d sweeps, want %d", tc.tick, tc.after, l.ticks, tc.ticks)
		}
	}
	for _, after := range []time.Duration{0, time.Second, time.Minute} {
		if l := newIdleLot(nil, time.Second, after, nil, nil); l != nil {
			l.close()
			t.Errorf("client_park %v with client_idle 1s: a lot", after)
		}
	}
}

// TestSparseConnectionParksAtOnce: a new connection, and one that has
// idled through client_park, parks as soon as its next wait begins, with
// no sweep; a request that follows at once ends that, so a burst parks
// once.
func TestSparseConnectionParksAtOnce(t *testing.T) {
	s, addr := parkingProxy(t, "")
	parkAfter(s.lot, 50*time.Millisecond, time.Second)
	conn := dialTCP(t, addr)
	burst := func(parks uint64) {
		t.Helper()
		for range 3 {
			getOK(t, conn)
		}
		if n := s.lot.parks.Get(); n != parks {
			t.Fatalf("%d parks after a burst, want still %d", n, parks)
		}
		// fasthttp marks the wait after the answer has gone out.
		eventually(t, "waiting unparked after the burst", func() bool { w, p := lotCounts(s.lot); return w == 1 && p == 0 })
	}
	getOK(t, conn)
	eventually(t, "the new connection parked at once", parkedNow(s, 1))
	burst(1)
	eventually(t, "parked after client_park", func() bool { return parkedNow(s, 1)() && s.lot.parks.Get() == 2 })
	getOK(t, conn) // wakes it; its next wait parks at once
	eventually(t, "parked at once", func() bool { return parkedNow(s, 1)() && s.lot.parks.Get() == 3 })
	burst(3)
}

// TestFDTable: entries by descriptor, grown on demand, counted.
func TestFDTable(t *testing.T) {
	var ft fdTable
	a, b := new(clientConn), new(clientConn)
	ft.put(7, nil) // clearing past the end grows nothing
	if len(ft.byFD) != 0 || ft.get(7) != nil || ft.get(-1) != nil {
		t.Fatal("an empty table found something or grew")
	}
	ft.put(3, a)
	ft.put(40, b)
	ft.put(3, a) // again: counted once
	if ft.get(3) != a || ft.get(40) != b || ft.get(4) != nil || ft.n != 2 {
		t.Fatalf("get 3, 40, 4: %p %p %p, n %d", ft.get(3), ft.get(40), ft.get(4), ft.n)
	}
	ft.put(3, nil)
	ft.put(3, nil)
	if ft.get(3) != nil || ft.n != 1 {
		t.Fatalf("after clearing 3: %p, n %d", ft.get(3), ft.n)
	}
}
