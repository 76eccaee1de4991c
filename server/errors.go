package server

import (
	"errors"
	"net"
	"os"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/ajp"
	"github.com/sluiceproxy/sluice/fastcgi"
	"github.com/sluiceproxy/sluice/pool"
)

// Sentinel errors of the request path. Their text is for logs only: what a
// client sees comes from statusFor and errorPage, never from err.Error().
var (
	errNoMember     = errors.New("sluice: no usable member")
	errBodyTooLarge = errors.New("sluice: request body too large")
	errBadUpgrade   = errors.New("sluice: backend refused the upgrade")
	// The client's body ended before its length or last chunk.
	errBodyCut = errors.New("sluice: request body cut short")
	// A client connection over max_conns_per_ip, or over max_conns.
	errTooManyFromIP = errors.New("sluice: too many connections from one address")
	errTooManyConns  = errors.New("sluice: too many connections")
	// A balancer changed between fcgi:// and HTTP members while a request
	// was prepared for the other kind; nothing was sent.
	errProtocolChanged = errors.New("sluice: the balancer's members changed protocol")
)

// statusFor is the one place that maps a failure to the status the client
// gets (docs/compatibility.md lists where this differs from Apache):
//   - no usable member, connect failure, pool acquire timeout: 503
//   - backend read or write timeout: 504 (Apache answers 502)
//   - request body over the limit: 413; request fields over an AJP
//     container's packet: 431
//   - anything else from the backend (malformed or cut response): 502
//   - a client connection over max_conns_per_ip: 429; over max_conns: 503
func statusFor(err error) int {
	var dial *pool.DialError
	switch {
	case errors.Is(err, errNoMember), errors.As(err, &dial),
		errors.Is(err, pool.ErrNoFreeConns), errors.Is(err, errTooManyConns),
		errors.Is(err, errProtocolChanged), errors.Is(err, fastcgi.ErrOverloaded):
		return fasthttp.StatusServiceUnavailable
	case errors.Is(err, errTooManyFromIP):
		return fasthttp.StatusTooManyRequests
	case errors.Is(err, errBodyTooLarge), errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, ajp.ErrTooLarge):
		// The request's fields do not fit the container's packet.
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case isTimeout(err):
		return fasthttp.StatusGatewayTimeout
	case errors.Is(err, pool.ErrClientGone):
		return statusClientGone
	}
	return fasthttp.StatusBadGateway
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failover reports whether err allows trying another member: only when
// nothing of the request reached the member (Apache fails over on 503 from
// the scheme handler: connect refused or timed out, acquire timeout).
func failover(err error) bool { return statusFor(err) == fasthttp.StatusServiceUnavailable }

// allowedMethods is what sluice proxies; CONNECT and TRACE are refused.
const allowedMethods = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"

var errorTitles = map[int]string{
	400: "Bad Request",
	404: "Not Found",
	405: "Method Not Allowed",
	413: "Content Too Large",
	421: "Misdirected Request",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	502: "Proxy Error",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
}

// errorPage writes a small HTML error response. It never includes backend
// addresses or error text.
func errorPage(ctx *fasthttp.RequestCtx, status int) {
	title, ok := errorTitles[status]
	if !ok {
		title = fasthttp.StatusMessage(status)
	}
	ctx.Response.Reset()
	ctx.Response.Header.DisableNormalizing()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	if status == fasthttp.StatusMethodNotAllowed {
		ctx.Response.Header.Set("Allow", allowedMethods)
	}
	code := strconv.Itoa(status)
	ctx.SetBodyString("<!DOCTYPE html>\n<html><head><title>" + code + " " + title +
		"</title></head><body><h1>" + title + "</h1></body></html>\n")
}
