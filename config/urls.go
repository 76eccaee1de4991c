package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

const balancerScheme = "balancer://"

// defaultPorts are the schemes sluice can proxy to, with the port Apache
// drops from a worker name.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "fcgi": "8000", "ajp": "8009"}

// DefaultPort is the port a worker URL of scheme has when it names none
// ("8009" for ajp); "" for a scheme sluice does not proxy to.
func DefaultPort(scheme string) string { return defaultPorts[strings.ToLower(scheme)] }

// SplitSocketURL splits Apache's Unix domain socket form
// "unix:/path|scheme://name/path" into the socket's path and the URL after
// "|"; ok is false, and url raw, for any other URL.
func SplitSocketURL(raw string) (socket, url string, ok bool) {
	if len(raw) < len("unix:") || !strings.EqualFold(raw[:len("unix:")], "unix:") {
		return "", raw, false
	}
	socket, url, ok = strings.Cut(raw[len("unix:"):], "|")
	if !ok {
		return "", raw, false
	}
	return socket, url, true
}

// WorkerProtocol is what a normalized worker URL speaks: "fcgi", "ajp",
// or "http" (for http, https, ws and wss), over TCP or a Unix domain
// socket.
func WorkerProtocol(worker string) string {
	_, u, _ := SplitSocketURL(worker)
	switch {
	case strings.HasPrefix(u, "fcgi://"):
		return "fcgi"
	case strings.HasPrefix(u, "ajp://"):
		return "ajp"
	}
	return "http"
}

// isBalancerURL reports whether u names a balancer (case-insensitive scheme).
func isBalancerURL(u string) bool {
	return len(u) >= len(balancerScheme) && strings.EqualFold(u[:len(balancerScheme)], balancerScheme)
}

// splitBalancerURL returns the lower-cased name and the path after it of
// "balancer://Name/path".
func splitBalancerURL(u string) (name, path string, err error) {
	rest := u[len(balancerScheme):]
	name, path = rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		name, path = rest[:i], rest[i:]
	}
	if name == "" {
		return "", "", errors.New("balancer URL has no name")
	}
	if strings.ContainsAny(name, " \t?#@:") || strings.ContainsAny(path, " \t?#") {
		return "", "", errors.New("balancer URL must be balancer://name[/path] without query, port or spaces")
	}
	return strings.ToLower(name), path, nil
}

// normalizeBalancerURL lower-cases the balancer name and keeps the path.
func normalizeBalancerURL(u string) (string, error) {
	name, path, err := splitBalancerURL(u)
	if err != nil {
		return "", err
	}
	return balancerScheme + name + path, nil
}

// workerURL normalizes a backend URL the way Apache names workers: scheme and
// host lower-cased, the default port dropped, the path (and any trailing
// slash) kept. match marks a ProxyPassMatch target, whose $N may fill in
// the path but not the host.
func workerURL(raw string, match bool) (string, error) {
	if socket, target, ok := SplitSocketURL(raw); ok {
		// Apache's mod_proxy: the socket is dialled, the URL after "|"
		// names the worker's scheme, Host and (fcgi) SCRIPT_FILENAME.
		switch {
		case !strings.HasPrefix(socket, "/"):
			return "", fmt.Errorf("the socket %q must be an absolute path: unix:/run/app.sock|fcgi://localhost/", socket)
		case strings.ContainsAny(socket, " \t\r\n|?#"):
			return "", fmt.Errorf("the socket path %q has a character that is not allowed", socket)
		}
		u, err := workerURL(target, match)
		if err != nil {
			return "", err
		}
		return "unix:" + socket + "|" + u, nil
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 || strings.Trim(strings.ToLower(raw[:colon]), "abcdefghijklmnopqrstuvwxyz0123456789+.-") != "" {
		return "", errors.New("is not an absolute URL: use http://host[:port][/path]")
	}
	scheme := strings.ToLower(raw[:colon])
	defPort, known := defaultPorts[scheme]
	if !known {
		return "", fmt.Errorf("scheme %q is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)", scheme)
	}
	rest, ok := strings.CutPrefix(raw[colon:], "://")
	if !ok {
		return "", errors.New("is not an absolute URL: use http://host[:port][/path]")
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if strings.ContainsAny(authority+path, "?#") {
		return "", errors.New("a worker URL cannot have a query string or fragment")
	}
	if strings.ContainsAny(authority+path, " \t\r\n") {
		return "", errors.New("a worker URL cannot contain spaces")
	}
	if strings.Contains(authority, "@") {
		return "", errors.New("a worker URL cannot carry user:password@")
	}
	if match && strings.Contains(authority, "$") {
		// Apache would let the request choose the backend (docs/compatibility.md).
		return "", errors.New("$N cannot choose the host: write the backend's host and port out (sluice proxies only to hosts its configuration names)")
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return "", err
	}
	host = strings.ToLower(host)
	if port == defPort {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + path, nil
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port" and checks
// the port.
func splitHostPort(a string) (host, port string, err error) {
	switch {
	case strings.HasPrefix(a, "["):
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", errors.New("has an unclosed [ in the host")
		}
		host, rest := a[1:end], a[end+1:]
		if net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("host %q is not an IPv6 address", host)
		}
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", "", errors.New("has junk after the IPv6 address")
			}
			port = p
		}
		if port != "" {
			if err := checkPort(port); err != nil {
				return "", "", err
			}
		}
		return host, port, nil
	case strings.Count(a, ":") > 1:
		return "", "", errors.New("an IPv6 host must be written in brackets: [::1]")
	}
	host, port, _ = strings.Cut(a, ":")
	if host == "" {
		return "", "", errors.New("has no host")
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", "", fmt.Errorf("host %q has a character that is not allowed: %q", host, c)
		}
	}
	if strings.Contains(a, ":") {
		if err := checkPort(port); err != nil {
			return "", "", err
		}
	}
	return host, port, nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || p[0] == '+' || p[0] == '0' {
		return fmt.Errorf("port %q must be a number between 1 and 65535", p)
	}
	return nil
}

// listenAddr normalizes a Listen value: "80" and "*:80" become ":80",
// "127.0.0.1:8080" and "[::1]:80" stay as they are.
func listenAddr(v string) (string, error) {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		return ":" + v, checkPort(v)
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("must be port, host:port or [ipv6]:port")
	}
	// Port 0 lets the kernel pick one; sluice logs the bound address.
	if port != "0" {
		if err := checkPort(port); err != nil {
			return "", err
		}
	}
	if host == "*" || host == "" {
		return ":" + port, nil
	}
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return "", fmt.Errorf("host %q is not an IPv6 address", host)
		}
		return "[" + host + "]:" + port, nil
	}
	if strings.ContainsAny(host, " \t/") {
		return "", fmt.Errorf("host %q is not a host name or address", host)
	}
	return strings.ToLower(host) + ":" + port, nil
}

// VHostAddr is one <VirtualHost> address: an IP (the zero Addr for *,
// _default_, 0.0.0.0, :: or a host name) and a port (0 for * or none).
type VHostAddr struct {
	IP   netip.Addr
	Port int
}

// ParseVHostAddr reads "*:80", "_default_:443", "192.0.2.1:8080", "*",
// "[::1]:80", "*:*". A host name answers on every address with its port:
// sluice resolves no names at load.
func ParseVHostAddr(a string) (VHostAddr, error) {
	host, port := a, ""
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	}
	var va VHostAddr
	if port != "" && port != "*" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return va, errors.New("the port must be a number from 1 to 65535, or *")
		}
		va.Port = n
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && !ip.IsUnspecified() {
		va.IP = ip.Unmap()
	}
	return va, nil
}

// SplitServerName splits a ServerName into its host and port ("" without
// one), dropping any scheme: "https://www.example.com:8443" gives
// "www.example.com" and "8443".
func SplitServerName(n string) (host, port string) {
	if i := strings.Index(n, "://"); i >= 0 {
		n = n[i+3:]
	}
	if h, p, err := net.SplitHostPort(n); err == nil {
		return h, p
	}
	return n, ""
}
