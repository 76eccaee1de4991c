package etcd

// The client's own HTTP/1.1: POSTs on keep-alive connections, answers of
// known length, chunked or until close.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/sock"
)

const (
	// maxIdle connections are kept per endpoint, each for idleTimeout.
	maxIdle     = 4
	idleTimeout = time.Minute
	// maxHead bounds an answer's status line and fields, and a chunked
	// body's trailers; maxChunkLine a chunk's size line.
	maxHead      = 64 << 10
	maxChunkLine = 4 << 10
)

var (
	errTooLong   = errors.New("etcd: HTTP answer head or chunk line too long")
	errMalformed = errors.New("etcd: malformed HTTP answer")
)

// endpoint is one etcd and its idle connections.
type endpoint struct {
	url  string      // scheme://host:port, for errors
	host string      // host:port: where to connect, and the Host field
	tls  *tls.Config // nil: plain HTTP
	mu   sync.Mutex
	idle []*conn // the most recently used last
	// closed: the client was closed, and keeps no connection any more.
	closed bool
}

// newEndpoint parses host:port, http://host:port or https://host:port; a
// bare host:port uses https when cfg is set.
func newEndpoint(ep string, cfg *tls.Config) (*endpoint, error) {
	e := &endpoint{host: ep}
	switch {
	case strings.HasPrefix(ep, "http://"):
		e.host, cfg = ep[len("http://"):], nil
	case strings.HasPrefix(ep, "https://"):
		e.host = ep[len("https://"):]
		if cfg == nil {
			cfg = &tls.Config{}
		}
	}
	e.host = strings.TrimSuffix(e.host, "/")
	name, _, err := net.SplitHostPort(e.host)
	if err != nil {
		return nil, fmt.Errorf("etcd: endpoint %q is not host:port, http://host:port or https://host:port", ep)
	}
	e.url = "http://" + e.host
	if cfg != nil {
		// As net/http: the certificate must be for the endpoint's host
		// unless the setup names another.
		e.url, e.tls = "https://"+e.host, cfg.Clone()
		if e.tls.ServerName == "" {
			e.tls.ServerName = name
		}
	}
	return e, nil
}

// conn is a connection to an endpoint.
type conn struct {
	net.Conn          // over raw, TLS for https
	raw      net.Conn // what ctx's end closes: at once, without TLS's goodbye
	look     *sock.Socket
	br       *bufio.Reader
	ep       *endpoint
	// since and timer, under ep.mu: when it became idle, and what drops
	// it idleTimeout later.
	since time.Time
	timer *time.Timer
}

// get is an idle connection to e, the most recently used; nil if none.
func (e *endpoint) get() *conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.idle)
	if n == 0 {
		return nil
	}
	cn := e.idle[n-1]
	e.idle = e.idle[:n-1]
	cn.timer.Stop()
	return cn
}

// put keeps cn for a next request, unless maxIdle are kept already, etcd
// sent more than its answer or the client was closed.
func (e *endpoint) put(cn *conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.idle) >= maxIdle || cn.br.Buffered() > 0 || e.closed {
		_ = cn.Close()
		return
	}
	e.idle = append(e.idle, cn)
	cn.since = time.Now()
	if cn.timer == nil {
		cn.timer = time.AfterFunc(idleTimeout, func() { e.expire(cn) })
	} else {
		cn.timer.Reset(idleTimeout)
	}
}

// expire closes cn if it is still idle, and has been for idleTimeout: a
// timer that fired while a request took cn must not close it once back.
func (e *endpoint) expire(cn *conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i := slices.Index(e.idle, cn); i >= 0 && time.Since(cn.since) >= idleTimeout {
		e.idle = slices.Delete(e.idle, i, i+1)
		_ = cn.Close()
	}
}

// closeIdle closes the idle connections, and those in use as they are
// put back.
func (e *endpoint) closeIdle() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, cn := range e.idle {
		cn.timer.Stop()
		_ = cn.Close()
	}
	e.idle = nil
}

// connect dials e within dialTime and, for https, shakes hands within
// Timeout.
func (c *Client) connect(ctx context.Context, e *endpoint, dialTime time.Duration) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTime)
	defer cancel()
	raw, err := c.dial(dctx, "tcp", e.host)
	if err != nil {
		return nil, err
	}
	cn := &conn{Conn: raw, raw: raw, look: sock.New(raw), ep: e}
	if e.tls != nil {
		tc := tls.Client(raw, e.tls)
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		cn.Conn = tc
	}
	cn.br = bufio.NewReader(cn.Conn)
	return cn, nil
}

// exchange sends req to e and reads the answer's head, on an idle
// connection if there is one that etcd did not close or write to while it
// waited (net/http watched them with a read). A request whose write fails
// on an idle connection goes once more on a new one; one that went out is
// never sent again, even if the connection ends before any byte of an
// answer: etcd may have applied it (a put, a lease's grant), as net/http
// would not send a POST again.
func (c *Client) exchange(ctx context.Context, e *endpoint, req []byte, dialTime time.Duration) (*response, error) {
	for cn := e.get(); cn != nil; cn = e.get() {
		if sent, closed := cn.look.Look(); sent || closed {
			_ = cn.Close()
			continue
		}
		r, unsent, err := cn.roundTrip(ctx, req)
		if !unsent {
			return r, err
		}
		break
	}
	cn, err := c.connect(ctx, e, dialTime)
	if err != nil {
		return nil, err
	}
	r, _, err := cn.roundTrip(ctx, req)
	return r, err
}

// roundTrip writes req on cn and reads the answer's head; cn is closed if
// ctx ends before the answer's body is closed. unsent: the write failed.
func (cn *conn) roundTrip(ctx context.Context, req []byte) (r *response, unsent bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = cn.raw.Close() })
	defer func() {
		if err != nil {
			stop()
			_ = cn.Close()
			if ctx.Err() != nil {
				r, unsent, err = nil, false, ctx.Err()
			}
		}
	}()
	if _, err := cn.Write(req); err != nil {
		return nil, true, err
	}
	r, err = readHead(cn.br)
	if err != nil {
		return nil, false, err
	}
	r.body.cn, r.body.ctx, r.body.stop = cn, ctx, stop
	return r, false, nil
}

// request is a POST of a JSON body to path on host.
func request(host, path, token string, body []byte, requireLeader bool) []byte {
	b := make([]byte, 0, 256+len(token)+len(body))
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if token != "" {
		b = append(b, "\r\nAuthorization: "...)
		b = append(b, token...)
	}
	if requireLeader {
		// gRPC metadata "hasleader": etcd ends the stream when its
		// member loses the leader instead of going silent.
		b = append(b, "\r\nGrpc-Metadata-Hasleader: true"...)
	}
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// response is an answer: its status code, status ("403 Forbidden") and
// body.
type response struct {
	code   int
	status string
	body   *body
}

// readHead reads an answer's status line and fields.
func readHead(br *bufio.Reader) (*response, error) {
	budget := maxHead
	var proto, status string
	var code int
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, err
		}
		proto, status, _ = strings.Cut(string(line), " ")
		if proto != "HTTP/1.1" && proto != "HTTP/1.0" || len(status) < 3 || len(status) > 3 && status[3] != ' ' {
			return nil, errMalformed
		}
		code, err = strconv.Atoi(status[:3])
		if err != nil || code < 100 {
			return nil, errMalformed
		}
		if code >= 200 || code == 101 {
			break
		}
		// An interim answer (100 Continue, 103 Early Hints), which etcd
		// has no reason to send, comes before the answer: skipped, within
		// the head's budget (RFC 9110 §15.2).
		if err := skipFields(br, &budget); err != nil {
			return nil, err
		}
	}
	b := &body{keep: proto == "HTTP/1.1"}
	length, chunked := int64(-1), false
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := strings.Cut(string(line), ":")
		// A name is a token: one with whitespace before its colon, or a
		// line folded onto the previous field, is refused rather than
		// skipped, as it may be a framing field (RFC 9112 §5).
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, errMalformed
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Content-Length"):
			n, err := strconv.ParseUint(value, 10, 63)
			if err != nil || length >= 0 && int64(n) != length {
				return nil, errMalformed
			}
			length = int64(n)
		case strings.EqualFold(name, "Transfer-Encoding"):
			if !strings.EqualFold(value, "chunked") {
				return nil, errors.New("etcd: unsupported transfer encoding " + strconv.Quote(value))
			}
			chunked = true
		case strings.EqualFold(name, "Connection"):
			for opt := range strings.SplitSeq(value, ",") {
				b.keep = b.keep && !strings.EqualFold(strings.TrimSpace(opt), "close")
			}
		}
	}
	switch {
	case code == 101: // Switching Protocols, never asked for
		b.r, b.keep = &fixed{}, false
	case code == 204 || code == 304: // never a body
		b.r = &fixed{}
	case chunked:
		// Over a Content-Length too, which a sender must not add: the
		// answer may be a smuggled one, so its connection is not kept
		// (RFC 9112 §6.3).
		b.r, b.keep = &chunkedReader{br: br}, b.keep && length < 0
	case length >= 0:
		b.r = &fixed{br: br, n: length}
	default: // until etcd closes the connection
		b.r, b.keep = br, false
	}
	return &response{code: code, status: status, body: b}, nil
}

// skipFields reads fields up to the empty line after them.
func skipFields(br *bufio.Reader, budget *int) error {
	for {
		line, err := readLine(br, budget)
		if err != nil || len(line) == 0 {
			return err
		}
	}
}

// readLine reads a line and takes its length from budget; the line is
// without its CRLF (or LF), valid until br's next read. Every line read
// is within an answer: an end of input is unexpected.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	var long []byte // a line longer than br's buffer
	for {
		frag, err := br.ReadSlice('\n')
		if *budget -= len(frag); *budget < 0 {
			return nil, errTooLong
		}
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			continue
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if long != nil {
			frag = append(long, frag...)
		}
		return bytes.TrimSuffix(frag[:len(frag)-1], []byte("\r")), nil
	}
}

// body is an answer's body. Closed, it gives its connection back for
// another request when it was read to its end and the answer allows it.
type body struct {
	r    io.Reader // the body's framing on the connection
	keep bool      // the answer allows reusing the connection
	eof  bool
	cn   *conn
	ctx  context.Context
	stop func() bool // stops ctx's end from closing cn
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err() // not the closed connection's error
	}
	return n, err
}

func (b *body) Close() error {
	if b.cn == nil {
		return nil
	}
	if b.stop() && b.eof && b.keep {
		b.cn.ep.put(b.cn)
	} else {
		_ = b.cn.Close()
	}
	b.cn = nil
	return nil
}

// fixed reads a body of n bytes.
type fixed struct {
	br *bufio.Reader
	n  int64
}

func (f *fixed) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.br.Read(p)
	f.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedReader reads a chunked body. A read returns data from one chunk
// at most, without waiting for the next: etcd's watch stream is one chunk
// per message.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // bytes of the current chunk not read yet
	data bool  // a chunk's data was read: its CRLF comes before the next size
	err  error // sticky; io.EOF after the last chunk
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err == nil && c.left == 0 {
		c.err = c.next()
	}
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.err = err
	return n, err
}

// next reads up to the next chunk's data: the CRLF after the previous
// one, then a size line (extensions ignored); after the last chunk its
// trailers (skipped), then io.EOF.
func (c *chunkedReader) next() error {
	budget := maxChunkLine
	if c.data {
		line, err := readLine(c.br, &budget)
		if err != nil {
			return err
		}
		if len(line) > 0 {
			return errors.New("etcd: chunk longer than its size")
		}
	}
	line, err := readLine(c.br, &budget)
	if err != nil {
		return err
	}
	size, _, _ := bytes.Cut(line, []byte(";"))
	n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 63)
	if err != nil {
		return errors.New("etcd: malformed chunk size")
	}
	if n == 0 {
		budget = maxHead
		if err := skipFields(c.br, &budget); err != nil {
			return err
		}
		return io.EOF
	}
	c.left, c.data = int64(n), true
	return nil
}
