package pool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/sluiceproxy/sluice/headers"
)

// typicalHead is a member's answer with the fields a web application
// usually sends.
const typicalHead = "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 02:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 5\r\nCache-Control: no-cache\r\nSet-Cookie: a=1; Path=/\r\nX-Backend: b1\r\n\r\nhello"

// typicalReads returns a read of typicalHead into one ResponseHead, each
// through the same reader, as a member connection's reader is reused.
func typicalReads(tb testing.TB) func() {
	var h ResponseHead
	head := []byte(typicalHead)
	src := bytes.NewReader(nil)
	br := bufio.NewReader(src)
	return func() {
		src.Reset(head)
		br.Reset(src)
		if err := h.readFinal(br); err != nil || h.Fields() != 6 {
			tb.Fatalf("%v, %d fields", err, h.Fields())
		}
	}
}

// describe is what a test compares of a head read: status, reason,
// framing, the connection's fate and the fields in order.
func describe(h *ResponseHead) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %q len=%d close=%v", h.status, h.Reason(), h.length, h.close)
	for i := range h.Fields() {
		k, v := h.Field(i)
		fmt.Fprintf(&b, " |%s: %s", k, v)
	}
	return b.String()
}

// readHead reads the final head of resp through a reader of size bytes,
// whole or a byte at a time, and returns it described, the bytes left
// after it, and the error.
func readHead(resp string, size int, oneByte bool) (string, string, error) {
	var r io.Reader = strings.NewReader(resp)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	br := bufio.NewReaderSize(r, size)
	var h ResponseHead
	err := h.readFinal(br)
	if err != nil {
		return "", "", err
	}
	rest, _ := io.ReadAll(br)
	return describe(&h), string(rest), nil
}

func TestResponseHead(t *testing.T) {
	const chunked = "2\r\nok\r\n0\r\n\r\n"
	tests := []struct {
		name, resp string
		want       string // describe's; "" with err
		err        error
	}{
		{name: "length", resp: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
			want: `200 "OK" len=2 close=false |Content-Type: text/plain |Content-Length: 2`},
		{name: "chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
			want: `200 "OK" len=-1 close=false |Transfer-Encoding: chunked`},
		{name: "until close", resp: "HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody",
			want: `200 "OK" len=-2 close=false |X: y`},
		{name: "no reason", resp: "HTTP/1.1 204\r\n\r\n", want: `204 "" len=-2 close=false`},
		{name: "empty reason", resp: "HTTP/1.1 204 \r\n\r\n", want: `204 "" len=-2 close=false`},
		{name: "NUL in the reason: dropped", resp: "HTTP/1.1 200 O\x00K\r\n\r\n", want: `200 "" len=-2 close=false`},
		{name: "CR in the reason: dropped", resp: "HTTP/1.1 200 OK\rX-Injected: 1\r\n\r\n", want: `200 "" len=-2 close=false`},
		{name: "odd reason", resp: "HTTP/1.1 200 Fine, thanks\r\nContent-Length: 0\r\n\r\n",
			want: `200 "Fine, thanks" len=0 close=false |Content-Length: 0`},
		{name: "order and case kept", resp: "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nX-B: 2\r\nSet-Cookie: c=3\r\ncontent-length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=false |set-cookie: a=1 |X-B: 2 |Set-Cookie: c=3 |content-length: 0`},
		{name: "whitespace trimmed", resp: "HTTP/1.1 200 OK\r\nX-A:\t one two \t\r\nX-B:\r\nX-C :  c\r\n\r\n",
			want: `200 "OK" len=-2 close=false |X-A: one two |X-B:  |X-C: c`},
		{name: "bare LF", resp: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			want: `200 "OK" len=2 close=false |Content-Length: 2`},
		{name: "bare LF blank line ends it", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n",
			want: `200 "OK" len=2 close=false |Content-Length: 2`},
		{name: "obs-fold joined", resp: "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\t three\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=false |X-A: one two three |Content-Length: 0`},
		{name: "fold onto an empty value", resp: "HTTP/1.1 200 OK\r\nX-A:\r\n two\r\n\r\n",
			want: `200 "OK" len=-2 close=false |X-A: two`},
		{name: "fold hides no framing", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n",
			want: `200 "OK" len=5 close=false |Content-Length: 5 |X: a Transfer-Encoding: chunked`},
		{name: "folded length", resp: "HTTP/1.1 200 OK\r\nContent-Length:\r\n 2\r\n\r\nok",
			want: `200 "OK" len=2 close=false |Content-Length: 2`},

		// Both framings: chunked, and the connection goes (RFC 9112 §6.3).
		{name: "length then chunked", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
			want: `200 "OK" len=-1 close=true |Content-Length: 5 |Transfer-Encoding: chunked`},
		{name: "chunked then length", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-length: 123\r\n\r\n" + chunked,
			want: `200 "OK" len=-1 close=true |Transfer-Encoding: chunked |content-length: 123`},
		{name: "spaced names", resp: "HTTP/1.1 200 OK\r\ntransfer-encoding : chunked\r\nContent-Length \t: 2\r\n\r\n",
			want: `200 "OK" len=-1 close=true |transfer-encoding: chunked |Content-Length: 2`},
		{name: "names alike", resp: "HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\nContent-Lengths: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			want: `200 "OK" len=-1 close=false |X-Content-Length: 5 |Content-Lengths: 5 |Transfer-Encoding: chunked`},

		// Connection.
		{name: "close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=true |Connection: close |Content-Length: 0`},
		{name: "close in a list", resp: "HTTP/1.1 200 OK\r\nConnection: X-Hop, Close\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=true |Connection: X-Hop, Close |Content-Length: 0`},
		{name: "HTTP/1.0", resp: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=true |Content-Length: 0`},
		{name: "HTTP/1.0 keep-alive", resp: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=false |Connection: Keep-Alive |Content-Length: 0`},
		{name: "HTTP/1.2 is 1.1", resp: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
			want: `200 "OK" len=0 close=false |Content-Length: 0`},

		// Interim heads.
		{name: "100 then final", resp: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			want: `200 "OK" len=2 close=false |Content-Length: 2`},
		{name: "103 then final", resp: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
			want: `204 "No Content" len=-2 close=false`},
		{name: "101 is final", resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw",
			want: `101 "Switching Protocols" len=-2 close=false |Upgrade: x`},
		{name: "too many interim", resp: strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", maxInterim+1) + "HTTP/1.1 204 No Content\r\n\r\n",
			err: errTooManyInterim},

		// Refused.
		{name: "status 2000", resp: "HTTP/1.1 2000 OK\r\n\r\n", err: errStatusLine},
		{name: "status 099", resp: "HTTP/1.1 099 OK\r\n\r\n", err: errStatusLine},
		{name: "status 2x0", resp: "HTTP/1.1 2x0 OK\r\n\r\n", err: errStatusLine},
		{name: "HTTP/2", resp: "HTTP/2 200 OK\r\n\r\n", err: errStatusLine},
		{name: "lower-case protocol", resp: "http/1.1 200 OK\r\n\r\n", err: errStatusLine},
		{name: "short status line", resp: "HTTP/1.1 2\r\n\r\n", err: errStatusLine},
		{name: "no colon", resp: "HTTP/1.1 200 OK\r\nX-A b\r\n\r\n", err: errFieldLine},
		{name: "space inside a name", resp: "HTTP/1.1 200 OK\r\nContent Length: 5\r\n\r\n", err: errFieldLine},
		{name: "empty name", resp: "HTTP/1.1 200 OK\r\n: b\r\n\r\n", err: errFieldLine},
		{name: "NUL in a name", resp: "HTTP/1.1 200 OK\r\nX-A\x00: b\r\n\r\n", err: errFieldLine},
		{name: "NUL in a value", resp: "HTTP/1.1 200 OK\r\nX-A: b\x00c\r\n\r\n", err: errFieldLine},
		{name: "bare CR in a value", resp: "HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 2\r\n\r\nok", err: errFieldLine},
		{name: "bare CR line", resp: "HTTP/1.1 200 OK\r\n\r\r\n\r\n", err: errFieldLine},
		{name: "fold first", resp: "HTTP/1.1 200 OK\r\n X-A: b\r\n\r\n", err: errFieldLine},
		{name: "NUL in a fold", resp: "HTTP/1.1 200 OK\r\nX-A: b\r\n \x00\r\n\r\n", err: errFieldLine},
		{name: "two lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", err: errFraming},
		{name: "a length list", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", err: errFraming},
		{name: "negative length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", err: errFraming},
		{name: "empty length", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length:\r\n\r\n", err: errFraming},
		{name: "gzip, chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errFraming},
		{name: "two codings", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errFraming},
		{name: "chunked in HTTP/1.0", resp: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, err: errFraming},
		{name: "nothing", resp: "", err: io.EOF},
		{name: "cut short", resp: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF},
		{name: "cut after a line", resp: "HTTP/1.1 200 OK\r\n", err: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			got, rest, err := readHead(tt.resp, 4096, oneByte)
			switch {
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("%s (one byte at a time %v): got %s, %v; want %v", tt.name, oneByte, got, err, tt.err)
			case tt.err == nil && (err != nil || got != tt.want):
				t.Errorf("%s (one byte at a time %v): got %s, %v\nwant %s", tt.name, oneByte, got, err, tt.want)
			case tt.err == nil && !strings.HasSuffix(tt.resp, rest):
				t.Errorf("%s: %q left after the head", tt.name, rest)
			}
		}
	}
}

// TestResponseHeadLimit: a head must fit the reader, whose size is the
// member's max_response_header_bytes.
func TestResponseHeadLimit(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 100) + "\r\nContent-Length: 2\r\n\r\n"
	for _, oneByte := range []bool{false, true} {
		if _, _, err := readHead(head+"ok", 64, oneByte); !errors.Is(err, errHeadTooLarge) {
			t.Errorf("one byte at a time %v: %v, want errHeadTooLarge", oneByte, err)
		}
		if _, rest, err := readHead(head+"ok", len(head), oneByte); err != nil || rest != "ok" {
			t.Errorf("one byte at a time %v: a head that fits: %q left, %v", oneByte, rest, err)
		}
	}
}

// FuzzResponseHead: whatever a member sends, its head reads the same in
// one read and a byte at a time, and what is read holds only what may be
// relayed: token names, values without control bytes but HTAB, no
// surrounding whitespace, a status of three digits.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\ncontent-length: 123\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 5\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\r\n \t b\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nContent-Length: 5\r\n",
		"HTTP/1.1 200 OK\r\nSet-Cookie: a=b; Path=/\r\nLocation: http://m/x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		whole, restW, errW := readHead(string(resp), 512, false)
		bytewise, restB, errB := readHead(string(resp), 512, true)
		if whole != bytewise || restW != restB || !errors.Is(errB, errW) && !(errW == nil && errB == nil) {
			t.Fatalf("%q: whole %s, %q, %v; a byte at a time %s, %q, %v", resp, whole, restW, errW, bytewise, restB, errB)
		}
		if errW != nil {
			return
		}
		var h ResponseHead
		if err := h.readFinal(bufio.NewReaderSize(strings.NewReader(string(resp)), 512)); err != nil {
			t.Fatal(err)
		}
		if h.status < 100 || h.status > 999 || (h.status < 200 && h.status != 101) || !headers.IsFieldValue(h.Reason()) {
			t.Fatalf("%q: status %d, reason %q", resp, h.status, h.Reason())
		}
		var present headers.MemberFields
		for i := range h.Fields() {
			k, v := h.Field(i)
			if !headers.IsToken(k) || !headers.IsFieldValue(v) || trimmed(v) != string(v) {
				t.Fatalf("%q: field %q: %q", resp, k, v)
			}
			if got, want := h.fields[i].kind, headers.ClassifyMember(k); got != want {
				t.Fatalf("%q: field %q of kind %d, want %d", resp, k, got, want)
			}
			present.Add(h.fields[i].kind)
		}
		if present != h.Present() {
			t.Fatalf("%q: kinds %08b, want %08b", resp, h.Present(), present)
		}
		if length, closed, ok := frameByName(&h); !ok || length != h.length || closed != h.close {
			t.Fatalf("%q: length %d close %v, by the names %d %v (%v)", resp, h.length, h.close, length, closed, ok)
		}
	})
}

// frameByName is frame by each field's name rather than its kind: the
// framing as RFC 9112 §6 reads it.
func frameByName(h *ResponseHead) (length int, closed, ok bool) {
	var cl, te, keepAlive bool
	length = -2
	for i := range h.Fields() {
		name, value := h.Field(i)
		switch {
		case strings.EqualFold(string(name), "Connection"):
			closed = closed || headers.HasToken(value, "close")
			keepAlive = keepAlive || headers.HasToken(value, "keep-alive")
		case strings.EqualFold(string(name), "Content-Length"):
			n, valid := headers.ParseContentLength(value)
			if !valid || cl {
				return 0, false, false
			}
			cl = true
			if !te {
				length = int(n)
			}
		case strings.EqualFold(string(name), "Transfer-Encoding"):
			if te || h.http10 || !strings.EqualFold(string(value), "chunked") {
				return 0, false, false
			}
			te, length = true, -1
		}
	}
	return length, closed || (cl && te) || (h.http10 && !keepAlive), true
}

func trimmed(v []byte) string { return strings.Trim(string(v), " \t") }

// TestResponseHeadFirstByte: a member that resets the connection before
// its answer's first byte closed it, as one that closes does (io.EOF, which
// a reused connection's idempotent request is sent again on); a timeout
// stays one (504).
func TestResponseHeadFirstByte(t *testing.T) {
	var h ResponseHead
	if err := h.readFinal(bufio.NewReader(iotest.ErrReader(syscall.ECONNRESET))); err != io.EOF {
		t.Errorf("reset: %v, want io.EOF", err)
	}
	if err := h.readFinal(bufio.NewReader(iotest.ErrReader(os.ErrDeadlineExceeded))); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("timeout: %v, want it as it came", err)
	}
	r := io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"), iotest.ErrReader(syscall.ECONNRESET))
	if err := h.readFinal(bufio.NewReader(r)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset within the head: %v, want it as it came", err)
	}
}
