package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/server"
)

// FuzzProxyRequest sends raw client bytes through an in-process sluice to a
// recording backend. Whatever the bytes, every request sluice forwards
// must reach the backend as exactly one well-formed HTTP/1.1 request
// (parsed strictly: CRLF lines, token names, one framing header), the
// backend never gets more requests than the client sent request lines, and
// sluice ends the client connection within a bound (small client timeouts).
func FuzzProxyRequest(f *testing.F) {
	const smug = "0\r\n\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n"
	post := func(fields, body string) string { return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" + body }
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		post("Content-Length: 5\r\n", "hello"),
		post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
		post("Content-Length: 36\r\nTransfer-Encoding: chunked\r\n", smug),
		post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "1f\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n"),
		post("Content-Length: 36\r\nTransfer-Encoding: chunked, identity\r\n", smug),
		post("Content-Length: 36\r\nTransfer-Encoding: identity\r\n", smug),
		post("Content-Length: 36\r\nTransfer Encoding: chunked\r\n", smug),
		post("Content-Length: 36\r\nTransfer_Encoding: chunked\r\n", smug),
		post("Content-Length: 36\r\nTransfer-Encoding : chunked\r\n", smug),
		post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
		post("Content-Length: 05\r\n", "hello"),
		post("Transfer-Encoding: chunked\r\n", "1;a\nb\r\nX\r\n0\r\n\r\n"),
		post("Transfer-Encoding: chunked\r\n", "1\r\nXY\r\n0\r\n\r\n"),
		post("Transfer-Encoding: chunked\r\n", "1\r\nX\r\n0\n\n"),
		post("Content-Length: 36\r\nX-A: b\nTransfer-Encoding: chunked\r\n", smug),
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.0\r\r",
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n",
		"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET http://evil.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n",
		"GET http://good.example@evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Upgrade\r\nUpgrade: h2c\r\nX-Secret: s\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
		"TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n",
		"GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n",
		post("Content-Length: 10\r\n", "short"),
	} {
		f.Add([]byte(seed))
	}
	h := startFuzzProxy(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		h.exchange(t, raw)
	})
}

// fuzzProxy is sluice on an in-memory listener in front of a recording
// backend.
type fuzzProxy struct {
	ln      *trackingListener
	backend *recBackend
}

// Bounds of one input: sluice's client timeouts are small, so it ends every
// connection soon; connWait is far beyond them.
const (
	fuzzClientTimeout = 100 * time.Millisecond
	connWait          = 5 * time.Second
)

func startFuzzProxy(tb testing.TB) *fuzzProxy {
	tb.Helper()
	b := newRecBackend(tb)
	ln := serveFuzz(tb, fmt.Sprintf("Listen 127.0.0.1:0\nProxyTimeout 1\nProxyPass / http://%s/\n", b.addr))
	return &fuzzProxy{ln: ln, backend: b}
}

// serveFuzz serves the Apache config src on an in-memory listener, with
// client timeouts small enough that sluice ends every connection soon.
func serveFuzz(tb testing.TB, src string) *trackingListener {
	tb.Helper()
	cfg, err := config.ParseApache("fuzz.conf", []byte(src), nil)
	if err != nil {
		tb.Fatal(err)
	}
	t := &cfg.Timeouts
	t.ClientHeader = config.Duration(fuzzClientTimeout)
	t.ClientBody = config.Duration(fuzzClientTimeout)
	t.ClientIdle = config.Duration(fuzzClientTimeout / 2)
	t.ClientWrite = config.Duration(time.Second)
	s, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ln := &trackingListener{InmemoryListener: fasthttputil.NewInmemoryListener(), accepted: make(chan *trackedConn, 1)}
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	return ln
}

// exchange sends raw on a fresh connection, reads whatever comes back until
// sluice closes it, and checks what the backend received meanwhile.
func (h *fuzzProxy) exchange(t *testing.T, raw []byte) {
	h.backend.reset()
	c, sc := h.ln.dial(t)
	defer c.Close()
	go func() {
		// fasthttputil's in-memory pipe delivers a zero-length write as a
		// Read of 0 bytes and no error, which no TCP socket does and which
		// fasthttp treats as a bug (panics); send nothing instead.
		if len(raw) > 0 {
			_, _ = c.Write(raw)
		}
		_, _ = io.Copy(io.Discard, c)
	}()
	select {
	case <-sc.closed:
	case <-time.After(connWait):
		t.Fatalf("sluice still holds the connection after %v; sent %q", connWait, raw)
	}
	got, err := h.backend.settle()
	if err != nil {
		t.Fatalf("%v; client sent %q", err, raw)
	}
	if lines := requestLines(raw); got > lines {
		t.Fatalf("backend received %d requests, the client sent %d request lines: %q", got, lines, raw)
	}
}

// requestLine is what any request line looks like, smuggled ones included,
// wherever a request may begin: at a line's start, or straight after a
// body ("…\r\n\r\nab GET / HTTP/1.1" pipelines a request after a 3-byte
// body), so anywhere its method is not part of a longer token.
var requestLine = regexp.MustCompile("(?m)(?:^|[^!#$%&'*+.^_`|~0-9A-Za-z-])[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ ]+ HTTP/")

func requestLines(raw []byte) int { return len(requestLine.FindAll(raw, -1)) }

// trackingListener hands each accepted connection to the test, which
// learns from it when sluice closed the connection.
type trackingListener struct {
	*fasthttputil.InmemoryListener
	accepted chan *trackedConn
}

// dial opens a client connection and returns it with sluice's side of it.
func (l *trackingListener) dial(t *testing.T) (net.Conn, *trackedConn) {
	t.Helper()
	c, err := l.Dial()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case sc := <-l.accepted:
		return c, sc
	case <-time.After(connWait):
		c.Close()
		t.Fatal("sluice did not accept the connection")
		return nil, nil
	}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.InmemoryListener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, closed: make(chan struct{})}
	l.accepted <- tc
	return tc, nil
}

type trackedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// recBackend answers every request it can parse strictly with a 200 and
// records, per input, how many complete requests arrived and the first
// violation: bytes that are not a well-formed request.
type recBackend struct {
	addr string
	ln   net.Listener

	mu       sync.Mutex
	busy     map[net.Conn]bool // true while bytes of a request are unanswered
	requests int
	bad      error
	changed  chan struct{}
}

func newRecBackend(tb testing.TB) *recBackend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &recBackend{addr: ln.Addr().String(), ln: ln, busy: make(map[net.Conn]bool), changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.set(c, false, false)
			wg.Go(func() { b.serve(c) })
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.busy {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	return b
}

func (b *recBackend) serve(c net.Conn) {
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.busy, c)
		b.notify()
		b.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		b.set(c, true, false)
		err := readStrictRequest(br)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return // cut short, and the connection ended: an aborted request
		}
		if err != nil {
			b.violation(err)
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
		b.set(c, false, true)
	}
}

func (b *recBackend) set(c net.Conn, busy, answered bool) {
	b.mu.Lock()
	b.busy[c] = busy
	if answered {
		b.requests++
	}
	b.notify()
	b.mu.Unlock()
}

func (b *recBackend) violation(err error) {
	b.mu.Lock()
	if b.bad == nil {
		b.bad = err
	}
	b.mu.Unlock()
}

// notify wakes settle; b.mu must be held.
func (b *recBackend) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *recBackend) reset() {
	b.mu.Lock()
	b.requests, b.bad = 0, nil
	b.mu.Unlock()
}

// settle waits until no connection holds an unanswered request, then
// returns the count of complete requests since reset.
func (b *recBackend) settle() (int, error) {
	deadline := time.NewTimer(connWait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		busy := 0
		for _, v := range b.busy {
			if v {
				busy++
			}
		}
		n, bad, changed := b.requests, b.bad, b.changed
		b.mu.Unlock()
		if bad != nil {
			return n, fmt.Errorf("backend received a malformed request: %w", bad)
		}
		if busy == 0 {
			return n, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return n, fmt.Errorf("backend: %d connections mid-request after %v", busy, connWait)
		}
	}
}

// readStrictRequest reads one request and refuses anything a lenient
// parser could read two ways. io.EOF or io.ErrUnexpectedEOF means the
// bytes ended inside the request.
func readStrictRequest(br *bufio.Reader) error {
	line, err := strictLine(br)
	if err != nil {
		return err
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !isTokenString(parts[0]) || parts[1] == "" || parts[2] != "HTTP/1.1" {
		return fmt.Errorf("request line %q", line)
	}
	var cls, tes []string
	for {
		l, err := strictLine(br)
		if err != nil {
			return unexpected(err)
		}
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isTokenString(name) {
			return fmt.Errorf("field line %q", l)
		}
		value = strings.Trim(value, " \t")
		switch strings.ToLower(name) {
		case "content-length":
			cls = append(cls, value)
		case "transfer-encoding":
			tes = append(tes, value)
		}
	}
	return framedBody(br, cls, tes, false)
}

// framedBody reads the body that a message's Content-Length (cls) and
// Transfer-Encoding (tes) values frame, and refuses any framing a lenient
// parser could read two ways. With neither, the body runs to the close
// when untilClose is set (a response), else there is none (a request).
// io.ErrUnexpectedEOF means the bytes ended inside the body.
func framedBody(br *bufio.Reader, cls, tes []string, untilClose bool) error {
	switch {
	case len(cls) > 0 && len(tes) > 0:
		return fmt.Errorf("both Content-Length %q and Transfer-Encoding %q", cls, tes)
	case len(tes) > 1 || len(tes) == 1 && !strings.EqualFold(tes[0], "chunked"):
		return fmt.Errorf("transfer coding %q", tes)
	case len(tes) == 1:
		return strictChunked(br)
	case len(cls) > 1:
		return fmt.Errorf("Content-Length %q", cls)
	case len(cls) == 1:
		n, err := strconv.ParseUint(cls[0], 10, 63)
		if err != nil || strings.TrimLeft(cls[0], "0123456789") != "" {
			return fmt.Errorf("Content-Length %q", cls[0])
		}
		_, err = io.CopyN(io.Discard, br, int64(n))
		return unexpected(err)
	case untilClose:
		_, err := io.Copy(io.Discard, br)
		return err
	}
	return nil
}

// strictChunked reads a chunked body: hex sizes, no extensions, CRLF after
// each chunk, no trailer fields.
func strictChunked(br *bufio.Reader) error {
	for {
		l, err := strictLine(br)
		if err != nil {
			return unexpected(err)
		}
		size, err := strconv.ParseUint(l, 16, 63)
		if err != nil || l == "" || strings.TrimLeft(l, "0123456789abcdefABCDEF") != "" {
			return fmt.Errorf("chunk size line %q", l)
		}
		if size == 0 {
			l, err := strictLine(br)
			if err != nil {
				return unexpected(err)
			}
			if l != "" {
				return fmt.Errorf("trailer field %q", l)
			}
			return nil
		}
		if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
			return unexpected(err)
		}
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil {
			return unexpected(err)
		}
		if crlf != [2]byte{'\r', '\n'} {
			return fmt.Errorf("chunk data not followed by CRLF: %q", crlf)
		}
	}
}

// strictLine reads a line that ends in CRLF and holds no CR, LF or NUL.
func strictLine(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	s, ok := strings.CutSuffix(l, "\r\n")
	if !ok || strings.ContainsAny(s, "\r\n\x00") {
		return "", fmt.Errorf("line %q not ended by CRLF or holding CR, LF or NUL", l)
	}
	return s, nil
}

// unexpected turns an EOF inside a request into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isTokenString(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}
