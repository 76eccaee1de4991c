package pool

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// mapResolver answers from a map that a test may change between lookups.
type mapResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	lookups int
}

func (r *mapResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[host] = addrs
}

func (r *mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	v, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(v))
	for i, s := range v {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestDialPolicyCheck(t *testing.T) {
	var def DialPolicy
	var allow DialPolicy
	allow.SetRules(prefixes("127.0.0.0/8", "10.1.0.0/16"), []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9090")})
	f := func(p *DialPolicy, addr string, port uint16, want string) {
		t.Helper()
		err := p.Check(netip.MustParseAddr(addr), port)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s:%d: got %v, want allowed", addr, port, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s:%d: got %v, want %q", addr, port, err, want)
		}
		var re *RefusedError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("%s: %T is not a *RefusedError", addr, err)
		}
	}
	// Refused by default.
	f(&def, "127.0.0.1", 80, "127.0.0.1 is a loopback address (allow it with admin.member_networks)")
	f(&def, "127.1.2.3", 80, "loopback")
	f(&def, "::1", 80, "loopback")
	f(&def, "169.254.169.254", 80, "link-local address (169.254.169.254 is the cloud metadata service)")
	f(&def, "169.254.1.1", 80, "link-local")
	f(&def, "fe80::1", 80, "link-local")
	f(&def, "fe80::1%eth0", 80, "fe80::1%eth0 is an address with a zone ID")
	f(&def, "0.0.0.0", 80, "unspecified")
	f(&def, "0.1.2.3", 80, "unspecified")
	f(&def, "::", 80, "unspecified")
	f(&def, "224.0.0.1", 80, "multicast")
	f(&def, "239.255.255.250", 80, "multicast")
	f(&def, "ff02::1", 80, "multicast")
	f(&def, "255.255.255.255", 80, "broadcast")
	// IPv4-mapped and -compatible forms are judged as IPv4.
	f(&def, "::ffff:127.0.0.1", 80, "::ffff:127.0.0.1 is a loopback address")
	f(&def, "::ffff:169.254.169.254", 80, "link-local")
	f(&def, "::ffff:0.0.0.0", 80, "unspecified")
	f(&def, "::127.0.0.1", 80, "IPv4-compatible")
	// Ordinary destinations pass.
	f(&def, "10.0.0.1", 80, "")
	f(&def, "192.168.1.10", 8080, "")
	f(&def, "93.184.216.34", 443, "")
	f(&def, "2001:db8::1", 80, "")
	f(&def, "::ffff:10.0.0.1", 80, "")

	// The allow-list admits its networks, whatever their class, and
	// nothing else.
	f(&allow, "127.0.0.1", 8080, "")
	f(&allow, "::ffff:127.0.0.1", 8080, "")
	f(&allow, "10.1.2.3", 80, "")
	f(&allow, "10.2.0.1", 80, "10.2.0.1 is outside admin.member_networks")
	f(&allow, "169.254.169.254", 80, "outside admin.member_networks")
	f(&allow, "::1", 80, "outside admin.member_networks")
	// sluice's own listeners stay refused inside it.
	f(&allow, "127.0.0.1", 9090, "127.0.0.1 is one of sluice's own listeners")
	f(&allow, "::ffff:127.0.0.1", 9090, "own listeners")
}

func TestDialPolicyOwnWildcard(t *testing.T) {
	var p DialPolicy
	p.SetRules(prefixes("0.0.0.0/0", "::/0"), []netip.AddrPort{netip.MustParseAddrPort("[::]:8080")})
	for _, a := range []string{"127.0.0.1", "127.0.0.2", "::1", "0.0.0.0"} {
		if err := p.Check(netip.MustParseAddr(a), 8080); err == nil || !strings.Contains(err.Error(), "own listeners") {
			t.Errorf("%s:8080: got %v, want own listener", a, err)
		}
	}
	for _, l := range interfaceAddrs() {
		if err := p.Check(l, 8080); err == nil {
			t.Errorf("local %s:8080 allowed", l)
		}
	}
	if err := p.Check(netip.MustParseAddr("127.0.0.1"), 8081); err != nil {
		t.Errorf("another port: %v", err)
	}
	if err := p.Check(netip.MustParseAddr("192.0.2.7"), 8080); err != nil {
		t.Errorf("another host: %v", err)
	}
}

func TestDialPolicyResolve(t *testing.T) {
	r := &mapResolver{answers: map[string][]string{}}
	p := &DialPolicy{Resolver: r}
	r.set("ok.test", "10.0.0.1", "2001:db8::1")
	r.set("mixed.test", "10.0.0.1", "169.254.169.254")
	r.set("empty.test")
	ctx := context.Background()
	if got, err := p.Resolve(ctx, "ok.test", 80); err != nil || len(got) != 2 {
		t.Errorf("ok.test: %v %v", got, err)
	}
	// One refused address refuses the name.
	_, err := p.Resolve(ctx, "mixed.test", 80)
	if err == nil || err.Error() != "mixed.test resolves to 169.254.169.254, a link-local address (169.254.169.254 is the cloud metadata service) (allow it with admin.member_networks)" {
		t.Errorf("mixed.test: %v", err)
	}
	for host, want := range map[string]string{
		"nx.test":    `cannot resolve "nx.test": lookup nx.test: no such host`,
		"empty.test": `cannot resolve "empty.test": no addresses`,
		"127.0.0.1":  "127.0.0.1 is a loopback address",
	} {
		if _, err := p.Resolve(ctx, host, 80); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", host, err, want)
		}
	}
	// An IP literal is not looked up.
	n := r.lookups
	if _, err := p.Resolve(ctx, "10.9.9.9", 80); err != nil || r.lookups != n {
		t.Errorf("literal: %v, %d lookups", err, r.lookups-n)
	}
}

// TestBackendDialRechecks is DNS rebinding: a policed member's name that
// later resolves to a refused address is not dialled, and the failure is a
// *DialError the balancer fails over on.
func TestBackendDialRechecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		_ = fasthttp.Serve(ln, func(ctx *fasthttp.RequestCtx) {
			ctx.SetConnectionClose() // every request dials anew
			ctx.SetBodyString("ok")
		})
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r := &mapResolver{answers: map[string][]string{}}
	r.set("app.test", "127.0.0.1")
	p := &DialPolicy{Resolver: r}
	p.SetRules(prefixes("127.0.0.0/8"), nil)
	m, err := NewMember(NewRegistry(), "b", "http://app.test:"+port, config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, BackendOptions{Timeout: 5 * time.Second, Policy: p})
	get := func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://app.test:" + port + "/")
		body, err := roundTrip(be, req, resp)
		if err != nil {
			return err
		}
		if string(body) != "ok" {
			t.Errorf("body %q", body)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("allowed address: %v", err)
	}
	for _, rebind := range []string{"10.0.0.1", "169.254.169.254"} {
		r.set("app.test", "127.0.0.1", rebind)
		err = get()
		var de *DialError
		var re *RefusedError
		if !errors.As(err, &de) || !errors.As(err, &re) || re.Addr.String() != rebind {
			t.Fatalf("rebound to %s: got %v, want a *DialError for a refused address", rebind, err)
		}
	}
	r.set("app.test", "127.0.0.1")
	if err := get(); err != nil {
		t.Fatalf("back to an allowed address: %v", err)
	}
}

// TestNilPolicyDials shows members without a policy dial as before.
func TestNilPolicyDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	var p *DialPolicy
	c, err := p.Dial(context.Background(), &net.Dialer{Timeout: time.Second}, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
