package server

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

// headRecorder is a member that answers every request on a connection with
// an empty 200 and sends each request head it read, line by line as it
// came, on heads.
func headRecorder(t *testing.T) (addr string, heads <-chan []string) {
	ch := make(chan []string, 16)
	addr = serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			var lines []string
			length := 0
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l = strings.TrimSuffix(l, "\r\n"); l == "" {
					break
				}
				lines = append(lines, l)
				if name, value, _ := strings.Cut(l, ":"); strings.EqualFold(name, "content-length") {
					length, _ = strconv.Atoi(strings.TrimSpace(value))
				}
			}
			body := make([]byte, length)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			ch <- append(lines, fmt.Sprintf("body of %d bytes, %x", length, sha256.Sum256(body)))
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")); err != nil {
				return
			}
		}
	})
	return addr, ch
}

// TestOwnHeadAsCopied: a request without a chunked body goes to an HTTP
// member with its field lines built from the client's bytes (ownHead); with a
// RequestHeader rule on a hop-by-hop field, from a copy of fasthttp's
// header, edited (ownAndCopied). Both must
// send the same request: the same request line and fields, but for where
// the copy puts User-Agent (ahead of the others, as fasthttp writes it)
// and Host, and Cookie lines (withoutMoved). The own head
// keeps the client's order: User-Agent stays in its place.
func TestOwnHeadAsCopied(t *testing.T) {
	member, heads := headRecorder(t)
	const base = "ProxyAddHeaders On\nProxyVia On\nServerName proxy.example\n" +
		"ProxyPass /close http://MEMBER/close disablereuse=On\nProxyPass / http://MEMBER/\n"
	addrs := ownAndCopied(t, strings.ReplaceAll(base, "MEMBER", member))
	bigCookie := "Cookie: big=" + strings.Repeat("c", 6000) + "\r\n"
	for _, raw := range []string{
		"GET /a?q=1 HTTP/1.1\r\nHost: front.example\r\nAccept: */*\r\nUser-Agent: ua/1\r\nX-A: 1\r\n\r\n",
		"GET /b HTTP/1.1\r\nHost: front.example:8080\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n" +
			"Keep-Alive: 5\r\nTE: trailers, gzip\r\nExpect: 100-continue\r\nX-Forwarded-For: 192.0.2.1\r\n" +
			"Cookie: a=1\r\nX-B: 2\r\ncookie: b=2\r\nVia: 1.0 edge\r\nX_Forwarded_For: 6.6.6.6\r\nUpgrade: h2c\r\n\r\n",
		"HEAD /c HTTP/1.1\r\nHost: front.example\r\nX-Spaces: \t padded \t\r\nX-Empty:\r\n\r\n",
		"GET /d HTTP/1.0\r\nX-Old: 1\r\n\r\n",
		"GET /close/e HTTP/1.1\r\nHost: front.example\r\nX-E: 5\r\n\r\n",
		"GET /f HTTP/1.1\r\nHost: front.example\r\nX-F: 6\r\n" + bigCookie + "\r\n",
		"POST /g HTTP/1.1\r\nHost: front.example\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-G: 7\r\n\r\nhello",
		"PUT /h HTTP/1.1\r\nHost: front.example\r\nExpect: 100-continue\r\nContent-Length: 9000\r\n" + bigCookie + "\r\n" + strings.Repeat("p", 9000),
		"POST /i HTTP/1.1\r\nHost: front.example\r\nX-I: no body\r\n\r\n",
		"DELETE /close/j HTTP/1.1\r\nHost: front.example\r\n\r\n",
		"POST /k HTTP/1.0\r\nContent-Length: 3\r\nconnection: keep-alive\r\n\r\nabc",
		"GET /l HTTP/1.1\r\nHost: front.example\r\nContent-Length: 0\r\nX-L: 1\r\n\r\n",
		"HEAD /m HTTP/1.1\r\nHost: front.example\r\nContent-Length: 0\r\n\r\n",
	} {
		got := sendToBoth(t, addrs, raw, heads)
		own, copied := got[false], got[true]
		if len(own) == 0 || len(copied) == 0 || own[0] != copied[0] {
			t.Errorf("%.60q: request lines differ:\n own: %q\ncopy: %q", raw, own, copied)
			continue
		}
		if !slices.Equal(withoutMoved(own[1:]), withoutMoved(copied[1:])) {
			t.Errorf("%.60q: fields differ:\n own: %.300q\ncopy: %.300q", raw, own, copied)
		}
		if strings.Contains(raw, "User-Agent") && (len(own) < 4 || own[3] != "User-Agent: ua/1") {
			t.Errorf("%.60q: the own head moved User-Agent: %q", raw, own)
		}
		if strings.Contains(raw, "User-Agent") && copied[1] != "User-Agent: ua/1" {
			t.Errorf("%.60q: the request did not keep the copied header: %q", raw, copied)
		}
	}
}

// ownAndCopied serves conf twice on loopback ports: addrs[false] sends
// requests with their own head, addrs[true] keeps the copied header (a
// RequestHeader rule on Keep-Alive, which the Forwarder drops anyway,
// makes it: headers.LineEditable).
func ownAndCopied(t *testing.T, conf string) map[bool]string {
	addrs := map[bool]string{}
	for _, copied := range []bool{false, true} {
		src := "Listen 127.0.0.1:0\n" + conf
		if copied {
			src += "RequestHeader unset Keep-Alive\n"
		}
		cfg, err := config.ParseApache("test.conf", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, addrs[copied] = serveTCP(t, cfg)
	}
	return addrs
}

// sendToBoth sends raw to both servers of ownAndCopied and returns the
// heads their member read.
func sendToBoth(t *testing.T, addrs map[bool]string, raw string, heads <-chan []string) map[bool][]string {
	got := map[bool][]string{}
	for copied, addr := range addrs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if resp := rawRequest(t, c, raw); resp.StatusCode() != 200 {
			t.Fatalf("%.60q: status %d", raw, resp.StatusCode())
		}
		c.Close()
		got[copied] = <-heads
	}
	return got
}

// withoutMoved is a member's field lines less those the copied header
// writes elsewhere: Host and User-Agent (checked apart), Content-Length
// (compared last: the own head writes it after the fields), and the Cookie
// lines, which a RequestHeader rule's cookie lookup has fasthttp join into
// one at the end (the own head passes them on as they came): they are
// compared as one joined line.
func withoutMoved(lines []string) []string {
	var kept, cookies, framing []string
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		switch strings.ToLower(name) {
		case "host", "user-agent":
			continue
		case "content-length":
			framing = append(framing, l)
			continue
		case "cookie":
			cookies = append(cookies, strings.TrimSpace(value))
			continue
		}
		kept = append(kept, l)
	}
	if len(cookies) > 0 {
		kept = append(kept, "Cookie: "+strings.Join(cookies, "; "))
	}
	return append(kept, framing...)
}

// TestRequestHeaderRulesOnLines: RequestHeader rules edit a request's own
// field lines as they edit the copied header (a rule on Keep-Alive makes
// the second server keep the copy): the member gets the same values for
// every field. fasthttp's deletes in the copy move its last field into
// the gap, which can reorder even fields of one name (two X-Add lines, the
// X-Edit lines): the own lines keep the order the rules and the client
// gave them, checked apart.
func TestRequestHeaderRulesOnLines(t *testing.T) {
	member, heads := headRecorder(t)
	const rules = `ProxyAddHeaders On
SetEnvIf Request_URI "^/env" FLAG=1
RequestHeader set X-Forwarded-Proto https
RequestHeader set x-set "one"
RequestHeader add X-Add a
RequestHeader add X-Add b
RequestHeader append X-App tail
RequestHeader merge X-Merge m1
RequestHeader merge X-Merge m1
RequestHeader setifempty X-Empty-Only filled
RequestHeader unset X-Gone
RequestHeader edit X-Edit "^(a+)" "[$1]"
RequestHeader edit* X-EditAll "o" "0"
RequestHeader set X-Flag on env=FLAG
RequestHeader set X-NoFlag on env=!FLAG
RequestHeader set X-Forwarded-Host front.override
RequestHeader unset X-Forwarded-Server
<Location /scoped>
  RequestHeader set X-Scoped yes
</Location>
ProxyPass / http://MEMBER/
`
	addrs := ownAndCopied(t, strings.ReplaceAll(rules, "MEMBER", member))
	for _, raw := range []string{
		"GET /a HTTP/1.1\r\nHost: front.example\r\nX-Gone: 1\r\nx-gone: 2\r\nX-App: head\r\nx-app: second\r\nX-Merge: m0\r\n" +
			"X-Edit: aab\r\nX-Edit: b\r\nx-edit: aaa\r\nX-EditAll: foo, boo\r\nX-Empty-Only: kept\r\nX-Set: old\r\nX-Keep: 1\r\n\r\n",
		"GET /env HTTP/1.1\r\nHost: front.example\r\nX-Forwarded-Host: edge\r\nX-Forwarded-Proto: http\r\nX-Merge: m1\r\n\r\n",
		"POST /scoped/x HTTP/1.1\r\nHost: front.example\r\nContent-Length: 2\r\nX-Add: z\r\nUser-Agent: u\r\n\r\nhi",
	} {
		got := sendToBoth(t, addrs, raw, heads)
		own, copied := byName(got[false]), byName(got[true])
		sameValues := func(a, b []string) bool {
			return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
		}
		if !maps.EqualFunc(own, copied, sameValues) {
			t.Errorf("%.60q: fields differ:\n own: %q\ncopy: %q", raw, got[false], got[true])
		}
		if v := own["x-add"]; strings.HasPrefix(raw, "GET /a") && !slices.Equal(v, []string{"a", "b"}) {
			t.Errorf("X-Add lines %q, want a, b in the rules' order", v)
		}
		if v := own["x-edit"]; strings.HasPrefix(raw, "GET /a") && !slices.Equal(v, []string{"[aa]b", "b", "[aaa]"}) {
			t.Errorf("X-Edit lines %q, want the client's order", v)
		}
	}
}

// byName groups a member's head lines by lower-case field name, each
// name's values in order; the request line and User-Agent's place aside.
func byName(lines []string) map[string][]string {
	m := map[string][]string{}
	for i, l := range lines {
		if i == 0 {
			m[""] = []string{l}
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		name = strings.ToLower(name)
		if name == "cookie" {
			value = strings.Join(strings.Fields(value), " ")
		}
		m[name] = append(m[name], strings.TrimSpace(value))
	}
	return m
}

// TestRequestHeaderRulesKeepFraming: a RequestHeader rule on Content-Length
// or Transfer-Encoding does not change how the request's body is framed to
// the member, which is sluice's, as mod_proxy sets both itself (apache.md
// §2). Before, "set Content-Length 2" sent a GET with that length and no
// body, so the member took the next request's first bytes on the pooled
// connection for its body; "unset Content-Length" failed every POST (502).
func TestRequestHeaderRulesKeepFraming(t *testing.T) {
	for _, tc := range []struct{ rule, request, length string }{
		{"RequestHeader set Content-Length 2", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"RequestHeader set Content-Length 2", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "5"},
		{"RequestHeader unset Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "5"},
		{"RequestHeader set Transfer-Encoding chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "5"},
		{"RequestHeader edit content-length ^5$ 9", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "5"},
	} {
		addr, heads := headRecorder(t)
		_, front := serveApacheTCP(t, "Listen 127.0.0.1:0\n"+tc.rule+"\nProxyPass / http://"+addr+"/\n")
		if resp := rawRequest(t, dialTCP(t, front), tc.request); resp.StatusCode() != 200 {
			t.Errorf("%s: answered %d, want 200", tc.rule, resp.StatusCode())
			continue
		}
		length := ""
		for _, l := range <-heads {
			if name, value, _ := strings.Cut(l, ":"); strings.EqualFold(name, "content-length") {
				length = strings.TrimSpace(value)
			} else if strings.EqualFold(name, "transfer-encoding") {
				t.Errorf("%s: the member got %q", tc.rule, l)
			}
		}
		if length != tc.length {
			t.Errorf("%s: the member got Content-Length %q, want %q", tc.rule, length, tc.length)
		}
	}
}
