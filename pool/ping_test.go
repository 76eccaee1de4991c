package pool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// pingBackend is a loopback backend whose handler sees each request head
// and the connection, so it decides when (and whether) to read the body.
type pingBackend struct {
	addr  string
	conns atomic.Int32 // connections accepted
	done  chan struct{}
}

// pingHandler serves one request; returning false closes the connection.
type pingHandler func(c net.Conn, br *bufio.Reader, h textproto.MIMEHeader) bool

func newPingBackend(t *testing.T, handle pingHandler) *pingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &pingBackend{addr: ln.Addr().String(), done: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					tp := textproto.NewReader(br)
					if _, err := tp.ReadLine(); err != nil {
						return
					}
					h, err := tp.ReadMIMEHeader()
					if err != nil || !handle(c, br, h) {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		close(b.done)
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return b
}

// pingClient is the member's pool with the given ping.
func pingClient(t *testing.T, addr string, ping time.Duration) *Backend {
	t.Helper()
	return memberPool(t, addr, BackendOptions{Timeout: 5 * time.Second, Ping: ping})
}

// memberPool is the pool of a member at addr with options o.
func memberPool(t *testing.T, addr string, o BackendOptions) *Backend {
	t.Helper()
	m, err := NewMember(NewRegistry(), "b", "http://"+addr, config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, o)
	t.Cleanup(be.CloseIdle)
	return be
}

// post sends a POST with body, raw or (stream) as a chunked stream, and
// returns the status and the whole response body.
func post(be *Backend, body string, stream bool) (*fasthttp.Request, int, string, error) {
	return postWith(be, body, stream, nil)
}

// postWith is post with the request's own head when fields is not nil
// (Call.SetHeaderFields): a streamed body then has its length.
func postWith(be *Backend, body string, stream bool, fields []byte) (*fasthttp.Request, int, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + be.member.Addr + "/up")
	req.Header.SetMethod(fasthttp.MethodPost)
	size := -1
	var call Call
	if fields != nil {
		req.Header.SetHost(be.member.Addr)
		call.SetHeaderFields(fields)
		size = len(body)
	}
	if stream {
		req.SetBodyStream(strings.NewReader(body), size)
	} else {
		req.SetBodyString(body)
	}
	if err := be.Do(req, resp, &call); err != nil {
		return req, 0, "", err
	}
	got, err := io.ReadAll(bodyOf(&call, resp))
	if cerr := release(&call, resp, err == nil); err == nil {
		err = cerr
	}
	return req, resp.StatusCode(), string(got), err
}

// readBody reads a Content-Length or chunked request body.
func readBody(br *bufio.Reader, h textproto.MIMEHeader) (string, error) {
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return string(b), err
	}
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 32)
		if err != nil {
			return "", err
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return "", err
		}
		if n == 0 {
			return sb.String(), nil
		}
		sb.Write(chunk[:n])
	}
}

// nothingYet fails unless the client sent no byte for a while: the body
// must wait for 100.
func nothingYet(c net.Conn, br *bufio.Reader) error {
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{}) //nolint:errcheck
	if _, err := br.Peek(1); err == nil {
		return errors.New("body sent before 100 Continue")
	}
	return nil
}

func TestPingContinueThenBody(t *testing.T) {
	var early, own atomic.Int32
	var expect sync.Map
	b := newPingBackend(t, func(c net.Conn, br *bufio.Reader, h textproto.MIMEHeader) bool {
		expect.Store(h.Get("Expect"), true)
		if h.Get("X-Own") == "1" && h.Get("Expect") == "100-continue" {
			own.Add(1)
		}
		if nothingYet(c, br) != nil {
			early.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		body, err := readBody(br, h)
		if err != nil {
			return false
		}
		fmt.Fprintf(c, "HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\ngot %s", len(body)+4, body)
		return true
	})
	be := pingClient(t, b.addr, time.Second)
	for i, tc := range []struct {
		stream bool
		fields []byte
	}{{false, nil}, {true, nil}, {false, nil}, {false, []byte("X-Own: 1\r\n")}, {true, []byte("X-Own: 1\r\n")}} {
		req, status, got, err := postWith(be, "payload", tc.stream, tc.fields)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if status != 201 || got != "got payload" {
			t.Fatalf("request %d: got %d %q, want 201 %q", i, status, got, "got payload")
		}
		if req.Header.Peek("Expect") != nil {
			t.Fatalf("request %d: Expect left on the request", i)
		}
	}
	if _, ok := expect.Load("100-continue"); !ok {
		t.Fatal("backend never saw Expect: 100-continue")
	}
	if n := early.Load(); n != 0 {
		t.Fatalf("%d bodies were sent before 100 Continue", n)
	}
	if n := own.Load(); n != 2 {
		t.Fatalf("%d requests came with their own head and Expect, want 2", n)
	}
	if n := b.conns.Load(); n != 1 {
		t.Fatalf("backend saw %d connections, want 1 (kept alive)", n)
	}
}

// TestPingDropsConnWithBytesPastAnswer: as without ping
// (TestBackendDropsConnWithBytesPastAnswer), bytes that came with the
// answer beyond its framing keep its connection out of the pool.
func TestPingDropsConnWithBytesPastAnswer(t *testing.T) {
	var answers atomic.Int32
	b := newPingBackend(t, func(c net.Conn, br *bufio.Reader, h textproto.MIMEHeader) bool {
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		if _, err := readBody(br, h); err != nil {
			return false
		}
		answer := "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
		if answers.Add(1) == 1 {
			answer += "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil" // one write: read along with the answer
		}
		io.WriteString(c, answer)
		return true
	})
	be := pingClient(t, b.addr, time.Second)
	for i := range 2 {
		if _, status, got, err := post(be, "payload", false); err != nil || status != 201 || got != "ok" {
			t.Fatalf("request %d: %d %q, %v", i+1, status, got, err)
		}
	}
	if n := b.conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2", n)
	}
}

// TestPingFinalAnswerWithoutContinue: a member that answers at once gets no
// body, its answer is relayed and the connection is closed afterwards.
func TestPingFinalAnswerWithoutContinue(t *testing.T) {
	for _, status := range []int{417, 401} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			leftover := make(chan int, 4)
			b := newPingBackend(t, func(c net.Conn, br *bufio.Reader, _ textproto.MIMEHeader) bool {
				fmt.Fprintf(c, "HTTP/1.1 %d No\r\nContent-Length: 2\r\n\r\nno", status)
				// sluice must neither send the body nor reuse the connection.
				rest, _ := io.ReadAll(br)
				leftover <- len(rest)
				return false
			})
			be := pingClient(t, b.addr, time.Second)
			for i := range 2 {
				_, got, body, err := post(be, "payload", i == 1)
				if err != nil {
					t.Fatal(err)
				}
				if got != status || body != "no" {
					t.Fatalf("got %d %q, want %d %q", got, body, status, "no")
				}
				if n := <-leftover; n != 0 {
					t.Fatalf("backend read %d bytes after its answer, want none (and EOF)", n)
				}
			}
			if n := b.conns.Load(); n != 2 {
				t.Fatalf("backend saw %d connections, want 2 (one per request)", n)
			}
		})
	}
}

// TestPingTimeout: a member that never answers is tried once more on a new
// connection, then the request fails with a *DialError, body unsent and
// the request intact for another member.
func TestPingTimeout(t *testing.T) {
	var sent atomic.Int32
	silent := newPingBackend(t, func(c net.Conn, br *bufio.Reader, _ textproto.MIMEHeader) bool {
		if nothingYet(c, br) != nil {
			sent.Add(1)
		}
		_, _ = br.Peek(1) // park until sluice gives up and closes
		return false
	})
	be := pingClient(t, silent.addr, 300*time.Millisecond)
	start := time.Now()
	req, _, _, err := post(be, "payload", false)
	elapsed := time.Since(start)
	var de *DialError
	if !errors.As(err, &de) || !errors.Is(err, ErrPingTimeout) || de.Addr != silent.addr {
		t.Fatalf("got %v, want a *DialError for %s wrapping ErrPingTimeout", err, silent.addr)
	}
	if n := silent.conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2 (one retry on a new connection)", n)
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("body sent %d times, want never", n)
	}
	// Two pings, not the 5 s worker timeout.
	if elapsed > 3*time.Second {
		t.Fatalf("took %v, want about 2 × ping", elapsed)
	}
	if string(req.Body()) != "payload" || req.Header.Peek("Expect") != nil {
		t.Fatalf("request not restored: body %q, Expect %q", req.Body(), req.Header.Peek("Expect"))
	}
}

func TestPingLeavesBodilessRequestsAlone(t *testing.T) {
	heads := make(chan textproto.MIMEHeader, 1)
	b := newPingBackend(t, func(c net.Conn, _ *bufio.Reader, h textproto.MIMEHeader) bool {
		heads <- h
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	be := pingClient(t, b.addr, time.Second)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + b.addr + "/")
	body, err := roundTrip(be, req, resp)
	if err != nil || resp.StatusCode() != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q %v", resp.StatusCode(), body, err)
	}
	if h := <-heads; h.Get("Expect") != "" {
		t.Fatalf("GET carried Expect: %q", h.Get("Expect"))
	}
}

// TestPingRetriesStalePooledConnection: a kept connection the member closed
// meanwhile costs no error: nothing of the body was sent, so the request
// goes out again on a new connection.
func TestPingRetriesStalePooledConnection(t *testing.T) {
	b := newPingBackend(t, func(c net.Conn, br *bufio.Reader, h textproto.MIMEHeader) bool {
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		if _, err := readBody(br, h); err != nil {
			return false
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false // closes without saying Connection: close
	})
	be := pingClient(t, b.addr, time.Second)
	for i := range 3 {
		_, status, body, err := post(be, "payload", i == 2)
		if err != nil || status != 200 || body != "ok" {
			t.Fatalf("request %d: got %d %q %v", i, status, body, err)
		}
	}
	if n := b.conns.Load(); n != 3 {
		t.Fatalf("backend saw %d connections, want 3", n)
	}
}

// BenchmarkPost is a POST with a 7-byte body, read to its end, the
// connection pooled again: through the ping transport (head, 100, body,
// answer) and, for comparison, through fasthttp's own. The backend does
// not allocate, so allocs/op are the client's.
func BenchmarkPost(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveQuiet(c)
		}
	}()
	for _, ping := range []time.Duration{0, time.Second} {
		b.Run("ping="+ping.String(), func(b *testing.B) {
			m, err := NewMember(NewRegistry(), "b", "http://"+ln.Addr().String(), config.WorkerParams{}, false)
			if err != nil {
				b.Fatal(err)
			}
			be := NewBackend(m, BackendOptions{Timeout: 5 * time.Second, Ping: ping})
			defer be.CloseIdle()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + ln.Addr().String() + "/up")
			req.Header.SetMethod(fasthttp.MethodPost)
			body := []byte("payload")
			buf := make([]byte, 64)
			b.ReportAllocs()
			var call Call
			for b.Loop() {
				req.SetBodyRaw(body)
				if err := be.Do(req, resp, &call); err != nil {
					b.Fatal(err)
				}
				var err error
				for r := bodyOf(&call, resp); err == nil; {
					_, err = r.Read(buf)
				}
				_ = release(&call, resp, err == io.EOF)
			}
		})
	}
}

// serveQuiet answers 7-byte POSTs without allocating: 100 Continue when
// asked for, then 200 "ok".
func serveQuiet(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var body [7]byte
	for {
		expect := false
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			expect = expect || bytes.HasPrefix(line, []byte("Expect:"))
		}
		if expect {
			if _, err := c.Write(continueLine); err != nil {
				return
			}
		}
		if _, err := io.ReadFull(br, body[:]); err != nil {
			return
		}
		if _, err := c.Write(okResponse); err != nil {
			return
		}
	}
}

var (
	continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")
	okResponse   = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
)
