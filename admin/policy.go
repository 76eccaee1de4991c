package admin

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/config"
)

// checkDestination is the add-time half of the SSRF defence (threats.md
// ADM-04): the host of a new member's URL, already normalized by
// config.ValidateBalancer, must be a name or a canonical IP literal, and
// every address it resolves to must pass the member policy. The member's
// Backend repeats the address check at every dial. Without a policy
// (Options.Members nil) nothing is checked.
func (a *Admin) checkDestination(url string) error {
	p := a.opts.Members
	if p == nil {
		return nil
	}
	host, port, err := urlHostPort(url)
	if err == nil {
		err = hostSyntax(host)
	}
	if err == nil {
		_, err = p.Resolve(context.Background(), host, port)
	}
	if err != nil {
		return &inputError{field: "url", value: strconv.Quote(url), msg: "cannot add a member there: " + err.Error()}
	}
	return nil
}

// urlHostPort splits a normalized member URL's authority, the default
// port filled in.
func urlHostPort(url string) (string, uint16, error) {
	scheme, rest, _ := strings.Cut(url, "://")
	authority, _, _ := strings.Cut(rest, "/")
	port := config.DefaultPort(scheme)
	host := authority
	if h, p, err := net.SplitHostPort(authority); err == nil {
		host, port = h, p
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", 0, errBadPort
	}
	return host, uint16(n), nil
}

var errBadPort = &inputError{msg: "the port must be a number between 1 and 65535"}

// hostSyntax refuses host spellings that resolvers read differently:
// zone IDs and %-escapes, and IPv4 addresses written other than as four
// decimal numbers (0x7f.1, 2130706433, 017700000001, 127.000.000.001),
// which inet_aton turns into 127.0.0.1. A host whose last label is a
// number is an IPv4 address, as the WHATWG URL standard reads it.
func hostSyntax(host string) error {
	if strings.Contains(host, "%") {
		return &inputError{msg: "host " + strconv.Quote(host) + " has a zone ID or a %-escape"}
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return &inputError{msg: "host " + strconv.Quote(host) + " is not an IPv6 address"}
		}
		return nil
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if !numeric(labels[len(labels)-1]) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() && ip.String() == host {
		return nil
	}
	return &inputError{msg: "host " + strconv.Quote(host) + " is not a canonical IPv4 address: write four decimal numbers without leading zeros, such as 10.0.0.5"}
}

// numeric reports a decimal or 0x-hexadecimal number.
func numeric(label string) bool {
	if h, ok := strings.CutPrefix(strings.ToLower(label), "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return label != "" && strings.Trim(label, "0123456789") == ""
}
