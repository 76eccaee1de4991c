package sock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// TestSpliceFrom: a body larger than the pipe and both sockets' buffers
// arrives whole and in order, twice over pooled pipes; a source that ends
// early ends the splice with what came and no error; a sink that stops
// reading ends it at the write deadline with ReadFrom's kind of error.
func TestSpliceFrom(t *testing.T) {
	body := make([]byte, 3<<20+12345)
	for i := range body {
		body[i] = byte(i*31 + i>>11)
	}
	member, memberFar := testnet.Pair(t, nil)
	client, clientFar := testnet.Pair(t, nil)
	src, dst := New(member), New(client)
	for round := range 2 {
		go func() { _, _ = memberFar.Write(body) }()
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(clientFar, int64(len(body))))
			got <- b
		}()
		if n, err := dst.SpliceFrom(src, int64(len(body))); n != int64(len(body)) || err != nil {
			t.Fatalf("round %d: spliced %d of %d bytes: %v", round, n, len(body), err)
		}
		if b := <-got; !bytes.Equal(b, body) {
			t.Fatalf("round %d: the client read %d bytes that are not the member's", round, len(b))
		}
	}

	t.Run("source ends early", func(t *testing.T) {
		member, memberFar := testnet.Pair(t, nil)
		client, clientFar := testnet.Pair(t, nil)
		go func() {
			_, _ = memberFar.Write(body[:1000])
			memberFar.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, clientFar) }()
		if n, err := New(client).SpliceFrom(New(member), int64(len(body))); n != 1000 || err != nil {
			t.Fatalf("spliced %d bytes, %v; want the 1000 sent and no error", n, err)
		}
	})

	t.Run("sink stalls", func(t *testing.T) {
		member, memberFar := testnet.Pair(t, nil)
		client, clientFar := testnet.Pair(t, nil)
		more := bytes.Repeat(body, 8)
		go func() { _, _ = memberFar.Write(more) }()
		src := New(member)
		until(t, func() bool { sent, _ := src.Look(); return sent })
		done := inBackground(func() (int64, error) { return New(client).SpliceFrom(src, int64(len(more))) })
		stallAfterFirstByte(t, client, clientFar)
		r := <-done
		var oe *net.OpError
		if !errors.Is(r.err, os.ErrDeadlineExceeded) || !errors.As(r.err, &oe) || oe.Op != "readfrom" || r.n == 0 {
			t.Fatalf("spliced %d bytes, %v; want some and a readfrom OpError for the deadline", r.n, r.err)
		}
	})

	t.Run("no socket", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		member, memberFar := testnet.Pair(t, nil)
		go func() { _, _ = memberFar.Write(body[:5000]) }()
		got := make(chan []byte, 1)
		go func() {
			p, _ := io.ReadAll(io.LimitReader(b, 5000))
			got <- p
		}()
		if n, err := New(a).SpliceFrom(New(member), 5000); n != 5000 || err != nil {
			t.Fatalf("copied %d bytes, %v", n, err)
		}
		if p := <-got; !bytes.Equal(p, body[:5000]) {
			t.Fatal("the pipe's far end read other bytes")
		}
	})
}
