package access

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeDNS answers from maps and counts reverse lookups.
type fakeDNS struct {
	reverse, forward map[string][]string
	lookups          int
}

func (r *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.lookups++
	if v, ok := r.reverse[addr]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (r *fakeDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	if v, ok := r.forward[host]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func testDNS() *fakeDNS {
	return &fakeDNS{
		reverse: map[string][]string{
			"10.0.0.7":    {"Ops1.Admin.Example.com."},
			"10.0.0.8":    {"spoof.admin.example.com."},
			"10.0.0.9":    {"nogood.com."},
			"2001:db8::7": {"v6.admin.example.com."},
		},
		forward: map[string][]string{
			"ops1.admin.example.com":  {"10.0.0.7"},
			"spoof.admin.example.com": {"10.9.9.9"},
			"nogood.com":              {"10.0.0.9"},
			"v6.admin.example.com":    {"2001:db8::7"},
		},
	}
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestAllows is the table of Require lines × peers.
func TestAllows(t *testing.T) {
	const server = "192.0.2.1"
	cases := []struct {
		lines []string
		peer  string
		want  bool
	}{
		{nil, "127.0.0.1", false},
		{[]string{"all granted"}, "203.0.113.9", true},
		{[]string{"all denied"}, "127.0.0.1", false},
		{[]string{"all denied", "all granted"}, "203.0.113.9", true},
		{[]string{"ip 10.0.0.0/8"}, "10.0.0.7", true},
		{[]string{"ip 10.0.0.0/8"}, "11.0.0.7", false},
		{[]string{"ip 10.0.0.0/8"}, "::ffff:10.1.2.3", true},
		{[]string{"ip 10.0"}, "10.0.3.4", true},
		{[]string{"ip 10.0"}, "10.1.3.4", false},
		{[]string{"ip 192.168.1."}, "192.168.1.200", true},
		{[]string{"ip 10"}, "10.255.0.1", true},
		{[]string{"ip 10.0.0.0/255.255.255.0"}, "10.0.0.200", true},
		{[]string{"ip 10.0.0.0/255.255.255.0"}, "10.0.1.1", false},
		{[]string{"ip 10.0.0.1"}, "10.0.0.1", true},
		{[]string{"ip 10.0.0.1"}, "10.0.0.2", false},
		{[]string{"ip 192.168.1.1 ::1"}, "::1", true},
		{[]string{"ip 2001:db8::/32"}, "2001:db8:1::5", true},
		{[]string{"ip 2001:db8::/32"}, "10.0.0.1", false},
		{[]string{"ip ::ffff:10.0.0.0/104"}, "10.2.3.4", true},
		{[]string{"ip 0.0.0.0/0"}, "0.0.0.0", false}, // no TCP peer
		{[]string{"local"}, "127.0.0.2", true},
		{[]string{"local"}, "::1", true},
		{[]string{"local"}, server, true},
		{[]string{"local"}, "10.0.0.7", false},
		{[]string{"host admin.example.com"}, "10.0.0.7", true},
		{[]string{"host ADMIN.example.com."}, "10.0.0.7", true},
		{[]string{"host ops1.admin.example.com"}, "10.0.0.7", true},
		{[]string{"host .example.com"}, "10.0.0.7", true},
		{[]string{"host admin.example.com"}, "10.0.0.8", false}, // forward lookup disagrees
		{[]string{"host good.com"}, "10.0.0.9", false},          // nogood.com is not in good.com
		{[]string{"host .nogood.com"}, "10.0.0.9", false},       // only names below it
		{[]string{"host other.example"}, "10.0.0.7", false},
		{[]string{"host admin.example.com"}, "10.0.0.1", false}, // no reverse name
		{[]string{"host admin.example.com"}, "2001:db8::7", true},
		{[]string{"ip 192.168.0.0/16", "local"}, "127.0.0.1", true},
		{[]string{"ip 192.168.0.0/16", "host example.com"}, "10.0.0.7", true},
		{[]string{"ip 192.168.0.0/16", "host example.com"}, "10.0.0.1", false},
	}
	for _, c := range cases {
		p, err := Compile(c.lines)
		if err != nil {
			t.Fatalf("%q: %v", c.lines, err)
		}
		got := p.Allows(netip.MustParseAddr(c.peer), netip.MustParseAddr(server), epoch, testDNS())
		if got != c.want {
			t.Errorf("%q from %s: %v, want %v", c.lines, c.peer, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	ok := []struct{ in, want string }{
		{"IP 10.0.0.0/8 ::1", "ip 10.0.0.0/8 ::1"},
		{"ip 192.168.0 10.0.0.0/255.0.0.0", "ip 192.168.0 10.0.0.0/255.0.0.0"},
		{"Host Example.com", "host Example.com"},
		{"local", "local"},
		{"all Granted", "all granted"},
		{"ALL DENIED", "all denied"},
	}
	for _, c := range ok {
		got, err := Line(strings.Fields(c.in))
		if err != nil || got != c.want {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "needs an entity type"},
		{"ip", `"Require ip" needs at least one address`},
		{"ip 10.0.0.300", `"10.0.0.300" is not an IP address`},
		{"ip 1.2.3.4.5", `"1.2.3.4.5" is not an IP address`},
		{"ip +1", `"+1" is not an IP address`},
		{"ip 10.0.0.0/255.0.255.0", `"10.0.0.0/255.0.255.0" is not an IP address`},
		{"ip fe80::1%eth0", `"fe80::1%eth0" is not an IP address`},
		{"host", `"Require host" needs at least one host name`},
		{"host .", `"." is not a host or domain name`},
		{"host http://x", `"http://x" is not a host or domain name`},
		{"local now", `"Require local" takes no argument`},
		{"all", `"Require all" must be granted or denied`},
		{"all allowed", `"Require all" must be granted or denied`},
		{"not ip 10.0.0.1", `"Require not" is not supported`},
		{"valid-user", `"Require valid-user" is not supported (allowed: ip, host, local, all granted, all denied)`},
		{"env LET_IN", `"Require env" is not supported`},
	}
	for _, c := range bad {
		_, err := Line(strings.Fields(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
		if c.in == "" {
			continue
		}
		if _, err := Compile([]string{c.in}); err == nil {
			t.Errorf("Compile(%q) accepted", c.in)
		}
	}
	p, err := Compile([]string{"ip 10.0.0.1", "local"})
	if err != nil || strings.Join(p.Lines(), "|") != "ip 10.0.0.1|local" {
		t.Errorf("Lines: %v %v", p.Lines(), err)
	}
}

// TestHostCache: one lookup pair per peer while fresh, another after the
// TTL, and a full cache is emptied of what expired.
func TestHostCache(t *testing.T) {
	dns := testDNS()
	p, err := Compile([]string{"host example.com"})
	if err != nil {
		t.Fatal(err)
	}
	peer, local := netip.MustParseAddr("10.0.0.7"), netip.Addr{}
	for i := range 3 {
		if !p.Allows(peer, local, epoch.Add(time.Duration(i)*time.Second), dns) {
			t.Fatal("refused")
		}
	}
	if dns.lookups != 1 {
		t.Errorf("%d reverse lookups while cached, want 1", dns.lookups)
	}
	// A negative answer is cached too.
	stranger := netip.MustParseAddr("10.0.0.1")
	p.Allows(stranger, local, epoch, dns)
	p.Allows(stranger, local, epoch, dns)
	if dns.lookups != 2 {
		t.Errorf("%d reverse lookups, want 2", dns.lookups)
	}
	if !p.Allows(peer, local, epoch.Add(hostTTL), dns) || dns.lookups != 3 {
		t.Errorf("after the TTL: %d lookups, want 3", dns.lookups)
	}

	c := p.dns
	for i := range hostCacheMax {
		c.m[netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})] = hostEntry{until: epoch.Add(time.Second)}
	}
	p.Allows(netip.MustParseAddr("10.0.0.9"), local, epoch.Add(time.Hour), dns)
	if len(c.m) != 1 {
		t.Errorf("full cache of expired entries kept %d, want 1", len(c.m))
	}
	for i := range hostCacheMax {
		c.m[netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})] = hostEntry{until: epoch.Add(2 * time.Hour)}
	}
	p.Allows(netip.MustParseAddr("10.0.0.8"), local, epoch.Add(time.Hour), dns)
	if len(c.m) != 1 {
		t.Errorf("full cache of fresh entries kept %d, want 1", len(c.m))
	}
}
