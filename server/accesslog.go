package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/modssl"
)

// accessLog writes one line per request in Apache common or combined
// format, or as JSON. Lines are built in a pooled buffer and written under
// a short lock to a buffered writer flushed every second and on close.
// A nil *accessLog logs nothing.
type accessLog struct {
	format string
	mu     sync.Mutex
	w      *bufio.Writer
	f      io.Closer
	stop   chan struct{}
	done   chan struct{}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func openAccessLog(c config.AccessLog) (*accessLog, error) {
	if c.Path == "" {
		return nil, nil
	}
	format := c.Format
	if format == "" {
		format = "combined"
	}
	switch format {
	case "common", "combined", "json":
	default:
		return nil, fmt.Errorf("access log format %q: allowed common, combined, json", format)
	}
	var (
		out io.Writer
		cl  io.Closer
	)
	if c.Path == "stdout" {
		out = os.Stdout
	} else {
		f, err := os.OpenFile(c.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot open access log %q: %w", c.Path, err)
		}
		out, cl = f, f
	}
	l := &accessLog{format: format, w: bufio.NewWriterSize(out, 64<<10), f: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

func (l *accessLog) flusher() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

func (l *accessLog) close() {
	if l == nil {
		return
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	_ = l.w.Flush()
	l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
	}
}

// log records the request in ctx, answered with the response status and
// size bytes of body.
func (l *accessLog) log(ctx *fasthttp.RequestCtx, now time.Time, size int) {
	if l == nil {
		return
	}
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if l.format == "json" {
		b = appendJSONLine(b, ctx, now, size)
	} else {
		b = appendCLFLine(b, ctx, now, size, l.format == "combined")
	}
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
	*bp = b
	lineBufs.Put(bp)
}

func appendCLFLine(b []byte, ctx *fasthttp.RequestCtx, now time.Time, size int, combined bool) []byte {
	b = appendIP(b, ctx.RemoteIP())
	b = append(b, " - - ["...)
	b = now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendLogItem(b, ctx.Method())
	b = append(b, ' ')
	b = appendLogItem(b, ctx.RequestURI())
	b = append(b, ' ')
	b = appendLogItem(b, ctx.Request.Header.Protocol())
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, ' ')
	if size > 0 {
		b = strconv.AppendInt(b, int64(size), 10)
	} else {
		b = append(b, '-')
	}
	if combined {
		b = append(b, " \""...)
		b = appendLogItem(b, ctx.Referer())
		b = append(b, "\" \""...)
		b = appendLogItem(b, ctx.UserAgent())
		b = append(b, '"')
	}
	return append(b, '\n')
}

func appendJSONLine(b []byte, ctx *fasthttp.RequestCtx, now time.Time, size int) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","remote":"`...)
	b = appendIP(b, ctx.RemoteIP())
	b = append(b, `","method":"`...)
	b = appendJSONEscaped(b, ctx.Method())
	b = append(b, `","uri":"`...)
	b = appendJSONEscaped(b, ctx.RequestURI())
	b = append(b, `","proto":"`...)
	b = appendJSONEscaped(b, ctx.Request.Header.Protocol())
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(ctx.Response.StatusCode()), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, now.Sub(ctx.Time()).Microseconds(), 10)
	b = append(b, `,"referer":"`...)
	b = appendJSONEscaped(b, ctx.Referer())
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
	for _, c := range s {
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\v':
			b = append(b, '\\', 'v')
		default:
			if c < 0x20 || c >= 0x7f {
				b = append(b, '\\', 'x', logHex[c>>4], logHex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return b
}

// appendJSONEscaped writes s inside a JSON string: '"' and '\\' get a
// backslash, and control bytes and bytes from 0x7f up are \u00hh, one per
// byte, so that the line is valid JSON whatever the client sent and each
// escape names the byte received.
func appendJSONEscaped(b, s []byte) []byte {
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'u', '0', '0', logHex[c>>4], logHex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendIP writes an IPv4 address without allocating; others via String.
func appendIP(b []byte, ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		for i, octet := range v4 {
			if i > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendInt(b, int64(octet), 10)
		}
		return b
	}
	return append(b, ip.String()...)
}
