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
	"testing"
	"testing/iotest"
	"time"

	"github.com/valyala/fasthttp"
)

// parkHandler reads nothing more after a request head: it reports the head
// on got and the connection's end on closed (when the client closes it).
func parkHandler(got, closed chan<- struct{}) pingHandler {
	return func(c net.Conn, br *bufio.Reader, _ textproto.MIMEHeader) bool {
		got <- struct{}{}
		_, _ = br.ReadByte() // the body of a ping POST waits for 100: nothing comes
		closed <- struct{}{}
		return false
	}
}

// TestCallAbort: Abort closes the member connection of a request whose
// answer is awaited; the round trip fails with ErrClientGone, for plain
// members and for the ping transport.
func TestCallAbort(t *testing.T) {
	for _, tc := range []struct {
		name string
		ping time.Duration
		body string
	}{
		{"GET", 0, ""},
		{"ping POST", time.Minute, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, closed := make(chan struct{}, 1), make(chan struct{}, 1)
			b := newPingBackend(t, parkHandler(got, closed))
			be := pingClient(t, b.addr, tc.ping)
			var call Call
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + b.addr + "/slow")
			if tc.body != "" {
				req.Header.SetMethod(fasthttp.MethodPost)
				req.SetBodyString(tc.body)
			}
			done := make(chan error, 1)
			go func() { done <- be.Do(req, resp, &call) }()
			<-got
			if !call.Abort() {
				t.Fatal("Abort found no connection to close")
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrClientGone) {
					t.Fatalf("Do returned %v, want ErrClientGone", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Do still waits after Abort")
			}
			<-closed
			if call.Abort() {
				t.Error("a second Abort closed something")
			}
		})
	}
}

// TestCallAbortIdle: Abort is a no-op once the answer came, and after
// Reset the call serves the next request.
func TestCallAbortIdle(t *testing.T) {
	b := newPingBackend(t, func(c net.Conn, _ *bufio.Reader, _ textproto.MIMEHeader) bool {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	be := pingClient(t, b.addr, 0)
	var call Call
	for i := range 2 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + b.addr + "/")
		if err := be.Do(req, resp, &call); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if call.Abort() {
			t.Fatalf("request %d: Abort closed the connection of a response already read", i)
		}
		body, err := io.ReadAll(bodyOf(&call, resp))
		if err != nil || string(body) != "ok" {
			t.Fatalf("request %d: body %q, %v", i, body, err)
		}
		call.TakeLease().Release(true)
		call.Reset()
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if n := b.conns.Load(); n != 1 {
		t.Errorf("%d member connections for 2 sequential requests, want 1", n)
	}
}

// TestLeaseRelease: a body read to its end gives the connection back to
// the pool; one released incomplete closes it, and so does Reset with a
// lease nobody took.
func TestLeaseRelease(t *testing.T) {
	b := newPingBackend(t, func(c net.Conn, _ *bufio.Reader, _ textproto.MIMEHeader) bool {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		return err == nil
	})
	be := pingClient(t, b.addr, 0)
	var call Call
	get := func(finish func(resp *fasthttp.Response)) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + b.addr + "/")
		if err := be.Do(req, resp, &call); err != nil {
			t.Fatal(err)
		}
		finish(resp)
	}
	complete := func(resp *fasthttp.Response) {
		_, _ = io.ReadAll(bodyOf(&call, resp))
		call.TakeLease().Release(true)
	}
	get(complete)
	get(complete)
	if n := b.conns.Load(); n != 1 {
		t.Fatalf("%d connections after two complete bodies, want 1", n)
	}
	get(func(*fasthttp.Response) { call.TakeLease().Release(false) })
	get(func(*fasthttp.Response) { call.Reset() })
	get(complete)
	if n := b.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3: an incomplete body and an untaken lease close theirs", n)
	}
}

// roundTrip is Backend.Do as sluice's server uses it: the response body is
// read to its end, then its connection handed back (a lease) or its stream
// closed (ping's relay owns its connection).
func roundTrip(be *Backend, req *fasthttp.Request, resp *fasthttp.Response) ([]byte, error) {
	var call Call
	if err := be.Do(req, resp, &call); err != nil {
		return nil, err
	}
	r := bodyOf(&call, resp)
	if r == nil {
		call.Reset()
		return resp.Body(), nil
	}
	body, err := io.ReadAll(r)
	if cerr := release(&call, resp, err == nil); err == nil {
		err = cerr
	}
	return body, err
}

// bodyOf is the body of resp, the answer to call's request, while its
// lease is not taken yet; nil when there is none to read.
func bodyOf(call *Call, resp *fasthttp.Response) io.Reader { return BodyReader(resp, call.lease) }

// release ends resp's body: its lease is released, or (ping) its stream
// closed.
func release(call *Call, resp *fasthttp.Response, complete bool) error {
	if l := call.TakeLease(); l != nil {
		l.Release(complete)
		return nil
	}
	return resp.CloseBodyStream()
}

// TestReusedConnClosedUnanswered: a member that reads a request on a
// pooled connection and closes it without a byte of answer (its keep-alive
// ran out as the request arrived, past the staleness check) gets an
// idempotent request again on a fresh connection; a POST is not replayed.
// (A ping POST asks for 100 Continue first: the TestPing* tests cover it.)
func TestReusedConnClosedUnanswered(t *testing.T) {
	for _, tc := range []struct {
		ping   time.Duration
		method string
	}{
		{0, fasthttp.MethodGet},
		{0, fasthttp.MethodPost},
		{time.Minute, fasthttp.MethodGet},
	} {
		t.Run(fmt.Sprintf("ping=%v/%s", tc.ping, tc.method), func(t *testing.T) {
			var mu sync.Mutex
			served := make(map[net.Conn]bool)
			b := newPingBackend(t, func(c net.Conn, br *bufio.Reader, h textproto.MIMEHeader) bool {
				if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 {
					if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
						return false
					}
				}
				mu.Lock()
				again := served[c]
				served[c] = true
				mu.Unlock()
				if again {
					return false // closed with the request read and unanswered
				}
				_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				return err == nil
			})
			be := pingClient(t, b.addr, tc.ping)
			send := func() ([]byte, error) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://" + b.addr + "/")
				req.Header.SetMethod(tc.method)
				if tc.method == fasthttp.MethodPost {
					req.SetBodyString("hello")
				}
				return roundTrip(be, req, resp)
			}
			if body, err := send(); err != nil || string(body) != "ok" {
				t.Fatalf("first request: %q, %v", body, err)
			}
			body, err := send()
			if tc.method == fasthttp.MethodGet {
				if err != nil || string(body) != "ok" {
					t.Fatalf("GET on the closed pooled connection: %q, %v; want it sent again on a fresh one", body, err)
				}
				if n := b.conns.Load(); n != 2 {
					t.Errorf("%d member connections, want 2", n)
				}
				return
			}
			if !errors.Is(err, fasthttp.ErrConnectionClosed) {
				t.Fatalf("POST on the closed pooled connection: %q, %v; want ErrConnectionClosed, not replayed", body, err)
			}
			if n := b.conns.Load(); n != 1 {
				t.Errorf("%d member connections: the POST was replayed", n)
			}
		})
	}
}

// TestCallWriteOwnHead: a request with its own field lines goes out as its
// request line, Host, the lines and "Connection: close" when asked, the
// same whether it fits the writer's buffer (one write, in place) or not.
func TestCallWriteOwnHead(t *testing.T) {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodHead)
	req.SetRequestURI("/a?b=c")
	req.Header.SetHost("member:8080")
	long := "X-Long: " + strings.Repeat("v", 5000) + "\r\n"
	for _, tc := range []struct {
		fields    string
		closeConn bool
	}{
		{"", false},
		{"X-A: 1\r\nX-Forwarded-For: 10.0.0.9\r\n", false},
		{"X-A: 1\r\n", true},
		{long, false},
		{long, true},
	} {
		var call Call
		call.SetHeaderFields([]byte(tc.fields))
		req.Header.SetConnectionClose()
		if !tc.closeConn {
			req.Header.ResetConnectionClose()
		}
		var out bytes.Buffer
		bw := bufio.NewWriterSize(&out, 4096)
		if err := call.write(bw, &req); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		want := "HEAD /a?b=c HTTP/1.1\r\nHost: member:8080\r\n" + tc.fields
		if tc.closeConn {
			want += "Connection: close\r\n"
		}
		want += "\r\n"
		if out.String() != want {
			t.Errorf("wrote %.120q, want %.120q", out.String(), want)
		}
	}
}

// TestCallWriteOwnHeadBody: with its own head a request's body goes out
// framed as fasthttp frames it: a streamed body's announced length, held
// to; a body in memory; Content-Length 0 for a POST without one.
func TestCallWriteOwnHeadBody(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
		stream             bool
		size               int // announced, for a stream
		want               string
		err                error
	}{
		{name: "stream", method: "POST", body: "hello", stream: true, size: 5,
			want: "Content-Length: 5\r\n\r\nhello"},
		{name: "stream longer than announced", method: "PUT", body: "hello world", stream: true, size: 5,
			want: "Content-Length: 5\r\n\r\nhello"},
		{name: "short stream", method: "POST", body: "hi", stream: true, size: 5, err: errShortBody},
		{name: "in memory", method: "POST", body: "hello",
			want: "Content-Length: 5\r\n\r\nhello"},
		{name: "POST without a body", method: "POST",
			want: "Content-Length: 0\r\n\r\n"},
		{name: "GET without a body", method: "GET",
			want: "\r\n"},
	} {
		req := bodyRequest(tc.method, "/u", "m", tc.body, tc.stream, tc.size)
		var call Call
		call.SetHeaderFields([]byte("X-A: 1\r\n"))
		var out bytes.Buffer
		bw := bufio.NewWriterSize(&out, 4096)
		err := call.write(bw, req)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_ = bw.Flush()
		if want := tc.method + " /u HTTP/1.1\r\nHost: m\r\nX-A: 1\r\n" + tc.want; out.String() != want {
			t.Errorf("%s: wrote %q, want %q", tc.name, out.String(), want)
		}
	}
}

// bodyRequest is a request with body, streamed with the announced size
// or in memory.
func bodyRequest(method, uri, host, body string, stream bool, size int) *fasthttp.Request {
	req := new(fasthttp.Request)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(host)
	if stream {
		req.SetBodyStream(strings.NewReader(body), size)
	} else if body != "" {
		req.SetBodyString(body)
	}
	return req
}

// TestCallWholeRequest: a request with its own head and a body of at most
// wholeBody bytes, in memory or streamed, is one buffer holding what write
// writes, target and Host from SetTarget; a larger body, and ping's
// Expect, are left to write; a short stream fails as write does.
func TestCallWholeRequest(t *testing.T) {
	big := strings.Repeat("b", wholeBody+1)
	for _, tc := range []struct {
		name, body string
		stream     bool
		size       int // announced, for a stream
		expect     bool
		whole      bool
		err        error
	}{
		{name: "stream", body: "hello", stream: true, size: 5, whole: true},
		{name: "stream longer than announced", body: "hello world", stream: true, size: 5, whole: true},
		{name: "in memory", body: "hello", whole: true},
		{name: "no body", whole: true},
		{name: "largest stream", body: big[1:], stream: true, size: wholeBody, whole: true},
		{name: "larger stream", body: big, stream: true, size: len(big)},
		{name: "larger in memory", body: big},
		{name: "chunked stream", body: "hello", stream: true, size: -1},
		{name: "ping", body: "hello", stream: true, size: 5, expect: true},
		{name: "short stream", body: "hi", stream: true, size: 5, err: errShortBody},
	} {
		request := func() *fasthttp.Request {
			return bodyRequest("POST", "/header", "header", tc.body, tc.stream, tc.size)
		}
		newCall := func() *Call {
			c := &Call{expect: tc.expect}
			c.SetHeaderFields([]byte("X-A: 1\r\n"))
			c.SetTarget([]byte("/u"), "m")
			return c
		}
		whole, err := newCall().wholeRequest(request())
		if !errors.Is(err, tc.err) || (whole != nil) != tc.whole {
			t.Errorf("%s: %d bytes, %v; want one buffer %v, error %v", tc.name, len(whole), err, tc.whole, tc.err)
			continue
		}
		if whole == nil {
			continue
		}
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		if err := newCall().write(bw, request()); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
		if string(whole) != out.String() || !strings.HasPrefix(out.String(), "POST /u HTTP/1.1\r\nHost: m\r\nX-A: 1\r\n") {
			t.Errorf("%s: one buffer %.80q, write %.80q", tc.name, whole, out.String())
		}
	}
}

// TestFixedBody: a body of known length ends at its length, leaving what
// follows in the reader; one the member cut short ends with
// io.ErrUnexpectedEOF, as fasthttp's stream does.
func TestFixedBody(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		want string
		err  error
		left string
	}{
		{in: "helloHTTP/1.1", n: 5, want: "hello", left: "HTTP/1.1"},
		{in: "hel", n: 5, want: "hel", err: io.ErrUnexpectedEOF},
		{in: "abc", n: 0, want: "", left: "abc"},
	} {
		br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tc.in)), 16)
		got, err := io.ReadAll(&fixedBody{br: br, left: tc.n})
		rest, _ := io.ReadAll(br)
		if string(got) != tc.want || !errors.Is(err, tc.err) || string(rest) != tc.left {
			t.Errorf("%q, length %d: read %q, %v, left %q; want %q, %v, %q", tc.in, tc.n, got, err, rest, tc.want, tc.err, tc.left)
		}
	}
}

// TestFixedBodyWhole: a body its reader holds whole is handed over from
// the reader's buffer and consumed, leaving what follows; one still partly
// to come is left to Read.
func TestFixedBodyWhole(t *testing.T) {
	for _, tc := range []struct {
		held, later string // what the reader holds, what a later read brings
		n           int64
		ok          bool
		want, left  string
	}{
		{held: "helloHTTP/1.1", n: 5, ok: true, want: "hello", left: "HTTP/1.1"},
		{held: "hello", n: 5, ok: true, want: "hello"},
		{held: "abc", n: 0, ok: true, left: "abc"},
		{held: "hello", later: ", world", n: 12},
	} {
		br := bufio.NewReaderSize(io.MultiReader(strings.NewReader(tc.held), strings.NewReader(tc.later)), 16)
		_, _ = br.Peek(1) // one read: br holds tc.held
		b := &fixedBody{br: br, left: tc.n}
		body, ok := b.Whole()
		if ok != tc.ok || string(body) != tc.want {
			t.Errorf("%q, length %d: took %q, ok %v; want %q, ok %v", tc.held, tc.n, body, ok, tc.want, tc.ok)
			continue
		}
		if !ok {
			if got, err := io.ReadAll(b); string(got) != tc.held+tc.later || err != nil {
				t.Errorf("%q: read %q, %v after Whole declined", tc.held, got, err)
			}
			continue
		}
		if got, err := io.ReadAll(b); len(got) != 0 || err != nil {
			t.Errorf("%q: read %q, %v after Whole took the body", tc.held, got, err)
		}
		if rest, _ := io.ReadAll(br); string(rest) != tc.left {
			t.Errorf("%q: left %q, want %q", tc.held, rest, tc.left)
		}
	}
}
