//go:build linux

package sock

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener accepts TCP connections by raw accept4(2) and hands each over
// as an Accepted, which joins Go's poller only once it has to wait. Go's
// Accept registers every connection with the poller, looks up its local
// address and sets TCP_NODELAY (three system calls, and a fourth, epoll's
// removal, at its close), arms a finalizer, and makes its accept and
// close through the runtime's bookkeeping for calls that may block, which
// wakes the runtime's monitor thread after every idle moment (package
// doc). A connection whose request came with it (TCP_DEFER_ACCEPT) and
// whose answer fits the send buffer, most with a new connection per
// request, never waits: it costs an accept, its reads and writes, and a
// close.
type Listener struct {
	// f is the listening socket, as a File: a TCPListener's RawConn does
	// not wait (its Read returns EINVAL).
	f  *os.File
	rc syscall.RawConn
	// mu makes one Accept at a time: acceptFn's results live here.
	mu       sync.Mutex
	acceptFn func(fd uintptr) bool
	fd       int
	remote   netip.AddrPort
	zone     uint32
	errno    syscall.Errno
	// addr is the listener's address; exact: it names one IP, which is
	// then every accepted connection's local address.
	addr   *net.TCPAddr
	exact  bool
	closed atomic.Bool
}

// NewListener returns a Listener that takes over l where l is a TCP
// listener, else l. TCP_NODELAY is set on the listening socket once:
// Linux copies it to every connection accepted from it.
func NewListener(l net.Listener) net.Listener {
	tl, ok := l.(*net.TCPListener)
	addr, _ := l.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return l
	}
	f, err := tl.File() // a duplicate, in the poller
	if err != nil {
		return l
	}
	rc, err := f.SyscallConn()
	var serr error
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		})
	}
	if err != nil || serr != nil {
		_ = f.Close()
		return l
	}
	_ = tl.Close() // the duplicate keeps the socket listening
	ln := &Listener{f: f, rc: rc, addr: addr, exact: !addr.IP.IsUnspecified()}
	ln.acceptFn = ln.accept
	return ln
}

// Accept waits for the next connection, in Go's poller, and returns it as
// an *Accepted. Errors read as a TCPListener's.
func (l *Listener) Accept() (net.Conn, error) {
	a := new(Accepted)
	if err := l.AcceptTo(a); err != nil {
		return nil, err
	}
	return a, nil
}

// AcceptTo is Accept into a, a zero Accepted held in a larger record (one
// allocation per connection instead of two).
func (l *Listener) AcceptTo(a *Accepted) error {
	l.mu.Lock()
	l.fd, l.errno = -1, 0
	err := l.rc.Read(l.acceptFn)
	fd, remote, zone, errno := l.fd, l.remote, l.zone, l.errno
	l.mu.Unlock()
	switch {
	case l.closed.Load():
		if err == nil && errno == 0 {
			_ = sysClose(fd)
		}
		err = net.ErrClosed // the File's own reads "use of closed file"
	case err != nil:
	case errno != 0:
		err = os.NewSyscallError("accept4", errno)
	default:
		a.fd, a.ln = fd, l
		var n int
		if ip := remote.Addr(); ip.Is4() {
			b := ip.As4()
			n = copy(a.ipBuf[:], b[:])
		} else {
			b := ip.As16()
			n = copy(a.ipBuf[:], b[:])
		}
		a.remote = net.TCPAddr{IP: a.ipBuf[:n], Port: int(remote.Port())}
		if zone != 0 {
			a.remote.Zone = zoneName(zone) // a link-local peer
		}
		return nil
	}
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
}

// Close stops listening; an Accept waiting returns net.ErrClosed.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	return l.f.Close()
}

func (l *Listener) Addr() net.Addr { return l.addr }

// SyscallConn is the listening socket's RawConn (for its options).
func (l *Listener) SyscallConn() (syscall.RawConn, error) { return l.rc, nil }

func (l *Listener) accept(fd uintptr) bool {
	for {
		nfd, remote, zone, errno := sysAccept4(fd)
		switch errno {
		case syscall.EINTR, syscall.ECONNABORTED:
			continue // as Go's Accept: the next one
		case syscall.EAGAIN:
			return false // wait in the poller
		}
		l.fd, l.remote, l.zone, l.errno = nfd, remote, zone, errno
		return true
	}
}

// Accepted is a TCP connection from a Listener. Until it first has to
// wait its socket is read and written bare, by the descriptor; then it
// joins Go's poller (as an os.File, the one way to register a descriptor
// from outside the runtime) and waits there as a net.Conn does, under its
// deadlines. Read, Write and the RawConn of SyscallConn work either way;
// package sock's Socket uses the RawConn.
type Accepted struct {
	fd    int
	users users
	// polled is the descriptor once registered, nil while bare; mu
	// orders registering with the deadlines set meanwhile.
	mu     sync.Mutex
	polled atomic.Pointer[polledFile]
	// rdl and wdl are the deadlines set while bare (bareDeadline).
	rdl, wdl atomic.Int64
	ln       *Listener
	// remote is the peer's address, its IP in ipBuf.
	remote net.TCPAddr
	ipBuf  [16]byte
	// laddr is LocalAddr's where the listener's address is not exact.
	laddr atomic.Pointer[net.TCPAddr]
}

// polledFile is an Accepted's descriptor registered in Go's poller: its
// File and the File's RawConn. It is made when the connection first waits,
// apart from the Accepted, which rides in every client connection's record
// (one allocation per connection, whose size class is what a new
// connection costs in garbage), where a connection that carries one
// request rarely waits.
type polledFile struct {
	file *os.File
	rc   syscall.RawConn
}

// file is the registered descriptor's File, nil while bare.
func (a *Accepted) file() *os.File {
	if p := a.polled.Load(); p != nil {
		return p.file
	}
	return nil
}

// users counts the system calls that use a bare descriptor, so that a
// Close from another goroutine leaves the descriptor to the last of them
// (the kernel reuses a closed descriptor's number at once, and a call
// still on its way would then reach another connection's socket).
type users struct{ v atomic.Uint64 }

const (
	closing = 1 << 62 // Close was called
	closed  = 1 << 63 // the descriptor was let go
	counted = closing - 1
)

// acquire reports whether the descriptor may be used, until release.
func (u *users) acquire() bool {
	for {
		v := u.v.Load()
		if v&closing != 0 {
			return false // and no count that a last user could miss
		}
		if u.v.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release reports whether the caller must now let the descriptor go: it
// was the last user of a closing one.
func (u *users) release() bool { return u.letGo(u.v.Add(^uint64(0))) }

// close marks the descriptor closing; it reports whether Close was called
// before, and whether the caller must let it go now.
func (u *users) close() (again, now bool) {
	v := u.v.Or(closing)
	if v&closing != 0 {
		return true, false
	}
	return false, u.letGo(v | closing)
}

// letGo claims, for one caller only, the letting go of a closing
// descriptor without users, v being the count just seen.
func (u *users) letGo(v uint64) bool {
	for v&closing != 0 && v&(closed|counted) == 0 {
		if u.v.CompareAndSwap(v, v|closed) {
			return true
		}
		v = u.v.Load()
	}
	return false
}

func (u *users) isClosing() bool { return u.v.Load()&closing != 0 }

// release ends a bare use, letting the descriptor go where it falls to it.
func (a *Accepted) release() {
	if a.users.release() {
		a.letGo()
	}
}

// letGo closes the descriptor: through the File where it joined the
// poller (which also takes it out of there and wakes its waiters).
func (a *Accepted) letGo() {
	if f := a.file(); f != nil {
		_ = f.Close()
		return
	}
	_ = sysClose(a.fd)
}

// register joins the descriptor to Go's poller, once, with the deadlines
// set so far.
func (a *Accepted) register() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.polled.Load() != nil {
		return nil
	}
	if !a.users.acquire() {
		return net.ErrClosed
	}
	defer a.release()
	f := os.NewFile(uintptr(a.fd), "")
	rc, _ := f.SyscallConn() // fails only for a nil File
	if d := a.rdl.Load(); d != 0 {
		_ = f.SetReadDeadline(deadlineTime(d))
	}
	if d := a.wdl.Load(); d != 0 {
		_ = f.SetWriteDeadline(deadlineTime(d))
	}
	a.polled.Store(&polledFile{file: f, rc: rc})
	return nil
}

// Deadlines set while bare are kept as their distance from base (at least
// 1; 0 is none), which keeps the monotonic clock's reading that
// time.Now gives.
var base = time.Now()

func bareDeadline(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(int64(t.Sub(base)), 1)
}

func deadlineTime(d int64) time.Time { return base.Add(time.Duration(d)) }

func passed(d int64) bool { return d != 0 && int64(time.Since(base)) >= d }

// SetReadDeadline, SetWriteDeadline and SetDeadline are a net.Conn's.
func (a *Accepted) SetReadDeadline(t time.Time) error  { return a.setDeadline(t, false) }
func (a *Accepted) SetWriteDeadline(t time.Time) error { return a.setDeadline(t, true) }

func (a *Accepted) SetDeadline(t time.Time) error {
	if err := a.setDeadline(t, false); err != nil {
		return err
	}
	return a.setDeadline(t, true)
}

// deadline is where the read or the write deadline is kept while bare.
func (a *Accepted) deadline(write bool) *atomic.Int64 {
	if write {
		return &a.wdl
	}
	return &a.rdl
}

func (a *Accepted) setDeadline(t time.Time, write bool) error {
	if f := a.file(); f != nil {
		return a.fileDeadline(f, t, write)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users.isClosing() {
		return a.opError("set", net.ErrClosed)
	}
	a.deadline(write).Store(bareDeadline(t))
	if f := a.file(); f != nil {
		return a.fileDeadline(f, t, write)
	}
	return nil
}

func (a *Accepted) fileDeadline(f *os.File, t time.Time, write bool) error {
	var err error
	if write {
		err = f.SetWriteDeadline(t)
	} else {
		err = f.SetReadDeadline(t)
	}
	if err != nil && a.users.isClosing() {
		return a.opError("set", net.ErrClosed)
	}
	return err
}

// raw is an Accepted's syscall.RawConn: a pointer conversion, so that
// SyscallConn allocates nothing.
type raw Accepted

// SyscallConn returns the connection's RawConn. Its Read and Write call
// fn on the bare descriptor first, and join the poller to wait.
func (a *Accepted) SyscallConn() (syscall.RawConn, error) { return (*raw)(a), nil }

func (r *raw) Control(fn func(fd uintptr)) error {
	a := (*Accepted)(r)
	if !a.users.acquire() {
		return net.ErrClosed
	}
	fn(uintptr(a.fd))
	a.release()
	return nil
}

func (r *raw) Read(fn func(fd uintptr) bool) error  { return (*Accepted)(r).do(nil, fn, false) }
func (r *raw) Write(fn func(fd uintptr) bool) error { return (*Accepted)(r).do(nil, fn, true) }

// do is one read or write: the call on the bare descriptor and, where it
// would wait, the wait in the poller. The call is fn, or else Socket s's
// own, which makes no function value until it waits (one per socket would
// cost an allocation per connection). A write that must not wait
// (WriteTwoNow) is made bare even once the socket is in the poller: the
// File's RawConn adds its lock, a reset of the poller's readiness and a
// deadline check, which only a write that waits needs (about 100
// instructions a response); the deadline bounds waits only.
func (a *Accepted) do(s *Socket, fn func(fd uintptr) bool, write bool) error {
	p := a.polled.Load()
	nowait := write && s != nil && s.nowait // write first: a Read may run beside it
	if p == nil || nowait {
		if !a.users.acquire() {
			return net.ErrClosed
		}
		if !nowait && passed(a.deadline(write).Load()) {
			a.release()
			return os.ErrDeadlineExceeded
		}
		var done bool
		switch fd := uintptr(a.fd); {
		case fn != nil:
			done = fn(fd)
		case write:
			done = s.write(fd)
		default:
			done = s.read(fd)
		}
		a.release()
		if done { // always, for a write that must not wait
			return nil
		}
		if err := a.register(); err != nil {
			return err
		}
		p = a.polled.Load()
	}
	switch {
	case fn == nil:
		return a.polledErr(s.wait(p.rc, write))
	case write:
		return a.polledErr(p.rc.Write(fn))
	}
	return a.polledErr(p.rc.Read(fn))
}

// polledErr is the error of a read or write through the File's RawConn,
// which says "use of closed file" where a net.Conn says net.ErrClosed.
func (a *Accepted) polledErr(err error) error {
	if err != nil && a.users.isClosing() {
		return net.ErrClosed
	}
	return err
}

// Read and Write make a Socket per call: the server reads and writes
// through a Socket of its own, and calls these only for a connection it
// turns away.
func (a *Accepted) Read(p []byte) (int, error)  { return New(a).Read(p) }
func (a *Accepted) Write(p []byte) (int, error) { return New(a).Write(p) }

// Close closes the connection; a bare call still on its way finishes
// first.
func (a *Accepted) Close() error {
	again, now := a.users.close()
	if again {
		return a.opError("close", net.ErrClosed)
	}
	if now {
		a.letGo()
	}
	return nil
}

// CloseWrite shuts the sending side down (a tunnel's end of stream).
func (a *Accepted) CloseWrite() error {
	var errno syscall.Errno
	if err := (*raw)(a).Control(func(fd uintptr) { errno = sysShutdown(fd, syscall.SHUT_WR) }); err != nil {
		return a.opError("close", err)
	}
	if errno != 0 {
		return a.opError("close", os.NewSyscallError("shutdown", errno))
	}
	return nil
}

// RemoteAddrPort is the peer's address as a value.
func (a *Accepted) RemoteAddrPort() netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.remote.IP)
	return netip.AddrPortFrom(ip, uint16(a.remote.Port))
}

// RemoteAddr is the peer's address, held here: nearly every request asks
// (X-Forwarded-For), and Go's Accept allocates two objects for it.
func (a *Accepted) RemoteAddr() net.Addr { return &a.remote }

// LocalAddr is the listener's address where that names one IP, else the
// socket's, looked up on first use.
func (a *Accepted) LocalAddr() net.Addr {
	if a.ln.exact {
		return a.ln.addr
	}
	if la := a.laddr.Load(); la != nil {
		return la
	}
	la := a.ln.addr
	_ = (*raw)(a).Control(func(fd uintptr) {
		if sa, err := syscall.Getsockname(int(fd)); err == nil {
			if ap, zone, ok := addrPort(sa); ok {
				la = net.TCPAddrFromAddrPort(ap)
				if zone != 0 {
					la.Zone = zoneName(zone)
				}
			}
		}
	})
	a.laddr.CompareAndSwap(nil, la)
	return a.laddr.Load()
}

func (a *Accepted) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: a.LocalAddr(), Addr: a.RemoteAddr(), Err: err}
}

// addrPort reads a socket address as netip does, with the IPv6 scope.
func addrPort(sa syscall.Sockaddr) (netip.AddrPort, uint32, bool) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), 0, true
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), sa.ZoneId, true
	}
	return netip.AddrPort{}, 0, false
}

// zoneName names an IPv6 scope as Go's own addresses do: the interface's
// name, else its number.
func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

var _ interface {
	net.Conn
	CloseWrite() error
} = (*Accepted)(nil)
