package etcd

// The client's HTTP/1.1 against scripted servers on 127.0.0.1.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"
)

// server is a scripted etcd: script runs for each connection it accepts,
// numbered from 1.
type server struct {
	addr     string
	accepted atomic.Int32
	ended    chan int // the number of each connection whose script returned
}

func serve(t *testing.T, script func(n int, c net.Conn, br *bufio.Reader)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String(), ended: make(chan int, 100)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			n := int(s.accepted.Add(1))
			wg.Go(func() {
				defer func() { _ = c.Close(); s.ended <- n }()
				script(n, c, bufio.NewReader(c))
			})
		}
	})
	return s
}

// waitEnded waits for n connections' scripts to return.
func (s *server) waitEnded(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.ended:
		case <-time.After(callTimeout):
			t.Fatalf("a server connection still open after %v", callTimeout)
		}
	}
}

// readRequest reads a request on c and checks what every request carries;
// nil once the client closed the connection.
func readRequest(t *testing.T, c net.Conn, br *bufio.Reader) *http.Request {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != "POST" || r.Host != c.LocalAddr().String() || r.Header.Get("Content-Type") != "application/json" ||
		r.ContentLength != int64(len(body)) || !strings.HasPrefix(string(body), "{") {
		t.Errorf("request %s %s, Host %s, %v, length %d, body %q: %v", r.Method, r.URL, r.Host, r.Header, r.ContentLength, body, err)
	}
	return r
}

const rangeAnswer = `{"header":{"revision":"7"}}`

func lengthAnswer(fields string) string {
	return "HTTP/1.1 200 OK\r\n" + fields + "Content-Length: " + strconv.Itoa(len(rangeAnswer)) + "\r\n\r\n" + rangeAnswer
}

// scriptClient is a client of s (newClient: Timeout 1 s).
func scriptClient(t *testing.T, s *server) *Client {
	return newClient(t, Config{Endpoints: []string{s.addr}})
}

// TestAnswers: each framing of an answer reads, and only those that allow
// it reuse their connection.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		close  bool // the server closes the connection after its answer
		conns  int  // for two requests
	}{
		{"content length", lengthAnswer(""), false, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;x=y\r\n" + rangeAnswer[:5] + "\r\n" + strconv.FormatInt(int64(len(rangeAnswer)-5), 16) + "\r\n" + rangeAnswer[5:] + "\r\n" +
			"0\r\nGrpc-Trailer: x\r\n\r\n", false, 1},
		{"chunked over a content length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(rangeAnswer)), 16) + "\r\n" + rangeAnswer + "\r\n0\r\n\r\n", false, 2},
		{"interim answers first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </v3>\r\n\r\n" + lengthAnswer(""), false, 1},
		{"field longer than the read buffer", lengthAnswer("X-Long: " + strings.Repeat("x", 10<<10) + "\r\n"), false, 1},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n" + rangeAnswer, true, 2},
		{"connection close", lengthAnswer("Connection: keep-alive, Close\r\n"), false, 2},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: " + strconv.Itoa(len(rangeAnswer)) + "\r\n\r\n" + rangeAnswer, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
				for readRequest(t, c, br) != nil {
					if _, err := io.WriteString(c, tc.answer); err != nil || tc.close {
						return
					}
				}
			})
			c := scriptClient(t, s)
			for i := range 2 {
				if _, rev, err := c.GetPrefix(ctx(t), "/p/"); err != nil || rev != 7 {
					t.Fatalf("read %d: %d %v", i, rev, err)
				}
			}
			if n := int(s.accepted.Load()); n != tc.conns {
				t.Errorf("%d connections for two reads, want %d", n, tc.conns)
			}
			// Close closes the idle connection; the others are closed.
			c.Close()
			s.waitEnded(t, tc.conns)
		})
	}
}

// TestAnswerRefused: a malformed or oversized answer is an error, not read
// on.
func TestAnswerRefused(t *testing.T) {
	var many strings.Builder
	for range 70 {
		many.WriteString("X-Field: " + strings.Repeat("x", 1<<10) + "\r\n")
	}
	for _, tc := range []struct{ name, answer, want string }{
		{"head too large", lengthAnswer(many.String()), "too long"},
		{"malformed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + rangeAnswer + "\r\n0\r\n\r\n", "malformed chunk size"},
		{"interim answers without end", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxHead/25+1), "too long"},
		{"status line", "HTTP/1.1 2OO OK\r\n\r\n", "malformed"},
		{"not HTTP/1", "HTTP/2 200 OK\r\n\r\n", "malformed"},
		{"field without a colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}", "malformed"},
		{"space before a field's colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}", "malformed"},
		{"tab before a field's colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "malformed"},
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}", "malformed"},
		{"transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported transfer encoding"},
		{"end in the head", "HTTP/1.1 200 OK\r\nContent-Le", "unexpected EOF"},
		{"end in the body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
				if readRequest(t, c, br) != nil {
					_, _ = io.WriteString(c, tc.answer)
				}
			})
			_, _, err := scriptClient(t, s).GetPrefix(ctx(t), "/p/")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestStaleConnection: an idle connection etcd closed is found closed
// before the request goes out on it, and the request goes on a new one;
// before, it was written, and sent again once it read nothing.
func TestStaleConnection(t *testing.T) {
	closed := make(chan struct{})
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		if readRequest(t, c, br) == nil {
			return
		}
		_, _ = io.WriteString(c, lengthAnswer(""))
		if n == 1 { // closes while the connection is idle
			_ = c.Close()
			close(closed)
		}
	})
	c := scriptClient(t, s)
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(callTimeout):
		t.Fatalf("the server did not close within %v", callTimeout)
	}
	// The close reaches the client's socket at once on loopback.
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err != nil || s.accepted.Load() != 2 {
		t.Fatalf("after the idle close: %v, %d connections; want a new one", err, s.accepted.Load())
	}
}

// TestNoResend: a request that went out on a reused connection is not
// sent again when the connection ends before any byte of an answer: etcd
// may have applied it (a put, a lease's grant), as net/http does not send a
// POST again.
func TestNoResend(t *testing.T) {
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		if readRequest(t, c, br) == nil {
			return
		}
		_, _ = io.WriteString(c, lengthAnswer(""))
		readRequest(t, c, br) // the second goes unanswered
	})
	c := scriptClient(t, s)
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err == nil || unsent(err) || s.accepted.Load() != 1 {
		t.Fatalf("unanswered on a reused connection: %v, %d connections; want an error, not sent again", err, s.accepted.Load())
	}
}

// TestStaleWrite: a request whose write fails on an idle connection goes
// once more on a new one.
func TestStaleWrite(t *testing.T) {
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		for readRequest(t, c, br) != nil {
			if _, err := io.WriteString(c, lengthAnswer("")); err != nil {
				return
			}
		}
	})
	c := scriptClient(t, s)
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err != nil {
		t.Fatal(err)
	}
	idle := c.endpoints[0].get()
	_ = idle.Close() // writes on it fail
	c.endpoints[0].put(idle)
	if _, _, err := c.GetPrefix(ctx(t), "/p/"); err != nil || s.accepted.Load() != 2 {
		t.Fatalf("read after a failed write: %v, %d connections", err, s.accepted.Load())
	}
}

// TestWatchStream: a message is applied as soon as its chunk came, and one
// split across writes is put back together.
func TestWatchStream(t *testing.T) {
	created, applied := make(chan struct{}, 1), make(chan []Event, 10)
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		r := readRequest(t, c, br)
		if r == nil {
			return
		}
		if r.URL.Path != "/v3/watch" || r.Header.Get("Grpc-Metadata-Hasleader") != "true" {
			t.Errorf("watch request %s with %v", r.URL, r.Header)
		}
		msg := `{"result":{"created":true}}` + "\n"
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+strconv.FormatInt(int64(len(msg)), 16)+"\r\n"+msg+"\r\n")
		select {
		case <-created:
		case <-time.After(callTimeout):
			t.Errorf("creation not applied within %v", callTimeout)
			return
		}
		msg = `{"result":{"events":[{"kv":{"key":"L3cvYQ==","value":"eA==","mod_revision":"5"}}]}}` + "\n"
		for _, part := range []string{strconv.FormatInt(int64(len(msg)), 16), "\r\n" + msg[:10], msg[10:] + "\r", "\n"} {
			if _, err := io.WriteString(c, part); err != nil {
				return
			}
		}
		_, _ = br.ReadByte() // until the client closes
	})
	c := scriptClient(t, s)
	wctx, cancel := context.WithCancel(context.Background())
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		werr = c.Watch(wctx, "/w/", 1, func(evs []Event) {
			if len(evs) == 0 {
				created <- struct{}{}
			} else {
				applied <- evs
			}
		})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(callTimeout):
			t.Errorf("watch still running %v after cancel", callTimeout)
		}
	}()
	select {
	case evs := <-applied:
		if len(evs) != 1 || string(evs[0].KV.Key) != "/w/a" || string(evs[0].KV.Value) != "x" || evs[0].KV.ModRevision != 5 {
			t.Fatalf("events %+v", evs)
		}
	case <-done:
		t.Fatalf("watch ended: %v", werr)
	case <-time.After(callTimeout):
		t.Fatalf("no event within %v", callTimeout)
	}
}

// TestWatchCancel: a watch waiting on a silent stream ends with its
// context, and its connection is closed.
func TestWatchCancel(t *testing.T) {
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		if readRequest(t, c, br) != nil {
			created := `{"result":{"created":true}}`
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+strconv.FormatInt(int64(len(created)), 16)+"\r\n"+created+"\r\n")
			_, _ = br.ReadByte() // until the client closes
		}
	})
	c := scriptClient(t, s)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created, done := make(chan struct{}, 1), make(chan error, 1)
	go func() { done <- c.Watch(wctx, "/w/", 1, func([]Event) { created <- struct{}{} }) }()
	select {
	case <-created:
	case <-time.After(callTimeout):
		t.Fatalf("watch not created within %v", callTimeout)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("watch after cancel: %v", err)
		}
	case <-time.After(callTimeout):
		t.Fatalf("watch still running %v after cancel", callTimeout)
	}
	s.waitEnded(t, 1)
}

// TestCallDeadline: a call etcd does not answer ends at its deadline, and
// says so.
func TestCallDeadline(t *testing.T) {
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		if readRequest(t, c, br) != nil {
			_, _ = br.ReadByte() // until the client closes
		}
	})
	c := scriptClient(t, s)
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, _, err := c.GetPrefix(short, "/p/")
		got <- err
	}()
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unanswered read: %v", err)
		}
	case <-time.After(callTimeout):
		t.Fatalf("unanswered read still waiting %v after its deadline", callTimeout)
	}
	s.waitEnded(t, 1)
}

func TestChunkedReader(t *testing.T) {
	const rest = "NEXT" // what follows the body on the connection
	for _, tc := range []struct{ name, in, want, err string }{
		{"chunks", "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", "hello world", ""},
		{"trailers", "5\r\nhello\r\n0\r\nA: b\r\nC: d\r\n\r\n", "hello", ""},
		{"size longer than the read buffer", "000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"upper case size, bare LF", "A\nabcdefghij\n0\n\n", "abcdefghij", ""},
		{"size not hex", "zz\r\n", "", "malformed chunk size"},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", "", "malformed chunk size"},
		{"signed size", "+5\r\nhello\r\n0\r\n\r\n", "", "malformed chunk size"},
		{"0x size", "0x5\r\nhello\r\n0\r\n\r\n", "", "malformed chunk size"},
		{"size overflow", "8000000000000000\r\n", "", "malformed chunk size"},
		{"size line too long", strings.Repeat("0", maxChunkLine) + "5\r\n", "", "too long"},
		{"data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", "hello", "chunk longer than its size"},
		{"end in a chunk", "5\r\nhel", "hel", "unexpected EOF"},
		{"no last chunk", "5\r\nhello\r\n", "hello", "unexpected EOF"},
		{"end in the trailers", "0\r\nA: b\r\n", "", "unexpected EOF"},
		{"trailers too long", "0\r\n" + strings.Repeat("A: b\r\n", maxHead/6+1) + "\r\n", "", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.err == "" {
				in += rest
			}
			// One byte at a time, through the smallest buffer: every line
			// and chunk comes in pieces.
			br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(in)), 16)
			got, err := io.ReadAll(&chunkedReader{br: br})
			if string(got) != tc.want || tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("read %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
			if left, _ := io.ReadAll(br); tc.err == "" && string(left) != rest {
				t.Fatalf("%q left after the body, want %q", left, rest)
			}
		})
	}
}

func TestNewEndpoint(t *testing.T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		ep         string
		cfg        *tls.Config
		url        string
		serverName string // "": plain HTTP
	}{
		{"127.0.0.1:2379", nil, "http://127.0.0.1:2379", ""},
		{"127.0.0.1:2379", cfg, "https://127.0.0.1:2379", "127.0.0.1"},
		{"http://etcd-1:2379/", cfg, "http://etcd-1:2379", ""},
		{"https://etcd-1:2379", nil, "https://etcd-1:2379", "etcd-1"},
		{"https://[::1]:2379", cfg, "https://[::1]:2379", "::1"},
		{"[::1]:2379", &tls.Config{ServerName: "etcd"}, "https://[::1]:2379", "etcd"},
	} {
		e, err := newEndpoint(tc.ep, tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.ep, err)
		}
		var name string
		if e.tls != nil {
			name = e.tls.ServerName
		}
		if e.url != tc.url || name != tc.serverName || e.tls != nil && e.tls == tc.cfg {
			t.Errorf("%s: %s, server name %q, want %s, %q, a copy of the TLS setup", tc.ep, e.url, name, tc.url, tc.serverName)
		}
	}
	if cfg.ServerName != "" {
		t.Errorf("the TLS setup changed: server name %q", cfg.ServerName)
	}
	for _, ep := range []string{"etcd-1", "http://etcd-1", "https://"} {
		if _, err := newEndpoint(ep, nil); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}

// TestIdle: an endpoint keeps maxIdle connections, each for idleTimeout
// (on synctest's clock).
func TestIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &endpoint{}
		// idle is e's idle list, read under its lock: the timers change it.
		idle := func() []*conn {
			e.mu.Lock()
			defer e.mu.Unlock()
			return slices.Clone(e.idle)
		}
		var clients, peers []net.Conn
		for range maxIdle + 1 {
			client, peer := net.Pipe()
			clients, peers = append(clients, client), append(peers, peer)
			e.put(&conn{Conn: client, raw: client, br: bufio.NewReader(client), ep: e})
		}
		if n := len(idle()); n != maxIdle {
			t.Fatalf("%d idle connections, want %d", n, maxIdle)
		}
		if _, err := peers[maxIdle].Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("the connection over maxIdle: %v, want it closed", err)
		}
		// A connection used in the meantime starts its minute again.
		time.Sleep(idleTimeout / 2)
		e.put(e.get())
		time.Sleep(idleTimeout/2 + time.Second)
		synctest.Wait()
		if left := idle(); len(left) != 1 || left[0].Conn != clients[maxIdle-1] {
			t.Fatalf("%d idle connections after a minute, want the one used", len(left))
		}
		time.Sleep(idleTimeout)
		synctest.Wait()
		if n := len(idle()); n != 0 {
			t.Fatalf("%d idle connections after two minutes", n)
		}
		for i, p := range peers {
			if _, err := p.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("connection %d: %v, want it closed", i, err)
			}
		}
	})
}

// TestCloseInFlight: a call that ends after Close does not keep its
// connection.
func TestCloseInFlight(t *testing.T) {
	got, answer := make(chan struct{}), make(chan struct{})
	s := serve(t, func(n int, c net.Conn, br *bufio.Reader) {
		if readRequest(t, c, br) == nil {
			return
		}
		close(got)
		select {
		case <-answer:
		case <-time.After(callTimeout):
			return
		}
		_, _ = io.WriteString(c, lengthAnswer(""))
		_, _ = br.ReadByte() // until the client closes
	})
	c := scriptClient(t, s)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.GetPrefix(ctx(t), "/p/")
		done <- err
	}()
	select {
	case <-got:
	case <-time.After(callTimeout):
		t.Fatalf("no request within %v", callTimeout)
	}
	c.Close()
	close(answer)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.waitEnded(t, 1)
}
