//go:build linux

package pool

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testcert"
	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/sock"
)

// testCert is a self-signed certificate for 127.0.0.1 and the pool that
// trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	c := testcert.New(t)
	return c.TLS, c.Roots
}

// ticketsLater is a TLS 1.3 member whose session ticket arrives after the
// client's handshake is over: asking for a client certificate makes
// crypto/tls send it only once it has read the client's last flight. It
// sends one only to a client with a session cache (clientConf); OpenSSL
// 3.0 (nginx, Apache) sends two after every handshake, to sluice too.
func ticketsLater(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, ClientAuth: tls.RequestClientCert}
}

// clientConf trusts roots and takes session tickets.
func clientConf(roots *x509.CertPool) *tls.Config {
	return &tls.Config{ServerName: "127.0.0.1", RootCAs: roots, MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(1)}
}

// tlsWait bounds every wait of these tests.
const tlsWait = 10 * time.Second

// tlsPair returns a member connection's TLS layer and the member's end,
// both handshakes done; reads on either fail after tlsWait.
func tlsPair(t testing.TB, srv *tls.Config, roots *x509.CertPool) (client *tlsConn, raw net.Conn, server *tls.Conn) {
	t.Helper()
	raw, s := testnet.Pair(t, nil)
	server = tls.Server(s, srv)
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	client, err := handshakeTLS(raw, clientConf(roots), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(tlsWait))
	_ = server.SetReadDeadline(time.Now().Add(tlsWait))
	return client, raw, server
}

// waitBytes waits until bytes wait on c (or it was closed), so that what a
// test checks next is there for sure; it fails when none come. c's read
// deadline is tlsWait from now afterwards.
func waitBytes(t testing.TB, c net.Conn) {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(tlsWait))
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return n >= 0 || err != syscall.EAGAIN
	})
	if err != nil {
		t.Fatalf("nothing arrived: %v", err)
	}
}

// wantOnSocket checks a test's premise: bytes wait on the raw socket, which
// a check of the socket alone would take for bytes the member sent.
func wantOnSocket(t *testing.T, raw net.Conn) {
	t.Helper()
	waitBytes(t, raw)
	if sent, _ := sock.New(raw).Look(); !sent {
		t.Fatal("premise: no bytes wait on the socket")
	}
}

const tlsOK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestTLSTicketNotStale: a session ticket that arrives on an idle pooled
// connection is not a byte the member sent: the connection carries the
// next request, and neither does the ticket look like an early answer.
func TestTLSTicketNotStale(t *testing.T) {
	cert, roots := testCert(t)
	t.Run("idle check", func(t *testing.T) {
		tc, raw, server := tlsPair(t, ticketsLater(cert), roots)
		wantOnSocket(t, raw)
		c := newIdleConn(newMemberConn(tc, tc), 5*time.Second, tc, nil)
		c.read = true // as after a response: the next write starts a request on a reused connection
		if err := c.checkStale(); err != nil {
			t.Fatalf("a session ticket made the connection stale: %v", err)
		}
		go func() {
			if _, err := readRequestHead(bufio.NewReader(server)); err == nil {
				_, _ = io.WriteString(server, tlsOK)
			}
		}()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(io.LimitReader(c, int64(len(tlsOK)))); err != nil || string(got) != tlsOK {
			t.Fatalf("read %q, %v; want %q", got, err, tlsOK)
		}
	})
	t.Run("early-answer check", func(t *testing.T) {
		tc, raw, _ := tlsPair(t, ticketsLater(cert), roots)
		wantOnSocket(t, raw)
		if newMemberConn(tc, tc).answerWaiting() {
			t.Fatal("a session ticket was taken for the member's answer")
		}
	})
}

// firstLook reports the first time memberConn looks for an answer.
type firstLook struct {
	socket
	once   sync.Once
	looked chan struct{}
}

func (f *firstLook) Look() (sent, closed bool) {
	f.once.Do(func() { close(f.looked) })
	return f.socket.Look()
}

// TestTLSBodyGoesOnPastTicket: a member reads the body only after sluice
// paused it (and found the session ticket waiting): the whole body arrives,
// intact (crypto/tls would refuse a record cut by a pause), and the answer
// is read as sent. The next request's head goes out even when a body
// write's short deadline has passed by then.
func TestTLSBodyGoesOnPastTicket(t *testing.T) {
	cert, roots := testCert(t)
	tc, raw, server := tlsPair(t, ticketsLater(cert), roots)
	wantOnSocket(t, raw)
	spy := &firstLook{socket: tc, looked: make(chan struct{})}
	c := newMemberConn(tc, spy)
	const size = 64 << 20
	bodyWritten := make(chan struct{})
	written := sync.OnceFunc(func() { close(bodyWritten) })
	defer written() // the member goroutine never waits past the test
	got := make(chan string, 1)
	go func() {
		br := bufio.NewReader(server)
		n, err := readRequestHead(br)
		if err != nil {
			got <- err.Error()
			return
		}
		select {
		case <-spy.looked:
		case <-bodyWritten:
		}
		k, err := io.Copy(io.Discard, io.LimitReader(br, int64(n)))
		if err != nil || k != int64(n) {
			got <- fmt.Sprintf("body: %d bytes, %v", k, err)
			return
		}
		_, _ = io.WriteString(server, tlsOK)
		if _, err := readRequestHead(br); err != nil {
			got <- "next request: " + err.Error()
			return
		}
		got <- "ok"
	}()
	if err := c.SetWriteDeadline(time.Now().Add(tlsWait)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: m\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("b"), 1<<20)
	for i := range size / len(chunk) {
		if n, err := c.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("body write %d: %d, %v", i, n, err)
		}
	}
	written()
	select {
	case <-spy.looked:
	default:
		t.Fatal("premise: no body write paused to look for an answer")
	}
	if got, err := io.ReadAll(io.LimitReader(c, int64(len(tlsOK)))); err != nil || string(got) != tlsOK {
		t.Fatalf("read %q, %v; want the answer as sent", got, err)
	}
	c.sliced = true
	_ = tc.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
		t.Fatalf("next request: %v", err)
	}
	if r := <-got; r != "ok" {
		t.Fatalf("member: %s", r)
	}
}

// TestTLSUnsolicitedIsStale: application bytes the member sends after a
// response, later or in the same record, and a close_notify, make a pooled
// TLS connection stale (SMG-14); the bytes are kept for a reader.
func TestTLSUnsolicitedIsStale(t *testing.T) {
	cert, roots := testCert(t)
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
	for _, tc := range []struct {
		name   string
		after  func(server *tls.Conn) // once the client read the response
		inline string                 // sent with the response, in its record
		keeps  string                 // what a read still gets afterwards
	}{
		{name: "late response", after: func(s *tls.Conn) { _, _ = io.WriteString(s, evil) }, keeps: evil},
		{name: "same record", inline: evil, keeps: evil},
		{name: "close_notify", after: func(s *tls.Conn) { _ = s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, raw, server := tlsPair(t, ticketsLater(cert), roots)
			c := newIdleConn(newMemberConn(conn, conn), 5*time.Second, conn, nil)
			read := make(chan struct{})
			responseRead := sync.OnceFunc(func() { close(read) })
			defer responseRead()
			go func() {
				if _, err := readRequestHead(bufio.NewReader(server)); err != nil {
					return
				}
				_, _ = io.WriteString(server, tlsOK+tc.inline)
				if tc.after != nil {
					<-read
					tc.after(server)
				}
			}()
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(io.LimitReader(c, int64(len(tlsOK)))); err != nil || string(got) != tlsOK {
				t.Fatalf("read %q, %v", got, err)
			}
			responseRead()
			if tc.after != nil {
				waitBytes(t, raw)
			}
			if err := c.checkStale(); !errors.Is(err, ErrStaleConn) {
				t.Fatalf("got %v, want ErrStaleConn", err)
			}
			if tc.keeps != "" {
				if got, err := io.ReadAll(io.LimitReader(c, int64(len(tc.keeps)))); err != nil || string(got) != tc.keeps {
					t.Fatalf("after the check, read %q, %v; want %q", got, err, tc.keeps)
				}
			}
		})
	}
}

// TestTLSMemberConnEarlyAnswer: TestMemberConnEarlyAnswer with a TLS
// member whose session ticket comes in too: the body writes stop once the
// answer is there, and it is read with "Connection: close" added.
func TestTLSMemberConnEarlyAnswer(t *testing.T) {
	cert, roots := testCert(t)
	tc, _, server := tlsPair(t, ticketsLater(cert), roots)
	c := newMemberConn(tc, tc)
	go func() {
		if _, err := readRequestHead(bufio.NewReader(server)); err == nil {
			_, _ = io.WriteString(server, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
		}
	}()
	postAnsweredEarly(t, c, tlsWait)
}

// tlsMember is a TLS member on 127.0.0.1 that answers each request by
// serve's script and counts its connections.
type tlsMember struct {
	addr  string
	conns atomic.Int32
}

func newTLSMember(t *testing.T, conf *tls.Config, serve func(i int, c net.Conn, br *bufio.Reader) bool) *tlsMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &tlsMember{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.conns.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				tc := tls.Server(c, conf)
				br := bufio.NewReader(tc)
				for i := 0; ; i++ {
					if _, err := readRequestHead(br); err != nil || !serve(i, tc, br) {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return m
}

// tlsBackend is a Backend for an https member that trusts roots and takes
// session tickets.
func tlsBackend(t *testing.T, addr string, roots *x509.CertPool) *Backend {
	t.Helper()
	m, err := NewMember(NewRegistry(), "b", "https://"+addr, config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, BackendOptions{Timeout: 5 * time.Second})
	be.TLS.RootCAs = roots
	be.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	return be
}

// getBody sends GET / through be and returns the body.
func getBody(t *testing.T, be *Backend) string {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("https://" + be.member.Addr + "/")
	body, err := roundTrip(be, req, resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestBackendTLSNeverReusesPoisonedConn: TestBackendNeverReusesPoisonedConn
// with an https member (SMG-14).
func TestBackendTLSNeverReusesPoisonedConn(t *testing.T) {
	cert, roots := testCert(t)
	sent := make(chan struct{})
	var poisoned atomic.Bool
	m := newTLSMember(t, ticketsLater(cert), func(i int, c net.Conn, _ *bufio.Reader) bool {
		_, _ = io.WriteString(c, tlsOK)
		if i == 0 && poisoned.CompareAndSwap(false, true) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
			close(sent)
		}
		return true
	})
	be := tlsBackend(t, m.addr, roots)
	if got := getBody(t, be); got != "ok" {
		t.Fatalf("first response %q", got)
	}
	<-sent
	for i := range 3 {
		if got := getBody(t, be); got != "ok" {
			t.Fatalf("request %d got %q: a late response was served", i+2, got)
		}
	}
}

// TestBackendTLSDoubleFraming: an https member's response with both
// Content-Length and Transfer-Encoding is read chunked and its connection
// is not used again (SMG-15).
func TestBackendTLSDoubleFraming(t *testing.T) {
	cert, roots := testCert(t)
	m := newTLSMember(t, ticketsLater(cert), func(i int, c net.Conn, _ *bufio.Reader) bool {
		if i == 0 {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
		} else {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
		}
		return true
	})
	be := tlsBackend(t, m.addr, roots)
	if got := getBody(t, be); got != "ok" {
		t.Fatalf("first response %q, want the chunked body", got)
	}
	if got := getBody(t, be); got != "ok" {
		t.Fatalf("second response %q, want the first of a new connection", got)
	}
	if n := m.conns.Load(); n != 2 {
		t.Fatalf("%d member connections for 2 requests, want 2: the doubly framed response's was reused", n)
	}
}

// TestTLSCloseWhileStalled: Close from another goroutine (the server's
// abort when a client leaves) while a body write to a member that reads
// nothing is paused: the write fails, nothing races.
func TestTLSCloseWhileStalled(t *testing.T) {
	cert, roots := testCert(t)
	tc, _, _ := tlsPair(t, ticketsLater(cert), roots)
	spy := &firstLook{socket: tc, looked: make(chan struct{})}
	c := newMemberConn(tc, spy)
	if err := c.SetWriteDeadline(time.Now().Add(tlsWait)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 67108864\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("b"), 1<<20)
		for range 64 {
			if _, err := c.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	}()
	select {
	case <-spy.looked: // a body write paused
	case err := <-failed:
		t.Fatalf("premise: the body write ended (%v) without a pause", err)
	}
	if err := c.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if err := <-failed; err == nil {
		t.Fatal("the body went out whole over a closed connection")
	}
}
