package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

// TestConnLimits: over max_conns_per_ip a connection gets sluice's 429
// page and a close, over max_conns its 503 page; a closed connection is
// uncounted; with Go's listener and with sluice's (Listen: on Linux, a
// connection accepted into its clientConn).
func TestConnLimits(t *testing.T) {
	t.Run("go", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		testConnLimits(t, ln)
	})
	t.Run("sluice", func(t *testing.T) {
		ln, err := Listen("127.0.0.1:0", false)
		if err != nil {
			t.Fatal(err)
		}
		testConnLimits(t, ln)
	})
}

func testConnLimits(t *testing.T, ln net.Listener) {
	defer ln.Close()
	pl := &patientListener{Listener: ln, log: slog.New(slog.DiscardHandler), limits: newConnLimits(2, 1)}
	admitted := make(chan net.Conn)
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				close(admitted)
				return
			}
			admitted <- c
		}
	}()
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	turnedAway := func(c net.Conn, status int) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(c)); err != nil {
			t.Fatalf("no answer over the limit: %v", err)
		}
		if resp.StatusCode() != status || !resp.ConnectionClose() || !strings.Contains(string(resp.Body()), "<h1>") {
			t.Errorf("over the limit: %d close=%v %q, want %d, sluice's page and a close", resp.StatusCode(), resp.ConnectionClose(), resp.Body(), status)
		}
	}
	dial("127.0.0.1")
	first := <-admitted
	turnedAway(dial("127.0.0.1"), fasthttp.StatusTooManyRequests)
	dial("127.0.0.2")
	<-admitted
	turnedAway(dial("127.0.0.3"), fasthttp.StatusServiceUnavailable)
	first.Close()
	dial("127.0.0.1")
	select {
	case <-admitted:
	case <-time.After(5 * time.Second):
		t.Fatal("a closed connection still counts")
	}
}

// TestClientConnReadAhead: a one-byte read (fasthttp's first on a new
// connection) brings what else waits with it; the next read is served from
// that, and both count against the budget.
func TestClientConnReadAhead(t *testing.T) {
	const head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	client, server := testnet.Pair(t, nil)
	c := newClientConn(server, newConnLimits(0, 0))
	if _, err := io.WriteString(client, head); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if n, err := c.Read(one); n != 1 || err != nil || one[0] != 'G' {
		t.Fatalf("first byte: %q, %v", one[:n], err)
	}
	if c.ahead == nil || string(c.ahead.buf[c.ahead.at:]) != head[1:] {
		t.Fatal("the one-byte read kept nothing of the rest ahead")
	}
	rest := make([]byte, 64)
	if n, err := c.Read(rest); err != nil || string(rest[:n]) != head[1:] {
		t.Fatalf("the rest: %q, %v; want %q", rest[:n], err, head[1:])
	}
	if c.ahead != nil || c.read != int64(len(head)) {
		t.Fatalf("after the head: ahead %v, read %d; want none, %d", c.ahead != nil, c.read, len(head))
	}
}

// TestClientConnBudget: a request may make sluice read at most the budget;
// anything written to the client starts the next request's count.
func TestClientConnBudget(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cl := newConnLimits(0, 0)
	cl.budget.Store(8)
	c := newClientConn(a, cl)
	go func() { _, _ = b.Write([]byte("0123456789")) }()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	buf := make([]byte, 8)
	if n, err := io.ReadFull(c, buf); n != 8 || err != nil {
		t.Fatalf("read %d, %v within the budget", n, err)
	}
	if _, err := c.Read(buf); !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("read past the budget: %v, want errBodyTooLarge", err)
	}
	if _, err := c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 2 || err != nil {
		t.Fatalf("after a write: read %d, %v, want the next 2 bytes", n, err)
	}
}

// TestClientConnEarlyDeadlines: a later deadline rides on an earlier one
// armed before, even one that has already passed; the I/O that fails on it
// is retried under the deadline asked for, and only that one is a timeout.
func TestClientConnEarlyDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := newClientConn(a, newConnLimits(0, 0))
		buf := make([]byte, 8)
		for _, d := range []time.Duration{
			time.Second,   // armed, and it passes unnoticed below
			time.Minute,   // rides on the passed one
			2 * time.Hour, // rides again, on the minute
		} {
			if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
				t.Fatal(err)
			}
			if err := c.SetWriteDeadline(time.Now().Add(d)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
		}
		readAfter(t, c, b, 90*time.Minute) // under a later deadline
		go func() { _, _ = b.Read(buf) }()
		if _, err := c.Write([]byte("y")); err != nil {
			t.Fatalf("write under a later deadline: %v", err)
		}
		// The deadline asked for is real: a read past it times out.
		if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		readTimesOut(t, c, time.Minute)
	})
}

// readAfter reads from c a byte that peer sends after d, and wants the
// read to end then (in a synctest bubble).
func readAfter(t *testing.T, c, peer net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	go func() {
		time.Sleep(d)
		_, _ = peer.Write([]byte("x"))
	}()
	if n, err := c.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("a read that waited %v: %d, %v", d, n, err)
	}
	if waited := time.Since(start); waited != d {
		t.Fatalf("read after %v, want %v", waited, d)
	}
}

// readTimesOut reads from c, which nothing is sent to, and wants the read
// to time out after d exactly (in a synctest bubble).
func readTimesOut(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a read with nothing sent: %v, want a timeout", err)
	}
	if waited := time.Since(start); waited != d {
		t.Fatalf("timed out after %v, want %v", waited, d)
	}
}

// TestClientConnClearRides: fasthttp clears the read deadline after every
// handler that set one (sluice's body timeout, on each request with a
// body); the clear rides on the armed deadline as a later one does, so a
// keep-alive connection's requests arm none after its first, and a
// read with no deadline asked for outlasts the armed one that fires.
func TestClientConnClearRides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		counted := &deadlineCounter{Conn: a}
		c := newClientConn(counted, newConnLimits(0, 0))
		for range 10 { // a request with a body, as fasthttp and the relay set them
			for _, d := range []time.Duration{75 * time.Second, 30 * time.Second, time.Minute, 0} {
				at := time.Time{}
				if d > 0 {
					at = time.Now().Add(d)
				}
				if err := c.SetReadDeadline(at); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Millisecond)
		}
		// The first request arms the idle timeout and then the earlier
		// header timeout; the rest ride on that.
		if counted.reads != 2 {
			t.Fatalf("10 requests armed %d read deadlines, want 2", counted.reads)
		}
		readAfter(t, c, b, 2*time.Hour) // with no deadline
	})
}

// deadlineCounter counts the read deadlines set on its connection.
type deadlineCounter struct {
	net.Conn
	reads int
}

func (d *deadlineCounter) SetReadDeadline(t time.Time) error {
	d.reads++
	return d.Conn.SetReadDeadline(t)
}

// TestClientConnHeldHeadWritev: a held head and the body bytes after it go
// out together (writev on a socket), in order, and a write deadline that
// fires before the one asked for is re-armed rather than failing the write.
func TestClientConnHeldHeadWritev(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newClientConn(server, newConnLimits(0, 0))
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 33554432\r\n\r\n")
	body := make([]byte, 32<<20) // more than loopback's buffers take: the write waits
	for i := range body {
		body[i] = byte(i ^ i>>13)
	}
	if err := c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil { // rides on the first
		t.Fatal(err)
	}
	c.holdHead()
	if n, err := c.Write(head); n != len(head) || err != nil {
		t.Fatalf("held head: %d, %v", n, err)
	}
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the first deadline fires meanwhile
		_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(head)+len(body))))
		got <- b
	}()
	if n, err := c.Write(body); n != len(body) || err != nil {
		t.Fatalf("body: %d of %d, %v", n, len(body), err)
	}
	if b := <-got; !bytes.Equal(b, append(head, body...)) {
		t.Fatalf("the client got %d bytes that are not the head and the body (%d)", len(b), len(head)+len(body))
	}
	if c.held != nil {
		t.Fatal("the head is still held")
	}
}

// TestClientConnWriteTimeout: client_write runs only while a write waits
// for the client to take bytes (nginx's send_timeout): writes the socket
// takes at once arm no deadline, a wait longer than client_write fails the
// write, and a deadline armed for an earlier wait fails no later write.
func TestClientConnWriteTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	limits := newConnLimits(0, 0)
	limits.write = timeout
	pair := func() (*net.TCPConn, *clientConn, *tcpDeadlines) {
		client, server := testnet.Pair(t, nil)
		counted := &tcpDeadlines{TCPConn: server}
		return client, newClientConn(counted, limits), counted
	}
	t.Run("taken at once: no deadline", func(t *testing.T) {
		client, c, counted := pair()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		chunk := make([]byte, 1<<10)
		for range 100 {
			if _, err := c.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		if counted.writes != 0 {
			t.Fatalf("100 writes that did not wait armed %d write deadlines, want 0", counted.writes)
		}
	})
	t.Run("a wait past client_write fails", func(t *testing.T) {
		_, c, counted := pair() // the client never reads
		start := time.Now()
		_, err := c.Write(make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a write the client never took: %v, want a timeout", err)
		}
		if d := time.Since(start); d < timeout {
			t.Fatalf("timed out after %v, before client_write (%v)", d, timeout)
		}
		if counted.writes == 0 {
			t.Fatal("the wait armed no deadline")
		}
	})
	t.Run("an earlier wait's deadline", func(t *testing.T) {
		client, c, _ := pair()
		go func() {
			time.Sleep(50 * time.Millisecond) // the write below waits meanwhile
			_, _ = io.Copy(io.Discard, client)
		}()
		if _, err := c.Write(make([]byte, 16<<20)); err != nil {
			t.Fatalf("a write the client took after a short wait: %v", err)
		}
		time.Sleep(timeout + 200*time.Millisecond) // what that wait armed passes
		if _, err := c.Write([]byte("next")); err != nil {
			t.Fatalf("a later write that did not wait: %v", err)
		}
	})
}

// tcpDeadlines counts the deadlines set on its connection, whose socket it
// keeps reachable (SyscallConn).
type tcpDeadlines struct {
	*net.TCPConn
	reads, writes int
}

func (d *tcpDeadlines) SetReadDeadline(t time.Time) error {
	d.reads++
	return d.TCPConn.SetReadDeadline(t)
}

func (d *tcpDeadlines) SetWriteDeadline(t time.Time) error {
	d.writes++
	return d.TCPConn.SetWriteDeadline(t)
}

// TestClientConnBodyWaits: a request body's reads are timed per wait
// (client_body between two reads): bytes that are there already arm no
// deadline; waits shorter than client_body each pass however long the
// body takes; a wait past it times out.
func TestClientConnBodyWaits(t *testing.T) {
	t.Run("bytes there: no deadline", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		counted := &tcpDeadlines{TCPConn: server}
		c := newClientConn(counted, newConnLimits(0, 0))
		c.bodyWaits(time.Minute)
		buf := make([]byte, 64)
		for i := range 10 {
			if _, err := io.WriteString(client, "0123456789"); err != nil {
				t.Fatal(err)
			}
			for sent, _ := c.socket.Look(); !sent; sent, _ = c.socket.Look() {
				time.Sleep(time.Millisecond)
			}
			if n, err := c.Read(buf); n != 10 || err != nil {
				t.Fatalf("read %d: %d, %v", i, n, err)
			}
		}
		if counted.reads != 0 {
			t.Fatalf("10 reads that found their bytes armed %d read deadlines, want 0", counted.reads)
		}
	})
	t.Run("per wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			c := newClientConn(a, newConnLimits(0, 0))
			c.bodyWaits(time.Minute)
			for range 3 { // 150 s in all
				readAfter(t, c, b, 50*time.Second)
			}
			readTimesOut(t, c, time.Minute) // client_body
		})
	})
}

// TestClientHeaderTimeout: client_header runs from a request's first byte,
// not from the start of the keep-alive wait before it, whether the
// connection waited in fasthttp or parked (client_park) meanwhile; a
// request whose head stalls is answered 408 and closed.
func TestClientHeaderTimeout(t *testing.T) {
	const header, pause = 600 * time.Millisecond, 400 * time.Millisecond
	backend := startBackend(t, echo)
	for _, park := range []time.Duration{10 * time.Second, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("client_park %v", park), func(t *testing.T) {
			cfg, err := config.ParseApache("t.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+backend+"/\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Timeouts.ClientHeader = config.Duration(header)
			cfg.Timeouts.ClientIdle = config.Duration(5 * time.Second)
			cfg.Timeouts.ClientPark = config.Duration(park)
			_, addr := serveTCP(t, cfg)
			conn := dialTCP(t, addr)
			if resp := rawRequest(t, conn, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode() != 200 {
				t.Fatalf("first request: %d", resp.StatusCode())
			}
			time.Sleep(pause)
			if _, err := io.WriteString(conn, "GET /b HTTP/1.1\r\n"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(10 * time.Second))
			raw, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("the stalled head was not closed: %v", err)
			}
			if d := time.Since(start); d < header-100*time.Millisecond {
				t.Fatalf("closed %v after the head began, before client_header (%v)", d, header)
			}
			if !strings.HasPrefix(string(raw), "HTTP/1.1 408 ") {
				t.Fatalf("answer %q, want a 408", raw)
			}
		})
	}
}

// TestClientHeaderDribble: client_header bounds the whole head, not each
// wait for its bytes: a head that comes a byte every 50 ms, each wait well
// inside a 300 ms client_header, is answered 408 once the head has taken
// client_header since it first had to wait (slowloris).
func TestClientHeaderDribble(t *testing.T) {
	const header, every = 300 * time.Millisecond, 50 * time.Millisecond
	cfg, err := config.ParseApache("t.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+startBackend(t, echo)+"/\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeouts.ClientHeader = config.Duration(header)
	_, addr := serveTCP(t, cfg)
	conn := dialTCP(t, addr)
	if _, err := io.WriteString(conn, "GET /a HTTP/1.1\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan []byte)
	go func() {
		raw, _ := io.ReadAll(conn) // till sluice closes
		done <- raw
	}()
	for range 100 { // 5 s of dribble, far past client_header
		select {
		case raw := <-done:
			if d := time.Since(start); d < header-100*time.Millisecond {
				t.Fatalf("closed %v after the head began, before client_header (%v)", d, header)
			}
			if !strings.HasPrefix(string(raw), "HTTP/1.1 408 ") {
				t.Fatalf("answer %q, want a 408", raw)
			}
			return
		case <-time.After(every):
			if _, err := io.WriteString(conn, "x"); err != nil {
				continue // closed meanwhile: the answer is on its way
			}
		}
	}
	t.Fatalf("a head dribbled for %v, each wait inside client_header (%v), was never cut", 100*every, header)
}

// TestRequestTimeLogged: the access log's request time is when the request
// began: its duration covers the member's delay, not only what followed
// it, and a keep-alive request sent after a pause begins after the pause,
// not as the answer before it ended; with the connection parked meanwhile
// or not.
func TestRequestTimeLogged(t *testing.T) {
	const delay, pause = 200 * time.Millisecond, 300 * time.Millisecond
	backend := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			time.Sleep(delay)
		}
		ctx.SetBodyString("ok")
	})
	for _, park := range []time.Duration{10 * time.Second, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("client_park %v", park), func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := config.ParseApache("t.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+backend+"/\n"+
				"CustomLog "+dir+"/t.log \"%U %{usec}t %D\"\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Timeouts.ClientPark = config.Duration(park)
			s, addr := serveTCP(t, cfg)
			conn := dialTCP(t, addr)
			// A new connection parks as its first answer goes out; a wake
			// soon after makes it wait in fasthttp again (startConn).
			for _, path := range []string{"/warm", "/slow"} {
				if resp := rawRequest(t, conn, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode() != 200 {
					t.Fatalf("%s: %d", path, resp.StatusCode())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(pause)
			resumed := time.Now()
			if resp := rawRequest(t, conn, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode() != 200 {
				t.Fatalf("/fast: %d", resp.StatusCode())
			}
			flushLogs(s)
			b, err := os.ReadFile(dir + "/t.log")
			if err != nil {
				t.Fatal(err)
			}
			var slow, fast struct{ start, took int64 }
			if _, err := fmt.Sscanf(string(b), "/warm %d %d\n/slow %d %d\n/fast %d %d\n", new(int64), new(int64), &slow.start, &slow.took, &fast.start, &fast.took); err != nil {
				t.Fatalf("log %q: %v", b, err)
			}
			if slow.took < delay.Microseconds() {
				t.Errorf("/slow took %d µs, less than the member's %v delay", slow.took, delay)
			}
			if fast.start < resumed.UnixMicro()-1 {
				t.Errorf("/fast began %d µs before it was sent, at the answer before it", resumed.UnixMicro()-fast.start)
			}
		})
	}
}

// TestClientConnSize keeps a client connection's record, its socket and
// its accepted connection (sock.Accepted) included, in the 512-byte size
// class: it is the one allocation of sluice's own per connection, and a
// new connection per request pays for its size in garbage collected (a
// collection per megabyte or so allocated: at 576 bytes, the next class,
// a new connection read about 200 instructions more in
// benchmarks/instructions.sh new-conn). What only some connections need
// (a held head's vectors, a read-ahead's offset, deadlines as times)
// lives elsewhere or as Unix nanoseconds; a field added here must fit or
// earn its class.
func TestClientConnSize(t *testing.T) {
	if n := unsafe.Sizeof(clientConn{}); n > 512 {
		t.Fatalf("clientConn takes %d bytes, more than the 512 of its size class", n)
	}
}

// TestClientConnYields: with connLimits.yields (one P) the read that waits
// for a keep-alive connection's next request comes after the goroutines
// ready to run have had their turn; without it, or once the request has
// begun (its head's rest, its body), the read is made at once.
func TestClientConnYields(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name          string
		yields, begun bool
		want          bool // the other goroutine ran before the read
	}{
		{"next request", true, false, true},
		{"several Ps", false, false, false},
		{"request begun", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			var ran atomic.Bool
			spy := &runSpy{Conn: a, ran: &ran}
			limits := newConnLimits(0, 0)
			limits.yields = tc.yields
			c := newClientConn(spy, limits)
			c.awaits()
			if tc.begun {
				c.begins()
			}
			go func() {
				ran.Store(true)
				_, _ = b.Write([]byte("GET / HTTP/1.1\r\n"))
			}()
			p := make([]byte, 64)
			if _, err := c.Read(p); err != nil {
				t.Fatal(err)
			}
			if spy.sawRun != tc.want {
				t.Fatalf("other goroutine had run before the read: %v, want %v", spy.sawRun, tc.want)
			}
		})
	}
}

// runSpy notes, at its first Read, whether ran was set.
type runSpy struct {
	net.Conn
	ran          *atomic.Bool
	read, sawRun bool
}

func (s *runSpy) Read(p []byte) (int, error) {
	if !s.read {
		s.read, s.sawRun = true, s.ran.Load()
	}
	return s.Conn.Read(p)
}

// TestServerYieldsWithOneP: a server made with one P yields before the
// wait for a next request, one made with more does not; keep-alive and
// pipelined requests are answered either way.
func TestServerYieldsWithOneP(t *testing.T) {
	backend := startBackend(t, echo)
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS %d", procs), func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
			cfg, err := config.ParseApache("t.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+backend+"/\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			s, addr := serveTCP(t, cfg)
			if s.limits.yields != (procs == 1) {
				t.Fatalf("yields %v with %d Ps", s.limits.yields, procs)
			}
			conn := dialTCP(t, addr)
			for i := range 3 {
				if resp := rawRequest(t, conn, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode() != 200 {
					t.Fatalf("request %d: %d", i, resp.StatusCode())
				}
			}
			if _, err := io.WriteString(conn, "GET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			for _, path := range []string{"/b", "/c"} {
				var resp fasthttp.Response
				if err := resp.Read(br); err != nil || resp.StatusCode() != 200 {
					t.Fatalf("pipelined %s: %v %d", path, err, resp.StatusCode())
				}
			}
		})
	}
}

// scriptedListener's Accept returns errs in turn, then conns.
type scriptedListener struct {
	net.Listener
	errs  []error
	conns []net.Conn
}

func (*scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if len(l.conns) == 0 {
		return nil, net.ErrClosed
	}
	c := l.conns[0]
	l.conns = l.conns[1:]
	return c, nil
}

// TestAcceptSkipsLostConnections: an error that ended one pending
// connection (accept(2) passes such errors on) is not the listener's: the
// next connection is accepted, where fasthttp would have stopped serving.
func TestAcceptSkipsLostConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	lost := func(errno syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
	}
	pl := &patientListener{Listener: &scriptedListener{
		errs:  []error{lost(syscall.EPROTO), lost(syscall.EPERM), lost(syscall.EHOSTUNREACH), lost(syscall.ECONNABORTED)},
		conns: []net.Conn{a},
	}, log: slog.New(slog.DiscardHandler)}
	if c, err := pl.Accept(); c != a || err != nil {
		t.Fatalf("Accept = %v, %v; want the connection after the lost ones", c, err)
	}
	if _, err := pl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener: %v", err)
	}
}

// TestAcceptWaitsOutPersistentLosses: an error that comes back at every
// accept (a firewall refusing all) is waited out as exhaustion is, not
// spun on.
func TestAcceptWaitsOutPersistentLosses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		errs := make([]error, maxLostInARow+3)
		for i := range errs {
			errs[i] = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EPERM)}
		}
		pl := &patientListener{Listener: &scriptedListener{errs: errs, conns: []net.Conn{a}}, log: slog.New(slog.DiscardHandler)}
		start := time.Now()
		if c, err := pl.Accept(); c != a || err != nil {
			t.Fatalf("Accept = %v, %v", c, err)
		}
		// 5, 10, 20 and 40 ms, from the maxLostInARow-th in a row on.
		if waited := time.Since(start); waited != 75*time.Millisecond {
			t.Errorf("waited %v, want 75ms", waited)
		}
	})
}
