package pool

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/sock"
)

// Backend defaults where neither the worker nor the host says otherwise.
const (
	// DefaultMaxConns bounds connections to one member when max= is unset.
	DefaultMaxConns = 4096
	// DefaultIdleConn closes pooled connections idle this long; below the
	// usual backend keep-alive (Apache 5 s) so a pooled connection is rarely
	// one the backend already closed.
	DefaultIdleConn = 4 * time.Second
	// DefaultResponseHeaderBytes bounds a backend's response head.
	DefaultResponseHeaderBytes = 16 << 10
)

// BackendOptions are the resolved settings of one member's pool.
type BackendOptions struct {
	Timeout        time.Duration // per read/write idle timeout (worker timeout > ProxyTimeout)
	ConnectTimeout time.Duration // connectiontimeout > timeout
	Acquire        time.Duration // wait for a free connection; 0 = Timeout
	MaxConns       int
	IdleConn       time.Duration // ttl
	DisableReuse   bool
	KeepAlive      bool // SO_KEEPALIVE
	HeaderBytes    int  // largest response head accepted
	// Ping > 0 sends requests with a body with Expect: 100-continue and
	// waits this long for the member's first answer (see ping.go).
	Ping time.Duration
	// Policy, when set, checks every dial's resolved addresses (members
	// added through the admin API); nil dials the address as given.
	Policy *DialPolicy
	// TLS checks an https:// or wss:// member's certificate (SSLProxy*);
	// nil: against the system's roots, for the member's host name.
	TLS *config.ProxyTLS
	// Log receives what an fcgi:// member's application writes to its
	// STDERR, as Apache's error log does; nil drops it.
	Log *slog.Logger
}

// Same reports whether o and p ask for the same pool: equal settings, and
// TLS that verifies and presents alike (config.ProxyTLS.Same), though each
// reload reads its files again into a new ProxyTLS.
func (o BackendOptions) Same(p BackendOptions) bool {
	tls := o.TLS
	o.TLS = p.TLS
	return o == p && tls.Same(p.TLS)
}

// Backend is a member's keep-alive connection pool. It is safe for
// concurrent use and must not be copied.
type Backend struct {
	_ noCopy
	// TLS is the configuration of a TLS member's handshakes (nil for a
	// plain member): health checks and tunnels use it too.
	TLS *tls.Config
	// Options are the settings in force, defaults filled in.
	Options BackendOptions
	// Asked are the settings as requested, before defaults: a reload reuses
	// the pool when the new request equals them.
	Asked BackendOptions
	// trip is Do's round trip over conns.
	trip  roundTripper
	conns *connPool
	// member and serverName make the pools of other server names
	// (ForServerName); named holds them, at most maxNamed, built under
	// namedMu and read without it.
	member     *Member
	serverName string
	namedMu    sync.Mutex
	named      atomic.Pointer[namedPools]
}

// namedPools is an immutable set of a TLS member's pools for other server
// names, in the order they were made.
type namedPools struct {
	byName map[string]*Backend
	order  []string
}

// maxNamed bounds the pools one member keeps for other server names: the
// names come from clients' Host fields.
const maxNamed = 16

// DialError is returned when connecting to a member failed: nothing of the
// request was sent, so the balancer may fail over.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("cannot connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// NewBackend builds the connection pool for m. A failed request is not
// sent again except in one case: a pooled connection the backend closed
// before answering, which is re-sent once on a fresh connection when the
// request has no streamed body (retryStale, docs/compatibility.md).
func NewBackend(m *Member, o BackendOptions) *Backend {
	return newBackend(m, o, hostOnly(m.HostHeader))
}

// newBackend is NewBackend for a pool whose TLS handshakes send serverName.
func newBackend(m *Member, o BackendOptions, serverName string) *Backend {
	asked := o
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleConn <= 0 {
		o.IdleConn = DefaultIdleConn
	}
	if o.HeaderBytes <= 0 {
		o.HeaderBytes = DefaultResponseHeaderBytes
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = o.Timeout
	}
	if o.Acquire <= 0 {
		o.Acquire = o.Timeout
	}
	addr := m.Addr
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: -1}
	if o.KeepAlive {
		dialer.KeepAlive = 0 // Go's default keep-alive probes
	}
	timeout := o.Timeout
	b := &Backend{Options: o, Asked: asked, member: m, serverName: serverName}
	if m.TLS {
		b.TLS = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
		if o.TLS != nil {
			b.TLS = o.TLS.ClientConfig(serverName)
		}
	}
	// A stale pooled connection means the backend closed or restarted:
	// its other idle connections are most likely stale too.
	onStale := func() { b.conns.closeIdle() }
	b.conns = newConnPool(o, func() (net.Conn, error) {
		conn, err := dialMember(dialer, o.Policy, m)
		if err != nil {
			return nil, &DialError{Addr: addr, Err: err}
		}
		if m.Proto != HTTP {
			// fcgi.go and ajp.go read and write their packets, by raw
			// system calls as the HTTP transport does (package sock).
			return sock.NewConn(conn), nil
		}
		if !m.TLS {
			s := sock.New(conn)
			return newIdleConn(newMemberConn(conn, s), timeout, s, onStale), nil
		}
		// The handshake is done here, under memberConn, so that the
		// guards see plaintext (see tlsconn.go). Nothing of the request
		// was sent when it fails: the balancer may fail over, as for a
		// tunnel's handshake (server/upgrade.go).
		tc, err := handshakeTLS(conn, b.TLS, o.ConnectTimeout)
		if err != nil {
			return nil, &DialError{Addr: addr, Err: err}
		}
		return newIdleConn(newMemberConn(tc, tc), timeout, tc, onStale), nil
	})
	switch {
	case m.Proto == FastCGI:
		b.trip = newFCGITransport(m, o)
	case m.Proto == AJP:
		b.trip = newAJPTransport(m, o)
	case o.Ping > 0:
		b.trip = newPingTransport(addr, o.Ping, &transport{})
	default:
		b.trip = &transport{}
	}
	return b
}

// ForServerName returns the pool whose TLS handshakes send host (without
// its port) as the server name and check the member's certificate against
// it: with ProxyPreserveHost an https:// member gets the client's Host, as
// Apache sends it. A connection's server name is fixed by its handshake,
// so each name has a pool of its own; a plain member, the member's own
// name and an IP address (which SNI cannot carry, RFC 6066 §3) get b. At
// most maxNamed names are kept; the oldest gives way, its idle
// connections closed.
func (b *Backend) ForServerName(host []byte) *Backend {
	if !b.member.TLS {
		return b
	}
	name := hostWithoutPort(host)
	// Names are kept lower-case; a Host in another case is lowered on
	// the stack, so that its lookup neither allocates nor locks.
	var buf [256]byte
	if len(name) <= len(buf) {
		lower := buf[:len(name)]
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		name = lower
	}
	if len(name) == 0 || string(name) == b.serverName {
		return b
	}
	if p := b.named.Load(); p != nil {
		if nb := p.byName[string(name)]; nb != nil {
			return nb
		}
	}
	if isAddress(name) {
		return b // SNI names no address
	}
	key := strings.ToLower(string(name))
	if key == b.serverName {
		return b
	}
	b.namedMu.Lock()
	defer b.namedMu.Unlock()
	old := b.named.Load()
	next := &namedPools{byName: map[string]*Backend{}}
	if old != nil {
		if nb := old.byName[key]; nb != nil {
			return nb
		}
		next.order = append(next.order, old.order...)
		maps.Copy(next.byName, old.byName)
	}
	if len(next.order) >= maxNamed {
		gone := next.order[0]
		next.byName[gone].conns.closeIdle()
		delete(next.byName, gone)
		next.order = next.order[1:]
	}
	nb := newBackend(b.member, b.Asked, key)
	next.byName[key] = nb
	next.order = append(next.order, key)
	b.named.Store(next)
	return nb
}

// isAddress reports whether a Host's host is an IP address: IPv6 (it has
// a colon once its brackets are gone) or digits and dots (IPv4).
func isAddress(name []byte) bool {
	if bytes.IndexByte(name, ':') >= 0 {
		return true
	}
	for _, c := range name {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// hostWithoutPort is a Host field's host: an IPv6 literal without its
// brackets, anything else without a ":port".
func hostWithoutPort(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return nil
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

// CloseIdle closes the idle connections of b and of its pools for other
// server names.
func (b *Backend) CloseIdle() {
	b.conns.closeIdle()
	if p := b.named.Load(); p != nil {
		for _, nb := range p.byName {
			nb.conns.closeIdle()
		}
	}
}

// dial connects to addr, through policy when there is one.
// dialMember connects to m: its Unix domain socket, or its address
// through policy.
func dialMember(d *net.Dialer, policy *DialPolicy, m *Member) (net.Conn, error) {
	if m.Socket {
		return d.Dial("unix", m.Addr)
	}
	return dial(d, policy, m.Addr)
}

// Dial connects to a member's address for a tunnel or a health check: the
// Unix domain socket at addr when socket is set, else host:port through
// policy (nil dials plainly).
func Dial(ctx context.Context, d *net.Dialer, policy *DialPolicy, addr string, socket bool) (net.Conn, error) {
	if socket {
		return d.DialContext(ctx, "unix", addr)
	}
	return policy.Dial(ctx, d, addr)
}

func dial(d *net.Dialer, policy *DialPolicy, addr string) (net.Conn, error) {
	if policy == nil {
		return d.Dial("tcp", addr)
	}
	ctx := context.Background()
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	return policy.Dial(ctx, d, addr)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// retryStale is fasthttp's retry policy for sluice: re-send once on a fresh
// connection when the pooled one was found stale before anything was
// written, or (idempotent methods only) was closed by the backend before
// any response byte. A streamed body is never re-sent: fasthttp cannot
// rewind it. Everything else is the balancer's decision.
func retryStale(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if attempts != 1 || req.IsBodyStream() {
		return false, false
	}
	if errors.Is(err, ErrStaleConn) {
		return false, true
	}
	return false, errors.Is(err, fasthttp.ErrConnectionClosed) && Idempotent(req.Header.Method())
}

// Idempotent reports the methods RFC 9110 §9.2.2 defines as idempotent.
func Idempotent(method []byte) bool {
	switch string(method) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions,
		fasthttp.MethodPut, fasthttp.MethodDelete, fasthttp.MethodTrace:
		return true
	}
	return false
}
