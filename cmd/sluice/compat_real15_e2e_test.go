package main

// Real config 15 (the "DevOps project 8" snippet): two members with
// loadfactor=5 timeout=1, ProxySet lbmethod=bytraffic, ProxyPreserveHost On
// and ProxyPassReverse / balancer://mycluster/.

import (
	"bufio"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// real15Member answers GET/POST /bytes/N with an N-byte body, /pad/N with
// an N-byte response header and a 2-byte body, /slow after 3 s (beyond
// timeout=1) and /redir with a redirect to its own absolute URL; every
// answer names the member in X-Backend.
func real15Member(t *testing.T, name string) *rawBackend {
	var b *rawBackend
	b = newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		hdr := []string{"X-Backend: " + name}
		switch path, _, _ := strings.Cut(r.URI, "?"); {
		case strings.HasPrefix(path, "/bytes/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(path, "/bytes/"))
			writeResp(w, 200, hdr, strings.Repeat("x", n))
		case strings.HasPrefix(path, "/pad/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(path, "/pad/"))
			writeResp(w, 200, append(hdr, "X-Pad: "+strings.Repeat("p", n)), "ok")
		case path == "/slow":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Done:
				return true
			}
			writeResp(w, 200, hdr, "too late")
		case path == "/redir":
			writeResp(w, 302, append(hdr, "Location: http://"+b.addr+"/landed?x=1"), "")
		default:
			return b.echo(w, r)
		}
		return false
	})
	return b
}

// real15Client is one keep-alive client connection. Sequential requests
// on one connection make bytraffic's accounting deterministic: sluice
// adds a response's bytes to its member before it reads the next request
// from that connection.
type real15Client struct {
	t    *testing.T
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func real15Dial(t *testing.T, addr string) *real15Client {
	t.Helper()
	c := &real15Client{t: t, addr: addr}
	c.redial()
	t.Cleanup(func() { c.c.Close() })
	return c
}

func (c *real15Client) redial() {
	c.t.Helper()
	if c.c != nil {
		c.c.Close()
	}
	conn, err := net.DialTimeout("tcp", c.addr, ioTimeout)
	if err != nil {
		c.t.Fatalf("cannot dial sluice: %v", err)
	}
	c.c, c.br = conn, bufio.NewReader(conn)
}

// do sends one request (keep-alive, Host lb.example.com) and reads the
// response; a connection sluice closed after its previous answer is
// dialled again once.
func (c *real15Client) do(method, uri, body string) *wireMsg {
	c.t.Helper()
	req := method + " " + uri + " HTTP/1.1\r\nHost: lb.example.com\r\n"
	if body != "" {
		req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	req += "\r\n" + body
	for attempt := 0; ; attempt++ {
		if err := c.c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
			c.t.Fatal(err)
		}
		_, err := c.c.Write([]byte(req))
		var m *wireMsg
		if err == nil {
			m, err = readResponse(c.br, method == "HEAD")
		}
		if err == nil {
			if strings.EqualFold(m.Get("Connection"), "close") {
				c.redial()
			}
			return m
		}
		if attempt > 0 {
			c.t.Fatalf("%s %s: %v", method, uri, err)
		}
		c.redial()
	}
}

// TestCompatReal15BytrafficFollowsBytes drives the two loadfactor=5
// members with unequal response and request sizes. Apache's bytraffic
// (apache.md §4.3) sends each request to the member with the lowest
//
//	transferred/lbfactor + read/lbfactor   (lbfactor 500, integer division)
//
// where transferred is the request head and body sent to the member and
// read is the response's status line and body (its header fields do not
// count); ties go to the first member. In units of 500 bytes (request
// heads add well under one unit each, so every choice below has a margin
// of at least 14):
//
//	#   request                   A (first)       B               chosen
//	1   GET  /bytes/50000         0               0               A  (tie)
//	2   GET  /bytes/30000         100             0               B
//	3   GET  /bytes/30000         100             60              B
//	4   GET  /bytes/1000          100             120             A
//	5   GET  /bytes/1000          102             120             A
//	6   POST /bytes/1000, 40 KB   104             120             A
//	7   GET  /bytes/1000          187             120             B  (A if the request body were not counted)
//	8   GET  /bytes/25000         187             122             B
//	9   GET  /pad/14000           187             173             B
//	10  GET  /bytes/1000          187             173             B  (A if the 14 KB header were counted: 201)
//
// byrequests would alternate A B A B; this sequence only comes from
// counting bytes the way Apache does.
func TestCompatReal15BytrafficFollowsBytes(t *testing.T) {
	a, b := real15Member(t, "A"), real15Member(t, "B")
	s := startReal(t, "15-bytraffic-loadfactor.conf", "172.31.20.11:80", a.addr, "172.31.20.12:80", b.addr)
	c := real15Dial(t, s.Addr())

	steps := []struct{ method, uri, body string }{
		{"GET", "/bytes/50000", ""},
		{"GET", "/bytes/30000", ""},
		{"GET", "/bytes/30000", ""},
		{"GET", "/bytes/1000", ""},
		{"GET", "/bytes/1000", ""},
		{"POST", "/bytes/1000", strings.Repeat("b", 40000)},
		{"GET", "/bytes/1000", ""},
		{"GET", "/bytes/25000", ""},
		{"GET", "/pad/14000", ""},
		{"GET", "/bytes/1000", ""},
	}
	var got []string
	for i, st := range steps {
		m := c.do(st.method, st.uri, st.body)
		wantStatus(t, m, 200)
		if st.uri == "/pad/14000" && len(m.Get("X-Pad")) != 14000 {
			t.Fatalf("step %d: the 14 KB response header was not relayed (%d bytes)", i+1, len(m.Get("X-Pad")))
		}
		got = append(got, m.Get("X-Backend"))
	}
	if want := []string{"A", "B", "B", "A", "A", "A", "B", "B", "B", "B"}; !slices.Equal(got, want) {
		t.Fatalf("bytraffic chose %v, want %v (Apache's transferred/lbfactor + read/lbfactor)", got, want)
	}
	// A took requests 1, 4, 5 and 6: the fourth it saw is the POST.
	if r := a.requests()[3]; r.Method != "POST" || len(r.Body) != 40000 {
		t.Errorf("A's fourth request was %s with %d body bytes, want the 40000-byte POST", r.Method, len(r.Body))
	}

	// timeout=1: a member that answers after 3 s gets 504 (compatibility.md:
	// Apache says 502) after about a second, without failing over, and is
	// not put in error (no failontimeout), so bytraffic still picks it next.
	before := a.count()
	start := time.Now()
	m := c.do("GET", "/slow", "")
	wantStatus(t, m, 504)
	if d := time.Since(start); d < 900*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("504 after %v, want about timeout=1", d)
	}
	if b.last().URI != "/slow" || a.count() != before {
		t.Errorf("the slow request went to A or failed over (A had %d requests, now %d)", before, a.count())
	}
	m = c.do("GET", "/bytes/10", "")
	wantBackend(t, m, "B")
}

// TestCompatReal15PreserveHostReverse: ProxyPreserveHost On sends the
// client's Host to the member, and ProxyPassReverse / balancer://mycluster/
// maps a member's absolute redirect back onto the client's host.
func TestCompatReal15PreserveHostReverse(t *testing.T) {
	a, b := real15Member(t, "A"), real15Member(t, "B")
	s := startReal(t, "15-bytraffic-loadfactor.conf", "172.31.20.11:80", a.addr, "172.31.20.12:80", b.addr)
	members := map[string]*rawBackend{"A": a, "B": b}
	// Small equal answers: bytraffic keeps to A until A has moved 500
	// bytes (one lbfactor unit), then B's turn comes.
	for range 8 {
		m := hostGet(t, s, "www.example.com:8080", "/redir")
		wantStatus(t, m, 302)
		mb := members[m.Get("X-Backend")]
		if mb == nil {
			t.Fatalf("answered by %q", m.Get("X-Backend"))
		}
		if got, want := m.Get("Location"), "http://www.example.com:8080/landed?x=1"; got != want {
			t.Errorf("member %s: Location %q, want %q", mb.name, got, want)
		}
		r := mb.last()
		if r.URI != "/redir" || r.Get("Host") != "www.example.com:8080" {
			t.Errorf("member %s was asked for %s with Host %q, want /redir with the client's Host", mb.name, r.URI, r.Get("Host"))
		}
		if got := r.Get("X-Forwarded-Host"); got != "www.example.com:8080" {
			t.Errorf("X-Forwarded-Host %q", got)
		}
	}
	if a.count() == 0 || b.count() == 0 {
		t.Errorf("equal traffic must use both members: A %d, B %d", a.count(), b.count())
	}
}
