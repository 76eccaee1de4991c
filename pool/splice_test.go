package pool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/sock"
)

// tcpSink is a BodySink over a real client socket, as server's clientConn
// is; its far end's bytes are gathered by got.
type tcpSink struct {
	*net.TCPConn
	sock *sock.Socket
	done chan []byte
}

func (s *tcpSink) SpliceFrom(src *sock.Socket, n int64) (int64, error) {
	return s.sock.SpliceFrom(src, n)
}

// newSink connects a sink to a reader on 127.0.0.1 that keeps everything
// it receives until the sink closes.
func newSink(t *testing.T) *tcpSink {
	t.Helper()
	c, far := testnet.Pair(t, nil)
	s := &tcpSink{TCPConn: c, sock: sock.New(c), done: make(chan []byte, 1)}
	go func() {
		b, _ := io.ReadAll(far)
		s.done <- b
	}()
	return s
}

// got closes the sink and returns what its far end received.
func (s *tcpSink) got(t *testing.T) []byte {
	t.Helper()
	s.Close()
	select {
	case b := <-s.done:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("the sink's far end never saw the close")
		return nil
	}
}

// spliceMember answers every request with a head announcing size bytes,
// then sends sent of them (the first 1,000 with the head, so that some
// arrive buffered with it), then holds or closes the connection.
func spliceMember(t *testing.T, body []byte, size int, hold chan struct{}) *pingBackend {
	return newPingBackend(t, func(c net.Conn, _ *bufio.Reader, _ textproto.MIMEHeader) bool {
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		if _, err := c.Write(append([]byte(head), body[:1000]...)); err != nil {
			return false
		}
		if _, err := c.Write(body[1000:]); err != nil {
			return false
		}
		if hold != nil {
			<-hold
		}
		return len(body) == size
	})
}

func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// getLease sends a GET through be and returns the response's lease.
func getLease(t *testing.T, be *Backend, call *Call) Lease {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
	req.SetRequestURI("http://" + be.member.Addr + "/")
	if err := be.Do(req, resp, call); err != nil {
		t.Fatal(err)
	}
	l := call.TakeLease()
	if l == nil {
		t.Fatal("no lease for a streamed body")
	}
	return l
}

// TestSpliceBody: a body moved socket to socket arrives whole and in
// order, the part read with the head included, and its connection goes
// back to the pool.
func TestSpliceBody(t *testing.T) {
	body := patterned(300_001)
	b := spliceMember(t, body, len(body), nil)
	be := pingClient(t, b.addr, 0)
	for range 2 {
		var call Call
		l := getLease(t, be, &call)
		if !l.Spliceable() {
			t.Fatal("a plain member connection is not spliceable")
		}
		sink := newSink(t)
		n, err := l.SpliceBody(sink, int64(len(body)))
		l.Release(err == nil && n == int64(len(body)))
		if err != nil || n != int64(len(body)) {
			t.Fatalf("SpliceBody moved %d of %d bytes: %v", n, len(body), err)
		}
		if got := sink.got(t); !bytes.Equal(got, body) {
			t.Fatalf("the client received %d bytes that differ from the member's %d", len(got), len(body))
		}
	}
	if n := b.conns.Load(); n != 1 {
		t.Fatalf("%d member connections for two spliced bodies, want 1", n)
	}
}

// TestSpliceBodyCutShort: a member that closes before the announced length
// gives io.ErrUnexpectedEOF with what did arrive counted.
func TestSpliceBodyCutShort(t *testing.T) {
	body := patterned(50_000)
	b := spliceMember(t, body, 100_000, nil)
	be := pingClient(t, b.addr, 0)
	var call Call
	l := getLease(t, be, &call)
	sink := newSink(t)
	n, err := l.SpliceBody(sink, 100_000)
	l.Release(false)
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != int64(len(body)) {
		t.Fatalf("SpliceBody = %d, %v; want %d, unexpected EOF", n, err, len(body))
	}
	if got := sink.got(t); !bytes.Equal(got, body) {
		t.Fatalf("the client received %d bytes that differ from the member's %d", len(got), len(body))
	}
}

// TestSpliceBodyMemberStalls: the worker timeout applies to the member's
// reads while a body is spliced.
func TestSpliceBodyMemberStalls(t *testing.T) {
	hold := make(chan struct{})
	body := patterned(40_000)
	b := spliceMember(t, body, 100_000, hold)
	t.Cleanup(func() { close(hold) })
	be := memberPool(t, b.addr, BackendOptions{Timeout: 200 * time.Millisecond})
	var call Call
	l := getLease(t, be, &call)
	sink := newSink(t)
	done := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = l.SpliceBody(sink, 100_000)
		done <- err
	}()
	select {
	case err := <-done:
		l.Release(false)
		if !errors.Is(err, os.ErrDeadlineExceeded) || n != int64(len(body)) {
			t.Fatalf("SpliceBody = %d, %v; want %d, a deadline error", n, err, len(body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SpliceBody still waits for a stalled member")
	}
}

// TestSpliceBodyKeepsFlowing: the worker timeout bounds each wait, not the
// whole body: a member that sends a little every so often is not cut when
// the body takes longer than the timeout.
func TestSpliceBodyKeepsFlowing(t *testing.T) {
	const pieces, piece = 24, 4 << 10
	body := patterned(pieces * piece)
	b := newPingBackend(t, func(c net.Conn, _ *bufio.Reader, _ textproto.MIMEHeader) bool {
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
			return false
		}
		for i := range pieces {
			time.Sleep(50 * time.Millisecond) // an eighth of the timeout
			if _, err := c.Write(body[i*piece : (i+1)*piece]); err != nil {
				return false
			}
		}
		return true
	})
	be := memberPool(t, b.addr, BackendOptions{Timeout: 400 * time.Millisecond})
	var call Call
	l := getLease(t, be, &call)
	sink := newSink(t)
	n, err := l.SpliceBody(sink, int64(len(body)))
	l.Release(false)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("SpliceBody moved %d of %d bytes over %d timeouts: %v", n, len(body), pieces*50/400, err)
	}
	if got := sink.got(t); !bytes.Equal(got, body) {
		t.Fatal("the client received other bytes than the member sent")
	}
}
