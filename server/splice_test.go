package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// TestRelaySplicesLargeBodies: over real sockets, large bodies with a
// length go socket to socket; on one client connection they interleave
// with small and chunked answers, each arrives whole, the member
// connection is reused throughout, and the bytes read are accounted.
func TestRelaySplicesLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 7000) // 252,000 bytes
	var conns atomic.Int32
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.ConnRequestNum() == 1 {
			conns.Add(1)
		}
		switch string(ctx.Path()) {
		case "/big":
			ctx.Response.SetBodyRaw(big)
		case "/chunked":
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for i := 0; i < len(big); i += 10000 {
					_, _ = w.Write(big[i:min(i+10000, len(big))])
					_ = w.Flush()
				}
			})
		default:
			ctx.SetBodyString("ok")
		}
	})
	cfg, err := config.ParseApache("test.conf", []byte(fmt.Sprintf(`Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://%s
</Proxy>
ProxyPass / balancer://b/
`, be)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, addr := serveTCP(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard, not a timing
	br := bufio.NewReader(c)
	var read uint64
	for _, tc := range []struct {
		path string
		want []byte
	}{
		{"/big", big}, {"/small", []byte("ok")}, {"/big", big}, {"/chunked", big}, {"/big", big},
		// Last, so that the counters are read after the relay before it
		// has closed: its client can have every byte before that.
		{"/small", []byte("ok")},
	} {
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: front\r\n\r\n", tc.path); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, tc.want) {
			t.Fatalf("%s: status %d, %d bytes (want %d), err %v", tc.path, resp.StatusCode, len(got), len(tc.want), err)
		}
		read += uint64(len("HTTP/1.1 200 OK") + len(got)) // the status line as Apache counts it: no CRLF
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the member saw %d connections, want 1: a spliced body gives its connection back", n)
	}
	st := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].State
	if got := st.Read.Load(); got != read {
		t.Errorf("member read %d bytes, want %d (status lines and bodies)", got, read)
	}
}

// TestRelaySpliceHeadAlone: the head of a large body is held for the body's
// first bytes; when none came with it, it goes out before the splice (the
// member pauses after its head), or when the body never comes (the member
// closes after the head, or after a few of its bytes): the client gets the
// head, what was sent, and then either the rest or a closed connection.
func TestRelaySpliceHeadAlone(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10_000)
	for _, tc := range []struct {
		name  string
		sent  int  // body bytes sent with the head
		pause bool // then the rest after a pause; else close
	}{
		{"closed after the head", 0, false},
		{"closed after 10 bytes", 10, false},
		{"the rest after a pause", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			member := startRawMember(t, func(c net.Conn, _ *http.Request) {
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:tc.sent])
				if tc.pause {
					time.Sleep(50 * time.Millisecond) // sluice reads the head alone
					_, _ = c.Write(body[tc.sent:])
				}
			})
			resp := getBig(t, proxyTCP(t, member))
			got, err := io.ReadAll(resp.Body)
			want, wantErr := body[:tc.sent], io.ErrUnexpectedEOF
			if tc.pause {
				want, wantErr = body, nil
			}
			if resp.StatusCode != 200 || !bytes.Equal(got, want) || err != wantErr {
				t.Fatalf("status %d, %d bytes, %v; want 200, %d bytes, %v", resp.StatusCode, len(got), err, len(want), wantErr)
			}
		})
	}
}

// TestRelaySpliceSlowClient: a client that reads a spliced body in small
// pieces, pausing, makes the splice wait on its socket (full buffers on
// both sides) and still gets every byte in order.
func TestRelaySpliceSlowClient(t *testing.T) {
	body := make([]byte, 4<<20)
	for i := range body {
		body[i] = byte(i ^ i>>11)
	}
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) })
	resp := getBig(t, proxyTCP(t, be))
	var got bytes.Buffer
	piece := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(piece)
		got.Write(piece[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
		if got.Len()%(256<<10) < n {
			time.Sleep(2 * time.Millisecond) // let sluice's side fill up
		}
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Fatalf("the client received %d bytes that differ from the member's %d", got.Len(), len(body))
	}
}

// proxyTCP serves "ProxyPass / http://member/" on a loopback socket and
// returns sluice's address.
func proxyTCP(tb testing.TB, member string) string {
	tb.Helper()
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\nProxyPass / http://"+member+"/\n"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, addr := serveTCP(tb, cfg)
	return addr
}

// getBig sends GET /big to sluice at addr on a new connection and returns
// the response with its body unread.
func getBig(t *testing.T, addr string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard, not a timing
	fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: front\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no head: %v", err)
	}
	return resp
}
