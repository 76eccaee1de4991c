package sock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// TestSocket: Look and ReadNow see what waits, past a read deadline that
// has passed, and neither waits when nothing does; a peer's close reads
// as closed and EOF.
func TestSocket(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	if err := client.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	s := New(client)
	if sent, closed := s.Look(); sent || closed {
		t.Fatalf("nothing sent yet: sent %v, closed %v", sent, closed)
	}
	b := make([]byte, 8)
	if _, err := s.ReadNow(b); !errors.Is(err, ErrNothing) {
		t.Fatalf("ReadNow with nothing waiting: %v, want ErrNothing", err)
	}
	if _, err := io.WriteString(server, "evil"); err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { sent, _ := s.Look(); return sent })
	if n, err := s.ReadNow(b); err != nil || string(b[:n]) != "evil" {
		t.Fatalf("ReadNow: %q, %v", b[:n], err)
	}
	server.Close()
	until(t, func() bool { _, closed := s.Look(); return closed })
	if _, err := s.ReadNow(b); err != io.EOF {
		t.Fatalf("ReadNow after close: %v, want EOF", err)
	}
	if s := New(nil); s.Raw() != nil {
		t.Error("a connection without a socket has a RawConn")
	}
	// A reset reads as closed too: the peer is as gone as after a close.
	client, server = testnet.Pair(t, nil)
	if err := server.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	server.Close()
	if sent, closed := New(client).Look(); sent || !closed {
		t.Fatalf("after a reset: sent %v, closed %v; want closed", sent, closed)
	}
}

func until(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
	}
}

// ioResult is what a read, a write or a splice returned.
type ioResult struct {
	n   int64
	err error
}

// inBackground runs op in a goroutine of its own, for a test that acts on
// the call while it waits; the result comes on the channel.
func inBackground(op func() (int64, error)) <-chan ioResult {
	done := make(chan ioResult, 1)
	go func() {
		n, err := op()
		done <- ioResult{n, err}
	}()
	return done
}

// stallAfterFirstByte: peer takes the first byte that conn sends, which
// shows that conn's write has begun, and no more; conn's write deadline,
// set now, then ends the write's wait for room. A deadline set ahead of
// the write could pass before the write began on a slow machine, and the
// write would rightly send nothing.
func stallAfterFirstByte(t *testing.T, conn, peer net.Conn) {
	t.Helper()
	if _, err := io.ReadFull(peer, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetWriteDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestReadWrite: Read and Write behave as the connection's own: they wait
// for bytes and for room, under the deadlines, and report a close, a
// deadline and a reset in the errors a net.Conn gives; over a connection
// from Go's Accept and one from a Listener (Accepted); and over a Unix
// socket, which a member may be (reads, writes, the peer's close, EPIPE).
func TestReadWrite(t *testing.T) {
	t.Run("go", func(t *testing.T) {
		testReadWrite(t, func(t *testing.T) (net.Conn, *net.TCPConn) { return testnet.Pair(t, nil) })
	})
	t.Run("accepted", func(t *testing.T) { testReadWrite(t, acceptedPair) })
	t.Run("unix", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		client, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server := <-accepted
		if server == nil {
			t.Fatal("no connection accepted")
		}
		s := New(client)
		if n, err := s.Write([]byte("world")); n != 5 || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		b := make([]byte, 5)
		if n, err := io.ReadFull(server, b); err != nil || string(b[:n]) != "world" {
			t.Fatalf("the peer read %q, %v", b[:n], err)
		}
		readsUntilClose(t, s, server)
		if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Write after the peer's close: %v; want EPIPE", err)
		}
	})
	t.Run("no socket", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() { _, _ = b.Write([]byte("pipe")) }()
		buf := make([]byte, 8)
		s := New(a)
		if n, err := s.Read(buf); err != nil || string(buf[:n]) != "pipe" {
			t.Fatalf("Read of a pipe: %q, %v", buf[:n], err)
		}
		// Nothing tells a pipe's waits: each write counts as one that
		// would.
		if n, err := s.WriteTwoNow([]byte("x"), nil); n != 0 || err != ErrFull {
			t.Fatalf("WriteTwoNow to a pipe: %d, %v; want 0, ErrFull", n, err)
		}
	})
}

// readsUntilClose: s's Read waits in the poller for what peer sends 20 ms
// later, an empty Read returns at once, and once peer closes Read reports
// io.EOF.
func readsUntilClose(t *testing.T, s *Socket, peer net.Conn) {
	t.Helper()
	go func() {
		time.Sleep(20 * time.Millisecond) // the read waits in the poller meanwhile
		_, _ = io.WriteString(peer, "hello")
	}()
	b := make([]byte, 16)
	if n, err := s.Read(b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read: %d, %v; want 0, nil at once", n, err)
	}
	peer.Close()
	if n, err := s.Read(b); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer's close: %d, %v; want EOF", n, err)
	}
}

// testReadWrite tests Read and Write on the first connection pair makes;
// the second is its peer.
func testReadWrite(t *testing.T, pair func(*testing.T) (net.Conn, *net.TCPConn)) {
	t.Run("waits for bytes", func(t *testing.T) {
		client, server := pair(t)
		readsUntilClose(t, New(client), server)
	})
	t.Run("read deadline", func(t *testing.T) {
		client, _ := pair(t)
		if err := client.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, err := New(client).Read(make([]byte, 8))
		var oe *net.OpError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read past its deadline: %v; want a read OpError for the deadline", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		client, _ := pair(t)
		s := New(client)
		client.Close()
		if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read of a closed connection: %v; want net.ErrClosed", err)
		}
		if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write to a closed connection: %v; want net.ErrClosed", err)
		}
	})
	t.Run("waits for room", func(t *testing.T) {
		client, server := pair(t)
		// More than both socket buffers hold: the write waits until the
		// peer reads, and all of it arrives in order.
		want := make([]byte, 16<<20)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(server, int64(len(want))))
			got <- b
		}()
		if n, err := New(client).Write(want); n != len(want) || err != nil {
			t.Fatalf("Write: %d of %d, %v", n, len(want), err)
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("the peer read %d bytes that are not the ones written", len(b))
		}
	})
	t.Run("two parts", func(t *testing.T) {
		client, server := pair(t)
		head, body := []byte("HTTP/1.1 200 OK\r\n\r\n"), make([]byte, 16<<20)
		for i := range body {
			body[i] = byte(i * 13)
		}
		want := append(append([]byte{}, head...), body...)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(server, int64(len(want))))
			got <- b
		}()
		if n, err := New(client).WriteTwo(head, body); n != len(want) || err != nil {
			t.Fatalf("WriteTwo: %d of %d, %v", n, len(want), err)
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("the peer read %d bytes that are not the head and the body", len(b))
		}
	})
	t.Run("write now", func(t *testing.T) {
		client, server := pair(t) // the peer reads only at the end
		s := New(client)
		if n, err := s.WriteTwoNow([]byte("ab"), []byte("c")); n != 3 || err != nil {
			t.Fatalf("WriteTwoNow with room: %d, %v", n, err)
		}
		// Past what the socket buffers hold, it stops instead of waiting.
		big := make([]byte, 64<<20)
		n, err := s.WriteTwoNow(nil, big)
		if err != ErrFull || n == 0 || n == len(big) {
			t.Fatalf("WriteTwoNow past the buffers: %d bytes, %v; want part written and ErrFull", n, err)
		}
		// The same socket then waits as ever once the peer reads.
		got := make(chan int64, 1)
		go func() {
			k, _ := io.Copy(io.Discard, io.LimitReader(server, int64(3+len(big))))
			got <- k
		}()
		if k, err := s.Write(big[n:]); k != len(big)-n || err != nil {
			t.Fatalf("Write of the rest: %d of %d, %v", k, len(big)-n, err)
		}
		if k := <-got; k != int64(3+len(big)) {
			t.Fatalf("the peer read %d bytes, want %d", k, 3+len(big))
		}
	})
	t.Run("write deadline", func(t *testing.T) {
		client, server := pair(t)
		big := make([]byte, 64<<20)
		done := inBackground(func() (int64, error) {
			n, err := New(client).Write(big)
			return int64(n), err
		})
		stallAfterFirstByte(t, client, server)
		w := <-done
		var oe *net.OpError
		if !errors.Is(w.err, os.ErrDeadlineExceeded) || !errors.As(w.err, &oe) || oe.Op != "write" || w.n == 0 || w.n == int64(len(big)) {
			t.Fatalf("Write past its deadline: %d bytes, %v; want part written and a write OpError for the deadline", w.n, w.err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		client, server := pair(t)
		if err := server.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		server.Close() // RST
		s := New(client)
		var err error
		for range 100 {
			if _, err = s.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) || !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("Write to a reset connection: %v; want a write OpError for ECONNRESET or EPIPE", err)
		}
	})
}

// TestWriteRead: WriteRead writes the request and returns with the first
// of its answer; it writes nothing when the read deadline has passed and
// stops at a full send buffer (the caller then writes the ordinary way);
// a deadline, a close or the peer's close ends its wait with the read's
// error.
func TestWriteRead(t *testing.T) {
	const req, answer = "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	afterRequest := func(server net.Conn, then func()) {
		go func() {
			if _, err := io.ReadFull(server, make([]byte, len(req))); err == nil {
				then()
			}
		}()
	}
	readErr := func(t *testing.T, err error, want error) {
		t.Helper()
		var oe *net.OpError
		if !errors.Is(err, want) || want != io.EOF && (!errors.As(err, &oe) || oe.Op != "read") {
			t.Fatalf("WriteRead's error: %v; want a read error for %v", err, want)
		}
	}
	t.Run("answer", func(t *testing.T) {
		for _, look := range []bool{false, true} { // a look that finds nothing changes nothing
			client, server := testnet.Pair(t, nil)
			afterRequest(server, func() { _, _ = io.WriteString(server, answer) })
			b := make([]byte, 64)
			wrote, n, err := New(client).WriteRead([]byte(req), b, look)
			if wrote != len(req) || err != nil || string(b[:n]) != answer {
				t.Fatalf("WriteRead (look %v): wrote %d, read %q, %v; want %d and the answer", look, wrote, b[:n], err, len(req))
			}
		}
	})
	t.Run("past read deadline", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		if err := client.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if wrote, n, err := New(client).WriteRead([]byte(req), make([]byte, 64), false); wrote != 0 || n != 0 || err != nil {
			t.Fatalf("WriteRead past the read deadline: wrote %d, read %d, %v; want nothing, no error", wrote, n, err)
		}
		if n, err := New(server).ReadNow(make([]byte, 64)); !errors.Is(err, ErrNothing) {
			t.Fatalf("the peer got %d bytes (%v), want none", n, err)
		}
	})
	t.Run("full send buffer", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		if err := client.SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		if err := server.SetReadBuffer(4096); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 4<<20) // more than both buffers hold: the peer reads nothing
		wrote, n, err := New(client).WriteRead(big, make([]byte, 64), false)
		if wrote == 0 || wrote >= len(big) || n != 0 || err != nil {
			t.Fatalf("WriteRead into a full buffer: wrote %d of %d, read %d, %v; want part, nothing read, no error", wrote, len(big), n, err)
		}
	})
	for _, tc := range []struct {
		name     string
		then     func(client, server *net.TCPConn) // once the peer has the request
		deadline bool                              // a read deadline 50 ms on
		want     error
	}{
		{"read deadline while waiting", func(_, _ *net.TCPConn) {}, true, os.ErrDeadlineExceeded},
		{"peer closed", func(_, server *net.TCPConn) { server.Close() }, false, io.EOF},
		{"closed while waiting", func(client, _ *net.TCPConn) { client.Close() }, false, net.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := testnet.Pair(t, nil)
			afterRequest(server, func() { tc.then(client, server) })
			if tc.deadline {
				if err := client.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			wrote, _, err := New(client).WriteRead([]byte(req), make([]byte, 64), false)
			if wrote != len(req) {
				t.Fatalf("wrote %d, want %d", wrote, len(req))
			}
			readErr(t, err, tc.want)
		})
	}
	t.Run("look finds bytes, a close or a reset", func(t *testing.T) {
		for _, stray := range []func(*net.TCPConn){
			func(server *net.TCPConn) { _, _ = io.WriteString(server, answer) },
			func(server *net.TCPConn) { server.Close() },
			func(server *net.TCPConn) { _ = server.SetLinger(0); server.Close() }, // a reset
		} {
			client, server := testnet.Pair(t, nil)
			stray(server)
			for tries := 0; ; tries++ { // loopback delivers within the peer's call; bounded anyway
				if sent, closed := New(client).Look(); sent || closed {
					break
				} else if tries == 1_000_000 {
					t.Fatal("the peer's bytes or close never showed")
				}
			}
			if wrote, n, err := New(client).WriteRead([]byte(req), make([]byte, 64), true); wrote != 0 || n != 0 || err != ErrUnasked {
				t.Fatalf("WriteRead after stray bytes or a close: wrote %d, read %d, %v; want nothing and ErrUnasked", wrote, n, err)
			}
			if n, err := New(server).ReadNow(make([]byte, 64)); n != 0 {
				t.Fatalf("the peer got %d bytes (%v), want none", n, err)
			}
		}
	})
	t.Run("write fails", func(t *testing.T) {
		client, server := testnet.Pair(t, nil)
		if err := server.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		server.Close() // RST, there on loopback when Close returns
		_, _, err := New(client).WriteRead([]byte(req), make([]byte, 64), false)
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) || !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("WriteRead to a reset connection: %v; want a write OpError for ECONNRESET or EPIPE", err)
		}
	})
}

// TestConnCloseWrite: a tunnel's end half-closes through Conn
// (testCloseWrite).
func TestConnCloseWrite(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	testCloseWrite(t, NewConn(client), server)
}

// testCloseWrite: after c's last bytes and CloseWrite, the peer reads
// them and EOF, and what it still sends reaches c.
func testCloseWrite(t *testing.T, c interface {
	net.Conn
	CloseWrite() error
}, peer net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(peer); err != nil || string(b) != "last" {
		t.Fatalf("the peer read %q, %v; want the bytes, then EOF", b, err)
	}
	if _, err := io.WriteString(peer, "reply"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n, err := c.Read(b); err != nil || string(b[:n]) != "reply" {
		t.Fatalf("after CloseWrite, Read: %q, %v", b[:n], err)
	}
}
