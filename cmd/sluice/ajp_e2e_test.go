package main

// ajp:// members against Apache httpd's mod_proxy_ajp: the same requests
// through Apache and sluice to one recording container must arrive as the
// same forward requests and bodies.

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testcert"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

// ajpSeen is a forward request as a container decodes it, and its body.
type ajpSeen struct {
	Method                       byte
	Proto, URI, RemoteAddr, Host string
	ServerName                   string
	Port                         int
	SSL                          byte
	Headers, Attributes          []string
	Body                         string
	BodyPackets                  int
}

// ajpContainer is a servlet container stand-in: it decodes each forward
// request itself (independently of sluice's ajp package), reads the body
// as Tomcat does (asking for chunks), records it, and answers by path:
// /redirect a 302 with a Location, /big 100 KiB in 8 KiB chunks with a
// Content-Length, anything else "recorded".
type ajpContainer struct {
	name  string // sent as X-Backend with "recorded"
	addr  string
	got   chan ajpSeen
	conns chan struct{}
}

func startAJPContainer(t *testing.T, name string) *ajpContainer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a := &ajpContainer{name: name, addr: ln.Addr().String(), got: make(chan ajpSeen, 16), conns: make(chan struct{}, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns <- struct{}{}
			go a.serve(c)
		}
	}()
	return a
}

func ajpPacket(br *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x12 || h[1] != 0x34 {
		return nil, fmt.Errorf("magic % x", h[:2])
	}
	p := make([]byte, binary.BigEndian.Uint16(h[2:]))
	_, err := io.ReadFull(br, p)
	return p, err
}

type ajpReader struct{ b []byte }

func (r *ajpReader) u8() byte { c := r.b[0]; r.b = r.b[1:]; return c }
func (r *ajpReader) u16() int { n := int(binary.BigEndian.Uint16(r.b)); r.b = r.b[2:]; return n }
func (r *ajpReader) str() string {
	n := r.u16()
	if n == 0xFFFF {
		return "(null)"
	}
	s := string(r.b[:n])
	r.b = r.b[n+1:]
	return s
}

func (a *ajpContainer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	out := func(p []byte) { c.Write(append([]byte{'A', 'B', byte(len(p) >> 8), byte(len(p))}, p...)) }
	str := func(s string) []byte { return append(append([]byte{byte(len(s) >> 8), byte(len(s))}, s...), 0) }
	for {
		c.SetDeadline(time.Now().Add(ioTimeout))
		p, err := ajpPacket(br)
		if len(p) == 1 && p[0] == 10 {
			out([]byte{9}) // CPING, CPONG
			continue
		}
		if err != nil || len(p) == 0 || p[0] != 2 {
			return
		}
		r := &ajpReader{p[1:]}
		var s ajpSeen
		s.Method, s.Proto, s.URI, s.RemoteAddr, s.Host, s.ServerName = r.u8(), r.str(), r.str(), r.str(), r.str(), r.str()
		s.Port, s.SSL = r.u16(), r.u8()
		length, chunked := -1, false
		for range r.u16() {
			var name string
			if r.b[0] == 0xA0 {
				name = fmt.Sprintf("0x%04X", r.u16())
			} else {
				name = r.str()
			}
			value := r.str()
			s.Headers = append(s.Headers, name+": "+value)
			if name == "0xA008" {
				length, _ = strconv.Atoi(value)
			}
			if strings.EqualFold(name, "Transfer-Encoding") {
				chunked = true
			}
		}
		for {
			code := r.u8()
			if code == 0xFF {
				break
			}
			if code == 0x0A {
				name := r.str()
				value := r.str()
				if name == "AJP_REMOTE_PORT" {
					value = "(port)"
				}
				s.Attributes = append(s.Attributes, "req "+name+"="+value)
				continue
			}
			if code == 0x0B { // ssl_key_size, an integer
				s.Attributes = append(s.Attributes, fmt.Sprintf("0x0B=%d", r.u16()))
				continue
			}
			s.Attributes = append(s.Attributes, fmt.Sprintf("0x%02X=%s", code, r.str()))
		}
		// The body: the first chunk comes unasked when its length is known;
		// the rest is asked for, as Tomcat reads it.
		first := length > 0
		for length > 0 && len(s.Body) < length || chunked {
			if !first {
				out([]byte{6, 0x1F, 0xFA})
			}
			first = false
			p, err := ajpPacket(br)
			if err != nil {
				return
			}
			s.BodyPackets++
			n := int(binary.BigEndian.Uint16(p))
			if n == 0 {
				break
			}
			s.Body += string(p[2 : 2+n])
		}
		a.got <- s
		switch {
		case strings.HasSuffix(s.URI, "/redirect"):
			out(append(append(append([]byte{4, 0, 201}, str("Made")...), 0, 2, 0xA0, 0x06), append(str("/landed"), append(str("X-Two"), str("2")...)...)...))
		case strings.HasSuffix(s.URI, "/big"):
			body := strings.Repeat("0123456789abcdef", 6400)
			out(append(append([]byte{4, 0, 200}, str("OK")...), append([]byte{0, 1, 0xA0, 0x03}, str(strconv.Itoa(len(body)))...)...))
			for len(body) > 0 {
				k := min(len(body), 8000)
				out(append(append([]byte{3, byte(k >> 8), byte(k)}, body[:k]...), 0))
				body = body[k:]
			}
		default:
			out(append(append(append(append([]byte{4, 0, 200}, str("OK")...), 0, 2, 0xA0, 0x01), str("text/plain")...), append(str("X-Backend"), str(a.name)...)...))
			out(append(append([]byte{3, 0, 8}, "recorded"...), 0))
		}
		out([]byte{5, 1})
	}
}

func (a *ajpContainer) next(t *testing.T) ajpSeen {
	t.Helper()
	select {
	case s := <-a.got:
		return s
	case <-time.After(ioTimeout):
		t.Fatal("the container got no request")
		return ajpSeen{}
	}
}

// TestAJPApacheRequest sends the same requests through Apache 2.4 and
// sluice with the same mod_proxy_ajp configuration to one container:
// every field of the forward request, every attribute (but the client's
// port) and the body must arrive the same.
func TestAJPApacheRequest(t *testing.T) {
	tc := startAJPContainer(t, "tomcat")
	conf := strings.ReplaceAll(`
RequestHeader set X-Added yes
SetEnv AJP_TENANT acme
SetEnv OTHER x
ProxyPass /app/ ajp://{TC}/ctx/
<Proxy balancer://tc>
    BalancerMember ajp://{TC} route=n1
    ProxySet stickysession=JSESSIONID|jsessionid
</Proxy>
ProxyPass /lb/ balancer://tc/shop/
ProxyPass /secret/ ajp://{TC}/s/ secret=s3cr3t
`, "{TC}", tc.addr)
	apache := startApache(t, "LoadModule proxy_ajp_module /usr/lib/apache2/modules/mod_proxy_ajp.so\n"+conf)
	s := startSluice(t, writeConfig(t, t.TempDir(), "ajp.conf", "Listen 127.0.0.1:0\n"+conf))
	big := strings.Repeat("b", 20000)
	cases := []struct {
		name string
		req  func(host string) string
	}{
		{"GET with fields", func(host string) string {
			return buildReq("GET", "/app/a%20b/c.jsp?x=1&y=%41", host, []string{"X-Custom: v", "Accept: a",
				"Authorization: Basic Zm9vOmJhcg==", "Cookie: a=1; b=2", "User-Agent: test/1", "Accept-Language: en"}, "")
		}},
		{"POST", func(host string) string {
			return buildReq("POST", "/app/form", host, []string{"Content-Type: application/x-www-form-urlencoded"}, "abc=1&d=2")
		}},
		{"large POST", func(host string) string { return buildReq("PUT", "/app/upload", host, nil, big) }},
		{"chunked POST", func(host string) string {
			return "POST /app/chunked HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabc=\r\n5\r\n1&x=2\r\n0\r\n\r\n"
		}},
		{"PATCH", func(host string) string { return buildReq("PATCH", "/app/p", host, nil, "") }},
		{"balancer", func(host string) string { return buildReq("GET", "/lb/cart", host, nil, "") }},
		{"sticky route", func(host string) string { return buildReq("GET", "/lb/cart;jsessionid=abc.n1?q", host, nil, "") }},
		{"sticky cookie", func(host string) string {
			return buildReq("GET", "/lb/cart", host, []string{"Cookie: JSESSIONID=xyz.n1"}, "")
		}},
		{"secret", func(host string) string { return buildReq("GET", "/secret/x", host, nil, "") }},
		{"Host without port", func(string) string { return buildReq("GET", "/app/h", "www.app.test", nil, "") }},
	}
	for _, c := range cases {
		var seen [2]ajpSeen
		for i, addr := range []string{apache, s.Addr()} {
			m := rawDo(t, addr, c.req("app.test:8080"))
			if m.Status != 200 || string(m.Body) != "recorded" {
				t.Fatalf("%s via %s: %d %q", c.name, addr, m.Status, m.Body)
			}
			seen[i] = tc.next(t)
			// server_port is the port the connection came in on.
			if _, port, _ := net.SplitHostPort(addr); strconv.Itoa(seen[i].Port) != port {
				t.Errorf("%s via %s: server_port %d", c.name, addr, seen[i].Port)
			}
			seen[i].Port = 0
		}
		for i := range seen {
			// Fields may come in another order (fasthttp keeps Host,
			// Content-Length, Content-Type, User-Agent and Cookie apart);
			// a chunked body's packets follow its chunks.
			slices.Sort(seen[i].Headers)
			if strings.Contains(c.name, "chunked") {
				seen[i].BodyPackets = 0
			}
		}
		if !slices.Contains(seen[1].Attributes, "req TENANT=acme") {
			t.Errorf("%s: SetEnv AJP_TENANT is not the attribute TENANT: %q", c.name, seen[1].Attributes)
		}
		if a, b := fmt.Sprintf("%+v", seen[0]), fmt.Sprintf("%+v", seen[1]); a != b {
			t.Errorf("%s: the forward requests differ:\nApache %s\nsluice %s", c.name, a, b)
		}
	}
}

// TestAJPAnswers: the container's answer relayed: status and reason,
// coded and named fields, a body in chunks held to its Content-Length;
// connections are kept, as Apache keeps them.
func TestAJPAnswers(t *testing.T) {
	tc := startAJPContainer(t, "tomcat")
	s := startSluice(t, writeConfig(t, t.TempDir(), "ajp.conf", "Listen 127.0.0.1:0\nProxyPass / ajp://"+tc.addr+"/\n"))
	// The seven requests go over one client connection: fasthttp ends an
	// answer's body stream, which gives the member connection back, before
	// it reads the next request there. A new connection per request could
	// bring the next one while the last answer's END_RESPONSE was still
	// unread (its last body bytes reach the client first), and it would
	// take a second member connection.
	c, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func(uri string) *wireMsg {
		t.Helper()
		if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET "+uri+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		m, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("GET %s: %v", uri, err)
		}
		return m
	}
	m := get("/redirect")
	if m.Status != 201 || m.Get("Location") != "/landed" || m.Get("X-Two") != "2" {
		t.Errorf("201 answer: %d, Location %q, X-Two %q", m.Status, m.Get("Location"), m.Get("X-Two"))
	}
	m = get("/big")
	if m.Status != 200 || len(m.Body) != 102400 || m.Get("Content-Length") != "102400" {
		t.Errorf("100 KiB answer: %d, %d bytes, Content-Length %q", m.Status, len(m.Body), m.Get("Content-Length"))
	}
	for range 2 {
		tc.next(t)
	}
	for range 5 {
		if m := get("/x"); m.Status != 200 {
			t.Fatalf("status %d", m.Status)
		}
		tc.next(t)
	}
	if n := len(tc.conns); n != 1 {
		t.Errorf("%d connections for 7 requests, want 1 kept", n)
	}
}

// TestAJPPing: with ping=, each request is preceded by a CPING; a
// container that does not answer it in time is passed over for the
// next member before any of the request is sent.
func TestAJPPing(t *testing.T) {
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	got := make(chan int, 4)
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c) // never answers
				got <- len(b)
			}()
		}
	}()
	tc := startAJPContainer(t, "live")
	s := startSluice(t, writeConfig(t, t.TempDir(), "ajp.conf", `Listen 127.0.0.1:0
<Proxy balancer://tc>
    BalancerMember ajp://MUTE ping=200ms
    BalancerMember ajp://LIVE ping=1s
</Proxy>
ProxyPass / balancer://tc/
`, "MUTE", mute.Addr().String(), "LIVE", tc.addr))
	for range 2 {
		m := rawDo(t, s.Addr(), buildReq("GET", "/x", "h", nil, ""))
		wantStatus(t, m, 200)
		wantBackend(t, m, "live")
		tc.next(t)
	}
	s.signal(syscall.SIGTERM)
	select {
	case n := <-got:
		if n != 5 {
			t.Errorf("the mute container read %d bytes, want the CPING's 5 alone", n)
		}
	case <-time.After(ioTimeout):
		t.Error("the mute container's connection was not closed")
	}
}

// tomcatJSP echoes what the servlet container saw of a request.
const tomcatJSP = `<%@ page contentType="text/plain; charset=UTF-8" session="true" %><%
response.setHeader("X-Servlet", "tomcat");
String body = "";
if ("POST".equals(request.getMethod()) && request.getParameter("a") == null) {
	java.io.BufferedReader r = request.getReader();
	StringBuilder b = new StringBuilder();
	char[] c = new char[8192];
	int n;
	while ((n = r.read(c)) > 0) b.append(c, 0, n);
	body = String.valueOf(b.length());
}
%>method=<%= request.getMethod() %>
uri=<%= request.getRequestURI() %>
query=<%= request.getQueryString() %>
a=<%= request.getParameter("a") %>
remote=<%= request.getRemoteAddr() %>
server=<%= request.getServerName() %>
secure=<%= request.isSecure() %>
custom=<%= request.getHeader("X-Custom") %>
session=<%= session.getId() %>
body=<%= body %>
`

// startTomcat runs Debian's Tomcat 10 in the foreground with one AJP
// connector (secret s3cr3t, jvmRoute n1) and the JSP above as
// /echo.jsp; it returns the connector's address.
func startTomcat(t *testing.T) string {
	t.Helper()
	home := "/usr/share/tomcat10"
	if _, err := os.Stat(home + "/bin/catalina.sh"); err != nil {
		t.Fatal("tomcat10 is not installed (make test installs Debian's tomcat10)")
	}
	base := t.TempDir()
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps/ROOT"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"web.xml", "catalina.properties", "context.xml", "logging.properties"} {
		b, err := os.ReadFile(filepath.Join(home, "etc", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, "conf", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	server := `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector protocol="AJP/1.3" address="127.0.0.1" port="` + port + `" secret="s3cr3t" />
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="n1">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`
	for f, text := range map[string]string{"conf/server.xml": server, "webapps/ROOT/echo.jsp": tomcatJSP} {
		if err := os.WriteFile(filepath.Join(base, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(home+"/bin/catalina.sh", "run")
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+home, "CATALINA_BASE="+base)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startGroup(t, cmd, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The JVM takes a few seconds on a small machine.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("Tomcat does not listen on %s:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAJPTomcat runs a JSP on Debian's Tomcat 10 behind sluice over AJP,
// as real config 14 runs Alfresco: what the servlet sees of the request
// (method, path, query, form and raw bodies read through the container's
// body requests, the client's address, the Host's name, fields), the
// session cookie Tomcat suffixes with its jvmRoute and the sticky
// balancer following it, and the secret Tomcat demands.
func TestAJPTomcat(t *testing.T) {
	tomcat := startTomcat(t)
	s := startSluice(t, writeConfig(t, t.TempDir(), "tomcat.conf", `Listen 127.0.0.1:0
<Proxy balancer://tc>
    BalancerMember ajp://TOMCAT route=n1 secret=s3cr3t hcmethod=CPING ping=5
    BalancerMember ajp://DEAD route=n2 secret=s3cr3t
    ProxySet stickysession=JSESSIONID|jsessionid
</Proxy>
ProxyPass /app/ balancer://tc/
ProxyPass /bad/ ajp://TOMCAT/ secret=wrong
`, "TOMCAT", tomcat, "DEAD", testnet.ClosedAddr(t)))
	// The first request compiles the JSP: allow it time.
	get := func(uri string, header ...string) *wireMsg {
		return rawDoTimeout(t, s.Addr(), buildReq("GET", uri, "shop.example.com", header, ""), 60*time.Second)
	}
	m := get("/app/echo.jsp?a=1&b=2", "X-Custom: v")
	body := string(m.Body)
	for _, want := range []string{"method=GET\n", "uri=/echo.jsp\n", "query=a=1&b=2\n", "a=1\n", "remote=127.0.0.1\n",
		"server=shop.example.com\n", "secure=false\n", "custom=v\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("the JSP did not see %q:\n%s", want, body)
		}
	}
	cookie := m.Get("Set-Cookie")
	if m.Status != 200 || m.Get("X-Servlet") != "tomcat" || !strings.Contains(cookie, ".n1;") {
		t.Fatalf("status %d, X-Servlet %q, Set-Cookie %q", m.Status, m.Get("X-Servlet"), cookie)
	}
	session, _, _ := strings.Cut(cookie, ";")
	for range 3 {
		if m := get("/app/echo.jsp", "Cookie: "+session); !strings.Contains(string(m.Body), "session="+strings.TrimPrefix(session, "JSESSIONID=")+"\n") {
			t.Errorf("the session did not stick: %d\n%s", m.Status, m.Body)
		}
	}
	m = rawDo(t, s.Addr(), buildReq("POST", "/app/echo.jsp", "shop.example.com", []string{"Content-Type: application/x-www-form-urlencoded"}, "a=posted"))
	if !strings.Contains(string(m.Body), "a=posted\n") {
		t.Errorf("form POST:\n%s", m.Body)
	}
	big := strings.Repeat("x", 100000)
	m = rawDo(t, s.Addr(), buildReq("POST", "/app/echo.jsp", "shop.example.com", []string{"Content-Type: text/plain"}, big))
	if !strings.Contains(string(m.Body), "body=100000\n") {
		t.Errorf("100 kB POST:\n%s", m.Body)
	}
	chunked := fmt.Sprintf("POST /app/echo.jsp HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 9000, big[:9000], 3000, big[:3000])
	if m = rawDo(t, s.Addr(), chunked); !strings.Contains(string(m.Body), "body=12000\n") {
		t.Errorf("chunked POST:\n%s", m.Body)
	}
	if m = rawDo(t, s.Addr(), buildReq("GET", "/bad/echo.jsp", "h", nil, "")); m.Status != 403 {
		t.Errorf("a wrong secret: %d, want Tomcat's 403", m.Status)
	}
}

// TestAJPOverTLS: a request that came over TLS tells the container so
// (is_ssl, which Tomcat's isSecure() reads), with the cipher suite, its
// key size, the protocol and the client's certificate, as mod_proxy_ajp
// forwards mod_ssl's variables.
func TestAJPOverTLS(t *testing.T) {
	tc := startAJPContainer(t, "tomcat")
	dir, ca := t.TempDir(), testcert.NewFor(t, "ca.test")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	front := ca.Issue(t, "front.test")
	front.WriteFiles(t, dir, "front")
	s := startSluice(t, writeConfig(t, dir, "tls.conf", `Listen 127.0.0.1:0
SSLEngine on
SSLCertificateFile front.crt
SSLCertificateKeyFile front.key
SSLVerifyClient optional
SSLCACertificateFile ca.crt
ProxyPass / ajp://`+tc.addr+`/
`))
	client := ca.Issue(t, "client.test")
	for _, withCert := range []bool{false, true} {
		conf := &tls.Config{ServerName: "front.test", RootCAs: ca.Roots, MinVersion: tls.VersionTLS13}
		if withCert {
			conf.Certificates = []tls.Certificate{client.TLS}
		}
		c, err := tls.Dial("tcp", s.Addr(), conf)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, buildReq("GET", "/x", "front.test", nil, ""))
		io.Copy(io.Discard, c)
		c.Close()
		seen := tc.next(t)
		attrs := strings.Join(seen.Attributes, "\n")
		for _, want := range []string{"0x08=TLS_", "0x0B=", "req AJP_SSL_PROTOCOL=TLSv1.3"} {
			if !strings.Contains(attrs, want) {
				t.Errorf("client certificate %v: no %q in\n%s", withCert, want, attrs)
			}
		}
		if seen.SSL != 1 || strings.Contains(attrs, "0x07=-----BEGIN CERTIFICATE-----") != withCert {
			t.Errorf("client certificate %v: is_ssl %d, attributes\n%s", withCert, seen.SSL, attrs)
		}
	}
}
