package pool

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// scanHead feeds a response to a fresh headScan in the given reads and
// returns the bytes as they went up.
func scanHead(reads ...string) (string, error) {
	h := headScan{active: true, first: true}
	var out strings.Builder
	for _, r := range reads {
		b := []byte(r)
		if err := h.scan(b); err != nil {
			return out.String(), err
		}
		out.Write(b)
	}
	return out.String(), nil
}

func TestHeadScanDoubleFraming(t *testing.T) {
	const body = "2\r\nok\r\n0\r\n\r\n"
	tests := []struct {
		name  string
		reads []string
		want  string // "" with err
		err   bool
	}{
		{name: "length then chunked", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + body},
			want: "HTTP/1.1 200 OK\r\nConnection:close \r\nTransfer-Encoding: chunked\r\n\r\n" + body},
		{name: "chunked then length", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-length: 123\r\n\r\n" + body},
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection:close   \r\n\r\n" + body},
		{name: "space before the colon", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length \t: 2\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection:close   \r\n\r\n"},
		{name: "chunked in an earlier read", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", "Content-Length: 5\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection:close \r\n\r\n"},
		{name: "after 100 Continue", reads: []string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
			want: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection:close \r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "length in an earlier read", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "Transfer-Encoding: chunked\r\n\r\n"}, err: true},
		{name: "length line split across reads", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Le", "ngth: 5\r\n\r\n"}, err: true},
		{name: "two lengths", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"}, err: true},
		{name: "empty length", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length:\r\n\r\n"}, err: true},
		{name: "length alone", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "chunked alone", reads: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body},
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body},
		{name: "other names", reads: []string{"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\nContent-Lengths: 5\r\nContent Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\nContent-Lengths: 5\r\nContent Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "names in the body", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 1\r\n"},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 48\r\n\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n"},
		{name: "chunked with space before its colon", reads: []string{"HTTP/1.1 200 OK\r\ntransfer-encoding : chunked\r\nCONTENT-LENGTH: 5\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\ntransfer-encoding : chunked\r\nConnection:close \r\n\r\n"},
		{name: "bare LF", reads: []string{"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 5\n\n"},
			want: "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nConnection:close \n\n"},
		{name: "bare LF blank line first", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "folded chunked", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n"},
		{name: "head at the read's end", reads: []string{"HTTP/1.1 204 No Content\r\n\r\n"},
			want: "HTTP/1.1 204 No Content\r\n\r\n"},
		{name: "next response in the read", reads: []string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
		{name: "final head in the read after 100 Continue", reads: []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
			want: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection:close \r\n\r\n"},
		{name: "101 is final", reads: []string{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
			want: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
	}
	for _, tt := range tests {
		got, err := scanHead(tt.reads...)
		switch {
		case tt.err && !errors.Is(err, ErrDoubleFraming):
			t.Errorf("%s: got %q, %v; want ErrDoubleFraming", tt.name, got, err)
		case !tt.err && (err != nil || got != tt.want):
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestHeadScanWhole: the fast path takes a whole head with nothing to
// rewrite, leaves the rest to follow untouched, and ends where follow does.
func TestHeadScanWhole(t *testing.T) {
	tests := []struct {
		name string
		resp string
		fast bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", true},
		{"chunked", "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nTrailer: x\r\n\r\n0\r\n\r\n", true},
		{"both", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"both, lower case and spaced", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding\t: chunked\r\n\r\n", false},
		{"no fields", "HTTP/1.1 204 No Content\r\n\r\n", true},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true},
		{"bare LF blank line first", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both in the next response", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"folded", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n", true},
		{"not the names", "HTTP/1.1 200 OK\r\nContent-Lengths: 2\r\nTransfer Encoding: chunked\r\nTransfer-Encoding x: chunked\r\n\r\n", true},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", true},
		{"100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
		{"short status line", "HTTP/1.1 2\r\n\r\n", false},
	}
	for _, tt := range tests {
		fast, slow := []byte(tt.resp), []byte(tt.resp)
		h := headScan{active: true, first: true}
		if got := h.whole(fast); got != tt.fast {
			t.Errorf("%s: whole %v, want %v", tt.name, got, tt.fast)
			continue
		}
		ref := headScan{active: true, first: true}
		if err := ref.follow(slow); err != nil && tt.fast {
			t.Errorf("%s: follow: %v", tt.name, err)
		}
		switch {
		case !tt.fast && h != (headScan{active: true, first: true}):
			t.Errorf("%s: whole changed the scanner to %+v", tt.name, h)
		case tt.fast && (h.active != ref.active || h.finalAt != ref.finalAt || !bytes.Equal(fast, slow)):
			t.Errorf("%s: whole ended at %v %d with %q; follow at %v %d with %q",
				tt.name, h.active, h.finalAt, fast, ref.active, ref.finalAt, slow)
		}
	}
}

// FuzzHeadScan: scan, fast path and all, and follow alone take a response
// in the same reads to the same bytes, errors and ends.
func FuzzHeadScan(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\ncontent-length: 123\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 5\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nContent-Length: 5\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length:\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(len(s)), uint16(len(s)))
		f.Add([]byte(s), uint16(len(s)/3), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, resp []byte, cut1, cut2 uint16) {
		cuts := []int{int(cut1) % (len(resp) + 1), int(cut2) % (len(resp) + 1), len(resp)}
		slices.Sort(cuts)
		fast, slow := bytes.Clone(resp), bytes.Clone(resp)
		hf, hs := headScan{active: true, first: true}, headScan{active: true, first: true}
		from := 0
		for _, to := range cuts {
			if to == from {
				continue // Read scans no empty read
			}
			errF, errS := hf.scan(fast[from:to]), hs.follow(slow[from:to])
			if errF != errS || hf.active != hs.active || hf.finalAt != hs.finalAt || !bytes.Equal(fast, slow) {
				t.Fatalf("read %q: scan gave %q, %v, active %v at %d; follow %q, %v, active %v at %d",
					resp[from:to], fast, errF, hf.active, hf.finalAt, slow, errS, hs.active, hs.finalAt)
			}
			if errF != nil || !hf.active {
				return // Read scans no further
			}
			from = to
		}
	})
}

// TestMemberConnEarlyAnswer: the member answers after the head and reads
// nothing more. The body write stops blocking once the answer is there,
// and the answer is read with "Connection: close" added, so that fasthttp
// closes the connection after it.
func TestMemberConnEarlyAnswer(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newMemberConn(client, newPeeker(client))
	go func() {
		br := bufio.NewReader(server)
		for {
			if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(server, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
	}()
	postAnsweredEarly(t, c, 10*time.Second)
}

// postAnsweredEarly writes a 64 MiB POST on c, whose member answers 413
// after the head without reading the body: every body write must go
// through within wait, and the answer must come with "Connection: close".
func postAnsweredEarly(t *testing.T, c *memberConn, wait time.Duration) {
	t.Helper()
	if err := c.SetWriteDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: m\r\nContent-Length: 67108864\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("b"), 1<<20)
	for i := range 64 {
		if n, err := c.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("body write %d: %d, %v", i, n, err)
		}
	}
	const want = "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig"
	got, err := io.ReadAll(io.LimitReader(c, int64(len(want))))
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// TestInsertClose: closeLine goes in after the status line whatever room
// the read buffer has left; what does not fit comes with the next reads.
func TestInsertClose(t *testing.T) {
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	const want = "HTTP/1.1 200 OK\r\n" + closeLine + "Content-Length: 2\r\n\r\nok"
	for _, room := range []int{0, 1, 5, len(closeLine), 64} {
		c := &memberConn{}
		p := make([]byte, len(resp)+room)
		copy(p, resp)
		n := c.insertClose(p, len(resp), len("HTTP/1.1 200 OK\r\n"))
		got := string(p[:n])
		for c.carried > 0 {
			k, _ := c.Read(p[:3])
			got += string(p[:k])
		}
		if got != want {
			t.Errorf("room %d: %q, want %q", room, got, want)
		}
	}
}

// TestMemberConnKeepsReading: a member that reads the whole body before
// answering gets its answer read as sent, and the connection carries the
// next request.
func TestMemberConnKeepsReading(t *testing.T) {
	client, server := testnet.Pair(t, nil)
	c := newMemberConn(client, newPeeker(client))
	go func() {
		_, _ = io.CopyN(io.Discard, server, 4<<20)
		_, _ = io.WriteString(server, "ok")
	}()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(io.LimitReader(c, 2)); err != nil || string(got) != "ok" {
		t.Fatalf("read %q, %v: want the answer as sent", got, err)
	}
	// A body write's short deadline that has passed by the next request
	// does not fail it.
	c.sliced = true
	_ = client.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: m\r\n\r\n"); err != nil {
		t.Fatalf("next request: %v", err)
	}
}
