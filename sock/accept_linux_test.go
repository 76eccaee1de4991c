package sock

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// listen is a Listener on 127.0.0.1, closed when the test ends.
func listen(t *testing.T) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, ok := NewListener(l).(*Listener)
	if !ok {
		l.Close()
		t.Fatal("NewListener did not take over a TCP listener")
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptedPair is an Accepted and its peer, dialled from 127.0.0.1; both
// close when the test ends.
func acceptedPair(t *testing.T) (net.Conn, *net.TCPConn) {
	t.Helper()
	return acceptFrom(t, listen(t))
}

func acceptFrom(t *testing.T, ln *Listener) (*Accepted, *net.TCPConn) {
	t.Helper()
	peer, a := testnet.Accept(t, ln)
	return a.(*Accepted), peer
}

// TestAccepted: a connection stays out of Go's poller while what it reads
// is there and what it writes fits, and joins it for its first wait; its
// addresses are the dialler's, seen from the other end.
func TestAccepted(t *testing.T) {
	ln := listen(t)
	a, peer := acceptFrom(t, ln)
	if a.RemoteAddr().String() != peer.LocalAddr().String() || a.LocalAddr().String() != peer.RemoteAddr().String() {
		t.Fatalf("addresses %s <- %s, want %s <- %s", a.LocalAddr(), a.RemoteAddr(), peer.RemoteAddr(), peer.LocalAddr())
	}
	if got := a.RemoteAddrPort().String(); got != peer.LocalAddr().String() {
		t.Errorf("RemoteAddrPort %s, want %s", got, peer.LocalAddr())
	}
	ln.exact = false // as on a wildcard listener: the socket's own address
	a2, peer2 := acceptFrom(t, ln)
	if a2.LocalAddr().String() != peer2.RemoteAddr().String() {
		t.Errorf("looked-up local address %s, want %s", a2.LocalAddr(), peer2.RemoteAddr())
	}

	if _, err := io.WriteString(peer, "request"); err != nil {
		t.Fatal(err)
	}
	s, b := New(a), make([]byte, 16)
	until(t, func() bool { sent, _ := s.Look(); return sent })
	if n, err := s.Read(b); err != nil || string(b[:n]) != "request" {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
	if _, err := s.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	if a.polled.Load() != nil {
		t.Fatal("a read of bytes that were there, and a write, joined the poller")
	}
	if n, err := readWaiting(t, a, s, peer, "next", b); err != nil || string(b[:n]) != "next" {
		t.Fatalf("Read that waits: %q, %v", b[:n], err)
	}
	if n, err := io.ReadFull(peer, b[:6]); err != nil || string(b[:n]) != "answer" {
		t.Fatalf("the peer read %q, %v", b[:n], err)
	}
}

// readWaiting reads from s into b while msg is not there yet: peer sends
// it only once the read waits in the poller, which a peer that wrote after
// a pause would not make sure of on a slow machine.
func readWaiting(t *testing.T, a *Accepted, s *Socket, peer net.Conn, msg string, b []byte) (int, error) {
	t.Helper()
	done := waitingRead(t, a, s, b)
	if _, err := io.WriteString(peer, msg); err != nil {
		t.Fatal(err)
	}
	r := <-done
	return int(r.n), r.err
}

// waitingRead starts a read from s into b, of an Accepted a with nothing
// to read, and returns once it waits in the poller.
func waitingRead(t *testing.T, a *Accepted, s *Socket, b []byte) <-chan ioResult {
	t.Helper()
	done := inBackground(func() (int64, error) {
		n, err := s.Read(b)
		return int64(n), err
	})
	until(t, func() bool { return a.polled.Load() != nil })
	return done
}

// TestAcceptedDeadline: a deadline set while bare holds a read that finds
// nothing, and one that has passed fails a read at once, as on a net.Conn.
func TestAcceptedDeadline(t *testing.T) {
	a, peer := acceptFrom(t, listen(t))
	if _, err := io.WriteString(peer, "x"); err != nil {
		t.Fatal(err)
	}
	s, b := New(a), make([]byte, 8)
	until(t, func() bool { sent, _ := s.Look(); return sent })
	if err := a.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v; want the deadline's error", err)
	}
	if a.polled.Load() != nil {
		t.Fatal("a read past its deadline joined the poller")
	}
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(b); err != nil || string(b[:n]) != "x" {
		t.Fatalf("Read with the deadline cleared: %q, %v", b[:n], err)
	}
	// A read that finds nothing waits in the poller; a deadline set once
	// it waits ends the wait (set ahead of the read instead, it could pass
	// before the read began on a slow machine, and the read then fails bare).
	done := waitingRead(t, a, s, b)
	if err := a.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read that waits past its deadline: %v", r.err)
	}

	// In the poller, each deadline bounds its own direction only.
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(peer, "y"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(b); err != nil || string(b[:n]) != "y" {
		t.Fatalf("Read past the write deadline: %q, %v", b[:n], err)
	}
	if _, err := s.Write([]byte("z")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v", err)
	}
}

// TestAcceptedWriteNow: a write that must not wait (WriteTwoNow) goes out
// bare, in the poller or not, whatever the write deadline says, and stops
// with ErrFull at a full buffer; a write that waits still meets the
// deadline, and a closed connection fails it.
func TestAcceptedWriteNow(t *testing.T) {
	a, peer := acceptFrom(t, listen(t))
	s, b := New(a), make([]byte, 8)
	if _, err := readWaiting(t, a, s, peer, "x", b); err != nil {
		t.Fatal(err)
	}
	if err := a.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteTwoNow([]byte("ab"), []byte("c")); n != 3 || err != nil {
		t.Fatalf("WriteTwoNow past the write deadline: %d, %v; want 3, nil", n, err)
	}
	if n, err := io.ReadFull(peer, b[:3]); err != nil || string(b[:n]) != "abc" {
		t.Fatalf("the peer read %q, %v", b[:n], err)
	}
	big := make([]byte, 64<<20)
	if n, err := s.WriteTwoNow(nil, big); err != ErrFull || n == 0 || n == len(big) {
		t.Fatalf("WriteTwoNow past the buffers: %d bytes, %v; want part written and ErrFull", n, err)
	}
	if _, err := s.Write([]byte("z")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write that waits past its deadline: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteTwoNow([]byte("late"), nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTwoNow after Close: %v; want net.ErrClosed", err)
	}
}

// TestAcceptedClose: Close ends a wait in the poller and fails later
// calls with net.ErrClosed, bare or not; a second Close fails; the peer
// reads EOF.
func TestAcceptedClose(t *testing.T) {
	for _, waiting := range []bool{false, true} {
		a, peer := acceptFrom(t, listen(t))
		s := New(a)
		done := make(chan error, 1)
		if waiting {
			go func() {
				_, err := s.Read(make([]byte, 8))
				done <- err
			}()
			until(t, func() bool { return a.polled.Load() != nil })
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if waiting {
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("a waiting Read, at Close: %v; want net.ErrClosed", err)
			}
		}
		if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("waiting %v: Read after Close: %v", waiting, err)
		}
		if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("waiting %v: Write after Close: %v", waiting, err)
		}
		if err := a.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("waiting %v: SetReadDeadline after Close: %v", waiting, err)
		}
		if err := a.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("waiting %v: second Close: %v", waiting, err)
		}
		if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := peer.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("waiting %v: the peer read %d, %v; want EOF", waiting, n, err)
		}
	}
}

// TestAcceptedCloseWrite: CloseWrite half-closes (testCloseWrite).
func TestAcceptedCloseWrite(t *testing.T) {
	a, peer := acceptFrom(t, listen(t))
	testCloseWrite(t, a, peer)
}

// TestUsers: the descriptor is let go once, by Close where nothing uses
// it, else by the last user; nothing acquires it after Close.
func TestUsers(t *testing.T) {
	var u users
	for range 2 {
		if !u.acquire() {
			t.Fatal("acquire of an open descriptor failed")
		}
	}
	if again, now := u.close(); again || now {
		t.Fatalf("close with two users: again %v, now %v; want neither", again, now)
	}
	if u.acquire() {
		t.Fatal("acquire after close succeeded")
	}
	if u.release() {
		t.Fatal("the first of two users let go")
	}
	if !u.release() {
		t.Fatal("the last user did not let go")
	}
	if again, now := u.close(); !again || now {
		t.Fatalf("second close: again %v, now %v", again, now)
	}
	var idle users
	if again, now := idle.close(); again || !now {
		t.Fatalf("close without users: again %v, now %v; want now", again, now)
	}

	// Users and a Close at once: exactly one lets go.
	for range 100 {
		var u users
		var wg sync.WaitGroup
		var mu sync.Mutex
		letGo := 0
		count := func(b bool) {
			if b {
				mu.Lock()
				letGo++
				mu.Unlock()
			}
		}
		for range 4 {
			wg.Go(func() {
				for u.acquire() {
					count(u.release())
				}
			})
		}
		_, now := u.close()
		count(now)
		wg.Wait()
		if letGo != 1 {
			t.Fatalf("let go %d times", letGo)
		}
	}
}

// TestListenerClose: Close ends a waiting Accept with the error a
// TCPListener gives, which fasthttp's Serve takes for the end.
func TestListenerClose(t *testing.T) {
	ln := listen(t)
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // Accept waits in the poller meanwhile
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "use of closed network connection") {
		t.Fatalf("Accept at Close: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the closed listener still takes connections")
	}
}
