package main

// Backend faults of threats.md (BKE rows) through the real binary: members
// that refuse, reset, cut a response, hang, drip, stream without end or
// flap. Each subtest checks what the client got, whether the request was
// tried elsewhere, and the member's E flag as the admin API reports it.
// docs/security.md maps every BKE ID to these subtests.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// faultBackend is a raw member that misbehaves by request path: it reads
// each request whole, counts it, then does what the path says.
type faultBackend struct {
	connServer

	mu   sync.Mutex
	hits map[string]int
	// ended receives the path of a streaming handler once a write failed:
	// sluice let go of the connection.
	ended chan string
}

func newFaultBackend(t *testing.T) *faultBackend {
	t.Helper()
	b := &faultBackend{hits: make(map[string]int), ended: make(chan string, 8)}
	b.start(t, b.serveConn)
	return b
}

func (b *faultBackend) serveConn(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		m, err := readHead(br, true)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, bodyReader(br, m, true)); err != nil {
			return
		}
		path, _, _ := strings.Cut(m.URI, "?")
		b.mu.Lock()
		b.hits[path]++
		b.mu.Unlock()
		if !b.fault(c.(*net.TCPConn), path) {
			return
		}
	}
}

// Fault responses, by the path the member receives.
const (
	cutCL       = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!"
	cutChunked  = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	halfHead    = "HTTP/1.1 200 OK\r\nContent-"
	stalledBody = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
	dripped     = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ndripdrip"
	dripEvery   = 40 * time.Millisecond // 46 bytes: about 1.8 s, over timeout=1
)

// fault answers one request; false closes the connection.
func (b *faultBackend) fault(c *net.TCPConn, path string) bool {
	switch path {
	case "/rst":
		_ = c.SetLinger(0)
		return false
	case "/fin":
		return false
	case "/cut-cl":
		_, _ = io.WriteString(c, cutCL)
		return false
	case "/cut-chunked":
		_, _ = io.WriteString(c, cutChunked)
		time.Sleep(50 * time.Millisecond) // let sluice relay the chunk first
		_ = c.SetLinger(0)
		return false
	case "/hang":
		<-b.done
		return false
	case "/half-head":
		_, _ = io.WriteString(c, halfHead)
		<-b.done
		return false
	case "/stall-body":
		_, _ = io.WriteString(c, stalledBody)
		<-b.done
		return false
	case "/drip":
		for i := range len(dripped) {
			select {
			case <-time.After(dripEvery):
			case <-b.done:
				return false
			}
			if _, err := io.WriteString(c, dripped[i:i+1]); err != nil {
				return false
			}
		}
		return true
	case "/endless":
		b.endless(c, path)
		return false
	case "/bighead":
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("h", 20000)+"\r\nContent-Length: 2\r\n\r\nok")
		return false
	case "/junk":
		_, _ = io.WriteString(c, "this is not HTTP\r\n\r\n")
		return false
	case "/500":
		_, _ = io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfive")
		return true
	}
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Backend: fault\r\nContent-Length: 2\r\n\r\nok")
	return true
}

// endless writes 32 KiB chunks until a write fails, then reports path.
func (b *faultBackend) endless(c net.Conn, path string) {
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 32<<10, bytes.Repeat([]byte("e"), 32<<10))
	if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
		return
	}
	for {
		if _, err := io.WriteString(c, chunk); err != nil {
			b.ended <- path
			return
		}
		select {
		case <-b.done:
			return
		default:
		}
	}
}

// count is how many requests for path arrived.
func (b *faultBackend) count(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[path]
}

// memberFlags asks the admin API for the status letters of balancer's
// members, keyed by host:port.
func memberFlags(t *testing.T, adminAddr, balancer string) map[string]string {
	t.Helper()
	c := &http.Client{Timeout: ioTimeout}
	resp, err := c.Get("http://" + adminAddr + "/api/balancers/" + balancer)
	if err != nil {
		t.Fatalf("admin API: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Members []struct{ ID, Flags string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin API GET /api/balancers/%s: %d, %v", balancer, resp.StatusCode, err)
	}
	out := make(map[string]string, len(v.Members))
	for _, m := range v.Members {
		u, err := url.Parse(m.ID)
		if err != nil {
			t.Fatalf("admin API member id %q: %v", m.ID, err)
		}
		out[u.Host] = m.Flags
	}
	return out
}

// wantErrorFlag checks whether the member at addr is in error (E).
func wantErrorFlag(t *testing.T, adminAddr, balancer, addr string, inError bool) {
	t.Helper()
	flags, ok := memberFlags(t, adminAddr, balancer)[addr]
	if !ok {
		t.Fatalf("balancer %s has no member %s", balancer, addr)
	}
	if got := strings.Contains(flags, "E"); got != inError {
		t.Errorf("balancer %s member %s flags %q, want E set: %v", balancer, addr, flags, inError)
	}
}

// rawReply is everything one connection returned until it ended.
type rawReply struct {
	raw     int      // bytes received in all
	head    *wireMsg // nil when no complete head arrived
	body    []byte   // the bytes after the head, as sent (chunked framing kept)
	closed  bool     // the connection ended (EOF or reset) within ioTimeout
	elapsed time.Duration
}

// exchangeUntilClose sends req and reads until sluice ends the connection
// (or ioTimeout passes); bodies are kept raw so truncation shows.
func exchangeUntilClose(t *testing.T, addr, req string) rawReply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("cannot dial sluice: %v", err)
	}
	defer c.Close()
	start := time.Now()
	if err := c.SetDeadline(start.Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("cannot send request: %v", err)
	}
	raw, err := io.ReadAll(c)
	r := rawReply{raw: len(raw), closed: err == nil || isConnEnd(err), elapsed: time.Since(start)}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		if m, err := readHead(bufio.NewReader(bytes.NewReader(raw[:i+4])), false); err == nil {
			r.head, r.body = m, raw[i+4:]
		}
	}
	return r
}

// wantTruncated checks a 200 whose body the member cut: the connection
// was closed, and either the head arrived with a body short of its framing,
// or nothing arrived at all (sluice had not flushed the head yet: a
// Content-Length body is buffered until fasthttp's 4 KiB writer fills).
func wantTruncated(t *testing.T, r rawReply, wantBody string) {
	t.Helper()
	switch {
	case r.head == nil && r.raw == 0 && r.closed:
		return
	case r.head == nil:
		t.Fatalf("%d bytes without a complete head (closed: %v)", r.raw, r.closed)
	case r.head.Status != 200:
		t.Fatalf("status %d, want the member's 200 with its body cut", r.head.Status)
	case !r.closed:
		t.Errorf("connection left open after a cut body, want it closed")
	}
	if !strings.HasPrefix(string(r.body), wantBody) {
		t.Errorf("body %q, want it to start with %q", r.body, wantBody)
	}
	if cl := r.head.Get("Content-Length"); cl != "" {
		if cl == fmt.Sprint(len(r.body)) {
			t.Errorf("body of %d bytes matches Content-Length %s: looks complete", len(r.body), cl)
		}
		return
	}
	if bytes.HasSuffix(r.body, []byte("0\r\n\r\n")) {
		t.Errorf("chunked body %q ends with a last chunk: looks complete", r.body)
	}
}

// faultsYAML: one balancer per case so each starts at its first member.
// A lone F member, or F with loadfactor 100 beside A, is always picked
// first; the admin listener reports member flags.
const faultsYAML = `
listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
server:
  proxy_timeout: 1s
  routes:
    - {path: /direct-dead/, target: "http://{DEAD}/"}
    - {path: /direct/, target: "http://{F}/"}
    - {path: /e/, target: "http://{E}/"}
    - {path: /b01, target: balancer://b01}
    - {path: /b01all, target: balancer://b01all}
    - {path: /b02plain, target: balancer://b02plain}
    - {path: /b02retry, target: balancer://b02retry}
    - {path: /b03, target: balancer://b03}
    - {path: /b05retry, target: balancer://b05retry}
    - {path: /b05fot, target: balancer://b05fot}
    - {path: /b07, target: balancer://b07}
    - {path: /b10, target: balancer://b10}
  balancers:
    - name: b01
      members: [{url: "http://{DEAD}", retry: 1m}, {url: "http://{A}"}]
    - name: b01all
      members: [{url: "http://{DEAD}"}, {url: "http://{DEAD2}"}]
    - name: b02plain
      members: [{url: "http://{F}", loadfactor: 100}, {url: "http://{A}"}]
    - name: b02retry
      retry_idempotent: true
      members: [{url: "http://{F}", loadfactor: 100}, {url: "http://{A}"}]
    - name: b03
      members: [{url: "http://{S}"}]
    - name: b05retry
      retry_idempotent: true
      members: [{url: "http://{F}", loadfactor: 100}, {url: "http://{A}"}]
    - name: b05fot
      failontimeout: true
      members: [{url: "http://{F}", loadfactor: 100, retry: 1m}, {url: "http://{A}"}]
    - name: b07
      members: [{url: "http://{F}"}, {url: "http://{A}"}]
    - name: b10
      retry_idempotent: true
      members: [{url: "http://{F}", loadfactor: 100}, {url: "http://{A}"}]
`

func TestBackendFaults(t *testing.T) {
	f := newFaultBackend(t)
	a := newBackend(t, "A", nil)
	stale := newStaleBackend(t)
	e := newEarlyMember(t)
	dead, dead2 := testnet.ClosedAddr(t), testnet.ClosedAddr(t)
	s := startSluice(t, writeConfig(t, t.TempDir(), "faults.yaml", faultsYAML,
		"{F}", f.addr, "{A}", a.addr, "{S}", stale.addr, "{E}", e.addr, "{DEAD}", dead, "{DEAD2}", dead2))
	adm := s.waitMsg(0, "admin listening")["addr"]
	get := func(uri string) string { return buildReq("GET", uri, "front.example.com", nil, "") }
	post := func(uri, body string) string { return buildReq("POST", uri, "front.example.com", nil, body) }
	// aCount runs do and returns how many requests A received meanwhile.
	aCount := func(do func()) int {
		before := a.count()
		do()
		return a.count() - before
	}

	t.Run("BKE-01", func(t *testing.T) {
		t.Run("refused member fails over, GET", func(t *testing.T) {
			if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b01/x")), 200) }); n != 1 {
				t.Errorf("A received %d requests, want 1", n)
			}
			wantErrorFlag(t, adm, "b01", dead, true)
			wantErrorFlag(t, adm, "b01", a.addr, false)
		})
		t.Run("refused member fails over, POST body intact", func(t *testing.T) {
			body := strings.Repeat("b", 100<<10)
			// DEAD is in error for retry=1m: forcerecovery is off the table
			// while A lives, so A gets this one directly or by failover.
			m := rawDo(t, s.Addr(), post("/b01/p", body))
			wantStatus(t, m, 200)
			if got := a.last(); got.Method != "POST" || string(got.Body) != body {
				t.Errorf("A received %s with %d body bytes, want POST with %d", got.Method, len(got.Body), len(body))
			}
		})
		t.Run("every member refuses: 503 at once", func(t *testing.T) {
			start := time.Now()
			for range 3 {
				wantStatus(t, rawDo(t, s.Addr(), get("/b01all/x")), 503)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("three 503s took %v, want them quickly", d)
			}
			wantErrorFlag(t, adm, "b01all", dead, true)
			wantErrorFlag(t, adm, "b01all", dead2, true)
		})
		t.Run("direct worker refuses: 503", func(t *testing.T) {
			wantStatus(t, rawDo(t, s.Addr(), get("/direct-dead/x")), 503)
		})
	})

	t.Run("BKE-02", func(t *testing.T) {
		for _, kind := range []string{"rst", "fin"} {
			t.Run(kind+" before the head: 502, no retry by default", func(t *testing.T) {
				before := f.count("/" + kind)
				if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b02plain/"+kind)), 502) }); n != 0 {
					t.Errorf("A received %d requests, want none (no failover once sent)", n)
				}
				if n := f.count("/"+kind) - before; n != 1 {
					t.Errorf("the member received %d requests, want 1", n)
				}
				wantErrorFlag(t, adm, "b02plain", f.addr, false)
			})
			t.Run(kind+" before the head: GET retried with retry_idempotent", func(t *testing.T) {
				if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b02retry/"+kind)), 200) }); n != 1 {
					t.Errorf("A received %d requests, want 1", n)
				}
				wantErrorFlag(t, adm, "b02retry", f.addr, false)
			})
			t.Run(kind+" before the head: POST never replayed", func(t *testing.T) {
				if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), post("/b02retry/"+kind, "data")), 502) }); n != 0 {
					t.Errorf("A received %d requests, want none", n)
				}
			})
		}
		t.Run("direct worker resets: 502", func(t *testing.T) {
			wantStatus(t, rawDo(t, s.Addr(), get("/direct/rst")), 502)
		})
	})

	t.Run("BKE-03", func(t *testing.T) {
		t.Run("POST on a pooled connection the member closed", func(t *testing.T) {
			wantStatus(t, rawDo(t, s.Addr(), get("/b03/first")), 200)
			stale.waitClosed(t)
			m := rawDo(t, s.Addr(), post("/b03/second", "innocent"))
			wantStatus(t, m, 200)
			if string(m.Body) != "POST /second 8" {
				t.Errorf("body %q, want the member's answer to the POST", m.Body)
			}
		})
	})

	t.Run("BKE-04", func(t *testing.T) {
		t.Run("Content-Length body cut by FIN", func(t *testing.T) {
			r := exchangeUntilClose(t, s.Addr(), get("/direct/cut-cl"))
			wantTruncated(t, r, "only-ten!!")
		})
		t.Run("chunked body cut by RST", func(t *testing.T) {
			r := exchangeUntilClose(t, s.Addr(), get("/direct/cut-chunked"))
			wantTruncated(t, r, "")
			if !bytes.Contains(r.body, []byte("hello")) {
				t.Errorf("body %q, want the chunk relayed before the cut", r.body)
			}
		})
		t.Run("cut after the head is not retried", func(t *testing.T) {
			before := f.count("/cut-cl")
			if n := aCount(func() { wantTruncated(t, exchangeUntilClose(t, s.Addr(), get("/b02retry/cut-cl")), "only-ten!!") }); n != 0 {
				t.Errorf("A received %d requests, want none: the client already has bytes", n)
			}
			if n := f.count("/cut-cl") - before; n != 1 {
				t.Errorf("the member received %d requests, want 1", n)
			}
		})
	})

	t.Run("BKE-05", func(t *testing.T) {
		timed := func(t *testing.T, uri string, status int) {
			t.Helper()
			start := time.Now()
			wantStatus(t, rawDo(t, s.Addr(), get(uri)), status)
			if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
				t.Errorf("%d after %v, want it after the 1s timeout", status, d)
			}
		}
		t.Run("accepts and never answers: 504", func(t *testing.T) { timed(t, "/direct/hang", 504) })
		t.Run("half a head, then silence: 504", func(t *testing.T) { timed(t, "/direct/half-head", 504) })
		t.Run("head, then the body stalls: cut after the timeout", func(t *testing.T) {
			r := exchangeUntilClose(t, s.Addr(), get("/direct/stall-body"))
			wantTruncated(t, r, "abc")
			if r.elapsed < 900*time.Millisecond || r.elapsed > 5*time.Second {
				t.Errorf("closed after %v, want after the 1s timeout", r.elapsed)
			}
		})
		t.Run("drip, one byte per 40ms: completes past the timeout", func(t *testing.T) {
			start := time.Now()
			m := rawDo(t, s.Addr(), get("/direct/drip"))
			wantStatus(t, m, 200)
			if string(m.Body) != "dripdrip" {
				t.Errorf("body %q, want %q", m.Body, "dripdrip")
			}
			if d := time.Since(start); d < time.Second {
				t.Errorf("drip done in %v: the case needs a total above the 1s timeout", d)
			}
		})
		t.Run("hanging GET retried with retry_idempotent", func(t *testing.T) {
			start := time.Now()
			if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b05retry/hang")), 200) }); n != 1 {
				t.Errorf("A received %d requests, want 1", n)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("retry answered after %v, want about 1s", d)
			}
			wantErrorFlag(t, adm, "b05retry", f.addr, false)
		})
		t.Run("timeout marks the member with failontimeout", func(t *testing.T) {
			if n := aCount(func() { timed(t, "/b05fot/hang", 504) }); n != 0 {
				t.Errorf("A received %d requests, want none", n)
			}
			wantErrorFlag(t, adm, "b05fot", f.addr, true)
			if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b05fot/x")), 200) }); n != 1 {
				t.Errorf("after failontimeout A received %d requests, want 1", n)
			}
		})
	})

	t.Run("BKE-07", func(t *testing.T) {
		t.Run("500s without failonstatus keep the member in use", func(t *testing.T) {
			before := f.count("/500")
			for range 4 {
				m := rawDo(t, s.Addr(), get("/b07/500"))
				if m.Status != 500 && m.Status != 200 {
					t.Fatalf("status %d, want the member's 500 or A's 200", m.Status)
				}
			}
			if n := f.count("/500") - before; n != 2 {
				t.Errorf("the 500 member received %d of 4 requests, want 2 (still in rotation)", n)
			}
			wantErrorFlag(t, adm, "b07", f.addr, false)
		})
	})

	t.Run("BKE-10", func(t *testing.T) {
		for _, path := range []string{"/bighead", "/junk"} {
			t.Run(path[1:]+": 502, not retried", func(t *testing.T) {
				before := f.count(path)
				if n := aCount(func() { wantStatus(t, rawDo(t, s.Addr(), get("/b10"+path)), 502) }); n != 0 {
					t.Errorf("A received %d requests, want none", n)
				}
				if n := f.count(path) - before; n != 1 {
					t.Errorf("the member received %d requests, want 1", n)
				}
			})
		}
	})

	t.Run("HDR-07c", func(t *testing.T) {
		testEarlyAnswer(t, s, e)
	})

	t.Run("endless body", func(t *testing.T) {
		testEndlessBody(t, s, f)
	})
}

// testEndlessBody reads 64 MiB of a body that never ends, then hangs up:
// sluice must stream it with bounded memory and let go of the member.
func testEndlessBody(t *testing.T, s *sluiceProc, f *faultBackend) {
	const want = 64 << 20
	c, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /direct/endless HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 256<<10)
	m, err := readHead(br, false)
	if err != nil {
		t.Fatalf("no head: %v", err)
	}
	wantStatus(t, m, 200)
	n, err := io.CopyN(io.Discard, bodyReader(br, m, false), want)
	if err != nil || n != want {
		t.Fatalf("read %d of %d streamed bytes: %v", n, want, err)
	}
	c.Close()
	select {
	case <-f.ended:
	case <-time.After(ioTimeout):
		t.Errorf("the member still streams %v after the client left", ioTimeout)
	}
	if hwm := s.vmHWM(); hwm > 100<<20 {
		t.Errorf("sluice peak RSS %d MiB after streaming %d MiB, want under 100 MiB", hwm>>20, want>>20)
	}
	wantStatus(t, rawDo(t, s.Addr(), buildReq("GET", "/direct/ok", "a", nil, "")), 200)
}

// staleBackend answers keep-alive, then closes each connection 50 ms after
// its response without saying so: sluice's pooled connection goes stale.
type staleBackend struct {
	*rawBackend
	closedCh chan struct{}
}

func newStaleBackend(t *testing.T) *staleBackend {
	sb := &staleBackend{closedCh: make(chan struct{}, 8)}
	sb.rawBackend = newBackend(t, "stale", func(w *bufio.Writer, r *backendReq) bool {
		writeResp(w, 200, nil, fmt.Sprintf("%s %s %d", r.Method, r.URI, len(r.wireMsg.Body)))
		if w.Flush() != nil {
			return true
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.Done:
		}
		sb.closedCh <- struct{}{}
		return true
	})
	return sb
}

// waitClosed waits until the member has closed the connection it answered on.
func (sb *staleBackend) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-sb.closedCh:
		time.Sleep(50 * time.Millisecond) // the FIN reaches sluice's side
	case <-time.After(ioTimeout):
		t.Fatal("the stale member never closed its connection")
	}
}

// TestFlappingMember brings a member down and up twice: each time it goes
// down its requests fail over, it is in error (E) for retry=1s and gets no
// traffic meanwhile, and once the retry has passed it is used again and E
// clears (BKE-08 for the request path; health checks are in
// health_e2e_test.go).
func TestFlappingMember(t *testing.T) {
	flap := &flappingMember{name: "flap"}
	flap.start(t)
	defer flap.kill()
	stable := newBackend(t, "stable", nil)
	s := startSluice(t, writeConfig(t, t.TempDir(), "flap.yaml", `
listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
server:
  routes: [{path: /, target: "balancer://fl/"}]
  balancers:
    - name: fl
      members: [{url: "http://{FLAP}", retry: 1s}, {url: "http://{STABLE}"}]
`, "{FLAP}", flap.addr, "{STABLE}", stable.addr))
	adm := s.waitMsg(0, "admin listening")["addr"]
	who := func() string {
		m := getURI(t, s.Addr(), "/x")
		wantStatus(t, m, 200)
		if m.Get("X-Member") == "flap" {
			return "flap"
		}
		return m.Get("X-Backend")
	}
	for cycle := range 2 {
		got := []string{who(), who(), who(), who()}
		if !strings.Contains(strings.Join(got, " "), "flap") || !strings.Contains(strings.Join(got, " "), "stable") {
			t.Fatalf("cycle %d, both up: members %v, want both", cycle, got)
		}
		flap.kill()
		down := time.Now()
		for range 4 {
			if w := who(); w != "stable" {
				t.Fatalf("cycle %d, flap down: answered by %s", cycle, w)
			}
		}
		wantErrorFlag(t, adm, "fl", flap.addr, true)
		flap.start(t)
		for range 3 {
			if w := who(); w != "stable" && time.Since(down) < 900*time.Millisecond {
				t.Fatalf("cycle %d: flap used again %v after its error, within retry=1s", cycle, time.Since(down))
			}
		}
		deadline := time.Now().Add(ioTimeout)
		for who() != "flap" {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: flap not used again within %v of coming back", cycle, ioTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d := time.Since(down); d < 900*time.Millisecond {
			t.Errorf("cycle %d: flap used again %v after its error, want after retry=1s", cycle, d)
		}
		wantErrorFlag(t, adm, "fl", flap.addr, false)
	}
}

// earlyMember answers each /early request as soon as its head is read,
// without reading the body (threats.md HDR-07c). With "close" in the path
// it then closes the connection, the body unread (the kernel resets it);
// otherwise it keeps the connection and never reads from it again, as a
// member would that takes the body for the next request. Other requests
// are answered normally. It records the first request of each connection.
type earlyMember struct {
	connServer

	mu     sync.Mutex
	firsts map[string]int // connections by their first request line
}

const earlyAnswer = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!"

func newEarlyMember(t *testing.T) *earlyMember {
	t.Helper()
	e := &earlyMember{firsts: make(map[string]int)}
	e.start(t, e.serve)
	return e
}

func (e *earlyMember) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for first := true; ; first = false {
		m, err := readHead(br, true)
		if err != nil {
			return
		}
		if first {
			e.mu.Lock()
			e.firsts[m.Method+" "+m.URI]++
			e.mu.Unlock()
		}
		if strings.HasPrefix(m.URI, "/early") {
			_, _ = io.WriteString(c, earlyAnswer)
			if !strings.Contains(m.URI, "close") {
				<-e.done
			}
			return
		}
		if _, err := io.Copy(io.Discard, bodyReader(br, m, true)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
	}
}

// opened reports how many connections started with request.
func (e *earlyMember) opened(request string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firsts[request]
}

// testEarlyAnswer (HDR-07c): a member answers a POST before it has read
// the body. The client must get that answer; sluice must not leave the
// body's bytes on a connection it uses again, and nothing may hang. The
// large bodies block while the member reads nothing; the client then sends
// another request on its connection.
func testEarlyAnswer(t *testing.T, s *sluiceProc, e *earlyMember) {
	for _, tc := range []struct {
		name, path string
		size       int
	}{
		{"answer, connection kept, body unread", "/early-keep", 32 << 20},
		{"answer, then a reset", "/early-close", 32 << 20},
		{"answer with a small body, then a close", "/early-close-small", 5},
	} {
		t.Run(tc.name, func(t *testing.T) { postAnsweredEarly(t, s, e, tc.path, tc.size) })
	}
}

// postAnsweredEarly is one case of testEarlyAnswer: a POST of size bytes to
// /e+path, whose member answers 413 before reading it.
func postAnsweredEarly(t *testing.T, s *sluiceProc, e *earlyMember, path string, size int) {
	c, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	sent := make(chan error, 1)
	go func() {
		_, err := fmt.Fprintf(c, "POST /e%s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", path, size)
		if err == nil {
			_, err = c.Write(bytes.Repeat([]byte("b"), size))
		}
		sent <- err
	}()
	br := bufio.NewReader(c)
	m, err := readResponse(br, false)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	wantStatus(t, m, 413)
	if string(m.Body) != "too big!" {
		t.Errorf("body %q, want the member's", m.Body)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sluice stopped reading the body: %v", err)
	}
	// The client's connection is still in step: sluice read the body it
	// dropped.
	before := e.opened("GET /next")
	if _, err := io.WriteString(c, "GET /e/next HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if m, err = readResponse(br, false); err != nil {
		t.Fatalf("no answer to the next request: %v", err)
	}
	wantStatus(t, m, 200)
	if n := e.opened("GET /next") - before; n != 1 {
		t.Errorf("the next request opened %d member connections, want 1: it rode the early one", n)
	}
}
