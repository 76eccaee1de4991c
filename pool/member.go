package pool

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/config"
)

// DefaultRetry is how long a member in error is skipped (Apache's retry=60).
const DefaultRetry = 60 * time.Second

// Member is one worker: a balancer member or the target of a direct
// ProxyPass. Its fields are immutable once built; the hot state is in State,
// shared with every later snapshot that keeps the same identity.
type Member struct {
	// ID is the identity that keys State: "balancer://name|URL", or "|URL"
	// for a direct worker.
	ID string
	// Name is the normalized worker URL ("http://b1:8080", "http://h/app/").
	Name string
	// Scheme is http, https, ws, wss or fcgi.
	Scheme string
	// Addr is host:port to dial, or the socket's path with Socket.
	Addr string
	// Socket marks a Unix domain socket member, Apache's
	// "unix:/path|fcgi://name/": Addr is the socket's path, and the name
	// after "|" gives Host and SCRIPT_FILENAME.
	Socket bool
	// Proto is the protocol the member speaks.
	Proto Protocol
	// HostHeader is host[:port] as sent in Host, the default port omitted.
	HostHeader string
	// Path is the URL path of the worker ("" or "/app/").
	Path string
	// TLS is true for https and wss.
	TLS bool

	LBFactor int64 // loadfactor × 100 (100..10000)
	LBSet    int
	Route    string
	Redirect string
	Retry    time.Duration
	// Index is the member's position in its snapshot.
	Index int

	Params config.WorkerParams
	State  *State
	// Backend is the member's connection pool; set by the server when it
	// builds the runtime from a config.
	Backend *Backend
}

// MemberID is the identity of a member of balancer (empty for a direct
// worker) with the normalized URL name.
func MemberID(balancer, name string) string {
	if balancer == "" {
		return "|" + name
	}
	return "balancer://" + balancer + "|" + name
}

// Protocol is what a member speaks.
type Protocol uint8

const (
	HTTP    Protocol = iota // http://, https://, ws://, wss://
	FastCGI                 // fcgi:// (mod_proxy_fcgi)
	AJP                     // ajp:// (mod_proxy_ajp)
)

func protocolOf(scheme string) Protocol {
	switch scheme {
	case "fcgi":
		return FastCGI
	case "ajp":
		return AJP
	}
	return HTTP
}

// NewMember builds a member from its normalized URL and parameters. direct
// marks a ProxyPass worker, which always has I (Apache gives non-balancer
// workers ignore-errors). The member's State comes from reg; configured
// status flags are applied when the state is new or the configured status
// changed since the last build.
func NewMember(reg *Registry, balancer, rawURL string, p config.WorkerParams, direct bool) (*Member, error) {
	socket, target, isSocket := config.SplitSocketURL(rawURL)
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("cannot parse member URL %q: %w", rawURL, err)
	}
	scheme := strings.ToLower(u.Scheme)
	var defPort string
	switch scheme {
	case "http", "ws":
		defPort = "80"
	case "https", "wss":
		defPort = "443"
	case "fcgi":
		defPort = "8000" // Apache's default for fcgi://
	case "ajp":
		defPort = "8009"
	default:
		return nil, fmt.Errorf("member URL %q: scheme %q is not supported (use http, https, ws, wss, fcgi or ajp)", rawURL, u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return nil, fmt.Errorf("member URL %q has no host", rawURL)
	}
	port := u.Port()
	hostHeader := host
	if strings.Contains(host, ":") {
		hostHeader = "[" + host + "]"
	}
	if port == "" {
		port = defPort
	} else if port != defPort {
		hostHeader += ":" + port
	}
	m := &Member{
		Name:       rawURL,
		Scheme:     scheme,
		Addr:       net.JoinHostPort(host, port),
		HostHeader: hostHeader,
		Path:       u.EscapedPath(),
		TLS:        scheme == "https" || scheme == "wss",
		Proto:      protocolOf(scheme),
		LBSet:      p.LBSet,
		Route:      p.Route,
		Redirect:   p.Redirect,
		Retry:      DefaultRetry,
		Params:     p,
	}
	if isSocket {
		if socket == "" || socket[0] != '/' {
			return nil, fmt.Errorf("member URL %q: the socket must be an absolute path: unix:/run/app.sock|fcgi://localhost/", rawURL)
		}
		m.Addr, m.Socket = socket, true
	}
	m.ID = MemberID(balancer, rawURL)
	lf := p.LoadFactor
	if lf == 0 {
		lf = 1
	}
	// Rounded, not truncated as Apache does: 1.13 is 112.999… hundredths,
	// and the admin shows and persists lbfactor/100, which must read back
	// the same.
	m.LBFactor = int64(math.Round(lf * 100))
	if p.RetrySet || p.Retry != 0 {
		m.Retry = time.Duration(p.Retry)
	}
	want := FlagInit
	if direct {
		want |= FlagIgnoreErrors
	}
	want, bad, ok := ApplyStatus(want, p.Status)
	if !ok {
		return nil, fmt.Errorf("member %q: unknown status letter %q (allowed: D S I H R E N C)", rawURL, bad)
	}
	st, created := reg.State(m.ID)
	if created || Flags(st.configured.Load()) != want {
		st.StoreFlags(want)
		st.configured.Store(uint32(want))
	}
	m.State = st
	return m, nil
}
