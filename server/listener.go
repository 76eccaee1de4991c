package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/deadline"
	"github.com/sluiceproxy/sluice/sock"
)

// patientListener keeps accepting through resource exhaustion. fasthttp's
// Serve returns on any accept error other than a timeout, so without this
// a burst that uses up file descriptors (EMFILE) would stop the proxy for
// good; instead Accept waits (5 ms doubling to 1 s, as net/http does) and
// tries again once connections have closed (threats.md RES-05). With
// limits set it also admits connections under sluice's caps (RES-06).
type patientListener struct {
	net.Listener
	log    *slog.Logger
	logged time.Time
	limits *connLimits // nil: no caps (the admin listener)
	// wrap starts TLS on an admitted connection where it is spoken.
	wrap func(net.Conn) net.Conn
	// into is Listener where it accepts into a record (sock.Listener).
	into interface{ AcceptTo(*sock.Accepted) error }
}

func (l *patientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.accept()
		if err != nil {
			return nil, err
		}
		if l.limits != nil {
			var ok bool
			if c, ok = l.limits.admit(c); !ok {
				continue
			}
		}
		if l.wrap != nil {
			c = l.wrap(c)
		}
		return c, nil
	}
}

func (l *patientListener) accept() (net.Conn, error) {
	var delay time.Duration
	lost := 0 // connections lost in a row
	for {
		c, err := l.next()
		if err != nil && lostConn(err) {
			// That connection's error, not the listener's: the next. One
			// that comes back at every call (a firewall's EPERM for all)
			// waits as exhaustion does, rather than spin.
			if lost++; lost < maxLostInARow {
				continue
			}
		} else if err == nil || !exhausted(err) {
			return c, err
		}
		if now := time.Now(); now.Sub(l.logged) > 10*time.Second {
			l.logged = now
			l.log.Warn("cannot accept, retrying", "addr", l.Addr().String(), "err", err)
		}
		if delay == 0 {
			delay = 5 * time.Millisecond
		} else if delay *= 2; delay > time.Second {
			delay = time.Second
		}
		time.Sleep(delay)
	}
}

// next accepts one connection. sluice's own listener (sock.Listener)
// accepts a main listener's connection into the clientConn that will
// serve it: one allocation per connection.
func (l *patientListener) next() (net.Conn, error) {
	if l.limits == nil {
		return l.Listener.Accept()
	}
	if l.into == nil {
		into, ok := l.Listener.(interface{ AcceptTo(*sock.Accepted) error })
		if !ok {
			return l.Listener.Accept()
		}
		l.into = into
	}
	cc := new(clientConn)
	if err := l.into.AcceptTo(&cc.acc); err != nil {
		return nil, err
	}
	cc.Conn = &cc.acc
	return cc, nil
}

// maxLostInARow is how many lost connections accept takes in a row
// before it waits.
const maxLostInARow = 64

// lostConn reports an accept error that ended one pending connection
// only: Linux passes a new socket's network errors on from accept(2),
// which asks the caller to take the next, and a firewall's refusal is
// EPERM. fasthttp's Serve would return, and the listener stop, on any.
func lostConn(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM,
		syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
		syscall.ENOPROTOOPT, syscall.EOPNOTSUPP:
		return true
	}
	return false
}

// exhausted reports the accept errors that pass once resources free up.
func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// Turned-away connections linger this long at most, at most this many at
// once, reading at most this much.
const (
	lingerFor      = time.Second
	maxLingering   = 64
	maxLingerBytes = 64 << 10
)

// connLimits are sluice's caps on client connections, shared by all main
// listeners: max_conns in all and max_conns_per_ip (threats.md RES-06),
// and how many bytes one request may make sluice read (SMG-06). They are
// checked once per connection in the accept path, where a connection over
// a cap gets sluice's own error page (429 per IP, 503 in all) instead of
// fasthttp's plain-text one. A connection counts until it is closed,
// WebSocket tunnels included.
type connLimits struct {
	max   int64 // 0: no total cap
	perIP int32 // 0: no per-IP cap
	// budget bounds the bytes read from a client between two responses:
	// the request head, its body and the body's chunk framing. fasthttp
	// reads chunk extensions of any length and does not count them
	// against any limit; this does.
	budget atomic.Int64

	open      atomic.Int64
	lingering atomic.Int32

	// header, idle and write are client_header, client_idle (client_header
	// where unset) and client_write, 0 for none. sluice keeps them itself,
	// not fasthttp, which would read the clock for each of them on every
	// request (clientConn.awaits, begins, writeConn).
	header, idle, write time.Duration
	// yields: the wait for a keep-alive connection's next request begins
	// with a yield (clientConn.awaits). Set with one P.
	yields bool

	mu   sync.Mutex
	byIP map[netip.Addr]int32
}

func newConnLimits(maxConns, perIP int) *connLimits {
	return &connLimits{max: int64(maxConns), perIP: int32(perIP), byIP: make(map[netip.Addr]int32)}
}

// setBudget sets the read budget of a request from the request limits:
// framing may add as much again as the body, so only a body near the
// limit sent in chunks of a few bytes is cut by it.
func (cl *connLimits) setBudget(maxBody int64, maxHeader int) {
	if maxBody <= 0 {
		cl.budget.Store(0)
		return
	}
	cl.budget.Store(2*maxBody + 2*int64(maxHeader))
}

// admit counts c in, or answers and closes it when it is over a cap. c
// may be a clientConn accepted into already (patientListener.next).
func (cl *connLimits) admit(c net.Conn) (net.Conn, bool) {
	cc, _ := c.(*clientConn)
	if cc != nil {
		c = cc.Conn
	}
	ip := peerIP(c)
	if cl.perIP > 0 && ip.IsValid() {
		cl.mu.Lock()
		n := cl.byIP[ip] + 1
		if n <= cl.perIP {
			cl.byIP[ip] = n
		}
		cl.mu.Unlock()
		if n > cl.perIP {
			cl.turnAway(c, errTooManyFromIP)
			return nil, false
		}
	}
	if n := cl.open.Add(1); cl.max > 0 && n > cl.max {
		cl.release(ip)
		cl.turnAway(c, errTooManyConns)
		return nil, false
	}
	if cc == nil {
		return newClientConn(c, cl), true
	}
	cc.init(c, cl)
	return cc, true
}

func newClientConn(c net.Conn, limits *connLimits) *clientConn {
	cc := new(clientConn)
	cc.init(c, limits)
	return cc
}

func (c *clientConn) init(conn net.Conn, limits *connLimits) {
	c.Conn, c.limits, c.ipTextLen = conn, limits, 0
	c.socket.Init(conn)
	// client_header runs from here to the first request's head, a TLS
	// handshake included.
	c.idleAt = time.Now().UnixNano()
	c.readBy(c.idleAt, limits.header)
}

// release uncounts a connection from ip.
func (cl *connLimits) release(ip netip.Addr) {
	cl.open.Add(-1)
	if cl.perIP == 0 || !ip.IsValid() {
		return
	}
	cl.mu.Lock()
	if n := cl.byIP[ip] - 1; n > 0 {
		cl.byIP[ip] = n
	} else {
		delete(cl.byIP, ip)
	}
	cl.mu.Unlock()
}

// turnAway answers c with the error page for why, then closes it. A close
// with the client's request still unread makes the kernel send a reset,
// which can destroy the answer before the client reads it; so the close
// lingers: the write side is shut, and what the client sends is read and
// dropped until it closes or lingerFor passes. A flood beyond
// maxLingering such closes is closed at once, without an answer, and so is
// a client whose first byte starts a TLS handshake: a plain page would
// only read as a broken handshake.
func (cl *connLimits) turnAway(c net.Conn, why error) {
	if cl.lingering.Add(1) > maxLingering {
		cl.lingering.Add(-1)
		_ = c.Close()
		return
	}
	go func() {
		defer cl.lingering.Add(-1)
		_ = c.SetDeadline(time.Now().Add(lingerFor))
		var first [1]byte
		if n, _ := c.Read(first[:]); n == 1 && first[0] == tlsHandshakeRecord {
			_ = c.Close()
			return
		}
		if _, err := c.Write(renderError(statusFor(why))); err == nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(c, maxLingerBytes))
		}
		_ = c.Close()
	}()
}

// tlsHandshakeRecord is the content type byte that starts a TLS
// ClientHello.
const tlsHandshakeRecord = 0x16

// renderError is sluice's error page for status as bytes on the wire, with
// Connection: close.
func renderError(status int) []byte {
	var ctx fasthttp.RequestCtx
	errorPage(&ctx, status)
	ctx.Response.SetConnectionClose()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	_ = ctx.Response.Write(w)
	_ = w.Flush()
	return b.Bytes()
}

func peerIP(c net.Conn) netip.Addr {
	if a, ok := c.(interface{ RemoteAddrPort() netip.AddrPort }); ok { // *sock.Accepted
		return a.RemoteAddrPort().Addr().Unmap()
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// clientConn is an admitted client connection: it is uncounted when it
// closes, and it enforces the read budget of each request, which starts
// over whenever sluice writes to the client (a response, or 100 Continue).
// fasthttp reads and writes a connection from one goroutine at a time
// until a tunnel takes it over, unlimited.
type clientConn struct {
	net.Conn
	// socket reads and writes Conn by raw system calls (package sock);
	// held here, not apart, as one allocation per connection.
	socket sock.Socket
	ua     *userAgent // mod_remoteip's client of the current request, made on first use
	limits *connLimits
	// ipText is the peer's IPv4 address as text, made by the first
	// request that writes it (clientIPText): each request writes it for
	// X-Forwarded-For, and again to a log. ipTextLen is its length, 0
	// before it is made, noIPText for a peer with none (IPv6, which is
	// written anew each time: its text would take clientConn past its
	// size class).
	ipText    [len("255.255.255.255")]byte
	ipTextLen uint8
	// read is what the current request made sluice read; unlimited turns
	// the budget off (a tunnel, where both directions run at once).
	read   int64
	closed atomic.Bool
	// The flags sit together: one word for all (clientConn is allocated
	// per connection, and its size class is what that costs).
	unlimited bool
	// mute drops what sluice writes: the client is gone (abandoned).
	mute bool
	// fresh: idleAt is the clock reading bodyRelay.Close took as the
	// current answer ended, which awaits takes as the idle wait's start.
	fresh bool
	// A spliced response's head waits in held (hold: the next write is
	// it) to go out in one write with the body bytes read along with it:
	// a write per part costs a pass through the TCP stack each.
	hold bool
	held *[]byte // from heldBufs while a head waits
	// rd and wd arm the client timeouts only when they come closer
	// (deadline.Early). idleAt is when the wait for the next request
	// began, in Unix nanoseconds (awaits; init and a parked connection's
	// wake for the head's deadline till begins).
	rd, wd deadline.Early
	idleAt int64
	// ahead holds what a one-byte read brought with it, from aheadAt on:
	// fasthttp reads a new connection's first byte alone
	// (ReduceMemoryUsage), and a second system call for the rest of the
	// request head costs more than the copy.
	ahead *aheadBuf
	// lotEntry parks the connection when it idles (park.go).
	lotEntry
	// acc is Conn where sluice's listener accepted it (patientListener.next).
	acc sock.Accepted
}

// aheadBufs hold the bytes that come with a connection's first byte; a
// request head rarely needs more.
var aheadBufs = sync.Pool{New: func() any { return &aheadBuf{buf: make([]byte, 4<<10)} }}

// aheadBuf is a read-ahead buffer and where its unread bytes start: the
// offset rides in the pooled buffer, not in every connection's record.
type aheadBuf struct {
	buf []byte
	at  int
}

// heldBufs hold spliced responses' heads.
var heldBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// awaits starts the wait for the next request (fasthttp's StateIdle) and
// client_idle with it: from the clock reading bodyRelay.Close took as the
// answer ended, where it did, else from now.
//
// With one P the wait's first read comes after a yield: under load the
// goroutines already woken take their turns first, and by then a busy
// client's next request has mostly come. A read straight after the
// answer finds nothing nearly every time (the client has just been sent
// it), and that costs a system call and a trip through the poller; the
// yield costs a pass through the scheduler. With several Ps a yield goes
// through the global run queue and may wake an idle P, moving the
// connection to another core: not done there.
func (c *clientConn) awaits() {
	if !c.fresh {
		c.idleAt = time.Now().UnixNano()
	}
	c.fresh = false
	c.yield = c.limits.yields
	c.readBy(c.idleAt, c.limits.idle)
}

// begins starts client_header as a request's first byte has come
// (fasthttp's StateActive). A head nearly always comes whole with that
// byte and then needs neither a clock reading nor a deadline: the timeout
// starts at the head's first read that has to wait (readTimed), as
// nginx's client_header_timeout does, microseconds after the first byte
// where the rest of the head did not come with it.
func (c *clientConn) begins() {
	c.fresh = false // only this request's answer may end its next wait's start
	c.yield = false // the rest of a head, a body: read at once
	c.rd.FirstWait(c.limits.header)
}

// readBy wants reads done by from+d (Unix nanoseconds; d 0: no deadline),
// arming that where it comes closer than what is armed.
func (c *clientConn) readBy(from int64, d time.Duration) {
	var want int64
	if d > 0 {
		want = from + int64(d)
	}
	if c.rd.NextNano(want) {
		_ = c.Conn.SetReadDeadline(time.Unix(0, want)) // a failed one fails the read
	}
}

// SetReadDeadline and SetWriteDeadline take the deadlines others set
// (sluice's own go through readBy and armWrite): crypto/tls's on close,
// fasthttp's clearing of one a handler set; readConn and writeConn re-arm
// one that fired before the deadline asked for.
func (c *clientConn) SetReadDeadline(t time.Time) error {
	if at, ok := c.rd.Next(t); ok {
		return c.Conn.SetReadDeadline(at)
	}
	return nil
}

func (c *clientConn) SetWriteDeadline(t time.Time) error {
	if at, ok := c.wd.Next(t); ok {
		return c.Conn.SetWriteDeadline(at)
	}
	return nil
}

// SetDeadline is exact (tunnels).
func (c *clientConn) SetDeadline(t time.Time) error {
	c.rd.Armed(t)
	c.wd.Armed(t)
	return c.Conn.SetDeadline(t)
}

func (c *clientConn) readConn(p []byte) (int, error) {
	if c.yield {
		c.yield = false
		goruntime.Gosched()
	}
	if c.sparse {
		if parks, n, err := c.parksAtOnce(p); parks {
			return 0, errParked
		} else if n > 0 || err != nil {
			return n, err
		}
	}
	if d, first, ok := c.rd.WaitsFor(); ok {
		return c.readTimed(p, d, first)
	}
	return c.readWaiting(p)
}

// readWaiting reads, waiting for bytes under the read deadline asked for.
func (c *clientConn) readWaiting(p []byte) (int, error) {
	for {
		n, err := c.socket.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.kickedWhileIdle() {
			return 0, errParked
		}
		at, ok := c.rd.Expired(time.Now())
		if !ok {
			return n, err
		}
		if err := c.Conn.SetReadDeadline(at); err != nil {
			return 0, err
		}
	}
}

// readTimed reads under a timeout d that starts when a read has to wait:
// bytes there already are read at once, with no clock reading and no
// deadline; a read that has to wait arms d from now. A body's reads are
// timed per wait (client_body between two reads, bodyWaits): the next
// read is timed per wait again. The head's first wait (first) fixes its
// deadline (begins): the reads after it wait under that.
func (c *clientConn) readTimed(p []byte, d time.Duration, first bool) (int, error) {
	if n, err := c.socket.ReadNow(p); !errors.Is(err, sock.ErrNothing) {
		return n, err
	}
	c.readBy(time.Now().UnixNano(), d)
	n, err := c.readWaiting(p)
	if !first {
		c.rd.PerWait(d)
	}
	return n, err
}

// bodyWaits times the reads of a request's body by client_body between
// two reads (d; 0: the head's timeout goes on) until the answer is out
// (awaits).
func (c *clientConn) bodyWaits(d time.Duration) {
	if d > 0 {
		c.rd.PerWait(d)
	}
}

// writeConn writes a and then b (nil for none) as one write.
// client_write runs only while a write waits for the client to take
// bytes, as nginx's send_timeout does (Apache's Timeout is per I/O too): a
// write that the socket takes at once reads no clock and arms nothing.
func (c *clientConn) writeConn(a, b []byte) (int, error) {
	n, waits := 0, false
	for {
		rest, more := a[min(n, len(a)):], b[max(n-len(a), 0):]
		var k int
		var err error
		if waits {
			k, err = c.socket.WriteTwo(rest, more)
		} else {
			k, err = c.socket.WriteTwoNow(rest, more)
		}
		n += k
		switch {
		case err == nil:
			if waits && c.timesWrites() {
				c.wd.NextNano(0) // done waiting: no deadline until the next wait
			}
			return n, nil
		case err == sock.ErrFull:
			waits = true
			if err := c.armWrite(); err != nil {
				return n, err
			}
			continue
		}
		if again, err := c.rearmWrite(err); !again {
			return n, err
		}
	}
}

// timesWrites reports whether sluice times c's writes (client_write): not
// a tunnel's, which set their deadlines themselves.
func (c *clientConn) timesWrites() bool { return c.limits.write > 0 && !c.unlimited }

// armWrite arms client_write as a write begins to wait. The answer then
// ends later than bodyRelay.Close's clock reading may say.
func (c *clientConn) armWrite() error {
	c.fresh = false
	if !c.timesWrites() {
		return nil
	}
	now := time.Now()
	if c.wd.NextNano(now.UnixNano() + int64(c.limits.write)) {
		return c.Conn.SetWriteDeadline(now.Add(c.limits.write))
	}
	return nil
}

// rearmWrite is called after a write failed with err: it reports whether
// err is a write deadline that fired before the one asked for, now
// re-armed so that the write goes on; if not, the error to return.
func (c *clientConn) rearmWrite(err error) (bool, error) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false, err
	}
	at, ok := c.wd.Expired(time.Now())
	if !ok {
		return false, err
	}
	if err := c.Conn.SetWriteDeadline(at); err != nil {
		return false, err
	}
	return true, nil
}

func (c *clientConn) Read(p []byte) (n int, err error) {
	if !c.unlimited {
		if b := c.limits.budget.Load(); b > 0 && c.read >= b {
			return 0, errBodyTooLarge
		}
	}
	switch {
	case c.ahead != nil:
		n = c.takeAhead(p)
	case len(p) == 1:
		n, err = c.readAhead(p)
	default:
		n, err = c.readConn(p)
	}
	if !c.unlimited {
		c.read += int64(n)
	}
	return n, err
}

// readAhead fills a one-byte p, keeping what else waited in ahead.
func (c *clientConn) readAhead(p []byte) (int, error) {
	a := aheadBufs.Get().(*aheadBuf)
	n, err := c.readConn(a.buf[:cap(a.buf)])
	if n <= 1 {
		copy(p, a.buf[:n])
		aheadBufs.Put(a)
		return n, err
	}
	p[0] = a.buf[0]
	a.buf, a.at = a.buf[:n], 1
	c.ahead = a
	return 1, nil // a TCP read returns no error with bytes
}

// takeAhead reads from ahead, handing its buffer back once it is empty.
func (c *clientConn) takeAhead(p []byte) int {
	a := c.ahead
	n := copy(p, a.buf[a.at:])
	if a.at += n; a.at == len(a.buf) {
		aheadBufs.Put(a)
		c.ahead = nil
	}
	return n
}

func (c *clientConn) Write(p []byte) (int, error) {
	if c.mute {
		return len(p), nil
	}
	if !c.unlimited {
		c.read = 0
	}
	switch {
	case c.hold:
		c.hold = false
		c.held = heldBufs.Get().(*[]byte)
		*c.held = append((*c.held)[:0], p...)
		return len(p), nil
	case c.held != nil:
		return c.writeHeld(p)
	}
	return c.writeConn(p, nil)
}

// holdHead makes the next write, a spliced response's head, wait for the
// first body bytes (Write) or the splice (SpliceFrom).
func (c *clientConn) holdHead() { c.hold = true }

// writeHeld writes the held head and p in one write (writev(2) on a
// socket: a write per part costs a pass through the TCP stack each), and
// reports how much of p went out.
func (c *clientConn) writeHeld(p []byte) (int, error) {
	head := *c.held
	n, err := c.writeConn(head, p)
	heldBufs.Put(c.held)
	c.held = nil
	return max(n-len(head), 0), err
}

// flushHeld writes a head still held: the body did not follow.
func (c *clientConn) flushHeld() error {
	c.hold = false
	switch {
	case c.held == nil:
		return nil
	case c.mute:
		heldBufs.Put(c.held)
		c.held = nil
		return nil
	}
	_, err := c.writeHeld(nil)
	return err
}

// SpliceFrom moves up to n bytes of a member's response body from src to
// the client by splice(2) (pool.Lease.SpliceBody), under client_write
// armed exactly for the whole splice: an earlier deadline riding on
// deadline.Early would end it as if the client had timed out.
func (c *clientConn) SpliceFrom(src *sock.Socket, n int64) (int64, error) {
	if spliceSink(c) == nil {
		return 0, errNotSpliceable
	}
	if err := c.flushHeld(); err != nil {
		return 0, err
	}
	if c.timesWrites() {
		at := time.Now().Add(c.limits.write)
		c.wd.Armed(at)
		if err := c.Conn.SetWriteDeadline(at); err != nil {
			return 0, err
		}
		defer c.wd.NextNano(0)
	}
	if !c.unlimited {
		c.read = 0
	}
	return c.socket.SpliceFrom(src, n)
}

// errNotSpliceable: the relay asks spliceSink first; this is a guard.
var errNotSpliceable = errors.New("server: client connection cannot take a splice")

// spliceSink returns conn when it can take a member body by splice: a
// plain TCP client connection that sluice still writes to; else nil.
func spliceSink(conn net.Conn) *clientConn {
	c, ok := conn.(*clientConn)
	if !ok || c.mute || !isTCP(c.Conn) {
		return nil
	}
	return c
}

// isTCP reports whether c is a plain TCP connection.
func isTCP(c net.Conn) bool {
	switch c.(type) {
	case *sock.Accepted, *net.TCPConn:
		return true
	}
	return false
}

// CloseWrite half-closes the connection where the transport can: a tunnel
// passes one side's end of stream on while the other may still send.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

func (c *clientConn) Close() error {
	if c.parking.CompareAndSwap(true, false) {
		c.lot.park(c)
		return nil
	}
	if c.closed.CompareAndSwap(false, true) {
		var ip netip.Addr // only a cap per address needs it
		if c.limits.perIP > 0 {
			ip = peerIP(c.Conn)
		}
		c.limits.release(ip)
		if c.listed.Load() {
			c.lot.leave(c)
		}
	}
	return c.Conn.Close()
}

// mute makes conn drop what is written to it, under TLS too.
func mute(conn net.Conn) {
	if c := clientOf(conn); c != nil {
		c.mute = true
	}
}

// unlimit turns the read budget of conn off before it becomes a tunnel.
func unlimit(conn net.Conn) {
	if c := clientOf(conn); c != nil {
		c.unlimited = true
	}
}
