package main

// threats.md SMG-14, SMG-15 and HDR-07(c) with https:// members: the raw
// cases of threats_e2e_test.go and faults_e2e_test.go, with the member
// behind TLS. Each asserts what the client got and what the member
// received. sluice trusts the test's certificate through SSL_CERT_FILE,
// which Go reads instead of the system's bundle.

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			// testEarlyAnswer's 32 MiB cases: a 5-byte body is written
			// whole before the answer, so TLS adds nothing to that one.
			t.Run(path[1:], func(t *testing.T) { postAnsweredEarly(t, s, e, path, 32<<20) })
		}
	})
}

// testTLSResponseQueue is testResponseQueue (SMG-14) with a TLS member: the
// member's unsolicited response never answers the next request, which goes
// out on a new member connection.
func testTLSResponseQueue(t *testing.T, member *tls.Config, yaml, kind string) {
	p := &poison{release: make(chan struct{}), written: make(chan struct{}, 1)}
	b := newTLSEchoBackend(t, p.reply, member)
	s := startSluice(t, writeConfig(t, t.TempDir(), "poison.yaml", yaml, "{B}", b.addr))
	line := poisonThenNext(t, s.Addr(), p, kind)
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
