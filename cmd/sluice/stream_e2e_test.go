package main

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	bigBody   = 1 << 30   // 1 GiB each way
	rssBudget = 200 << 20 // peak RSS allowed for sluice while streaming it
)

const streamYAML = `
listen: ["127.0.0.1:0"]
limits:
  max_request_body: 4294967296
server:
  add_headers: true
  routes:
    - path: /
      target: http://{B1}/
`

const smallLimitYAML = `
listen: ["127.0.0.1:0"]
limits:
  max_request_body: 1024
server:
  add_headers: true
  routes:
    - path: /
      target: http://{B1}/
`

// bodyPattern is one block of pseudo-random bytes repeated to build big bodies,
// so a reordered or dropped block changes the checksum.
var bodyPattern = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 64<<10+7) // odd length: blocks do not align with buffers
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

type patternReader struct{ off int }

func (p *patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], bodyPattern[p.off:])
		n += c
		p.off = (p.off + c) % len(bodyPattern)
	}
	return n, nil
}

func bigReader() io.Reader { return io.LimitReader(&patternReader{}, bigBody) }

// wantSum is the checksum of the first bigBody bytes of the bodyPattern.
var wantSum = sync.OnceValue(func() string {
	_, s, _ := checksum(bigReader())
	return s
})

// checksum reads r to the end and returns its length and checksum.
func checksum(r io.Reader) (int64, string, error) {
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	return n, strconv.FormatUint(uint64(h.Sum32()), 16), err
}

// streamHandler serves /up (checksums the body), /down (1 GiB) and /slow
// (a chunked response whose second chunk waits for release).
func streamHandler(release <-chan struct{}) handlerFunc {
	return func(w *bufio.Writer, r *backendReq) bool {
		switch {
		case strings.HasPrefix(r.URI, "/up"):
			n, s, err := checksum(r.Body)
			if err != nil {
				return true
			}
			writeResp(w, 200, nil, fmt.Sprintf("%d %s", n, s))
		case r.URI == "/down":
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", bigBody)
			if _, err := io.CopyBuffer(w, bigReader(), make([]byte, 256<<10)); err != nil {
				return true
			}
		case r.URI == "/slow":
			w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
			if w.Flush() != nil {
				return true
			}
			select {
			case <-release:
			case <-r.Done:
				return true
			case <-time.After(ioTimeout):
				return true
			}
			w.WriteString("5\r\nrest\n\r\n0\r\n\r\n")
		default:
			writeResp(w, 404, nil, "no such stream route")
		}
		return false
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	b := newStreamingBackend(t, "b1", streamHandler(release))
	s := startSluice(t, writeConfig(t, t.TempDir(), "stream.yaml", streamYAML, "{B1}", b.addr))
	c := httpClient(t)
	base := "http://" + s.Addr()

	upload := func(t *testing.T, contentLength int64) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/up", bigReader())
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = contentLength // -1: chunked
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("upload status %d: %q", resp.StatusCode, body)
		}
		if want := fmt.Sprintf("%d %s", bigBody, wantSum()); string(body) != want {
			t.Errorf("backend received %q (bytes, crc32), want %q", body, want)
		}
		got := b.last()
		if contentLength < 0 && got.Get("Content-Length") == "" && !strings.EqualFold(got.Get("Transfer-Encoding"), "chunked") {
			t.Errorf("backend request has no framing: %q", got.Header)
		}
	}
	t.Run("upload chunked", func(t *testing.T) { upload(t, -1) })
	t.Run("upload with Content-Length", func(t *testing.T) { upload(t, bigBody) })

	t.Run("download", func(t *testing.T) {
		resp, err := c.Get(base + "/down")
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("download status %d", resp.StatusCode)
		}
		n, got, err := checksum(resp.Body)
		if err != nil || n != bigBody || got != wantSum() {
			t.Errorf("client received %d bytes crc32 %s (err %v), want %d bytes crc32 %s", n, got, err, bigBody, wantSum())
		}
	})

	if hwm := s.vmHWM(); hwm > rssBudget {
		t.Errorf("sluice peak RSS %d MiB after streaming 3 GiB, budget %d MiB", hwm>>20, rssBudget>>20)
	} else {
		t.Logf("sluice peak RSS %d MiB", hwm>>20)
	}

	t.Run("first chunk arrives before the backend finishes", func(t *testing.T) {
		resp, err := c.Get(base + "/slow")
		if err != nil {
			t.Fatalf("slow: %v", err)
		}
		defer resp.Body.Close()
		first := make([]byte, len("first\n"))
		got := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(resp.Body, first)
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil || string(first) != "first\n" {
				t.Fatalf("first chunk %q, err %v", first, err)
			}
		case <-time.After(ioTimeout):
			t.Fatal("first chunk did not arrive while the backend was still sending")
		}
		close(release)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "rest\n" {
			t.Errorf("rest %q, err %v", rest, err)
		}
	})
}

func TestRequestBodyLimit(t *testing.T) {
	b := newBackend(t, "b1", nil)
	s := startSluice(t, writeConfig(t, t.TempDir(), "limit.yaml", smallLimitYAML, "{B1}", b.addr))
	body := strings.Repeat("x", 2048)

	wantStatus(t, rawDo(t, s.Addr(), buildReq("POST", "/up", "front.example.com", nil, body)), 413)
	if n := b.count(); n != 0 {
		t.Errorf("backend received %d requests for a Content-Length over the limit", n)
	}

	chunked := "POST /up HTTP/1.1\r\nHost: front.example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"800\r\n" + body + "\r\n0\r\n\r\n"
	wantStatus(t, rawDo(t, s.Addr(), chunked), 413)

	small := buildReq("POST", "/up", "front.example.com", nil, body[:1000])
	m := rawDo(t, s.Addr(), small)
	wantStatus(t, m, 200)
	if got := b.last(); string(got.Body) != body[:1000] {
		t.Errorf("backend received a %d-byte body, want 1000", len(got.Body))
	}
}
