package fastcgi

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

// record builds one record of the application's side.
func record(typ byte, content string, pad int) []byte {
	b := appendHeader(nil, typ, len(content))
	b[6] = byte(pad)
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}

func endRequest(protocolStatus byte) []byte {
	return record(typeEndRequest, string([]byte{0, 0, 0, 7, protocolStatus, 0, 0, 0}), 0)
}

// answer is STDOUT in records of at most n bytes, then END_REQUEST.
func answer(stdout string, n int) []byte {
	var b []byte
	for len(stdout) > 0 {
		k := min(n, len(stdout))
		b = append(b, record(typeStdout, stdout[:k], k%8)...)
		stdout = stdout[k:]
	}
	b = append(b, record(typeStdout, "", 0)...)
	return append(b, endRequest(StatusRequestComplete)...)
}

func read(t *testing.T, stream []byte, max int) (*fasthttp.ResponseHeader, string, error) {
	t.Helper()
	var res Response
	res.Reset(bufio.NewReader(bytes.NewReader(stream)))
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.SetNoDefaultContentType(true)
	if err := res.ReadHead(&h, max); err != nil {
		return &h, "", err
	}
	body, err := io.ReadAll(&res)
	return &h, string(body), err
}

func TestPairs(t *testing.T) {
	long := strings.Repeat("v", 300)
	b := AppendPair(nil, "SHORT", "x")
	b = AppendPair(b, []byte("LONG"), long)
	b = AppendPair(b, "EMPTY", "")
	if !bytes.HasPrefix(b, []byte{5, 1, 'S'}) {
		t.Errorf("short pair encoded as % x", b[:3])
	}
	var got []string
	if err := pairs(b, func(n, v []byte) bool { got = append(got, string(n)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"SHORT=x", "LONG=" + long, "EMPTY="}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("pairs %q", got)
	}
	if err := pairs(b[:len(b)-300], func(_, _ []byte) bool { return true }); !errors.Is(err, ErrProtocol) {
		t.Errorf("truncated pairs: %v", err)
	}
}

func TestRequestRecords(t *testing.T) {
	params := bytes.Repeat([]byte("p"), MaxContent+10)
	b := AppendBeginRequest(nil, true)
	b = AppendParams(b, params)
	var buf bytes.Buffer
	n, err := WriteStdin(&buf, strings.NewReader("hello"), make([]byte, 64))
	if err != nil || n != 5 {
		t.Fatalf("WriteStdin: %d, %v", n, err)
	}
	b = append(b, buf.Bytes()...)
	// BEGIN_REQUEST: responder, keep-conn.
	if !bytes.Equal(b[:16], []byte{1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}) {
		t.Errorf("BEGIN_REQUEST % x", b[:16])
	}
	var types []byte
	var sizes []int
	for rest := b[16:]; len(rest) > 0; {
		n := int(rest[4])<<8 | int(rest[5])
		types, sizes = append(types, rest[1]), append(sizes, n)
		rest = rest[8+n:]
	}
	if string(types) != string([]byte{typeParams, typeParams, typeParams, typeStdin, typeStdin}) ||
		sizes[0] != MaxContent || sizes[1] != 10 || sizes[2] != 0 || sizes[3] != 5 || sizes[4] != 0 {
		t.Errorf("records %v of %v", types, sizes)
	}
}

func TestResponse(t *testing.T) {
	cases := []struct {
		name, stdout string
		status       int
		fields, body string
		err          error
	}{
		{"plain", "Content-Type: text/plain\r\n\r\nhello", 200, "Content-Type: text/plain", "hello", nil},
		{"status", "Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\nnope", 404, "Content-Type: text/html", "nope", nil},
		{"status code alone", "Status: 201\r\nX-A: 1\r\nX-A: 2\r\n\r\n", 201, "X-A: 1|X-A: 2", "", nil},
		{"location redirects", "Location: http://ex.test/x\r\n\r\n", 302, "Location: http://ex.test/x", "", nil},
		{"local location redirects", "Location: /other\n\n", 302, "Location: /other", "", nil},
		{"location with status", "Status: 301 Moved\nLocation: /o\n\n", 301, "Location: /o", "", nil},
		{"LF lines", "Content-Type: text/plain\nX-Lf: y\n\nlf-only", 200, "Content-Type: text/plain|X-Lf: y", "lf-only", nil},
		{"no fields", "\r\nbody", 200, "", "body", nil},
		{"content length", "Content-Length: 3\r\n\r\nabc", 200, "", "abc", nil},
		{"transfer-encoding dropped", "Transfer-Encoding: chunked\r\n\r\nabc", 200, "", "abc", nil},
		{"value trimmed", "X-T:   v \t\r\n\r\n", 200, "X-T: v", "", nil},
		{"connection list kept past a close", "Connection: X-S\r\nConnection: close\r\nX-S: 1\r\n\r\n", 200, "Connection: X-S|X-S: 1", "", nil},
		{"content length short", "Content-Length: 5\r\n\r\nabc", 200, "", "abc", ErrBodyLength},
		{"content length long", "Content-Length: 2\r\n\r\nabc", 200, "", "ab", ErrBodyLength},
		{"two lengths", "Content-Length: 2\r\nContent-Length: 3\r\n\r\nab", 0, "", "", ErrHead},
		{"obs-fold", "X-A: 1\r\n b\r\n\r\n", 0, "", "", ErrHead},
		{"no colon", "Hello\r\n\r\n", 0, "", "", ErrHead},
		{"space in name", "X A: 1\r\n\r\n", 0, "", "", ErrHead},
		{"CR in value", "X-A: 1\r2\r\n\r\n", 0, "", "", ErrHead},
		{"bad status", "Status: 2x0\r\n\r\n", 0, "", "", ErrHead},
		{"1xx status", "Status: 100\r\n\r\n", 0, "", "", ErrHead},
		{"two statuses", "Status: 200\r\nStatus: 404\r\n\r\n", 0, "", "", ErrHead},
		{"head never ends", "Content-Type: text/plain\r\n", 0, "", "", ErrHead},
		{"no output", "", 0, "", "", ErrNoResponse},
	}
	for _, c := range cases {
		for _, size := range []int{1, 3, MaxContent} {
			h, body, err := read(t, answer(c.stdout, size), 1024)
			if !errors.Is(err, c.err) {
				t.Errorf("%s (records of %d): error %v, want %v", c.name, size, err, c.err)
				continue
			}
			if c.err != nil && c.status == 0 {
				continue
			}
			var fields []string
			for k, v := range h.All() {
				if string(k) != "Content-Length" && string(k) != "Transfer-Encoding" {
					fields = append(fields, string(k)+": "+string(v))
				}
			}
			if h.StatusCode() != c.status || strings.Join(fields, "|") != c.fields || body != c.body {
				t.Errorf("%s (records of %d): %d %q %q, want %d %q %q", c.name, size, h.StatusCode(), fields, body, c.status, c.fields, c.body)
			}
		}
	}
}

func TestResponseRecords(t *testing.T) {
	var stderr []string
	stream := append(record(typeStderr, "PHP Warning: x", 2), record(typeStdout, "Status: 200\r\n", 0)...)
	stream = append(stream, record(99, "unknown", 1)...) // skipped
	stream = append(stream, record(typeStdout, "\r\nok", 5)...)
	stream = append(stream, record(typeStdout, "", 0)...)
	stream = append(stream, endRequest(StatusRequestComplete)...)
	var res Response
	res.Stderr = func(b []byte) { stderr = append(stderr, string(b)) }
	res.Reset(bufio.NewReader(bytes.NewReader(stream)))
	var h fasthttp.ResponseHeader
	if err := res.ReadHead(&h, 512); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(&res)
	if err != nil || string(body) != "ok" || !res.Ended() || res.AppStatus != 7 {
		t.Errorf("body %q, %v, ended %v, app status %d", body, err, res.Ended(), res.AppStatus)
	}
	if len(stderr) != 1 || stderr[0] != "PHP Warning: x" {
		t.Errorf("stderr %q", stderr)
	}

	// Overloaded before any output; a closed connection; a wrong request
	// id; a cut record; a head over the limit.
	if _, _, err := read(t, endRequest(StatusOverloaded), 512); !errors.Is(err, ErrOverloaded) {
		t.Errorf("overloaded: %v", err)
	}
	if _, _, err := read(t, nil, 512); err != io.EOF {
		t.Errorf("closed at once: %v", err)
	}
	other := record(typeStdout, "X: y\r\n\r\n", 0)
	other[3] = 2
	if _, _, err := read(t, other, 512); !errors.Is(err, ErrProtocol) {
		t.Errorf("request id 2: %v", err)
	}
	if _, _, err := read(t, answer("X: y\r\n\r\nabc", 100)[:20], 512); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut: %v", err)
	}
	if _, _, err := read(t, answer("X: "+strings.Repeat("y", 600)+"\r\n\r\n", 100), 512); !errors.Is(err, ErrHeadTooLarge) {
		t.Errorf("large head: %v", err)
	}
}

// FuzzResponse reads arbitrary record streams: no panic, a head parsed
// only when it ended, and never more body than a Content-Length.
func FuzzResponse(f *testing.F) {
	f.Add(answer("Content-Type: text/plain\r\n\r\nhello", 4))
	f.Add(answer("Status: 404\nContent-Length: 2\n\nab", 100))
	f.Add(append(record(typeStderr, "e", 3), endRequest(StatusOverloaded)...))
	f.Add(answer("Location: /x\r\n\r\n", 1))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(stream)))
		var h fasthttp.ResponseHeader
		if err := res.ReadHead(&h, 256); err != nil {
			return
		}
		if s := h.StatusCode(); s < 200 || s > 599 {
			t.Fatalf("status %d", s)
		}
		body, _ := io.ReadAll(&res)
		if l := res.Limit(); l >= 0 && int64(len(body)) > l {
			t.Fatalf("%d body bytes past Content-Length %d", len(body), l)
		}
	})
}

// TestBufferedLength: an answer whose records are all in, through
// END_REQUEST, gets its body's length, STDERR records aside; one still
// arriving does not.
func TestBufferedLength(t *testing.T) {
	full := append(record(typeStdout, "X: y\r\n\r\nhel", 1), record(typeStderr, "warn", 0)...)
	full = append(full, answer("lo", 100)...)
	for _, tc := range []struct {
		stream []byte
		length int
	}{
		{full, 5},
		{answer("X: y\r\n\r\n", 3), 0},
		{full[:len(full)-16], -1}, // END_REQUEST not in yet
	} {
		var res Response
		res.Reset(bufio.NewReader(bytes.NewReader(tc.stream)))
		var h fasthttp.ResponseHeader
		if err := res.ReadHead(&h, 512); err != nil {
			t.Fatal(err)
		}
		if h.ContentLength() != tc.length || res.Limit() != int64(tc.length) {
			t.Errorf("Content-Length %d (limit %d), want %d", h.ContentLength(), res.Limit(), tc.length)
		}
	}
}

// pairs (the application's side of AppendPair) calls fn with each pair
// of an encoded PARAMS body, stopping early when fn returns false; it
// fails on a truncated or oversized pair.
func pairs(b []byte, fn func(name, value []byte) bool) error {
	for len(b) > 0 {
		nl, rest, ok := readLength(b)
		if !ok {
			return ErrProtocol
		}
		vl, rest, ok := readLength(rest)
		if !ok || nl > len(rest) || vl > len(rest)-nl {
			return ErrProtocol
		}
		if !fn(rest[:nl], rest[nl:nl+vl]) {
			return nil
		}
		b = rest[nl+vl:]
	}
	return nil
}

func readLength(b []byte) (int, []byte, bool) {
	switch {
	case len(b) == 0:
		return 0, nil, false
	case b[0] < 128:
		return int(b[0]), b[1:], true
	case len(b) < 4:
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint32(b) &^ (1 << 31)), b[4:], true
}
