//go:build linux

package main

// Resource limits of threats.md (RES rows, and BKE-06 for the backend
// pool) through the real binary: connection caps in total and per client
// IP, idle and header timeouts, slow readers, client aborts, a member's
// pool size and wait. Over a limit sluice must answer with the right status
// or close the connection, never crash. docs/security.md maps the IDs.
// Linux only: the descriptor cap is set with prlimit(2).

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const limitsYAML = `
listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
server:
  routes:
    - {path: /pooldirect/, target: "http://{P1}/", worker: {max: 1, acquire: 200ms}}
    - {path: /pool, target: balancer://pool}
    - {path: /abort, target: balancer://abort}
    - {path: /, target: "http://{F}/"}
  balancers:
    - name: pool
      members: [{url: "http://{P2}", loadfactor: 100, max: 1, acquire: 200ms}, {url: "http://{A}"}]
    - name: abort
      members: [{url: "http://{SLOW}", loadfactor: 100}, {url: "http://{A}"}]
limits: {max_conns: 6, max_conns_per_ip: 3}
timeouts: {client_header: 1s, client_idle: 1s, client_write: 1s, client_body: 1s}
`

// holdBackend answers /hold once release is closed (or the test ends) and
// anything else at once.
func holdBackend(t *testing.T, name string, release <-chan struct{}) *rawBackend {
	return newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		if strings.HasSuffix(r.URI, "/hold") {
			select {
			case <-release:
			case <-r.Done:
				return true
			}
		}
		writeResp(w, 200, []string{"X-Backend: " + name}, name+" "+r.URI)
		return false
	})
}

// dialFrom opens a connection to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("cannot dial sluice from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served sends a keep-alive GET on c and reads its 200: the connection is
// open and counted by sluice.
func served(t *testing.T, c net.Conn) *bufio.Reader {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatalf("cannot send: %v", err)
	}
	br := bufio.NewReader(c)
	m, err := readResponse(br, false)
	if err != nil {
		t.Fatalf("no response on a connection under the limits: %v", err)
	}
	wantStatus(t, m, 200)
	return br
}

// refusedOverLimit checks what a connection over a cap gets: sluice's own
// error page (not fasthttp's text naming its settings) with status and
// Connection: close, then the close; the request never reaches a member.
func refusedOverLimit(t *testing.T, f *faultBackend, c net.Conn, status int) {
	t.Helper()
	before := f.count("/ok")
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	_, _ = io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
	raw, err := io.ReadAll(c)
	if err != nil && !isConnEnd(err) {
		t.Fatalf("connection over the limit not closed: %v (read %q)", err, raw)
	}
	m, err := readResponse(bufio.NewReader(strings.NewReader(string(raw))), false)
	if err != nil {
		t.Fatalf("cannot parse the answer over the limit %q: %v", raw, err)
	}
	wantStatus(t, m, status)
	if got := m.Get("Connection"); got != "close" {
		t.Errorf("Connection = %q, want close", got)
	}
	if title := http.StatusText(status); !strings.Contains(string(m.Body), "<h1>"+title+"</h1>") {
		t.Errorf("body %q, want sluice's error page for %d", m.Body, status)
	}
	if n := f.count("/ok") - before; n != 0 {
		t.Errorf("the member received %d requests from a connection over the limit", n)
	}
}

// servedAgain polls until a fresh connection from 127.0.0.1 gets a 200:
// sluice notices closed connections asynchronously.
func servedAgain(t *testing.T, addr string) {
	t.Helper()
	servedAgainFrom(t, "127.0.0.1", addr)
}

// servedAgainFrom polls until a fresh connection from src gets a 200.
func servedAgainFrom(t *testing.T, src, addr string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		status, err := getOnce(src, addr)
		if status == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice does not serve %s again within %v: status %d, %v", src, ioTimeout, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getOnce sends one GET from src on a fresh connection and returns the
// status (0 when none came).
func getOnce(src, addr string) (int, error) {
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, err
	}
	m, err := readResponse(bufio.NewReader(c), false)
	if err != nil {
		return 0, err
	}
	return m.Status, nil
}

// fill opens n keep-alive connections, served from the source addresses
// in turn. A refusal is retried: connections of an earlier step may not be
// released yet.
func fill(t *testing.T, addr string, n int, srcs ...string) []net.Conn {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	var conns []net.Conn
	for len(conns) < n {
		c := dialFrom(t, srcs[len(conns)%len(srcs)], addr)
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		_, _ = io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
		m, err := readResponse(bufio.NewReader(c), false)
		switch {
		case err == nil && m.Status == 200:
			conns = append(conns, c)
			continue
		case time.Now().After(deadline):
			t.Fatalf("connection %d under the limits not served: %v %v", len(conns)+1, m, err)
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return conns
}

// closedWithin waits for sluice to end c and returns how long it took and
// what it sent first.
func closedWithin(t *testing.T, c net.Conn, br *bufio.Reader) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(ioTimeout))
	raw, err := io.ReadAll(br)
	if err != nil && !isConnEnd(err) {
		t.Fatalf("connection not closed within %v: %v", ioTimeout, err)
	}
	return time.Since(start), string(raw)
}

func TestLimits(t *testing.T) {
	release1, release2 := make(chan struct{}), make(chan struct{})
	p1, p2 := holdBackend(t, "P1", release1), holdBackend(t, "P2", release2)
	a := newBackend(t, "A", nil)
	slow := newBackend(t, "SLOW", func(w *bufio.Writer, r *backendReq) bool {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.Done:
			return true
		}
		writeResp(w, 200, nil, "late")
		return false
	})
	f := newFaultBackend(t)
	s := startSluice(t, writeConfig(t, t.TempDir(), "limits.yaml", limitsYAML,
		"{P1}", p1.addr, "{P2}", p2.addr, "{A}", a.addr, "{SLOW}", slow.addr, "{F}", f.addr))
	adm := s.waitMsg(0, "admin listening")["addr"]

	t.Run("RES-06", func(t *testing.T) {
		t.Run("max_conns_per_ip", func(t *testing.T) {
			conns := fill(t, s.Addr(), 3, "127.0.0.2")
			refusedOverLimit(t, f, dialFrom(t, "127.0.0.2", s.Addr()), 429)
			served(t, dialFrom(t, "127.0.0.3", s.Addr())) // another IP is not affected
			for _, c := range conns {
				c.Close()
			}
			// Closed connections are uncounted: the address gets its three back.
			servedAgainFrom(t, "127.0.0.2", s.Addr())
			fill(t, s.Addr(), 3, "127.0.0.2")
		})
		t.Run("silent connections count against no cap", func(t *testing.T) {
			// AcceptFilter data, the default: the kernel hands a connection
			// over once it has sent something, so three that never do leave
			// the address its three slots.
			for range 3 {
				dialFrom(t, "127.0.0.12", s.Addr())
			}
			for range 3 {
				served(t, dialFrom(t, "127.0.0.12", s.Addr()))
			}
		})
		t.Run("max_conns", func(t *testing.T) {
			conns := fill(t, s.Addr(), 6, "127.0.0.4", "127.0.0.5")
			refusedOverLimit(t, f, dialFrom(t, "127.0.0.6", s.Addr()), 503)
			for _, c := range conns {
				c.Close()
			}
			for _, c := range fill(t, s.Addr(), 6, "127.0.0.4", "127.0.0.5") {
				c.Close()
			}
		})
	})

	t.Run("idle keep-alive connection closed after client_idle", func(t *testing.T) {
		servedAgain(t, s.Addr())
		c := dialFrom(t, "127.0.0.7", s.Addr())
		d, _ := closedWithin(t, c, served(t, c))
		if d < 500*time.Millisecond || d > 5*time.Second {
			t.Errorf("idle connection closed after %v, want about client_idle=1s", d)
		}
	})

	t.Run("silent connection closed after client_header", func(t *testing.T) {
		// Accepted at once only without the default AcceptFilter data, which
		// leaves a connection that sends nothing with the kernel (30 s).
		s := startSluice(t, writeConfig(t, t.TempDir(), "silent.yaml", `
listen: ["127.0.0.1:0"]
admin: {listen: "off"}
accept_filter: none
server: {routes: [{path: /, target: "http://{F}/"}]}
timeouts: {client_header: 1s}
`, "{F}", f.addr))
		c := dialFrom(t, "127.0.0.8", s.Addr())
		d, raw := closedWithin(t, c, bufio.NewReader(c))
		if d < 500*time.Millisecond || d > 5*time.Second {
			t.Errorf("silent connection closed after %v, want about client_header=1s", d)
		}
		if raw != "" && !strings.HasPrefix(raw, "HTTP/1.1 408 ") {
			t.Errorf("silent connection got %q, want nothing or a 408", raw)
		}
	})

	t.Run("RES-07", func(t *testing.T) {
		t.Run("client that never reads: cut after client_write, member let go", func(t *testing.T) {
			c := dialFrom(t, "127.0.0.9", s.Addr())
			if _, err := io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			select {
			case <-f.ended:
			case <-time.After(ioTimeout):
				t.Fatalf("the member still streams %v after the request; sluice never gave up on the client", ioTimeout)
			}
			if d := time.Since(start); d < 500*time.Millisecond {
				t.Errorf("member let go after %v, before client_write=1s", d)
			}
			servedAgain(t, s.Addr())
		})
		t.Run("slow but steady reader: not cut by client_write", func(t *testing.T) {
			// client_write bounds each write, not the whole response:
			// reading 16 KiB every 10 ms for 2.5 s outlasts it.
			c := dialFrom(t, "127.0.0.11", s.Addr())
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16<<10)
			total, start := 0, time.Now()
			for time.Since(start) < 2500*time.Millisecond {
				n, err := c.Read(buf)
				total += n
				if err != nil {
					t.Fatalf("cut after %v and %d bytes: %v", time.Since(start), total, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.Close()
			select {
			case <-f.ended:
			case <-time.After(ioTimeout):
				t.Fatalf("the member still streams %v after the client left", ioTimeout)
			}
		})
	})

	t.Run("RES-08", func(t *testing.T) {
		t.Run("client gone before the answer: no failover, member not in error", func(t *testing.T) {
			before, aBefore := slow.count(), a.count()
			c := dialFrom(t, "127.0.0.10", s.Addr())
			if _, err := io.WriteString(c, "GET /abort/x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			waitCount(t, slow, before+1)
			c.Close()
			time.Sleep(700 * time.Millisecond) // past the member's answer: a failover would have happened
			if n := a.count() - aBefore; n != 0 {
				t.Errorf("A received %d requests: a client abort failed over", n)
			}
			wantErrorFlag(t, adm, "abort", slow.addr, false)
			servedAgain(t, s.Addr())
		})
	})

	t.Run("BKE-06", func(t *testing.T) {
		t.Run("direct worker max=1 acquire=200ms: 503 after the wait", func(t *testing.T) {
			held := holdOne(t, s.Addr(), "/pooldirect/hold", p1)
			start := time.Now()
			wantStatus(t, getURI(t, s.Addr(), "/pooldirect/x"), 503)
			if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
				t.Errorf("503 after %v, want it after acquire=200ms", d)
			}
			close(release1)
			if m := <-held; m == nil || m.Status != 200 {
				t.Errorf("the request holding the connection got %v, want 200", m)
			}
		})
		t.Run("balancer member max=1 acquire=200ms: fails over after the wait", func(t *testing.T) {
			held := holdOne(t, s.Addr(), "/pool/hold", p2)
			start := time.Now()
			m := getURI(t, s.Addr(), "/pool/x")
			wantStatus(t, m, 200)
			if m.Get("X-Backend") != "A" {
				t.Errorf("answered by %q, want A", m.Get("X-Backend"))
			}
			if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
				t.Errorf("failover after %v, want it after acquire=200ms", d)
			}
			wantErrorFlag(t, adm, "pool", p2.addr, true)
			close(release2)
			if m := <-held; m == nil || m.Status != 200 {
				t.Errorf("the request holding the connection got %v, want 200", m)
			}
		})
	})
}

// holdOne sends uri in the background and returns once b holds it; the
// channel yields its response (nil on error).
func holdOne(t *testing.T, addr, uri string, b *rawBackend) <-chan *wireMsg {
	t.Helper()
	before := b.count()
	out := make(chan *wireMsg, 1)
	go func() {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			out <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := io.WriteString(c, buildReq("GET", uri, "a", nil, "")); err != nil {
			out <- nil
			return
		}
		m, err := readResponse(bufio.NewReader(c), false)
		if err != nil {
			m = nil
		}
		out <- m
	}()
	waitCount(t, b, before+1)
	return out
}

// waitCount waits until b has received n requests.
func waitCount(t *testing.T, b *rawBackend, n int) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for b.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("backend %s received %d requests, want %d", b.name, b.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setNoFile lowers pid's soft RLIMIT_NOFILE to n (prlimit(2)).
func setNoFile(t *testing.T, pid int, n uint64) {
	t.Helper()
	var cur syscall.Rlimit
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE, 0,
		uintptr(unsafe.Pointer(&cur)), 0, 0); errno != 0 {
		t.Fatalf("cannot read RLIMIT_NOFILE of %d: %v", pid, errno)
	}
	lim := syscall.Rlimit{Cur: n, Max: cur.Max}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("cannot set RLIMIT_NOFILE of %d: %v", pid, errno)
	}
}

// TestAcceptSurvivesEMFILE (RES-05): with its file descriptors used up,
// sluice cannot accept; once the clients leave it must serve again.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	b := newBackend(t, "B", nil)
	s := startSluice(t, writeConfig(t, t.TempDir(), "emfile.yaml", `
listen: ["127.0.0.1:0"]
server:
  routes: [{path: /, target: "http://{B}/"}]
`, "{B}", b.addr))
	servedAgain(t, s.Addr())
	pid := s.cmd.Process.Pid
	setNoFile(t, pid, uint64(openFiles(t, pid)+4))
	var wg sync.WaitGroup
	conns := make([]net.Conn, 40)
	for i := range conns {
		c, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err) // the kernel accepts into the backlog
		}
		conns[i] = c
		wg.Go(func() {
			_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
			_, _ = io.Copy(io.Discard, c)
		})
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	select {
	case <-s.exited:
		t.Fatalf("sluice exited when accept failed: %v", s.exitErr())
	default:
	}
	servedAgain(t, s.Addr())
}

// parkBackend reads a request head and then waits, answering 200 after
// hold unless the proxy closes the connection first, which it reports on
// gone. got reports each request head.
type parkBackend struct {
	connServer
	hold time.Duration
	got  chan struct{}
	gone chan struct{}
}

func newParkBackend(t *testing.T, hold time.Duration) *parkBackend {
	t.Helper()
	b := &parkBackend{hold: hold, got: make(chan struct{}, 8), gone: make(chan struct{}, 8)}
	b.start(t, b.serve)
	return b
}

// serve handles one request per connection.
func (b *parkBackend) serve(c net.Conn) {
	br := bufio.NewReader(c)
	if _, err := readHead(br, true); err != nil {
		return
	}
	b.got <- struct{}{}
	closed := make(chan struct{})
	go func() {
		// A GET has no body: the next read ends only with the connection.
		_, _ = br.Peek(1)
		close(closed)
	}()
	select {
	case <-closed:
		b.gone <- struct{}{}
		return
	case <-b.done:
		return
	case <-time.After(b.hold):
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"); err != nil {
		return
	}
	<-closed
}

const clientAbortYAML = `
listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
access_log: {path: "{LOG}", format: json}
ignore_client_abort: {IGNORE}
server:
  routes:
    - {path: /, target: balancer://park}
  balancers:
    - name: park
      members: [{url: "http://{PARK}"}]
`

// TestClientAbort is threats.md RES-08: a client that leaves while its
// request waits for a member's answer cancels the member's work (its
// connection is closed), is logged with 499, and does not put the member
// in error; with ignore_client_abort the member is left to answer.
func TestClientAbort(t *testing.T) {
	start := func(t *testing.T, ignore bool, hold time.Duration) (*sluiceProc, *parkBackend, string) {
		b := newParkBackend(t, hold)
		dir := t.TempDir()
		log := dir + "/access.log"
		s := startSluice(t, writeConfig(t, dir, "abort.yaml", clientAbortYAML,
			"{LOG}", log, "{IGNORE}", map[bool]string{false: "false", true: "true"}[ignore], "{PARK}", b.addr))
		return s, b, log
	}
	send := func(t *testing.T, s *sluiceProc, b *parkBackend) net.Conn {
		c := dialFrom(t, "127.0.0.1", s.Addr())
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.got:
		case <-time.After(ioTimeout):
			t.Fatal("the member never received the request")
		}
		return c
	}
	wantGone := func(t *testing.T, b *parkBackend) {
		t.Helper()
		select {
		case <-b.gone:
		case <-time.After(ioTimeout):
			t.Fatalf("the member connection was not closed within %v of the client leaving", ioTimeout)
		}
	}

	t.Run("closed: member connection closed, 499, member not in error", func(t *testing.T) {
		s, b, log := start(t, false, time.Minute)
		adm := s.waitMsg(0, "admin listening")["addr"]
		send(t, s, b).Close()
		wantGone(t, b)
		wantLogged(t, log, `"status":499`)
		wantErrorFlag(t, adm, "park", b.addr, false)
	})
	t.Run("half-closed: cancelled, nothing written back", func(t *testing.T) {
		s, b, _ := start(t, false, time.Minute)
		c := send(t, s, b)
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		wantGone(t, b)
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
			t.Errorf("the half-closed client read %q, %v; want nothing, then the end of the connection", got, err)
		}
	})
	t.Run("ignore_client_abort: the member answers", func(t *testing.T) {
		hold := 1500 * time.Millisecond // several client checks
		s, b, log := start(t, true, hold)
		send(t, s, b).Close()
		wantLogged(t, log, `"status":200`)
		select {
		case <-b.gone:
			t.Fatal("the member connection was closed although ignore_client_abort is set")
		default:
		}
	})
}

// wantLogged waits until the access log at path has a line containing want.
func wantLogged(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log has no line with %s:\n%s", want, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
