package headers

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// MaxFields is the most header fields Check accepts in one request, Apache's
// LimitRequestFields default. It also bounds the per-request work of
// Request, which is quadratic in the number of fields when it rebuilds.
const MaxFields = 100

// Reasons Check gives. They are constants: nothing the client sent is
// echoed back.
const (
	reasonVersion      = "HTTP version not supported"
	reasonConnect      = "CONNECT is not supported by this reverse proxy"
	reasonTrace        = "TRACE is not allowed"
	reasonTooMany      = "too many header fields"
	reasonFieldName    = "invalid header field name"
	reasonFieldValue   = "invalid header field value"
	reasonLineEnd      = "header line not ended by CRLF"
	reasonFold         = "obsolete line folding is not allowed"
	reasonFraming      = "both Content-Length and Transfer-Encoding"
	reasonCoding       = "unsupported transfer coding"
	reasonHost         = "invalid Host header"
	reasonTarget       = "invalid request target"
	reasonUserinfo     = "userinfo is not allowed in the request target"
	reasonHostMismatch = "request target authority does not match Host"
)

// Check inspects a parsed client request and reports what a front proxy
// must refuse before anything is forwarded (threats.md §1–2); status 0 means
// the request may go on. reason is a short constant text, safe to send.
// l gets what Check saw of the fields on the way (an Upgrade field, the
// Cookie field, where each field is), for a request that may go on:
// looking for either field through fasthttp's header parses the request's
// cookies, and the outbound fields are built from the table
// (AppendRequestFields).
//
// fasthttp rejects most malformed requests itself; Check covers what it
// accepts (threats.md §1.2):
//   - a request line version other than HTTP/1.0 or HTTP/1.1: 505;
//   - CONNECT and TRACE: 405 (no Allow: the backends' methods are unknown);
//   - more than MaxFields fields: 431;
//   - a field name with a space, an obs-fold line, a bare LF, CR or NUL in
//     the header block: 400;
//   - Content-Length with Transfer-Encoding (fasthttp drops the length and
//     reads chunked): 400; Transfer-Encoding other than chunked: 501;
//   - a Host that is not a plain host name, dotted-decimal IPv4 or IPv6
//     literal with an optional port of at most 65535, or a Host or target
//     with userinfo: 400;
//   - an absolute-form target that is not http(s), or whose authority
//     differs from Host: 400; "*" for any method but OPTIONS: 400; a
//     target with a fragment ("#"): 400.
//
// The server should close the connection after any refusal: the request's
// framing is not to be trusted.
func Check(ctx *fasthttp.RequestCtx, l *Lines) (status int, reason string) {
	if status, reason = checkRequest(ctx, l); status != 0 {
		l.Release()
	}
	return status, reason
}

func checkRequest(ctx *fasthttp.RequestCtx, l *Lines) (status int, reason string) {
	h := &ctx.Request.Header
	proto := h.Protocol()
	http10 := string(proto) == "HTTP/1.0"
	if !http10 && string(proto) != "HTTP/1.1" {
		return fasthttp.StatusHTTPVersionNotSupported, reasonVersion
	}
	if h.IsConnect() {
		return fasthttp.StatusMethodNotAllowed, reasonConnect
	}
	if h.IsTrace() {
		return fasthttp.StatusMethodNotAllowed, reasonTrace
	}
	if status, reason = checkFields(h.RawHeaders(), l); status != 0 {
		return status, reason
	}
	host := h.Host()
	if (len(host) == 0 && !http10) || (len(host) > 0 && !validHost(host)) {
		return fasthttp.StatusBadRequest, reasonHost
	}
	return checkTarget(h.RequestURI(), h.IsOptions(), host)
}

// checkTarget checks the request target against the method and Host.
func checkTarget(target []byte, options bool, host []byte) (int, string) {
	// A fragment is not part of any request-target form (RFC 9112 §3.2):
	// routing on the part before it and forwarding another would differ.
	if bytes.IndexByte(target, '#') >= 0 {
		return fasthttp.StatusBadRequest, reasonTarget
	}
	if len(target) == 1 && target[0] == '*' {
		if options {
			return 0, ""
		}
		return fasthttp.StatusBadRequest, reasonTarget
	}
	if len(target) > 0 && target[0] == '/' {
		return 0, ""
	}
	scheme, rest, ok := bytes.Cut(target, []byte("://"))
	if !ok {
		return fasthttp.StatusBadRequest, reasonTarget
	}
	var defaultPort string
	switch {
	case equalFold(scheme, "http"):
		defaultPort = "80"
	case equalFold(scheme, "https"):
		defaultPort = "443"
	default:
		return fasthttp.StatusBadRequest, reasonTarget
	}
	authority := rest
	if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if bytes.IndexByte(authority, '@') >= 0 {
		return fasthttp.StatusBadRequest, reasonUserinfo
	}
	if !validHost(authority) {
		return fasthttp.StatusBadRequest, reasonTarget
	}
	// An HTTP/1.0 client may send no Host: the target names the authority.
	if len(host) > 0 && !sameAuthority(authority, host, defaultPort) {
		return fasthttp.StatusBadRequest, reasonHostMismatch
	}
	return 0, ""
}
