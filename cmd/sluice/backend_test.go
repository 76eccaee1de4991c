package main

// A raw HTTP/1.1 backend on 127.0.0.1:0 that records each request exactly as
// it arrived on the wire (header names in original case and order,
// duplicates kept) and lets each test write any response bytes, including
// malformed ones. Its accept loop and cleanup, connServer, also serve
// faultBackend and earlyMember (faults_e2e_test.go).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wireField is one header line as received.
type wireField struct{ Name, Value string }

// wireMsg is a request or response head plus body as seen on the wire.
type wireMsg struct {
	Method, URI, Proto string // request line
	Status             int    // response status
	Header             []wireField
	Body               []byte
}

// Values returns every value of the header name (case-insensitive), in order.
func (m *wireMsg) Values(name string) []string {
	var vs []string
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Get returns the first value of name, or "".
func (m *wireMsg) Get(name string) string {
	if vs := m.Values(name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Has reports whether any header line is named name (case-insensitive).
func (m *wireMsg) Has(name string) bool { return len(m.Values(name)) > 0 }

// Names lists the header names in wire order, original case.
func (m *wireMsg) Names() []string {
	names := make([]string, len(m.Header))
	for i, f := range m.Header {
		names[i] = f.Name
	}
	return names
}

// backendReq is what a backend handler sees; Body streams the request body.
type backendReq struct {
	*wireMsg
	Body io.Reader
	Done <-chan struct{} // closed when the test ends: handlers that park must select on it
}

// handlerFunc writes a raw response to w; returning true closes the
// connection afterwards.
type handlerFunc func(w *bufio.Writer, r *backendReq) (closeConn bool)

type rawBackend struct {
	connServer

	t      *testing.T
	name   string
	stream bool // hand the body to the handler unread instead of recording it
	handle handlerFunc

	mu   sync.Mutex
	reqs []*wireMsg
}

// newBackend starts a raw backend that records request bodies. A nil handle
// answers "<name> METHOD URI".
func newBackend(t *testing.T, name string, handle handlerFunc) *rawBackend {
	t.Helper()
	return startBackend(t, name, handle, false)
}

// newStreamingBackend hands request bodies to handle unread and unrecorded.
func newStreamingBackend(t *testing.T, name string, handle handlerFunc) *rawBackend {
	t.Helper()
	return startBackend(t, name, handle, true)
}

func startBackend(t *testing.T, name string, handle handlerFunc, stream bool) *rawBackend {
	t.Helper()
	b := &rawBackend{t: t, name: name, stream: stream, handle: handle}
	if b.handle == nil {
		b.handle = b.echo
	}
	b.start(t, b.serveConn)
	return b
}

// echo answers with the backend's name, the method and the request-URI.
func (b *rawBackend) echo(w *bufio.Writer, r *backendReq) bool {
	writeResp(w, 200, []string{"X-Backend: " + b.name}, fmt.Sprintf("%s %s %s", b.name, r.Method, r.URI))
	return false
}

func (b *rawBackend) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		m, err := readHead(br, true)
		if err != nil {
			return
		}
		body := bodyReader(br, m, true)
		if !b.stream {
			if m.Body, err = io.ReadAll(body); err != nil {
				return
			}
			body = bytes.NewReader(m.Body)
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, m)
		b.mu.Unlock()
		closeConn := b.handle(bw, &backendReq{wireMsg: m, Body: body, Done: b.done})
		if bw.Flush() != nil || closeConn {
			return
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return
		}
		if strings.EqualFold(m.Get("Connection"), "close") {
			return
		}
	}
}

// requests returns a copy of everything recorded so far.
func (b *rawBackend) requests() []*wireMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*wireMsg(nil), b.reqs...)
}

// count is how many requests arrived.
func (b *rawBackend) count() int { return len(b.requests()) }

// last is the most recent request; the test fails if there is none.
func (b *rawBackend) last() *wireMsg {
	b.t.Helper()
	rs := b.requests()
	if len(rs) == 0 {
		b.t.Fatalf("backend %s received no request", b.name)
	}
	return rs[len(rs)-1]
}

// writeResp writes a complete response with a Content-Length body.
func writeResp(w *bufio.Writer, status int, header []string, body string) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, h := range header {
		w.WriteString(h + "\r\n")
	}
	fmt.Fprintf(w, "Content-Length: %d\r\n\r\n%s", len(body), body)
}

// readHead reads a request (isReq) or response head.
func readHead(br *bufio.Reader, isReq bool) (*wireMsg, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	m := &wireMsg{}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("cannot parse start line %q", line)
	}
	if isReq {
		if len(parts) != 3 {
			return nil, fmt.Errorf("cannot parse request line %q", line)
		}
		m.Method, m.URI, m.Proto = parts[0], parts[1], parts[2]
	} else {
		m.Proto = parts[0]
		if m.Status, err = strconv.Atoi(parts[1]); err != nil {
			return nil, fmt.Errorf("cannot parse status line %q: %w", line, err)
		}
	}
	for {
		l, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if l == "" {
			return m, nil
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("cannot parse header line %q", l)
		}
		m.Header = append(m.Header, wireField{name, strings.Trim(value, " \t")})
	}
}

func readLine(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r"), nil
}

// bodyReader frames the body of m per RFC 9112 §6.3. A response without
// framing runs to EOF; a request without framing has no body.
func bodyReader(br *bufio.Reader, m *wireMsg, isReq bool) io.Reader {
	switch {
	case !isReq && (m.Status/100 == 1 || m.Status == 204 || m.Status == 304 || m.Method == http.MethodHead):
		return http.NoBody
	case strings.EqualFold(m.Get("Transfer-Encoding"), "chunked"):
		return &chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
	case m.Has("Content-Length"):
		n, err := strconv.ParseInt(m.Get("Content-Length"), 10, 64)
		if err != nil {
			return errReader{fmt.Errorf("cannot parse Content-Length %q: %w", m.Get("Content-Length"), err)}
		}
		return io.LimitReader(br, n)
	case isReq:
		return http.NoBody
	default:
		return br
	}
}

// chunkedBody also consumes the trailer section after the last chunk, which
// httputil's chunked reader leaves unread.
type chunkedBody struct {
	br   *bufio.Reader
	r    io.Reader
	done bool
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.done = true
		for {
			l, lerr := readLine(c.br)
			if lerr != nil {
				return n, lerr
			}
			if l == "" {
				break
			}
		}
	}
	return n, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// connServer is the scaffolding rawBackend, faultBackend and earlyMember
// share: it accepts on 127.0.0.1:0 and runs serve on each connection in its
// own goroutine. At cleanup it closes done, stops accepting, closes every
// open connection and waits for the handlers, so a test leaves nothing
// running.
type connServer struct {
	addr string
	done chan struct{} // closed at cleanup: handlers that park must select on it

	ln       net.Listener
	connsMu  sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool // set at cleanup: a connection accepted late is closed at once
	handlers sync.WaitGroup
}

// start listens and serves; it must be called once, before the backend is
// shared, as it initializes the embedding backend's connServer in place.
func (s *connServer) start(t *testing.T, serve func(net.Conn)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr, s.ln = ln.Addr().String(), ln
	s.done, s.conns = make(chan struct{}), make(map[net.Conn]struct{})
	s.handlers.Go(func() { s.accept(serve) })
	t.Cleanup(s.close)
}

func (s *connServer) accept(serve func(net.Conn)) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connsMu.Lock()
		if s.closed {
			s.connsMu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.connsMu.Unlock()
		s.handlers.Go(func() {
			defer s.drop(c)
			serve(c)
		})
	}
}

func (s *connServer) drop(c net.Conn) {
	c.Close()
	s.connsMu.Lock()
	delete(s.conns, c)
	s.connsMu.Unlock()
}

func (s *connServer) close() {
	close(s.done)
	s.ln.Close()
	s.connsMu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.connsMu.Unlock()
	s.handlers.Wait()
}
