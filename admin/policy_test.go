package admin

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// ipResolver answers member lookups from a map.
type ipResolver map[string][]string

func (r ipResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	v, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(v))
	for i, s := range v {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

var testNames = ipResolver{
	"b3":         {"10.0.0.3"},
	"b4":         {"10.1.0.4", "fd00::4"},
	"localhost":  {"127.0.0.1", "::1"},
	"metadata":   {"169.254.169.254"},
	"mixed.test": {"10.0.0.7", "127.0.0.1"},
	"mapped":     {"::ffff:127.0.0.1"},
}

// policed is the fixture with a member policy: allow as the operator's
// member_networks, sluice's admin listener at 127.0.0.1:9090.
func policed(t *testing.T, allow ...string) *fixture {
	f := newFixture(t, func(b *config.Balancer) { b.Growth = 10 })
	p := &pool.DialPolicy{Resolver: testNames}
	var nets []netip.Prefix
	for _, a := range allow {
		nets = append(nets, netip.MustParsePrefix(a))
	}
	p.SetRules(nets, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9090")})
	f.a.opts.Members = p
	return f
}

// TestAddMemberSSRF is threats.md ADM-04 at add time: each class of
// destination is refused with 400 naming url, and nothing changes.
func TestAddMemberSSRF(t *testing.T) {
	f := policed(t)
	changed := 0
	f.a.opts.Changed = func() { changed++ }
	for url, want := range map[string]string{
		// The row's examples.
		"http://169.254.169.254/":             `169.254.169.254 is a link-local address (169.254.169.254 is the cloud metadata service)`,
		"http://127.0.0.1:9090/":              `127.0.0.1 is one of sluice's own listeners`,
		"http://[::ffff:127.0.0.1]/":          `::ffff:127.0.0.1 is a loopback address`,
		"http://0x7f.1/":                      `host \"0x7f.1\" is not a canonical IPv4 address`,
		"http://2130706433/":                  `host \"2130706433\" is not a canonical IPv4 address`,
		"unix:/var/run/docker.sock|http://x/": `cannot be a Unix domain socket through the admin API`,
		"file:///etc/passwd":                  `scheme \"file\" is not supported`,
		"http://user:pass@host/":              `cannot carry user:password@`,
		"http://host/p?q#f":                   `query string or fragment`,
		// Other spellings of 127.0.0.1.
		"http://017700000001/":    `is not a canonical IPv4 address`,
		"http://127.000.000.001/": `is not a canonical IPv4 address`,
		"http://127.1/":           `is not a canonical IPv4 address`,
		"http://0X7F.0.0.1:8080/": `host \"0x7f.0.0.1\" is not a canonical IPv4 address`,
		"http://127.0.0.1./":      `host \"127.0.0.1.\" is not a canonical IPv4 address`,
		"http://[::ffff:7f00:1]/": `::ffff:127.0.0.1 is a loopback address`,
		// Zone IDs and escapes (the config check refuses them first).
		"http://[fe80::1%25eth0]/": `is not an IPv6 address`,
		"http://%31%32%37.0.0.1/":  `has a character that is not allowed`,
		// Each refused class.
		"http://127.0.0.1/":         `127.0.0.1 is a loopback address (allow it with admin.member_networks)`,
		"http://[::1]:8080/":        `::1 is a loopback address`,
		"http://localhost:8080/":    `localhost resolves to 127.0.0.1, a loopback address`,
		"http://metadata/":          `metadata resolves to 169.254.169.254, a link-local address`,
		"http://[fe80::1]/":         `fe80::1 is a link-local address`,
		"http://0.0.0.0/":           `0.0.0.0 is an unspecified address`,
		"http://[::]/":              `:: is an unspecified address`,
		"http://224.0.0.1/":         `224.0.0.1 is a multicast address`,
		"http://[ff02::1]/":         `ff02::1 is a multicast address`,
		"http://255.255.255.255/":   `255.255.255.255 is the broadcast address`,
		"http://mapped/":            `mapped resolves to ::ffff:127.0.0.1, a loopback address`,
		"http://mixed.test/":        `mixed.test resolves to 127.0.0.1, a loopback address`,
		"http://nowhere.test:8080/": `cannot resolve \"nowhere.test\"`,
	} {
		r := f.write("POST", add, app, `{"url":"`+url+`"}`)
		var e errorJSON
		r.json(t, &e)
		if r.status != 400 || e.Field != "url" || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %s, want 400 on url with %q", url, r.status, r.body, want)
		}
	}
	if len(f.bal.Load().Members) != 2 || changed != 0 {
		t.Errorf("a refused add changed something: %d members, %d changes", len(f.bal.Load().Members), changed)
	}
	// The whole message names the URL.
	r := f.write("POST", add, app, `{"url":"http://metadata/latest"}`)
	if want := `url: cannot add a member there: metadata resolves to 169.254.169.254, a link-local address (169.254.169.254 is the cloud metadata service) (allow it with admin.member_networks) (got \"http://metadata/latest\")`; !strings.Contains(r.body, want) {
		t.Errorf("got %s, want %s", r.body, want)
	}
	// Ordinary destinations are added.
	for _, url := range []string{"http://b3:8080", "https://b4", "http://10.0.0.9", "http://[2001:db8::9]:8080", "ws://b3:9000"} {
		if r := f.write("POST", add, app, `{"url":"`+url+`"}`); r.status != 201 {
			t.Errorf("%s: %d %s", url, r.status, r.body)
		}
	}
}

// TestAddMemberAllowList: with member_networks set, its networks are
// allowed whatever their class and everything else is refused.
func TestAddMemberAllowList(t *testing.T) {
	f := policed(t, "127.0.0.0/8", "10.1.0.0/16", "fd00::/8")
	for url, want := range map[string]string{
		"http://127.0.0.1:8080":  "",
		"http://localhost:8081":  `localhost resolves to ::1, outside admin.member_networks`,
		"http://b4":              "",
		"http://b3":              `b3 resolves to 10.0.0.3, outside admin.member_networks`,
		"http://127.0.0.1:9090":  `127.0.0.1 is one of sluice's own listeners`,
		"http://metadata":        `outside admin.member_networks`,
		"http://[::ffff:7f00:2]": "",
		"http://0x7f.1:8080":     `is not a canonical IPv4 address`,
	} {
		r := f.write("POST", add, app, `{"url":"`+url+`"}`)
		switch {
		case want == "" && r.status != 201:
			t.Errorf("%s: %d %s, want 201", url, r.status, r.body)
		case want != "" && (r.status != 400 || !strings.Contains(r.body, want)):
			t.Errorf("%s: %d %s, want 400 with %q", url, r.status, r.body, want)
		}
	}
}

func TestHostSyntax(t *testing.T) {
	for _, h := range []string{"b1", "backend.example.com", "backend.example.com.", "10.0.0.5", "0.0.0.0", "1.2.3.example", "0x7f.example", "x-1", "::1", "2001:db8::1"} {
		if err := hostSyntax(h); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
	for _, h := range []string{"0x7f.1", "0x7f000001", "2130706433", "017700000001", "0177.0.0.1", "127.000.000.001", "127.1", "127.0.1", "10.0.0.5.", "1.2.3.4.5", "host.0x", "host.123", "fe80::1%eth0", "h%41st", "::ffff:127.0.0.1:1"} {
		if err := hostSyntax(h); err == nil {
			t.Errorf("%q accepted", h)
		}
	}
}

// TestNoPolicyChecksNothing: without Options.Members the admin adds any
// valid URL, as the tests' fixture does.
func TestNoPolicyChecksNothing(t *testing.T) {
	f := newFixture(t, nil)
	r := f.write("POST", add, app, `{"url":"http://127.0.0.1:9"}`)
	var m memberJSON
	if err := json.Unmarshal([]byte(r.body), &m); err != nil || r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// TestURLHostPort: the port a member URL dials, the scheme's default
// filled in (the policy checks it against sluice's own listeners).
func TestURLHostPort(t *testing.T) {
	for _, tc := range []struct {
		url, host string
		port      uint16
	}{
		{"http://h", "h", 80}, {"wss://h/x", "h", 443}, {"ajp://10.0.0.1", "10.0.0.1", 8009},
		{"fcgi://php/srv", "php", 8000}, {"ajp://h:8010/a", "h", 8010}, {"http://[::1]:81", "::1", 81},
	} {
		if host, port, err := urlHostPort(tc.url); err != nil || host != tc.host || port != tc.port {
			t.Errorf("%s: %s %d %v, want %s %d", tc.url, host, port, err, tc.host, tc.port)
		}
	}
}
