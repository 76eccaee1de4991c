package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestAJPBodyLimit: a chunked body streamed to an AJP container as it
// asks for it is held to the body limit: past it the client gets 413 and
// the container's connection is closed.
func TestAJPBodyLimit(t *testing.T) {
	got := make(chan int, 1)
	container := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if p := readAJPPacket(br); p == nil || p[0] != 2 {
			return
		}
		n := 0
		for {
			c.Write([]byte{'A', 'B', 0, 3, 6, 0x1f, 0xfa}) // GET_BODY_CHUNK 8186
			p := readAJPPacket(br)
			if len(p) < 2 || p[0] == 0 && p[1] == 0 {
				got <- n
				return
			}
			n += len(p) - 2
		}
	})
	_, addr := serveTCP(t, mustParse(t, "Listen 127.0.0.1:0\nLimitRequestBody 20000\nProxyPass / ajp://"+container+"/\n"))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("z", 10000)
	for range 4 {
		fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	fmt.Fprintf(c, "0\r\n\r\n")
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil || resp.StatusCode() != 413 {
		t.Fatalf("40000 chunked bytes over a 20000 limit: %v %d, want 413", err, resp.StatusCode())
	}
	select {
	case n := <-got:
		if n > 20000 {
			t.Errorf("the container got %d bytes, past the limit", n)
		}
	case <-time.After(5 * time.Second):
		t.Error("the container's connection was not closed")
	}
}

// TestAJPBodyCutShort: a body the client stops sending part way never
// reaches an AJP container as a whole body: its connection is closed
// without the empty packet that ends a body. Before, a chunked body cut
// mid-chunk (the client stream's io.ErrUnexpectedEOF) and a Content-Length
// one cut past its first data packet (fasthttp's stream ends it with
// io.EOF, as if whole) both read as the end of the body, and the container
// got the bytes so far as all of it.
func TestAJPBodyCutShort(t *testing.T) {
	for _, tc := range []struct {
		name, request string
		// sent: the first data packet goes with the request, unasked
		// (a Content-Length body), else at the container's first ask.
		sent bool
	}{
		{"chunked", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n9\r\nabc", false},
		{"Content-Length", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("z", 10000), true},
	} {
		ended := make(chan string, 1)
		container := serveConns(t, func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			if p := readAJPPacket(br); p == nil || p[0] != 2 {
				return
			}
			n := 0
			for ask := !tc.sent; ; ask = true {
				if ask {
					_, _ = c.Write([]byte{'A', 'B', 0, 3, 6, 0x1f, 0xfa}) // GET_BODY_CHUNK 8186
				}
				switch p := readAJPPacket(br); {
				case p == nil:
					ended <- "closed"
					return
				case len(p) < 2 || p[0] == 0 && p[1] == 0:
					ended <- fmt.Sprintf("body of %d bytes complete", n)
					return
				default:
					n += len(p) - 2
				}
			}
		})
		_, addr := serveTCP(t, mustParse(t, "Listen 127.0.0.1:0\nProxyPass / ajp://"+container+"/\n"))
		c := dialTCP(t, addr)
		_, _ = io.WriteString(c, tc.request)
		if tc.sent {
			time.Sleep(50 * time.Millisecond) // the first data packet goes before the close
		}
		_ = c.(*net.TCPConn).CloseWrite()
		select {
		case got := <-ended:
			if got != "closed" {
				t.Errorf("%s: the container got the %s, want its connection closed", tc.name, got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the container's connection was not closed", tc.name)
		}
	}
}

// TestAJPPingRetriesOnNewConn: with ping=, a CPING that gets no CPONG on
// a pooled connection, which the container closed or on which it says
// nothing, is sent once more on a new connection, and the request goes
// there, as mod_proxy_ajp retries (apache.md §2 ping): not a 503.
func TestAJPPingRetriesOnNewConn(t *testing.T) {
	for _, closes := range []bool{true, false} {
		t.Run(fmt.Sprint("closes=", closes), func(t *testing.T) {
			var conns atomic.Int32
			closed := make(chan struct{})
			container := serveConns(t, func(c net.Conn) {
				defer c.Close()
				first := conns.Add(1) == 1
				br := bufio.NewReader(c)
				for answered := false; ; {
					p := readAJPPacket(br)
					switch {
					case p == nil:
						return
					case first && answered && !closes:
						_, _ = io.Copy(io.Discard, br) // silent until sluice gives up
						return
					case p[0] == 10: // CPING
						_, _ = c.Write(ajpPacket(9))
					case p[0] == 2: // a forward request, of a GET: no body
						_, _ = c.Write(ajpOK)
						answered = true
						if first && closes {
							c.Close()
							close(closed)
							return
						}
					}
				}
			})
			c := fcgiProxy(t, "ProxyPass / ajp://"+container+"/ ping=300ms\n")
			for i := range 2 {
				if status, body, _ := do(t, c, "GET", "/x"); status != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q, want 200", i+1, status, body)
				}
				if i == 0 && closes {
					<-closed
				}
			}
			if n := conns.Load(); n != 2 {
				t.Fatalf("%d container connections, want 2", n)
			}
		})
	}
}

// TestAJPHeadLength: a HEAD's answer carries the container's
// Content-Length, or none: before, an answer without one that came in one
// write with its END_RESPONSE was given "Content-Length: 0" (its empty body
// counted), which RFC 9110 §8.6 forbids for a resource a GET would send
// bytes of; Apache drops such a 0 for a HEAD.
func TestAJPHeadLength(t *testing.T) {
	for _, tc := range []struct {
		fields []byte // SEND_HEADERS' count and fields
		want   []string
	}{
		{[]byte{0, 0}, nil},
		{[]byte{0, 1, 0xA0, 0x03, 0, 4, '1', '2', '3', '4', 0}, []string{"1234"}},
	} {
		container := serveConns(t, func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			for readAJPPacket(br) != nil {
				head := ajpPacket(append([]byte{4, 0, 200, 0, 2, 'O', 'K', 0}, tc.fields...)...)
				_, _ = c.Write(append(head, ajpPacket(5, 1)...))
			}
		})
		_, addr := serveTCP(t, mustParse(t, "Listen 127.0.0.1:0\nProxyPass / ajp://"+container+"/\n"))
		c := dialTCP(t, addr)
		fmt.Fprintf(c, "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "HEAD"})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header["Content-Length"]; resp.StatusCode != 200 || !slices.Equal(got, tc.want) {
			t.Errorf("HEAD: %d, Content-Length %q, want 200 and %q", resp.StatusCode, got, tc.want)
		}
	}
}

// TestAJPKeepsConnAfterBodylessAnswer: a connection whose answer has no
// body for the client (a HEAD's, a 304, a 204) is kept when its
// END_RESPONSE came with the head and allows it, as Apache keeps it and
// docs/config.md says. Before, every such answer closed the connection,
// and the next request opened a new one.
func TestAJPKeepsConnAfterBodylessAnswer(t *testing.T) {
	var conns atomic.Int32
	container := serveConns(t, func(c net.Conn) {
		conns.Add(1)
		defer c.Close()
		br := bufio.NewReader(c)
		for p := readAJPPacket(br); p != nil; p = readAJPPacket(br) {
			status := []byte{0, 200}
			switch {
			case bytes.Contains(p, []byte("\x00\x03/nm\x00")): // the URI
				status = []byte{1, 0x30}
			case bytes.Contains(p, []byte("\x00\x03/nc\x00")):
				status = []byte{0, 204}
			}
			head := ajpPacket(4, status[0], status[1], 0, 0, 0, 0, 1, 0xA0, 0x03, 0, 1, '5', 0)
			if p[1] == 3 { // a HEAD
				_, _ = c.Write(slices.Concat(head, ajpPacket(5, 1)))
				continue
			}
			_, _ = c.Write(slices.Concat(head, ajpPacket(3, 0, 5, 'h', 'e', 'l', 'l', 'o', 0), ajpPacket(5, 1)))
		}
	})
	c := fcgiProxy(t, "ProxyPass / ajp://"+container+"/\n")
	for _, r := range []struct {
		method, uri string
		status      int
	}{{"GET", "/ok", 200}, {"HEAD", "/ok", 200}, {"GET", "/nm", 304}, {"GET", "/nc", 204}, {"GET", "/ok", 200}} {
		if status, _, _ := do(t, c, r.method, r.uri); status != r.status {
			t.Fatalf("%s %s: %d, want %d", r.method, r.uri, status, r.status)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d container connections, want 1", n)
	}
}
