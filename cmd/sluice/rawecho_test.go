package main

// A raw TCP backend for smuggling tests: it keeps the exact bytes each
// connection delivered, answers every request it can frame, and lets a test
// check afterwards, strictly, how many requests those bytes hold.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoReply writes the raw response to one request; returning true closes
// the connection afterwards. A nil echoReply answers "METHOD URI" with 200.
type echoReply func(w *bufio.Writer, m *wireMsg) (closeConn bool)

type echoBackend struct {
	t     *testing.T
	addr  string
	ln    net.Listener
	reply echoReply

	mu      sync.Mutex
	recs    []*echoConn // connections that delivered bytes since the last reset
	conns   map[net.Conn]*echoConn
	changed chan struct{} // closed and replaced when a connection changes state
	wg      sync.WaitGroup
}

// echoConn is what one connection delivered since the last reset.
type echoConn struct {
	buf    bytes.Buffer
	idle   bool // waiting for a request head, nothing buffered
	closed bool
}

func newEchoBackend(t *testing.T, reply echoReply) *echoBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBackend{t: t, addr: ln.Addr().String(), ln: ln, reply: reply,
		conns: make(map[net.Conn]*echoConn), changed: make(chan struct{})}
	if b.reply == nil {
		b.reply = echoRequestLine
	}
	b.wg.Go(b.serve)
	t.Cleanup(b.close)
	return b
}

func echoRequestLine(w *bufio.Writer, m *wireMsg) bool {
	writeResp(w, 200, nil, m.Method+" "+m.URI)
	return false
}

func (b *echoBackend) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		ec := new(echoConn)
		b.mu.Lock()
		b.conns[c] = ec
		b.recs = append(b.recs, ec)
		b.mu.Unlock()
		b.wg.Go(func() { b.serveConn(c) })
	}
}

// serveConn answers what it can frame; after the first thing it cannot, it
// only records until the peer closes.
func (b *echoBackend) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		b.mu.Lock()
		b.conns[c].closed = true
		delete(b.conns, c)
		b.notify()
		b.mu.Unlock()
	}()
	br := bufio.NewReader(io.TeeReader(c, recorder{b, c}))
	bw := bufio.NewWriter(c)
	for {
		b.setIdle(c, br.Buffered() == 0)
		m, err := readHead(br, true)
		if err == nil {
			m.Body, err = io.ReadAll(bodyReader(br, m, true))
		}
		if err != nil {
			_, _ = io.Copy(io.Discard, br)
			return
		}
		closeConn := b.reply(bw, m)
		if bw.Flush() != nil || closeConn {
			return
		}
	}
}

func (b *echoBackend) setIdle(c net.Conn, idle bool) {
	b.mu.Lock()
	b.conns[c].idle = idle
	b.notify()
	b.mu.Unlock()
}

// recorder appends what one connection delivers to its current record,
// which reset may have replaced.
type recorder struct {
	b *echoBackend
	c net.Conn
}

func (r recorder) Write(p []byte) (int, error) {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if ec := r.b.conns[r.c]; ec != nil {
		ec.buf.Write(p)
		ec.idle = false
	}
	return len(p), nil
}

// reset forgets everything received so far; connections stay open.
func (b *echoBackend) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recs = b.recs[:0]
	for c, old := range b.conns {
		ec := &echoConn{idle: old.idle}
		b.conns[c] = ec
		b.recs = append(b.recs, ec)
	}
}

// settle waits until every connection is closed or waiting for a new
// request, so that what a test reads next is all sluice sent; with
// aborted, also until a connection that received bytes has been closed.
func (b *echoBackend) settle(t *testing.T, aborted bool) {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		busy, closedWithData := 0, false
		for _, ec := range b.conns {
			if !ec.idle {
				busy++
			}
		}
		for _, ec := range b.recs {
			closedWithData = closedWithData || (ec.closed && ec.buf.Len() > 0)
		}
		changed := b.changed
		b.mu.Unlock()
		if busy == 0 && (!aborted || closedWithData) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("backend: %d connections mid-request, aborted one closed: %v, after %v; received %.2000q",
				busy, closedWithData, ioTimeout, b.received())
		}
	}
}

// notify wakes settle; b.mu must be held.
func (b *echoBackend) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// received returns the non-empty byte streams received since the last
// reset, one per connection.
func (b *echoBackend) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, ec := range b.recs {
		if ec.buf.Len() > 0 {
			out = append(out, ec.buf.String())
		}
	}
	return out
}

// requests parses everything received since the last reset strictly (see
// parseStrict); any byte that is not part of a well-formed request is an
// error that quotes the connection's bytes. cut counts requests whose body
// was cut short by the connection's end: sluice aborted them.
func (b *echoBackend) requests() (all []*wireMsg, cut int, err error) {
	b.mu.Lock()
	recs := slices.Clone(b.recs)
	b.mu.Unlock()
	for _, ec := range recs {
		b.mu.Lock()
		raw, closed := ec.buf.String(), ec.closed
		b.mu.Unlock()
		ms, short, err := parseStrict([]byte(raw))
		if err != nil {
			return nil, 0, fmt.Errorf("%w; connection bytes: %q", err, raw)
		}
		if short && !closed {
			return nil, 0, fmt.Errorf("a request cut short on a connection still open: %q", raw)
		}
		if short {
			cut++
		}
		all = append(all, ms...)
	}
	return all, cut, nil
}

func (b *echoBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// parseStrict splits raw into requests and refuses anything a lenient
// parser could read two ways: lines not ended by CRLF, CR or NUL inside a
// line, obs-fold, a field name that is not a token, a request line that is
// not "METHOD SP target SP HTTP/1.1", Content-Length with
// Transfer-Encoding, a Transfer-Encoding other than chunked, duplicate
// Content-Length, and trailing bytes. cut reports a last request whose
// head passed but whose body ends early; it is not in ms.
func parseStrict(raw []byte) (ms []*wireMsg, cut bool, err error) {
	for len(raw) > 0 {
		end := bytes.Index(raw, []byte("\r\n\r\n"))
		if end < 0 {
			return nil, false, fmt.Errorf("incomplete request head")
		}
		head := raw[:end+2]
		if err := checkStrictHead(head); err != nil {
			return nil, false, err
		}
		src := bytes.NewReader(raw)
		br := bufio.NewReader(src)
		m, err := readHead(br, true)
		if err != nil {
			return nil, false, err
		}
		if te := m.Values("Transfer-Encoding"); len(te) > 0 && (len(te) != 1 || !strings.EqualFold(te[0], "chunked")) {
			return nil, false, fmt.Errorf("transfer coding %q", te)
		}
		if m.Has("Transfer-Encoding") && m.Has("Content-Length") {
			return nil, false, errors.New("both Content-Length and Transfer-Encoding")
		}
		if len(m.Values("Content-Length")) > 1 {
			return nil, false, errors.New("duplicate Content-Length")
		}
		m.Body, err = io.ReadAll(bodyReader(br, m, true))
		n, clErr := strconv.Atoi(m.Get("Content-Length"))
		if errors.Is(err, io.ErrUnexpectedEOF) || (err == nil && clErr == nil && len(m.Body) < n) {
			return ms, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("cannot read the body of %s %s: %w", m.Method, m.URI, err)
		}
		ms = append(ms, m)
		raw = raw[len(raw)-(br.Buffered()+src.Len()):]
	}
	return ms, false, nil
}

func checkStrictHead(head []byte) error {
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n"), "\r\n")
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			return fmt.Errorf("bare CR, LF or NUL in line %q", l)
		}
		if i == 0 {
			parts := strings.Split(l, " ")
			if len(parts) != 3 || parts[2] != "HTTP/1.1" || !isToken(parts[0]) || parts[1] == "" {
				return fmt.Errorf("request line %q", l)
			}
			continue
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return fmt.Errorf("field line %q", l)
		}
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
