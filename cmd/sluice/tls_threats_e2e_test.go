package main

// threats.md SMG-14, SMG-15 and HDR-07(c) with https:// members: the raw
// cases of threats_e2e_test.go and faults_e2e_test.go, with the member
// behind TLS. Each asserts what the client got and what the member
// received. sluice trusts the test's certificate through SSL_CERT_FILE,
// which Go reads instead of the system's bundle.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// tlsEarlyYAML routes /e/ to an https earlyMember, with faultsYAML's timeout.
const tlsEarlyYAML = `
listen: ["127.0.0.1:0"]
server:
  proxy_timeout: 1s
  routes:
    - {path: /e/, target: "https://{E}/"}
`

func TestTLSThreats(t *testing.T) {
	member := trustedMemberTLS(t)
	tlsThreatsYAML := strings.Replace(threatsYAML, "target: http://{B}/", "target: https://{B}/", 1)
	if !strings.Contains(tlsThreatsYAML, "https://{B}/") {
		t.Fatal("threatsYAML has no http://{B}/ target to make https")
	}

	t.Run("SMG-14", func(t *testing.T) {
		for _, kind := range []string{"200", "204", "head"} {
			t.Run("after "+kind, func(t *testing.T) {
				testTLSResponseQueue(t, member, tlsThreatsYAML, kind)
			})
		}
	})

	t.Run("SMG-15", func(t *testing.T) {
		b := newTLSEchoBackend(t, cannedReply, member)
		s := startSluice(t, writeConfig(t, t.TempDir(), "threats.yaml", tlsThreatsYAML, "{B}", b.addr))
		for _, c := range []threatCase{bothFramings("/r/clte"), bothFramings("/r/tecl")} {
			t.Run(c.name, func(t *testing.T) { runThreat(t, s.Addr(), b, c) })
		}
	})

	t.Run("HDR-07c", func(t *testing.T) {
		e := &earlyMember{firsts: make(map[string]int)}
		e.start(t, func(c net.Conn) { e.serve(tls.Server(c, member)) })
		s := startSluice(t, writeConfig(t, t.TempDir(), "early.yaml", tlsEarlyYAML, "{E}", e.addr))
		for _, path := range []string{"/early-keep", "/early-close"} {
			t.Run(path[1:], func(t *testing.T) { testTLSEarlyAnswer(t, s, e, path) })
		}
	})
}

// testTLSEarlyAnswer is testEarlyAnswer's 32 MiB cases (HDR-07c) with a
// TLS member that answers after the head and keeps the connection without
// reading (path /early-keep), or closes it (/early-close): the client gets
// the member's answer, its connection stays in step, and the next request
// goes on a new member connection. (Its third case, a 5-byte body, is
// written whole before the answer, so TLS adds nothing to it; it also
// races the member's close with the next request's stale check.)
func testTLSEarlyAnswer(t *testing.T, s *sluiceProc, e *earlyMember, path string) {
	const size = 32 << 20
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

// testTLSResponseQueue is testResponseQueue (SMG-14) with a TLS member: the
// member's unsolicited response never answers the next request, which goes
// out on a new member connection.
func testTLSResponseQueue(t *testing.T, member *tls.Config, yaml, kind string) {
	p := &poison{release: make(chan struct{}), written: make(chan struct{}, 1)}
	b := newTLSEchoBackend(t, p.reply, member)
	s := startSluice(t, writeConfig(t, t.TempDir(), "poison.yaml", yaml, "{B}", b.addr))
	first, line := get("/p/"+kind), "GET /p/"+kind+" HTTP/1.1"
	if kind == "head" {
		first, line = "HEAD /p/head HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD /p/head HTTP/1.1"
	}
	r := exchangeRaw(t, s.Addr(), first, 1, false)
	if len(r.resps) != 1 {
		t.Fatalf("no response to the first request: %v", r.err)
	}
	close(p.release)
	<-p.written
	r = exchangeRaw(t, s.Addr(), get("/next"), 1, false)
	if len(r.resps) != 1 {
		t.Fatalf("no response to the next request: %v", r.err)
	}
	if got := r.resps[0]; got.Status != 200 || string(got.Body) != "GET /next" {
		t.Errorf("next request got %d %q, want 200 %q (the member's unsolicited bytes)", got.Status, got.Body, "GET /next")
	}
	checkForwarded(t, b, []fwdWant{{line: line}, {line: "GET /next HTTP/1.1"}}, false)
	if got := b.received(); len(got) != 2 {
		t.Errorf("member received the requests on %d connections, want 2 (the poisoned one not reused); raw %q", len(got), got)
	}
}

// newTLSEchoBackend is newEchoBackend behind TLS.
func newTLSEchoBackend(t *testing.T, reply echoReply, conf *tls.Config) *echoBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBackend{t: t, addr: ln.Addr().String(), ln: tls.NewListener(ln, conf), reply: reply,
		conns: make(map[net.Conn]*echoConn), changed: make(chan struct{})}
	b.wg.Go(b.serve)
	t.Cleanup(b.close)
	return b
}

// trustedMemberTLS returns a member's TLS 1.3 config with a certificate for
// 127.0.0.1 that sluice processes started by this test trust.
func trustedMemberTLS(t *testing.T) *tls.Config {
	t.Helper()
	c := testcert.New(t)
	ca := filepath.Join(t.TempDir(), "member-ca.pem")
	if err := os.WriteFile(ca, c.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS13}
}
