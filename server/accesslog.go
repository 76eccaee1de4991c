package server

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/logformat"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/modssl"
	"github.com/sluiceproxy/sluice/pool"
)

// logFile is an open access log file (or stdout), shared by every log that
// names it. Lines are written under a short lock to a buffered writer
// flushed every second and on close.
type logFile struct {
	path string
	mu   sync.Mutex
	w    *bufio.Writer
	out  io.Writer
	f    io.Closer
	stop chan struct{}
	done chan struct{}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func openLogFile(path string) (*logFile, error) {
	var (
		out io.Writer
		cl  io.Closer
	)
	switch {
	case path == "stdout":
		out = os.Stdout
	case strings.HasPrefix(path, "|"):
		p, err := startPipedLog(path)
		if err != nil {
			return nil, err
		}
		out, cl = p, p
	default:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot open access log %q: %w", path, err)
		}
		out, cl = f, f
	}
	l := &logFile{path: path, w: bufio.NewWriterSize(out, 64<<10), out: out, f: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

func (l *logFile) flusher() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			if l.w.Flush() != nil {
				// A write failed (a full disk, a piped logger that
				// cannot start): those lines are lost, later ones not.
				l.w.Reset(l.out)
			}
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

func (l *logFile) close() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	_ = l.w.Flush()
	l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
	}
}

func (l *logFile) write(b []byte) {
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
}

// accessLog is one configured log (the config-wide access_log, a CustomLog
// or TransferLog): its file, its format and its env= condition.
type accessLog struct {
	file *logFile
	// format is "common", "combined", "json" or "" for items.
	format string
	items  logformat.Format
	vars   []modheaders.Var // items' %{VAR}e, in order
	// cond is env=: log when the variable is set (when unset with not).
	cond    modheaders.Var
	hasCond bool
	not     bool
	// never: env= names a variable nothing sets.
	never bool
}

// needsEnv reports whether the line or its condition reads variables.
func (l *accessLog) needsEnv() bool { return l.hasCond || len(l.vars) > 0 }

// logSet is a runtime's access logs: the files they write, by path, the
// config-wide access_log, and whether hosts have logs of their own
// (vhost.logs).
type logSet struct {
	files  map[string]*logFile
	global *accessLog
	hosts  bool
}

// openLogs opens rt's access logs, taking the files prev has open for the
// same paths (a reload keeps them, and no line is lost); opened are the
// files it opened itself.
func openLogs(rt *runtime, prev *logSet) (ls *logSet, opened []*logFile, err error) {
	ls = &logSet{files: map[string]*logFile{}}
	defer func() {
		if err != nil {
			for _, f := range opened {
				f.close()
			}
		}
	}()
	open := func(c *config.AccessLog) (*accessLog, error) {
		f := ls.files[c.Path]
		if f == nil && prev != nil {
			f = prev.files[c.Path]
		}
		if f == nil {
			var err error
			if f, err = openLogFile(c.Path); err != nil {
				return nil, err
			}
			opened = append(opened, f)
		}
		ls.files[c.Path] = f
		return newAccessLog(f, c, rt.cfg.Vars())
	}
	if rt.cfg.AccessLog.Path != "" {
		if ls.global, err = open(&rt.cfg.AccessLog); err != nil {
			return nil, nil, err
		}
	}
	byCfg := map[*config.AccessLog]*accessLog{}
	for _, vh := range rt.hosts {
		own := vh.cfg.AccessLogs
		if len(own) == 0 {
			own = rt.cfg.Main.AccessLogs // Apache: a vhost without its own logs to the server's
		}
		for _, c := range own {
			l := byCfg[c]
			if l == nil {
				if l, err = open(c); err != nil {
					return nil, nil, err
				}
				byCfg[c] = l
			}
			vh.logs = append(vh.logs, l)
			ls.hosts = true
		}
	}
	return ls, opened, nil
}

// closeUnused closes the files of ls that next does not write.
func (ls *logSet) closeUnused(next *logSet) {
	if ls == nil {
		return
	}
	for path, f := range ls.files {
		if next == nil || next.files[path] != f {
			f.close()
		}
	}
}

func newAccessLog(f *logFile, c *config.AccessLog, vars *modheaders.Vars) (*accessLog, error) {
	l := &accessLog{file: f}
	switch c.Format {
	case "common", "combined", "json", "":
		l.format = cmp.Or(c.Format, "combined")
	default:
		format := c.Format
		if nick, ok := logformat.Nicknames[format]; ok {
			format = nick
		}
		items, err := logformat.Parse(format)
		if err != nil {
			return nil, err
		}
		l.items = items
		for _, it := range items {
			if it.Directive == 'e' {
				v, err := vars.Lookup(it.Arg)
				if err != nil {
					return nil, err
				}
				l.vars = append(l.vars, v)
			}
		}
	}
	if name, not := strings.CutPrefix(c.Env, "!"); name != "" {
		v, err := vars.Lookup(name)
		switch {
		case err == nil:
			l.cond, l.hasCond, l.not = v, true, not
		case !not:
			// Nothing sets it (the config warned): no line is written.
			l.never = true
		}
	}
	return l, nil
}

// logRequest writes the request in ctx, answered with the response status
// and size bytes of body, to the config-wide access log and to its host's.
func (s *Server) logRequest(ctx *fasthttp.RequestCtx, now time.Time, size int) {
	s.logServed(ctx, nil, nil, now, size)
}

// logRefused is logRequest for a request fasthttp refused before the
// handler: it keeps none of the head, whose request line logs "-", as
// Apache logs one it never read (fasthttp's defaults for an empty head
// would read "GET / HTTP/1.1").
func (s *Server) logRefused(ctx *fasthttp.RequestCtx, now time.Time, size int) {
	s.logEntry(ctx, nil, nil, now, size, true)
}

// logServed is logRequest for a request that rt's host vh served: the
// host is not looked up again while rt is still the live configuration.
func (s *Server) logServed(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, now time.Time, size int) {
	s.logEntry(ctx, rt, vh, now, size, false)
}

func (s *Server) logEntry(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, now time.Time, size int, refused bool) {
	live := s.rt.Load()
	ls := live.logs
	if ls == nil {
		return
	}
	if ctx.IsHead() {
		size = 0 // fasthttp writes no body to HEAD, whatever the answer holds
	}
	r := logged{rt: live, ctx: ctx, now: now, size: size, line: lineOf(ctx, refused, now)}
	if rt == live {
		r.vh = vh
	}
	defer r.release()
	if ls.global != nil {
		r.write(ls.global)
	}
	if ls.hosts {
		for _, l := range r.host().logs {
			r.write(l)
		}
	}
}

// logged is one request on its way to the logs: its vhost and variables
// are looked up once, and only for a log that reads them.
type logged struct {
	rt   *runtime
	ctx  *fasthttp.RequestCtx
	now  time.Time
	size int
	line requestLine
	vh   *vhost
	mr   *modsReq // holds env
	env  *modheaders.Env
}

// requestLine is a request's first line as logs show it, and when it
// came. For a request whose head was not read the line is nil, which logs
// "-", and the time is when it was refused: fasthttp dates a request once
// its head is read.
type requestLine struct {
	method, target, proto []byte
	at                    time.Time
}

func lineOf(ctx *fasthttp.RequestCtx, refused bool, now time.Time) requestLine {
	if refused {
		return requestLine{at: now}
	}
	return requestLine{ctx.Method(), ctx.RequestURI(), ctx.Request.Header.Protocol(), ctx.Time()}
}

// appendRequestLine appends %r: the line, its items escaped, or "-".
func appendRequestLine(b []byte, line requestLine) []byte {
	if line.method == nil {
		return append(b, '-')
	}
	b = appendLogItem(b, line.method)
	b = append(b, ' ')
	b = appendLogItem(b, line.target)
	b = append(b, ' ')
	return appendLogItem(b, line.proto)
}

func (r *logged) host() *vhost {
	if r.vh == nil {
		r.vh = r.rt.hostOf(r.ctx)
	}
	return r.vh
}

func (r *logged) write(l *accessLog) {
	if l.never {
		return
	}
	var vh *vhost
	if l.items != nil || l.needsEnv() {
		vh = r.host()
	}
	if l.needsEnv() && r.env == nil {
		r.mr = modsReqPool.Get().(*modsReq)
		r.env = r.mr.requestEnv(r.ctx, vh)
	}
	if l.hasCond {
		if _, set := r.env.Get(l.cond); set == l.not {
			return
		}
	}
	l.log(r.ctx, r.line, vh, r.env, r.now, r.size)
}

func (r *logged) release() {
	if r.mr != nil {
		modsReqPool.Put(r.mr)
	}
}

// log writes one line.
func (l *accessLog) log(ctx *fasthttp.RequestCtx, line requestLine, vh *vhost, env *modheaders.Env, now time.Time, size int) {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	switch l.format {
	case "json":
		b = appendJSONLine(b, ctx, line, now, size)
	case "common", "combined":
		// %t is the time the request came, as Apache writes it.
		b = appendCLFLine(b, ctx, line, size, l.format == "combined")
	default:
		b = l.appendLine(b, ctx, line, vh, env, now, size)
	}
	l.file.write(b)
	*bp = b
	lineBufs.Put(bp)
}

// appendCLFLine writes a common or combined line.
func appendCLFLine(b []byte, ctx *fasthttp.RequestCtx, line requestLine, size int, combined bool) []byte {
	b = appendClientIP(b, ctx)
	b = append(b, " - - "...)
	b = clfTimes.appendTo(b, line.at)
	b = append(b, " \""...)
	b = appendRequestLine(b, line)
	b = append(b, "\" "...)
	b = appendStatus(b, ctx.Response.StatusCode())
	b = append(b, ' ')
	if size > 0 {
		b = strconv.AppendInt(b, int64(size), 10)
	} else {
		b = append(b, '-')
	}
	if combined {
		b = append(b, " \""...)
		b = appendLogItem(b, anycase.Request(&ctx.Request.Header, "Referer"))
		b = append(b, "\" \""...)
		b = appendLogItem(b, ctx.UserAgent())
		b = append(b, '"')
	}
	return append(b, '\n')
}

func appendJSONLine(b []byte, ctx *fasthttp.RequestCtx, line requestLine, now time.Time, size int) []byte {
	b = append(b, `{"time":"`...)
	b = appendRFC3339Nano(b, now)
	b = append(b, `","remote":"`...)
	b = appendClientIP(b, ctx)
	b = append(b, `","method":"`...)
	b = appendJSONEscaped(b, line.method)
	b = append(b, `","uri":"`...)
	b = appendJSONEscaped(b, line.target)
	b = append(b, `","proto":"`...)
	b = appendJSONEscaped(b, line.proto)
	b = append(b, `","status":`...)
	b = appendStatus(b, ctx.Response.StatusCode())
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, now.Sub(line.at).Microseconds(), 10)
	b = append(b, `,"referer":"`...)
	b = appendJSONEscaped(b, anycase.Request(&ctx.Request.Header, "Referer"))
	b = append(b, `","user_agent":"`...)
	b = appendJSONEscaped(b, ctx.UserAgent())
	b = append(b, `","tls":"`...)
	if c, ok := ctx.Conn().(*tlsConn); ok {
		cs := c.ConnectionState()
		b = modssl.Append(b, sslProtocol, &cs)
	}
	return append(b, "\"}\n"...)
}

// sslProtocol is mod_ssl's SSL_PROTOCOL ("TLSv1.3"), the JSON log's tls.
var sslProtocol, _ = modssl.Lookup("SSL_PROTOCOL")

// logHex spells bytes in both escapes, lower-case as Apache does.
const logHex = "0123456789abcdef"

// appendLogItem writes s as Apache's mod_log_config escapes a logged item
// (ap_escape_logitem), so that tools reading Apache's logs read sluice's
// and a client cannot forge a line: '"' and '\\' get a backslash, \b \n
// \r \t \v their C notation, other control bytes and bytes from 0x7f up
// \xhh. An empty item is "-", as Apache logs a missing header.
func appendLogItem(b, s []byte) []byte {
	if len(s) == 0 {
		return append(b, '-')
	}
	return appendEscaped(b, s, clfEscape)
}

// receivedBytes is mod_logio's %I as far as the head tells it: the
// request line, the fields and the empty line, then a Content-Length
// body. A chunked body is not counted: its bytes on the wire are known to
// the exchange only.
func receivedBytes(h *fasthttp.RequestHeader) int {
	n := len(h.Method()) + 1 + len(h.RequestURI()) + 1 + len(h.Protocol()) + 2
	raw := len(h.RawHeaders())
	if raw == 0 {
		raw = 2 // the empty line alone, which fasthttp does not keep
	}
	// ContentLength is -1 for a chunked body, -2 for none.
	return n + raw + max(h.ContentLength(), 0)
}

// sentHeadBytes is the length of the response head as fasthttp writes
// it, which adds to the head the handler left: the Content-Length of a
// body set whole (an error page) and the Connection: close a client asked
// for (mod_logio counts what went out).
func sentHeadBytes(ctx *fasthttp.RequestCtx) int {
	resp := &ctx.Response
	n := len(resp.Header.Header())
	if !resp.IsBodyStream() && len(resp.Header.Peek(fasthttp.HeaderContentLength)) == 0 && !pool.Bodyless(resp.StatusCode()) {
		n += len("Content-Length: 0\r\n")
		for l := len(resp.Body()); l >= 10; l /= 10 {
			n++
		}
	}
	if !resp.ConnectionClose() && ctx.Request.Header.ConnectionClose() {
		n += len("Connection: close\r\n")
	}
	return n
}

// appendHeaderOut appends the response field name as mod_log_config's
// %{name}o does: Content-Type without its parameters, every Set-Cookie
// joined by ", ", any other field's first value.
func appendHeaderOut(b []byte, h *fasthttp.ResponseHeader, name string) []byte {
	switch {
	case strings.EqualFold(name, "Content-Type"):
		ct := anycase.Response(h, name)
		if i := bytes.IndexByte(ct, ';'); i >= 0 {
			ct = bytes.TrimRight(ct[:i], " \t")
		}
		return appendLogItem(b, ct)
	case strings.EqualFold(name, "Set-Cookie"):
		start := len(b)
		for k, v := range h.All() {
			if anycase.SameName(k, "Set-Cookie") {
				if len(b) > start {
					b = append(b, ", "...)
				}
				b = appendLogItem(b, v)
			}
		}
		if len(b) == start {
			b = append(b, '-')
		}
		return b
	}
	return appendLogItem(b, anycase.Response(h, name))
}

// appendStatus appends a status code: three digits, as every status
// sluice answers has, without strconv's general path.
func appendStatus(b []byte, status int) []byte {
	if status < 100 || status > 999 {
		return strconv.AppendInt(b, int64(status), 10)
	}
	return append(b, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10))
}

func clfEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '\v':
		return append(b, '\\', 'v')
	}
	return append(b, '\\', 'x', logHex[c>>4], logHex[c&15])
}

// appendJSONEscaped writes s inside a JSON string: '"' and '\\' get a
// backslash, and control bytes and bytes from 0x7f up are \u00hh, one per
// byte, so that the line is valid JSON whatever the client sent and each
// escape names the byte received.
func appendJSONEscaped(b, s []byte) []byte { return appendEscaped(b, s, jsonEscape) }

func jsonEscape(b []byte, c byte) []byte {
	if c == '"' || c == '\\' {
		return append(b, '\\', c)
	}
	return append(b, '\\', 'u', '0', '0', logHex[c>>4], logHex[c&15])
}

// appendEscaped appends s: its plain runs as they are, each other byte as
// escape writes it.
func appendEscaped(b, s []byte, escape func([]byte, byte) []byte) []byte {
	for {
		i := plainRun(s)
		b = append(b, s[:i]...)
		if i == len(s) {
			return b
		}
		b = escape(b, s[i])
		s = s[i+1:]
	}
}

// plainRun is the length of s's leading bytes that both logs write as they
// are (printable ASCII but '"' and '\\'): a field is nearly all such bytes,
// and appending them as one run costs a fraction of appending each.
func plainRun(s []byte) int {
	i := 0
	// Eight bytes at a time while none is below a space, from DEL up, a
	// quote or a backslash; the word with one is looked at bytewise. Each
	// test works on the bytes' low seven bits, where adding a constant
	// below 0x80 carries into no other byte: the top bit of a byte's sum
	// tells which side of a bound, or whether of a value, it is.
	for ; i+8 <= len(s); i += 8 {
		const ones, highs = 0x0101010101010101, 0x8080808080808080
		w := binary.LittleEndian.Uint64(s[i:])
		x := w &^ highs
		below := ^(x + ones*(0x80-' '))         // top bit: under a space
		del := x + ones                         // top bit: 0x7f
		quote := ^((x ^ ones*'"') + ones*0x7f)  // top bit: a quote
		slash := ^((x ^ ones*'\\') + ones*0x7f) // top bit: a backslash
		if (w|below|del|quote|slash)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if !logPlain[s[i]] {
			return i
		}
	}
	return len(s)
}

var logPlain = func() (t [256]bool) {
	for c := ' '; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendClientIP appends the request's client address (ctx.RemoteIP) as
// appendIP writes it: where that is the connection's own, its text is
// made once for all the connection's requests.
func appendClientIP(b []byte, ctx *fasthttp.RequestCtx) []byte {
	if t := clientIPText(ctx); t != nil {
		return append(b, t...)
	}
	return appendIP(b, ctx.RemoteIP())
}

// clientIPText is the connection's address as text, or nil where the
// request has another (mod_remoteip's) or the connection has none made
// once (clientConn.ipText).
func clientIPText(ctx *fasthttp.RequestCtx) []byte {
	c := clientOf(ctx.Conn())
	if c == nil || c.ipTextLen == noIPText {
		return nil
	}
	if ua := requestUA(ctx.Conn()); ua != nil && ua.tookFor == ctx.ConnRequestNum() {
		return nil
	}
	if c.ipTextLen == 0 {
		ip := peerIP(c.Conn)
		if !ip.Is4() {
			c.ipTextLen = noIPText
			return nil
		}
		c.ipTextLen = uint8(len(ip.AppendTo(c.ipText[:0])))
	}
	return c.ipText[:c.ipTextLen:c.ipTextLen]
}

// noIPText marks a connection whose address is not kept as text.
const noIPText = 0xff

// appendIP writes ip as ip.String() does.
func appendIP(b []byte, ip net.IP) []byte {
	if a, ok := netip.AddrFromSlice(ip); ok {
		return a.Unmap().AppendTo(b) // as ip.String() writes it, without allocating
	}
	return append(b, ip.String()...)
}

// appendLine writes a LogFormat line (mod_log_config's directives; see
// logformat). Values come escaped as Apache escapes them; what sluice does
// not have (a remote user, identd) is "-".
func (l *accessLog) appendLine(b []byte, ctx *fasthttp.RequestCtx, line requestLine, vh *vhost, env *modheaders.Env, now time.Time, size int) []byte {
	nv := 0
	for i := range l.items {
		it := &l.items[i]
		switch it.Directive {
		case 0:
			b = append(b, it.Literal...)
		case 'a', 'h':
			if it.Arg == "c" {
				b = appendIP(b, connPeerIP(ctx)) // %{c}a: the peer, mod_remoteip aside
				break
			}
			b = appendClientIP(b, ctx)
		case 'A':
			b = appendIP(b, ctx.LocalIP())
		case 'b', 'B':
			if size > 0 || it.Directive == 'B' {
				b = strconv.AppendInt(b, int64(size), 10)
			} else {
				b = append(b, '-')
			}
		case 'C':
			b = appendLogItem(b, ctx.Request.Header.Cookie(it.Arg))
		case 'D':
			b = strconv.AppendInt(b, now.Sub(line.at).Microseconds(), 10)
		case 'e':
			v, _ := env.Get(l.vars[nv])
			nv++
			b = appendLogItem(b, v)
		case 'H':
			b = appendLogItem(b, line.proto)
		case 'i':
			b = appendLogItem(b, anycase.Request(&ctx.Request.Header, it.Arg))
		case 'I':
			b = strconv.AppendInt(b, int64(receivedBytes(&ctx.Request.Header)), 10)
		case 'k':
			// Requests before this one on its connection: 0 for the first.
			b = strconv.AppendUint(b, max(connRequests(ctx), 1)-1, 10)
		case 'l', 'u':
			b = append(b, '-')
		case 'm':
			b = appendLogItem(b, line.method)
		case 'o':
			b = appendHeaderOut(b, &ctx.Response.Header, it.Arg)
		case 'O', 'S':
			n := sentHeadBytes(ctx) + size
			if it.Directive == 'S' {
				n += receivedBytes(&ctx.Request.Header)
			}
			b = strconv.AppendInt(b, int64(n), 10)
		case 'p':
			b = appendPort(b, ctx, vh, it.Arg)
		case 'P':
			b = strconv.AppendInt(b, int64(os.Getpid()), 10)
		case 'q':
			if q := ctx.URI().QueryString(); len(q) > 0 && line.method != nil {
				b = appendLogItem(append(b, '?'), q)
			}
		case 'r':
			b = appendRequestLine(b, line)
		case 's':
			b = appendStatus(b, ctx.Response.StatusCode())
		case 't':
			b = appendTime(b, it, line.at)
		case 'T':
			d := now.Sub(line.at)
			switch it.Arg {
			case "ms":
				b = strconv.AppendInt(b, d.Milliseconds(), 10)
			case "us":
				b = strconv.AppendInt(b, d.Microseconds(), 10)
			default:
				b = strconv.AppendInt(b, int64(d/time.Second), 10)
			}
		case 'U':
			if line.method == nil {
				b = append(b, '-')
			} else {
				b = appendLogItem(b, ctx.Path())
			}
		case 'v':
			if vh != nil {
				b = append(b, vh.serverName...)
			}
		case 'V':
			// Apache's ap_get_server_name: the Host without its port or a
			// trailing dot (fix_hostname), else the ServerName.
			h := ctx.Host()
			if i := lastColon(h); i >= 0 {
				h = h[:i]
			}
			if n := len(h); n > 1 && h[n-1] == '.' {
				h = h[:n-1]
			}
			if len(h) == 0 && vh != nil && vh.serverName != "" {
				b = append(b, vh.serverName...)
				break
			}
			b = appendLogItem(b, h)
		case 'X':
			switch {
			case ctx.Response.StatusCode() == statusClientGone:
				b = append(b, 'X') // the client left before its answer (mod_logio's aborted)
			case ctx.Response.ConnectionClose() || ctx.Request.Header.ConnectionClose():
				b = append(b, '-')
			default:
				b = append(b, '+')
			}
		}
	}
	return append(b, '\n')
}

// appendTime writes %t: the request's start, [02/Jan/2006:15:04:05 -0700]
// by default, else the strftime format or unit of %{…}t.
func appendTime(b []byte, it *logformat.Item, t time.Time) []byte {
	switch it.Unit {
	case "sec":
		return strconv.AppendInt(b, t.Unix(), 10)
	case "msec":
		return strconv.AppendInt(b, t.UnixMilli(), 10)
	case "usec":
		return strconv.AppendInt(b, t.UnixMicro(), 10)
	case "msec_frac":
		return appendPadded(b, int64(t.Nanosecond()/1e6), 3)
	case "usec_frac":
		return appendPadded(b, int64(t.Nanosecond()/1e3), 6)
	}
	if it.Time == nil {
		return clfTimes.appendTo(b, t)
	}
	for _, p := range it.Time {
		if p.Layout == "" {
			b = append(b, p.Literal...)
		} else {
			b = t.AppendFormat(b, p.Layout)
		}
	}
	return b
}

func appendPadded(b []byte, n int64, width int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, n, 10)
	for len(b)-start < width {
		b = append(b[:start+1], b[start:]...)
		b[start] = '0'
	}
	return b
}

// appendPort writes %p: as Apache, the port of the vhost's ServerName,
// else the scheme's default (canonical), the listener's (local), or the
// client's (remote).
func appendPort(b []byte, ctx *fasthttp.RequestCtx, vh *vhost, which string) []byte {
	if which == "remote" {
		n := len(b)
		if b = remotePort(b, ctx); len(b) == n {
			b = append(b, '-')
		}
		return b
	}
	if which != "local" && vh != nil {
		switch {
		case vh.namePort != "":
			return append(b, vh.namePort...)
		case ctx.IsTLS():
			return append(b, "443"...)
		}
		return append(b, "80"...)
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		return strconv.AppendInt(b, int64(a.Port), 10)
	}
	return append(b, '-')
}
