package fuzz

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzMemberResponse has a member answer GET or HEAD /fuzz with arbitrary
// bytes, then sends GET /good with a fresh id through the same balancer, whose
// member connections the first answer may have left dirty. Whatever the
// member sent, the client must get exactly one HTTP/1.1 response to
// /fuzz, with nothing after it (a response cut short by a closed
// connection is allowed), and /good must come back 200 with its own id as
// the body: bytes of one answer must never reach another request, and a
// pooled connection the member closed must not fail it.
//
// The first input byte's bit 0 picks what the member does after its
// answer: set, it closes the connection; clear, it keeps serving requests
// on it (for keptFor without one). Bit 1 makes /fuzz a HEAD, whose answer
// must reach the client without a body whatever its framing says.
func FuzzMemberResponse(f *testing.F) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, seed := range []string{
		ok,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nclose-delimited",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ng1",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
		"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n" + ok,
		"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + ok,
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw",
		"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: h\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nX-A\x00: b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nSet-Cookie: a=b; Domain=member; Path=/\r\nLocation: http://member/x\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200",
		"",
	} {
		for mode := range byte(4) {
			f.Add(append([]byte{mode}, seed...))
		}
	}
	h := startResponseFuzz(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		h.member.script(in[1:], in[0]&1 == 1)
		method := "GET"
		if in[0]&2 != 0 {
			method = "HEAD"
		}
		h.n++
		fuzzID := fmt.Sprintf("f%d", h.n)
		got := h.get(t, method, "/fuzz", fuzzID)
		if err := oneResponse(got, method == "HEAD"); err != nil {
			t.Fatalf("%s /fuzz: %v\nmember sent %q\nclient got %q", method, err, in[1:], got)
		}
		goodID := fmt.Sprintf("g%d", h.n)
		got = h.get(t, "GET", "/good", goodID)
		status, body, err := statusAndBody(got)
		if err != nil || status != 200 || body != goodID {
			t.Fatalf("/good after %s /fuzz: status %d, body %q (%v), want 200 %q\nmember sent %q for /fuzz\nclient got %q",
				method, status, body, err, goodID, in[1:], got)
		}
	})
}

// responseFuzz is sluice on an in-memory listener in front of a scripted
// member.
type responseFuzz struct {
	ln     *trackingListener
	member *scriptedMember
	n      int
}

func startResponseFuzz(tb testing.TB) *responseFuzz {
	tb.Helper()
	m := newScriptedMember(tb)
	// retry=0 keeps the member usable whatever the last answer did to it:
	// /good tests the connections, not the error state. The member ends
	// every answer by closing within keptFor, so the timeout bounds nothing
	// and is only there to spare a loaded machine a spurious 504.
	ln := serveFuzz(tb, fmt.Sprintf("Listen 127.0.0.1:0\nProxyPass / http://%s/ timeout=1s retry=0\n", m.addr))
	return &responseFuzz{ln: ln, member: m}
}

// get sends one request with Connection: close on a fresh client
// connection and returns everything sluice wrote before closing it.
func (h *responseFuzz) get(t *testing.T, method, path, id string) []byte {
	t.Helper()
	c, _ := h.ln.dial(t)
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: a\r\nX-Id: %s\r\nConnection: close\r\n\r\n", method, path, id); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(connWait))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: sluice did not end the response within %v: %v (got %q)", path, connWait, err, got)
	}
	return got
}

// oneResponse checks that b holds interim (1xx) responses, then one final
// response framed without ambiguity, and nothing after it. A body cut short
// by the end of b is allowed: sluice closes the connection to say so. So is
// nothing at all: when the member's body fails before fasthttp flushed the
// head, the closed connection is all the client gets (docs/security.md,
// BKE-04). The answer to a HEAD (head set) has no body, so nothing is
// never enough for it.
func oneResponse(b []byte, head bool) error {
	if len(b) == 0 {
		if head {
			return errors.New("no answer to a HEAD")
		}
		return nil
	}
	br := bufio.NewReader(bytes.NewReader(b))
	status, fields, err := responseHead(br)
	for err == nil && status < 200 && status != 101 {
		status, fields, err = responseHead(br)
	}
	switch {
	case err != nil:
		return err
	case status == 101:
		return errors.New("101 to a request that asked for no upgrade")
	}
	if err := noHopByHop(fields); err != nil {
		return err
	}
	if !head {
		if err := responseBody(br, status, fields); err != nil {
			return err
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		return fmt.Errorf("%d bytes after the response: %q", len(rest), rest)
	}
	return nil
}

// noHopByHop checks a response's fields for the member's hop-by-hop ones
// (RFC 9110 §7.6.1): sluice must drop them, and say only close or
// keep-alive in its own Connection.
func noHopByHop(fields map[string][]string) error {
	for _, name := range []string{"keep-alive", "proxy-connection", "te", "upgrade"} {
		if v, ok := fields[name]; ok {
			return fmt.Errorf("hop-by-hop field %s: %q", name, v)
		}
	}
	for _, v := range fields["connection"] {
		if !strings.EqualFold(v, "close") && !strings.EqualFold(v, "keep-alive") {
			return fmt.Errorf("Connection: %q", v)
		}
	}
	return nil
}

// statusAndBody parses b as one final response and returns its body.
func statusAndBody(b []byte) (int, string, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	status, fields, err := responseHead(br)
	if err != nil {
		return 0, "", err
	}
	cl := fields["content-length"]
	if len(cl) != 1 {
		return status, "", fmt.Errorf("Content-Length %q", cl)
	}
	n, err := strconv.Atoi(cl[0])
	if err != nil {
		return status, "", err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return status, string(body), err
	}
	return status, string(body), nil
}

// responseHead reads a status line and field lines strictly, and returns
// the status and the field values by lower-case name.
func responseHead(br *bufio.Reader) (int, map[string][]string, error) {
	line, err := strictLine(br)
	if err != nil {
		return 0, nil, fmt.Errorf("status line: %w", err)
	}
	rest, ok := strings.CutPrefix(line, "HTTP/1.1 ")
	if !ok || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	status, err := strconv.Atoi(rest[:3])
	if err != nil || status < 100 {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	fields := make(map[string][]string)
	for {
		l, err := strictLine(br)
		if err != nil {
			return 0, nil, fmt.Errorf("field line: %w", err)
		}
		if l == "" {
			return status, fields, nil
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isTokenString(name) {
			return 0, nil, fmt.Errorf("field line %q", l)
		}
		name = strings.ToLower(name)
		fields[name] = append(fields[name], strings.Trim(value, " \t"))
	}
}

// responseBody reads the body that the head's framing promises. sluice
// relays a chunked body chunk by chunk and drops trailers (docs/
// compatibility.md), so the client's chunks are read as strictly as a
// forwarded request's.
func responseBody(br *bufio.Reader, status int, fields map[string][]string) error {
	te := fields["transfer-encoding"]
	if status == 204 || status == 304 {
		if len(te) > 0 {
			return fmt.Errorf("%d with Transfer-Encoding %q", status, te)
		}
		return nil
	}
	return cutShort(framedBody(br, fields["content-length"], te, true))
}

// cutShort accepts a body that ends early: the client learns of it from
// the closed connection.
func cutShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// scriptedMember answers GET /fuzz with the scripted bytes, and any other
// request with 200 and the request's X-Id as the body.
type scriptedMember struct {
	addr string

	mu    sync.Mutex
	bytes []byte
	close bool
}

func newScriptedMember(tb testing.TB) *scriptedMember {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	m := &scriptedMember{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		cmu   sync.Mutex
		conns = make(map[net.Conn]struct{})
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns[c] = struct{}{}
			cmu.Unlock()
			wg.Go(func() {
				m.serve(c)
				c.Close()
				cmu.Lock()
				delete(conns, c)
				cmu.Unlock()
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	return m
}

func (m *scriptedMember) script(b []byte, closeAfter bool) {
	m.mu.Lock()
	m.bytes, m.close = bytes.Clone(b), closeAfter
	m.mu.Unlock()
}

func (m *scriptedMember) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		path, id, err := requestHead(br)
		if err != nil {
			return
		}
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return
		}
		if path != "/fuzz" {
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(id), id); err != nil {
				return
			}
			continue
		}
		m.mu.Lock()
		b, closeAfter := m.bytes, m.close
		m.mu.Unlock()
		if len(b) > 0 {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
		if closeAfter {
			return
		}
		// Kept, but only briefly without a next request: an answer whose
		// body never completes then ends on the close, not on sluice's
		// member timeout, and a quick next request still reuses it.
		if err := c.SetReadDeadline(time.Now().Add(keptFor)); err != nil {
			return
		}
	}
}

// keptFor is how long the member keeps a connection after a scripted
// answer with no next request.
const keptFor = 20 * time.Millisecond

// requestHead reads a request head sluice forwarded (GET, no body) and
// returns its path and X-Id.
func requestHead(br *bufio.Reader) (path, id string, err error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", "", err
	}
	if f := strings.Fields(line); len(f) == 3 {
		path = f[1]
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return path, id, nil
		}
		if name, value, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "X-Id") {
			id = strings.TrimSpace(value)
		}
	}
}
