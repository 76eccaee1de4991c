package modrewrite

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/modssl"
)

// Request is what rules read from the request being served. The server
// fills it once per request; Path is the decoded URL-path as it arrived
// (REQUEST_URI keeps it while rules rewrite their own copy).
type Request struct {
	Method  []byte
	Path    []byte // decoded URL-path
	RawPath []byte // the path as the client sent it, for the %3F check
	Query   []byte // raw query string, without '?'
	Host    []byte // the Host field
	HTTPS   bool
	// TLS is the connection's TLS state where a rule reads mod_ssl's
	// variables (modheaders' %{VAR}s); nil otherwise.
	TLS    *tls.ConnectionState
	Header *fasthttp.RequestHeader

	ServerName string
	ServerPort []byte
	RemoteAddr []byte
	// Conn, when set, makes ServerPort and RemoteAddr where they are nil
	// and a rule reads them: each costs a formatting, and most rules
	// read neither.
	Conn         ConnVars
	DocumentRoot string
	// Env has the variables set before the rules run (SetEnvIf), which
	// %{ENV:NAME} reads after those of earlier [E=] flags; nil: none.
	Env EnvLookup
}

// ConnVars makes a request's SERVER_PORT and REMOTE_ADDR on demand.
type ConnVars interface {
	ServerPort() []byte
	RemoteAddr() []byte
}

// Port is r's SERVER_PORT.
func (r *Request) Port() []byte {
	if r.ServerPort == nil && r.Conn != nil {
		r.ServerPort = r.Conn.ServerPort()
	}
	return r.ServerPort
}

// Addr is r's REMOTE_ADDR.
func (r *Request) Addr() []byte {
	if r.RemoteAddr == nil && r.Conn != nil {
		r.RemoteAddr = r.Conn.RemoteAddr()
	}
	return r.RemoteAddr
}

// EnvLookup reads a variable by name.
type EnvLookup interface {
	LookupEnv(name string) ([]byte, bool)
}

type varKind uint8

const (
	varHeader varKind = iota
	varURI
	varQuery
	varMethod
	varScheme
	varHTTPS
	varHost
	varServerName
	varServerPort
	varRemoteAddr
	varDocRoot
	varSSL
)

// variable is one %{NAME} a rule, a condition or a header value reads.
type variable struct {
	kind   varKind
	header string     // varHeader: the field name
	ssl    modssl.Var // varSSL
}

// namedVars are the server variables sluice knows, by mod_rewrite's names.
var namedVars = map[string]variable{
	"REQUEST_URI":           {kind: varURI},
	"REQUEST_FILENAME":      {kind: varURI}, // in server context, the URL-path
	"QUERY_STRING":          {kind: varQuery},
	"REQUEST_METHOD":        {kind: varMethod},
	"REQUEST_SCHEME":        {kind: varScheme},
	"HTTPS":                 {kind: varHTTPS},
	"HTTP_HOST":             {kind: varHost},
	"SERVER_NAME":           {kind: varServerName},
	"SERVER_PORT":           {kind: varServerPort},
	"REMOTE_ADDR":           {kind: varRemoteAddr},
	"DOCUMENT_ROOT":         {kind: varDocRoot},
	"HTTP_ACCEPT":           {kind: varHeader, header: "Accept"},
	"HTTP_COOKIE":           {kind: varHeader, header: "Cookie"},
	"HTTP_FORWARDED":        {kind: varHeader, header: "Forwarded"},
	"HTTP_PROXY_CONNECTION": {kind: varHeader, header: "Proxy-Connection"},
	"HTTP_REFERER":          {kind: varHeader, header: "Referer"},
	"HTTP_USER_AGENT":       {kind: varHeader, header: "User-Agent"},
}

// parseVar resolves a variable name: one of namedVars, HTTP:Field (whose
// prefix Apache reads in any case), or one of mod_ssl's, as SSL:NAME
// (mod_rewrite) or NAME (ap_expr, mod_headers' expr=).
func parseVar(name string) (variable, error) {
	if len(name) >= 5 && strings.EqualFold(name[:5], "HTTP:") {
		f := name[5:]
		if f == "" {
			return variable{}, fmt.Errorf("%%{%s} names no header field", name)
		}
		return variable{kind: varHeader, header: f}, nil
	}
	if v, ok := namedVars[strings.ToUpper(name)]; ok {
		return v, nil
	}
	if ssl, ok := strings.CutPrefix(name, "SSL:"); ok || strings.HasPrefix(name, "SSL_") {
		v, err := modssl.Lookup(ssl)
		if err != nil {
			return variable{}, err
		}
		return variable{kind: varSSL, ssl: v}, nil
	}
	return variable{}, fmt.Errorf("variable %%{%s} is not supported (known: HTTP:Name, %s)", name, strings.Join(knownVarNames(), ", "))
}

func knownVarNames() []string {
	return []string{"HTTP_HOST", "HTTP_USER_AGENT", "HTTP_REFERER", "HTTP_COOKIE", "HTTP_ACCEPT", "HTTP_FORWARDED",
		"REQUEST_URI", "REQUEST_FILENAME", "QUERY_STRING", "REQUEST_METHOD", "REQUEST_SCHEME", "HTTPS",
		"SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "DOCUMENT_ROOT"}
}

// appendTo appends the variable's value for r to dst.
func (v variable) appendTo(dst []byte, r *Request) []byte {
	switch v.kind {
	case varHeader:
		return append(dst, HeaderValue(r.Header, v.header)...)
	case varURI:
		return append(dst, r.Path...)
	case varQuery:
		return append(dst, r.Query...)
	case varMethod:
		return append(dst, r.Method...)
	case varScheme:
		if r.HTTPS {
			return append(dst, "https"...)
		}
		return append(dst, "http"...)
	case varHTTPS:
		if r.HTTPS {
			return append(dst, "on"...)
		}
		return append(dst, "off"...)
	case varHost:
		return append(dst, r.Host...)
	case varServerName:
		return append(dst, r.ServerName...)
	case varServerPort:
		return append(dst, r.Port()...)
	case varRemoteAddr:
		return append(dst, r.Addr()...)
	case varDocRoot:
		return append(dst, r.DocumentRoot...)
	case varSSL:
		return modssl.Append(dst, v.ssl, r.TLS)
	}
	return dst
}

// HeaderValue returns the first field named name (any case) of h, or nil.
// Several fields of one name are joined by Apache into one value; sluice
// reads the first, which is what every real config tests (Upgrade,
// Connection, Host).
func HeaderValue(h *fasthttp.RequestHeader, name string) []byte {
	if h == nil {
		return nil
	}
	if strings.EqualFold(name, "Host") {
		return h.Host()
	}
	return anycase.Request(h, name)
}
