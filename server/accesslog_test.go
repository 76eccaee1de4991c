package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testnet"
	"github.com/sluiceproxy/sluice/logformat"
	"github.com/valyala/fasthttp"
)

// logCtx is a request as the access log sees it once answered: from
// 192.0.2.7, status 200.
func logCtx(t testing.TB, head string) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatalf("request head %q: %v", head, err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, nil)
	ctx.SetStatusCode(200)
	return &ctx
}

// The three formats, field by field as Apache writes common and combined
// ("%h %l %u %t \"%r\" %>s %b" and "... \"%{Referer}i\" \"%{User-Agent}i\""):
// a missing header and an empty body are "-".
func TestAccessLogLines(t *testing.T) {
	now := time.Date(2026, 11, 27, 18, 4, 5, 0, time.UTC)
	full := logCtx(t, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\nUser-Agent: ua/1.0\r\n\r\n")
	bare := logCtx(t, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tc := range []struct {
		name     string
		ctx      *fasthttp.RequestCtx
		size     int
		combined bool
		want     string
	}{
		{"common", full, 5, false, `192.0.2.7 - - [27/Nov/2026:18:04:05 +0000] "GET /a?b=1 HTTP/1.1" 200 5` + "\n"},
		{"combined", full, 5, true, `192.0.2.7 - - [27/Nov/2026:18:04:05 +0000] "GET /a?b=1 HTTP/1.1" 200 5 "http://r.example/" "ua/1.0"` + "\n"},
		{"combined, no body or headers", bare, 0, true, `192.0.2.7 - - [27/Nov/2026:18:04:05 +0000] "HEAD / HTTP/1.1" 200 - "-" "-"` + "\n"},
	} {
		if got := string(appendCLFLine(nil, tc.ctx, lineAt(tc.ctx, now), tc.size, tc.combined)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	line := appendJSONLine(nil, full, lineOf(full, false, time.Time{}), full.Time().Add(1500*time.Microsecond), 5)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil || line[len(line)-1] != '\n' {
		t.Fatalf("JSON line %q: %v", line, err)
	}
	want := map[string]any{
		"remote": "192.0.2.7", "method": "GET", "uri": "/a?b=1", "proto": "HTTP/1.1", "status": 200.0,
		"bytes": 5.0, "duration_us": 1500.0, "referer": "http://r.example/", "user_agent": "ua/1.0", "tls": "",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("JSON %s = %#v, want %#v", k, got[k], v)
		}
	}
	ts, _ := got["time"].(string)
	if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || !at.Equal(full.Time().Add(1500*time.Microsecond)) {
		t.Errorf("JSON time %q (%v), want the answer's time", ts, err)
	}
}

// A client cannot forge a log line or break the JSON: quotes, backslashes,
// control bytes and bytes from 0x7f up are escaped, in CLF as Apache's
// ap_escape_logitem does, in JSON as \u00hh per byte.
func TestAccessLogEscaping(t *testing.T) {
	// sluice refuses a head with a bare LF, CR or NUL (docs/compatibility.md)
	// before anything is logged, so the escape is the second line of
	// defence: the value is set here rather than read off the wire (fasthttp
	// turns CR and LF into spaces as it is set, and keeps the rest).
	ua := "a\"b\\c\" 200 1 \"-\" \"x\x00\b\v\t\x1b\x7f\xc3\xa9"
	ctx := logCtx(t, "GET /p%22q HTTP/1.1\r\nHost: x\r\n\r\n")
	ctx.Request.Header.SetUserAgent(ua)
	if string(ctx.UserAgent()) != ua {
		t.Fatalf("User-Agent kept as %q", ctx.UserAgent())
	}
	now := time.Date(2026, 11, 27, 18, 4, 5, 0, time.UTC)
	clf := string(appendCLFLine(nil, ctx, lineAt(ctx, now), 0, true))
	wantUA := `a\"b\\c\" 200 1 \"-\" \"x\x00\b\v\t\x1b\x7f\xc3\xa9`
	if !strings.HasSuffix(clf, `"-" "`+wantUA+"\"\n") || strings.Count(clf, "\n") != 1 {
		t.Errorf("CLF line %q, want it to end with the User-Agent %q", clf, wantUA)
	}
	line := appendJSONLine(nil, ctx, lineOf(ctx, false, time.Time{}), now, 0)
	if n := strings.Count(string(line), "\n"); n != 1 {
		t.Fatalf("JSON line has %d newlines: %q", n, line)
	}
	var got struct {
		UserAgent string `json:"user_agent"`
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("JSON line %q: %v", line, err)
	}
	// Each byte comes back as the code point of its value.
	var latin1 []rune
	for _, c := range []byte(ua) {
		latin1 = append(latin1, rune(c))
	}
	if got.UserAgent != string(latin1) {
		t.Errorf("JSON user_agent %q, want %q", got.UserAgent, string(latin1))
	}
}

// TestAccessLogFieldCase: Referer, %{NAME}i and %{NAME}o are logged whatever the case
// of the field's name on the wire (a client behind an HTTP/2 gateway sends
// them in lower case) and in the format.
func TestAccessLogFieldCase(t *testing.T) {
	ctx := logCtx(t, "GET / HTTP/1.1\r\nHost: x\r\nreferer: http://r.example/\r\nuser-agent: ua/1\r\nx-trace: t1\r\n\r\n")
	now := time.Date(2026, 11, 27, 18, 4, 5, 0, time.UTC)
	if line := string(appendCLFLine(nil, ctx, lineAt(ctx, now), 5, true)); !strings.HasSuffix(line, `"http://r.example/" "ua/1"`+"\n") {
		t.Errorf("combined: %q, want the referer and agent", line)
	}
	var got struct {
		Referer string `json:"referer"`
	}
	if err := json.Unmarshal(appendJSONLine(nil, ctx, lineOf(ctx, false, time.Time{}), now, 5), &got); err != nil || got.Referer != "http://r.example/" {
		t.Errorf("json referer %q (%v)", got.Referer, err)
	}
	ctx.Response.Header.DisableNormalizing() // as the server keeps a member's names
	ctx.Response.Header.Set("x-cache", "HIT")
	f, err := logformat.Parse(`%{Referer}i %{X-Trace}i %{x-trace}i %{X-Cache}o`)
	if err != nil {
		t.Fatal(err)
	}
	l := &accessLog{items: f}
	if line := string(l.appendLine(nil, ctx, lineOf(ctx, false, time.Time{}), &vhost{}, nil, now, 5)); line != "http://r.example/ t1 t1 HIT\n" {
		t.Errorf("LogFormat: %q", line)
	}
}

// TestLogEscapeBytes: each byte value, alone and between plain ones, as
// Apache's ap_escape_logitem writes it in CLF and as \u00hh in JSON.
func TestLogEscapeBytes(t *testing.T) {
	for v := range 256 {
		c := byte(v)
		raw := string([]byte{c}) // string(c) would be c's UTF-8
		clf, js := raw, raw
		switch {
		case c == '"' || c == '\\':
			clf, js = `\`+clf, `\`+js
		case c == '\b', c == '\n', c == '\r', c == '\t', c == '\v':
			clf = `\` + string("bnrtv"[strings.IndexByte("\b\n\r\t\v", c)])
			js = fmt.Sprintf(`\u%04x`, c)
		case c < 0x20 || c >= 0x7f:
			clf, js = fmt.Sprintf(`\x%02x`, c), fmt.Sprintf(`\u%04x`, c)
		}
		ins := [][]byte{{c}, {'a', c, 'b', c}}
		for at := range 20 { // at each place of the words plainRun reads
			in := []byte("abababababababababab")
			in[at] = c
			ins = append(ins, in)
		}
		for _, in := range ins {
			want := strings.ReplaceAll(string(in), raw, clf)
			if c == 'a' || c == 'b' {
				want = string(in)
			}
			if got := string(appendLogItem(nil, in)); got != want {
				t.Errorf("CLF %q: %q, want %q", in, got, want)
			}
			want = strings.ReplaceAll(string(in), raw, js)
			if c == 'a' || c == 'b' {
				want = string(in)
			}
			if got := string(appendJSONEscaped(nil, in)); got != want {
				t.Errorf("JSON %q: %q, want %q", in, got, want)
			}
		}
	}
}

// flushLogs writes out what s's access log files buffer.
func flushLogs(s *Server) {
	for _, f := range s.rt.Load().logs.files {
		f.mu.Lock()
		_ = f.w.Flush()
		f.mu.Unlock()
	}
}

// TestLogFormatLine: a LogFormat string, directive by directive as
// mod_log_config writes it; values escaped as Apache escapes them.
// %{Content-Type}o used to keep the parameters, %{Set-Cookie}o to log
// the first cookie only.
func TestLogFormatLine(t *testing.T) {
	ctx := logCtx(t, "GET /a?b=1 HTTP/1.1\r\nHost: x.example:8080\r\nCookie: sid=abc; t=1\r\nX-Quote: say \"hi\"\r\n\r\n")
	ctx.Response.Header.Set("X-Out", "o")
	ctx.Response.Header.SetContentType("text/html ; charset=utf-8")
	ctx.Response.Header.Add("Set-Cookie", "a=1")
	ctx.Response.Header.Add("Set-Cookie", "b=2; Path=/")
	vh := &vhost{serverName: "site.example"}
	for _, tc := range []struct{ format, want string }{
		{`%h %l %u %t "%r" %>s %b`, `192.0.2.7 - - [` + ctx.Time().Format("02/Jan/2006:15:04:05 -0700") + `] "GET /a?b=1 HTTP/1.1" 200 5`},
		{`%{sid}C|%{X-Quote}i|%{X-Out}o|%{X-None}i|%m %U%q %H|%v %V`, `abc|say \"hi\"|o|-|GET /a?b=1 HTTP/1.1|site.example x.example`},
		{`%D %T %{ms}T %{us}T`, `1500000 1 1500 1500000`},
		{`%{%Y-%m-%dT%H:%M:%S}t %{sec}t %{msec_frac}t %%`, ctx.Time().Format("2006-01-02T15:04:05") + ` ` + strconv.FormatInt(ctx.Time().Unix(), 10) + ` ` + fmt.Sprintf("%03d", ctx.Time().Nanosecond()/1e6) + ` %`},
		{`%B %X %k`, `5 + 0`},
		// The type without its parameters, every cookie: as Apache logs them.
		{`%{content-type}o|%{Set-Cookie}o`, `text/html|a=1, b=2; Path=/`},
	} {
		f, err := logformat.Parse(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		l := &accessLog{items: f}
		got := string(l.appendLine(nil, ctx, lineOf(ctx, false, time.Time{}), vh, nil, ctx.Time().Add(1500*time.Millisecond), 5))
		if got != tc.want+"\n" {
			t.Errorf("%s:\n got %q\nwant %q", tc.format, got, tc.want+"\n")
		}
	}
	// A request whose client left before its answer (499) is X, as
	// Apache logs an aborted connection; it logged "-" before.
	ctx.SetStatusCode(statusClientGone)
	ctx.SetConnectionClose()
	f, err := logformat.Parse("%X")
	if err != nil {
		t.Fatal(err)
	}
	l := &accessLog{items: f}
	if got := string(l.appendLine(nil, ctx, lineOf(ctx, false, time.Time{}), vh, nil, ctx.Time(), 0)); got != "X\n" {
		t.Errorf("%%X for a client gone: %q", got)
	}
}

// TestLogBytesReceived: %I is the request's bytes as they came, its
// request line included, and %S adds %O to it. A request without a body,
// or a chunked one, used to log two bytes or one fewer than its head's
// fields (fasthttp's Content-Length is -2 or -1 there), and the request
// line was never counted. A chunked body is not counted yet
// (docs/compatibility.md).
func TestLogBytesReceived(t *testing.T) {
	for _, tc := range []struct {
		head string
		body int
	}{
		{"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 5},
		{"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
		{"GET / HTTP/1.0\r\n\r\n", 0},
	} {
		ctx := logCtx(t, tc.head)
		// A head that names its length and close: %O counts it as it is.
		ctx.Response.Header.SetContentLength(3)
		ctx.Response.SetConnectionClose()
		f, err := logformat.Parse(`%I %S`)
		if err != nil {
			t.Fatal(err)
		}
		l := &accessLog{items: f}
		in := len(tc.head) + tc.body
		want := fmt.Sprintf("%d %d\n", in, in+len(ctx.Response.Header.Header())+3)
		if got := string(l.appendLine(nil, ctx, lineOf(ctx, false, time.Time{}), &vhost{}, nil, ctx.Time(), 3)); got != want {
			t.Errorf("%q: %q, want %q", tc.head, got, want)
		}
	}
}

// TestCustomLogs: CustomLog and TransferLog write a host's requests to its
// files, in the format LogFormat named; a vhost without logs of its own
// uses the server's; env=!dontlog leaves out what SetEnvIf marked; two
// logs may share a file; a reload keeps the files open and the lines
// coming.
func TestCustomLogs(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, echo)
	conf := strings.ReplaceAll(`LogFormat "%v %>s %U" short
LogFormat "%h %U"
CustomLog {DIR}/main.log short
SetEnvIf Request_URI "^/health$" dontlog
<VirtualHost *:80>
  ServerName a.example
  CustomLog {DIR}/a.log "%v %m %U %{X-Id}i" env=!dontlog
  CustomLog {DIR}/all.log short
  TransferLog {DIR}/a-transfer.log
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName b.example
  CustomLog {DIR}/all.log combined
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName c.example
  ProxyPass / http://BACKEND/
</VirtualHost>
`, "{DIR}", dir)
	s, c := startProxy(t, conf, be)
	req := func(host, path string) {
		t.Helper()
		q := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(q)
		q.SetRequestURI("http://" + host + path)
		q.Header.Set("X-Id", "7")
		if err := c.Do(q, new(fasthttp.Response)); err != nil {
			t.Fatal(err)
		}
	}
	req("a.example", "/one")
	req("a.example", "/health")
	req("b.example", "/two")
	req("c.example", "/three")
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+strings.ReplaceAll(conf, "BACKEND", be)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	req("a.example", "/after-reload")
	flushLogs(s)
	for file, want := range map[string]string{
		"a.log":          "a.example GET /one 7\na.example GET /after-reload 7\n",
		"a-transfer.log": "0.0.0.0 /one\n0.0.0.0 /health\n0.0.0.0 /after-reload\n",
		"main.log":       "c.example 200 /three\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", file, b, err, want)
		}
	}
	all, _ := os.ReadFile(filepath.Join(dir, "all.log"))
	for _, want := range []string{"a.example 200 /one\n", "a.example 200 /health\n", `"GET /two HTTP/1.1" 200`} {
		if !strings.Contains(string(all), want) {
			t.Errorf("all.log lacks %q:\n%s", want, all)
		}
	}
}

// startLoggedProxy serves one route with a config-wide access log in a
// LogFormat string (all.log) and the host's CustomLog with env=!quiet
// (host.log), both in the directory it returns.
func startLoggedProxy(t *testing.T) (*Server, *fasthttp.Client, string) {
	t.Helper()
	dir := t.TempDir()
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	s, c := startProxyYAML(t, `  routes: [{path: /, target: "http://BACKEND1/"}]
  set_env_if: [{attribute: Request_URI, regex: "^/quiet", set: [quiet]}]
  access_logs: [{path: "`+dir+`/host.log", format: "%v %U %{quiet}e", env: "!quiet"}]
access_log: {path: "`+dir+`/all.log", format: "%v %>s %U %{HTTPS}e"}
`, be)
	return s, c, dir
}

// TestConfigWideLogFormat: the config-wide access log takes a LogFormat
// string, variables included (an unset one is "-", as mod_log_config
// writes it), beside a host's CustomLog.
func TestConfigWideLogFormat(t *testing.T) {
	s, c, dir := startLoggedProxy(t)
	for _, path := range []string{"/x", "/quiet"} {
		if status, _, err := c.Get(nil, "http://front.example.com"+path); err != nil || status != 200 {
			t.Fatalf("%s: %d %v", path, status, err)
		}
	}
	flushLogs(s)
	host, _ := os.ReadFile(filepath.Join(dir, "host.log"))
	all, _ := os.ReadFile(filepath.Join(dir, "all.log"))
	if name := s.rt.Load().main.serverName; string(host) != name+" /x -\n" || string(all) != name+" 200 /x -\n"+name+" 200 /quiet -\n" {
		t.Errorf("host.log %q, all.log %q", host, all)
	}
}

// TestLogServedHost: a request is logged by the host that served it while
// its configuration is live, without looking the host up again; one
// served under a configuration since replaced is logged by the live one's
// host.
func TestLogServedHost(t *testing.T) {
	s, _, dir := startLoggedProxy(t)
	ctx := logCtx(t, "GET /x HTTP/1.1\r\nHost: front.example.com\r\n\r\n")
	live := s.rt.Load()
	other := &vhost{serverName: "other.example"} // logs nothing of its own
	s.logServed(ctx, live, other, time.Now(), 0)
	s.logServed(ctx, &runtime{}, other, time.Now(), 0) // served by a replaced configuration
	flushLogs(s)
	host, _ := os.ReadFile(filepath.Join(dir, "host.log"))
	if want := live.main.serverName + " /x -\n"; string(host) != want {
		t.Errorf("host.log %q, want one line, from the replaced configuration's request: %q", host, want)
	}
}

// TestPipedLog: CustomLog "|program" writes the lines to the program's
// standard input ("|$" through the shell); a program that exited is
// started again for the next lines, and closing the log ends it.
func TestPipedLog(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "all.log")
	be := startBackend(t, echo)
	// exec: the shell becomes cat, so that killing the process kills the
	// reader of the pipe (a cat the shell forked would outlive it).
	s, c := startProxy(t, `CustomLog "|$exec cat >> `+file+`" "%U"
ProxyPass / http://BACKEND/
`, be)
	get := func(path string) {
		t.Helper()
		if status, _, err := c.Get(nil, "http://front.example"+path); err != nil || status != 200 {
			t.Fatalf("%s: %d %v", path, status, err)
		}
		flushLogs(s)
	}
	get("/a")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(file); string(b) == "/a\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cat did not write the first line")
		}
	}
	// The program dies: the next write finds its pipe closed and starts it
	// again.
	p := s.rt.Load().logs.files[`|$exec cat >> `+file].out.(*pipedLog)
	p.mu.Lock()
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
	p.mu.Unlock()
	get("/b")
	get("/c")
	s.rt.Load().logs.closeUnused(nil) // cat writes what it read, and exits
	if b, err := os.ReadFile(file); err != nil || string(b) != "/a\n/b\n/c\n" {
		t.Errorf("%q (%v), want /a /b /c", b, err)
	}
}

// TestAppendIP: the client address is written as net.IP's String writes
// it, IPv4 in IPv6 form and IPv6 included.
func TestAppendIP(t *testing.T) {
	for _, ip := range []net.IP{
		net.IPv4(192, 0, 2, 7).To4(), net.IPv4(10, 0, 0, 255), net.ParseIP("::1"),
		net.ParseIP("2001:db8::1:0:0:1"), net.ParseIP("fe80::1"), net.IPv4zero, nil, {1, 2, 3},
	} {
		if got, want := string(appendIP([]byte("x "), ip)), "x "+ip.String(); got != want {
			t.Errorf("appendIP(%v) = %q, want %q", []byte(ip), got, want)
		}
	}
}

// TestAppendStatus: three digits, as strconv writes them, and strconv's
// answer for a status sluice never writes.
func TestAppendStatus(t *testing.T) {
	for _, st := range []int{0, 7, 99, 100, 200, 404, 499, 599, 999, 1000, -1} {
		if got, want := string(appendStatus([]byte("x"), st)), "x"+strconv.Itoa(st); got != want {
			t.Errorf("%d: %q, want %q", st, got, want)
		}
	}
}

// TestLogErrorPageBytes: %b is the body the client got. An answer to HEAD
// carries none, and the error page for a request fasthttp could not parse
// is sent whole. Before, HEAD to an error page logged the page's length,
// and a refused head logged "-" for the page it got.
func TestLogErrorPageBytes(t *testing.T) {
	dir := t.TempDir()
	s, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nCustomLog "+dir+"/a.log \"%>s %b\"\nProxyPass /p http://"+testnet.ClosedAddr(t)+"/\n")
	var want strings.Builder
	for _, req := range []string{
		"HEAD /nothing HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /p HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n",
	} {
		c := dialTCP(t, addr)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		resp.SkipBody = strings.HasPrefix(req, "HEAD")
		if err := resp.Read(bufio.NewReader(c)); err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		size := "-"
		if n := len(resp.Body()); n > 0 {
			size = strconv.Itoa(n)
		}
		fmt.Fprintf(&want, "%d %s\n", resp.StatusCode(), size)
		_ = c.Close()
	}
	waitForLog(t, s, dir+"/a.log", want.String())
}

// TestLogRequestedServerName: %V is Apache's ap_get_server_name under
// UseCanonicalName Off: the Host asked for, lower-cased, without its port
// or a trailing dot, and the ServerName for a request without a Host.
// Before, the trailing dot stayed and a request without Host logged "-".
func TestLogRequestedServerName(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, echo)
	s, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nServerName main.example\nCustomLog "+dir+"/a.log \"%V\"\nProxyPass / http://"+be+"/\n")
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: WWW.Example.COM.:8080\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		rawRequest(t, dialTCP(t, addr), req)
	}
	want := "www.example.com\nmain.example\n"
	waitForLog(t, s, dir+"/a.log", want)
}

// TestLogBytesSentHead: %O is every byte the client got, its head as
// fasthttp writes it. Before, it left out the Content-Length fasthttp adds
// to a body set whole (every error page) and the Connection: close it
// adds where the client asked to close.
func TestLogBytesSentHead(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	s, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nCustomLog "+dir+"/a.log \"%O\"\nProxyPass /ok http://"+be+"/\n")
	var want strings.Builder
	for _, req := range []string{
		"GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /ok HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"HEAD /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n",
	} {
		c := dialTCP(t, addr)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c) // each answer closes its connection
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		fmt.Fprintf(&want, "%d\n", len(got))
	}
	waitForLog(t, s, dir+"/a.log", want.String())
}

// TestLogRefusedRequestLine: a request refused before its head was read
// (too large, a malformed request line, a client that sent nothing in
// time) logs "-" for its request line, method, path and protocol, as
// Apache logs a request line it never got; before, fasthttp's defaults
// for an empty head were logged as if the client had sent "GET / HTTP/1.1".
// A head read whole keeps its line: a malformed field after a good
// request line, a body over the limit.
func TestLogRefusedRequestLine(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\nLimitRequestBody 10\nCustomLog "+dir+"/a.log \"%>s \\\"%r\\\" %m %U%q %H\"\nCustomLog "+dir+"/b.log combined\nProxyPass /p http://"+testnet.ClosedAddr(t)+"/\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeouts.ClientHeader = config.Duration(200 * time.Millisecond)
	cfg.AccessLog = config.AccessLog{Path: dir + "/c.log", Format: "json"}
	s, addr := serveTCP(t, cfg)
	for _, req := range []string{
		"POST /p/big?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n0123456789a",
		"GET /x HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET /" + strings.Repeat("a", 20<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /slow HTTP/1.1\r\n", // the rest never comes
	} {
		rawRequest(t, dialTCP(t, addr), req)
	}
	want := `413 "POST /p/big?q=1 HTTP/1.1" POST /p/big?q=1 HTTP/1.1
400 "-" - - -
400 "-" - - -
431 "-" - - -
408 "-" - - -
`
	waitForLog(t, s, dir+"/a.log", want)
	// The refused are dated when refused (fasthttp dates a request once
	// its head is read: they logged year 1 and a duration of 292 years).
	clf, _ := os.ReadFile(dir + "/b.log")
	if n := strings.Count(string(clf), `"-" 4`); n != 4 || strings.Contains(string(clf), "/0001:") {
		t.Errorf("combined log, %d refused lines:\n%s", n, clf)
	}
	js, _ := os.ReadFile(dir + "/c.log")
	for line := range strings.Lines(string(js)) {
		var e struct {
			Method   string `json:"method"`
			Status   int    `json:"status"`
			Duration int64  `json:"duration_us"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Duration > 10e6 || (e.Status == 413) != (e.Method == "POST") {
			t.Errorf("JSON log line %q: %+v %v", line, e, err)
		}
	}
}

// lineAt is ctx's request line as if it came at t.
func lineAt(ctx *fasthttp.RequestCtx, t time.Time) requestLine {
	l := lineOf(ctx, false, t)
	l.at = t
	return l
}

// waitForLog waits until the log file holds want: a request's line is
// written as its handler returns, after the answer the test read.
func waitForLog(t *testing.T, s *Server, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		flushLogs(s)
		got, _ := os.ReadFile(path)
		if string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
