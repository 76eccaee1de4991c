package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
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
}

// Backend is a member's keep-alive connection pool. It is safe for
// concurrent use and must not be copied.
type Backend struct {
	_      noCopy
	Client *fasthttp.HostClient
	// Options are the settings in force, defaults filled in.
	Options BackendOptions
	// Asked are the settings as requested, before defaults: a reload reuses
	// the pool when the new request equals them.
	Asked BackendOptions
	// trip is Do's round trip over Client's connections.
	trip roundTripper
}

// DialError is returned when connecting to a member failed: nothing of the
// request was sent, so the balancer may fail over.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("cannot connect to %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// NewBackend builds the connection pool for m. fasthttp's own retries are
// off except for one case: a pooled connection the backend closed before
// answering, which is re-sent once on a fresh connection when the request
// has no streamed body (see docs/compatibility.md).
func NewBackend(m *Member, o BackendOptions) *Backend {
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
	var c *fasthttp.HostClient
	// A stale pooled connection means the backend closed or restarted:
	// its other idle connections are most likely stale too.
	onStale := func() { c.CloseIdleConnections() }
	c = &fasthttp.HostClient{
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 o.MaxConns,
		MaxConnWaitTimeout:       o.Acquire,
		MaxIdleConnDuration:      o.IdleConn,
		// A write timeout makes fasthttp set a write deadline before each
		// request, where idleConn checks a pooled connection for staleness
		// before any byte of the request, body included, is consumed.
		WriteTimeout: timeout,
		// Two attempts, but retryStale decides: only a connection found
		// stale is retried, never a request a backend may have seen.
		MaxIdemponentCallAttempts:     2,
		ReadBufferSize:                o.HeaderBytes,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		IsTLS:                         m.TLS,
		Dial: func(string) (net.Conn, error) {
			conn, err := dial(dialer, o.Policy, addr)
			if err != nil {
				return nil, &DialError{Addr: addr, Err: err}
			}
			if !m.TLS {
				p := newPeeker(conn)
				return newIdleConn(newMemberConn(conn, p), timeout, p, onStale), nil
			}
			// The handshake is done here, under memberConn, so that the
			// guards see plaintext (see tlsconn.go). Nothing of the request
			// was sent when it fails: the balancer may fail over, as for a
			// tunnel's handshake (server/upgrade.go).
			tc, err := handshakeTLS(conn, c.TLSConfig, o.ConnectTimeout)
			if err != nil {
				return nil, &DialError{Addr: addr, Err: err}
			}
			return newIdleConn(newMemberConn(tc, tc), timeout, tc, onStale), nil
		},
		RetryIfErr: retryStale,
	}
	trip := newTransport()
	if o.Ping > 0 {
		trip = newPingTransport(addr, o.Ping, trip)
	}
	if m.TLS {
		// Dial's handshake uses it; fasthttp only clones it, and without
		// one would derive its own from the address.
		c.TLSConfig = &tls.Config{ServerName: hostOnly(m.HostHeader), MinVersion: tls.VersionTLS12}
		if o.TLS != nil {
			c.TLSConfig = o.TLS.ClientConfig(hostOnly(m.HostHeader))
		}
	}
	return &Backend{Client: c, Options: o, Asked: asked, trip: trip}
}

// dial connects to addr, through policy when there is one.
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
