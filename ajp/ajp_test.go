package ajp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRequestPacket(t *testing.T) {
	var r Request
	r.Start([]byte("PATCH"), []byte("HTTP/1.1"), []byte("/ctx/a"), []byte("10.0.0.1"), []byte("www.example.com"), 443, true)
	r.Header([]byte("Host"), []byte("www.example.com"))
	r.Header([]byte("X-Custom"), []byte("v"))
	r.Header([]byte("USER-AGENT"), []byte("ua"))
	r.EndHeaders()
	r.Attribute(AttrQueryString, []byte("q=1"))
	r.StoredMethod()
	r.RequestAttribute("AJP_REMOTE_PORT", []byte("5000"))
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	b := r.B
	if b[0] != 0x12 || b[1] != 0x34 || int(binary.BigEndian.Uint16(b[2:])) != len(b)-4 || b[4] != 2 || b[5] != storedMethod {
		t.Fatalf("packet head % x", b[:6])
	}
	want := append([]byte{0x12, 0x34, 0, 0, 2, 0xFF}, AppendString(nil, "HTTP/1.1")...)
	want = AppendString(want, "/ctx/a")
	want = AppendString(want, "10.0.0.1")
	want = append(want, 0xFF, 0xFF)
	want = AppendString(want, "www.example.com")
	want = append(want, 1, 0xBB, 1, 0, 3, 0xA0, 0x0B)
	want = AppendString(want, "www.example.com")
	want = AppendString(AppendString(want, "X-Custom"), "v")
	want = AppendString(append(want, 0xA0, 0x0E), "ua")
	want = AppendString(append(want, AttrQueryString), "q=1")
	want = AppendString(append(want, attrStoredMethod), "PATCH")
	want = AppendString(AppendString(append(want, attrReqAttribute), "AJP_REMOTE_PORT"), "5000")
	want = append(want, attrDone)
	binary.BigEndian.PutUint16(want[2:], uint16(len(want)-4))
	if !bytes.Equal(b, want) {
		t.Errorf("packet\n% x\nwant\n% x", b, want)
	}

	r.Start([]byte("GET"), []byte("HTTP/1.1"), []byte("/"), nil, nil, 80, false)
	r.Header([]byte("X-Big"), bytes.Repeat([]byte("x"), PacketSize))
	r.EndHeaders()
	if err := r.End(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a head over the packet size: %v", err)
	}
}

// answer builds a container's packets.
func packet(p ...[]byte) []byte {
	body := bytes.Join(p, nil)
	return append([]byte{'A', 'B', byte(len(body) >> 8), byte(len(body))}, body...)
}

func str(s string) []byte { return AppendString(nil, s) }

func sendHeaders(status int, reason string, fields ...[]byte) []byte {
	return packet(append([]byte{typeSendHeaders, byte(status >> 8), byte(status)}, str(reason)...),
		[]byte{0, byte(len(fields) / 2)}, bytes.Join(fields, nil))
}

func chunk(s string) []byte {
	return packet([]byte{typeSendBodyChunk, byte(len(s) >> 8), byte(len(s))}, []byte(s), []byte{0})
}

func end(reuse byte) []byte { return packet([]byte{typeEndResponse, reuse}) }

func TestResponse(t *testing.T) {
	cases := []struct {
		name   string
		stream []byte
		status int
		fields string
		body   string
		reuse  bool
		err    error
	}{
		{"plain", bytes.Join([][]byte{sendHeaders(200, "OK", []byte{0xA0, 0x01}, str("text/plain"), str("X-A"), str("1")), chunk("hel"), chunk("lo"), end(1)}, nil),
			200, "Content-Type: text/plain|X-A: 1", "hello", true, nil},
		{"length", bytes.Join([][]byte{sendHeaders(201, "Made", []byte{0xA0, 0x03}, str("5"), []byte{0xA0, 0x06}, str("/x")), chunk("hello"), end(0)}, nil),
			201, "Location: /x", "hello", false, nil},
		{"short", bytes.Join([][]byte{sendHeaders(200, "OK", []byte{0xA0, 0x03}, str("9")), chunk("hello"), end(1)}, nil),
			200, "", "hello", true, ErrBodyLength},
		{"long", bytes.Join([][]byte{sendHeaders(200, "OK", []byte{0xA0, 0x03}, str("2")), chunk("hello"), end(1)}, nil),
			200, "", "he", false, ErrBodyLength},
		{"connection list kept past a close", bytes.Join([][]byte{sendHeaders(200, "OK", str("Connection"), str("X-S"), str("Connection"), str("close"), str("X-S"), str("1")), end(1)}, nil),
			200, "Connection: X-S|X-S: 1", "", true, nil},
		{"Tomcat's code as reason", bytes.Join([][]byte{sendHeaders(404, "404"), end(1)}, nil), 404, "", "", true, nil},
		{"no head", end(1), 0, "", "", false, ErrNoResponse},
		{"body first", chunk("x"), 0, "", "", false, ErrProtocol},
		{"CRLF in a value", sendHeaders(200, "OK", str("X-A"), str("a\r\nSet-Cookie: x")), 0, "", "", false, ErrProtocol},
		{"space in a name", sendHeaders(200, "OK", str("X A"), str("a")), 0, "", "", false, ErrProtocol},
		{"bad status", sendHeaders(99, "OK"), 0, "", "", false, ErrProtocol},
		{"unknown header code", sendHeaders(200, "OK", []byte{0xA0, 0x20}, str("a")), 0, "", "", false, ErrProtocol},
		{"cut", sendHeaders(200, "OK")[:6], 0, "", "", false, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(c.stream)), io.Discard, nil)
		var h fasthttp.ResponseHeader
		h.DisableNormalizing()
		h.SetNoDefaultContentType(true)
		err := res.ReadHead(&h, false)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(&res)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			continue
		}
		if c.status == 0 {
			continue
		}
		var fields []string
		for k, v := range h.All() {
			if string(k) != "Content-Length" && string(k) != "Transfer-Encoding" {
				fields = append(fields, string(k)+": "+string(v))
			}
		}
		if c.name == "Tomcat's code as reason" && len(h.StatusMessage()) > 0 {
			t.Errorf("the code kept as the reason: %q", h.StatusMessage())
		}
		if h.StatusCode() != c.status || strings.Join(fields, "|") != c.fields || string(body) != c.body || res.Reusable() != c.reuse && c.err == nil {
			t.Errorf("%s: %d %q %q reuse %v", c.name, h.StatusCode(), fields, body, res.Reusable())
		}
	}
}

// TestGetBodyChunk: the container asks for the body in pieces; each is
// sent as a data packet, then the empty one; after StopBody, only the end.
func TestGetBodyChunk(t *testing.T) {
	ask := func(n int) []byte { return packet([]byte{typeGetBodyChunk, byte(n >> 8), byte(n)}) }
	stream := bytes.Join([][]byte{ask(4), ask(100), ask(100), sendHeaders(200, "OK"), end(1)}, nil)
	var out bytes.Buffer
	var res Response
	res.Reset(bufio.NewReader(bytes.NewReader(stream)), &out, strings.NewReader("hello world"))
	var h fasthttp.ResponseHeader
	if err := res.ReadHead(&h, false); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join([][]byte{AppendData(nil, []byte("hell")), AppendData(nil, []byte("o world")), AppendData(nil, nil)}, nil)
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("sent % x\nwant % x", out.Bytes(), want)
	}

	out.Reset()
	res.Reset(bufio.NewReader(bytes.NewReader(bytes.Join([][]byte{sendHeaders(200, "OK"), ask(10), chunk("x"), end(1)}, nil))), &out, strings.NewReader("unsent"))
	if err := res.ReadHead(&h, false); err != nil {
		t.Fatal(err)
	}
	res.StopBody()
	if body, err := io.ReadAll(&res); err != nil || string(body) != "x" || !bytes.Equal(out.Bytes(), AppendData(nil, nil)) {
		t.Errorf("after the head: %q %v, sent % x", body, err, out.Bytes())
	}
}

// FuzzResponse reads arbitrary container packets: no panic, a relayed
// head only with a valid status and fields, never more body than its
// Content-Length.
func FuzzResponse(f *testing.F) {
	f.Add(bytes.Join([][]byte{sendHeaders(200, "OK", []byte{0xA0, 0x01}, str("text/plain")), chunk("hello"), end(1)}, nil))
	f.Add(bytes.Join([][]byte{packet([]byte{typeGetBodyChunk, 0, 8}), sendHeaders(302, "Found", []byte{0xA0, 0x03}, str("2")), chunk("abc"), end(0)}, nil))
	f.Add(end(1))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(stream)), io.Discard, strings.NewReader("request body"))
		var h fasthttp.ResponseHeader
		if err := res.ReadHead(&h, false); err != nil {
			return
		}
		if s := h.StatusCode(); s < 100 || s > 599 {
			t.Fatalf("status %d", s)
		}
		for k, v := range h.All() {
			if bytes.ContainsAny(k, "\r\n: ") || bytes.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("field %q: %q", k, v)
			}
		}
		body, _ := io.ReadAll(&res)
		if l := res.Limit(); l >= 0 && int64(len(body)) > l {
			t.Fatalf("%d body bytes past Content-Length %d", len(body), l)
		}
	})
}

// TestBufferedLength: an answer whose packets are all in, through
// END_RESPONSE, gets its body's length; one still arriving, or one that
// asks for the request body on the way, does not.
func TestBufferedLength(t *testing.T) {
	ask := packet([]byte{typeGetBodyChunk, 0, 8})
	for _, tc := range []struct {
		stream []byte
		length int
	}{
		{bytes.Join([][]byte{sendHeaders(200, "OK"), chunk("hel"), chunk("lo"), end(1)}, nil), 5},
		{bytes.Join([][]byte{sendHeaders(204, "No Content"), end(1)}, nil), 0},
		{bytes.Join([][]byte{sendHeaders(200, "OK"), chunk("hel")}, nil), -1},
		{bytes.Join([][]byte{sendHeaders(200, "OK"), chunk("hel"), ask, chunk("lo"), end(1)}, nil), -1},
	} {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(tc.stream)), io.Discard, nil)
		var h fasthttp.ResponseHeader
		if err := res.ReadHead(&h, false); err != nil {
			t.Fatal(err)
		}
		if h.ContentLength() != tc.length {
			t.Errorf("Content-Length %d, want %d", h.ContentLength(), tc.length)
		}
	}
}

// TestSkipBuffered: an answer whose END_RESPONSE is buffered with its
// head is read through it, a body dropped, and the connection may be
// kept; one still arriving is left as it is.
func TestSkipBuffered(t *testing.T) {
	for _, tc := range []struct {
		stream  []byte
		skipped bool
	}{
		{bytes.Join([][]byte{sendHeaders(304, "Not Modified"), end(1)}, nil), true},
		{bytes.Join([][]byte{sendHeaders(200, "OK", []byte{0xA0, 0x03}, str("5")), chunk("hello"), chunk(""), end(1)}, nil), true},
		{sendHeaders(200, "OK", []byte{0xA0, 0x03}, str("5")), false},
		{bytes.Join([][]byte{sendHeaders(200, "OK"), chunk("hel")}, nil), false},
	} {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(tc.stream)), io.Discard, nil)
		var h fasthttp.ResponseHeader
		if err := res.ReadHead(&h, true); err != nil {
			t.Fatal(err)
		}
		if got := res.SkipBuffered(); got != tc.skipped || res.Reusable() != tc.skipped {
			t.Errorf("%d: skipped %v, reusable %v, want %v", h.StatusCode(), got, res.Reusable(), tc.skipped)
		}
	}
}
