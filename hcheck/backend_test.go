package hcheck

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend is a raw HTTP/1.x server on 127.0.0.1 that records each request
// head and answers with whatever respond returns for the n-th request.
type backend struct {
	ln      net.Listener
	addr    string
	respond func(n int, head string) string
	delay   time.Duration // before each answer: a slow health endpoint
	// closeAfter closes the connection after each answer without saying so.
	closeAfter bool
	// keptFor, when set, closes a connection that brings no next request
	// within it.
	keptFor time.Duration

	mu        sync.Mutex
	heads     []string
	conns     map[net.Conn]struct{}
	accepted  int
	active    int
	maxActive int
}

func newBackend(t testing.TB, respond func(n int, head string) string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, addr: ln.Addr().String(), respond: respond, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.accepted++
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			wg.Go(func() { b.serve(c) })
		}
	})
	return b
}

func (b *backend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		h := head.String()
		b.mu.Lock()
		n := len(b.heads)
		b.heads = append(b.heads, h)
		b.active++
		b.maxActive = max(b.maxActive, b.active)
		b.mu.Unlock()
		if b.delay > 0 {
			time.Sleep(b.delay) // the backend is slow; the test itself waits on events
		}
		resp := b.respond(n, h)
		_, err := io.WriteString(c, resp)
		b.mu.Lock()
		b.active--
		b.mu.Unlock()
		first, _, _ := strings.Cut(h, "\r\n")
		if err != nil || b.closeAfter || strings.HasSuffix(first, "HTTP/1.0") || strings.Contains(resp, "Connection: close") {
			return
		}
		if b.keptFor > 0 {
			if err := c.SetReadDeadline(time.Now().Add(b.keptFor)); err != nil {
				return
			}
		}
	}
}

func (b *backend) stats() (heads []string, accepted, maxActive int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.heads...), b.accepted, b.maxActive
}

func reply(status int, body string, headers ...string) string {
	var s strings.Builder
	s.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " X\r\n")
	for _, h := range headers {
		s.WriteString(h + "\r\n")
	}
	s.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return s.String()
}

func chunked(body string) string {
	return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
}
