package server

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// swapResolver answers member lookups from a map a test changes.
type swapResolver struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *swapResolver) set(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[host] = addr
}

func (r *swapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// TestAdminMemberRebinding is threats.md ADM-04's "a name that resolves to
// 10.0.0.1 later": a member added through the manager while its name
// resolved inside admin.member_networks is not dialled once the name
// resolves outside it; the request fails over (or gets 503), and the
// member is back once the name is.
func TestAdminMemberRebinding(t *testing.T) {
	one := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("one") })
	var twoHits atomic.Int32
	two := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		twoHits.Add(1)
		ctx.SetConnectionClose() // every request dials anew
		ctx.SetBodyString("two")
	})
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+strings.ReplaceAll(managerConf, "BACKEND", one)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.MemberNetworks = []string{"127.0.0.0/8"}
	s, c := serveProxy(t, cfg)
	names := &swapResolver{m: map[string]string{"app.test": "127.0.0.1", "meta.test": "169.254.169.254"}}
	s.adm.policy.Resolver = names
	do := func(method, uri, body string) (int, string) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), new(fasthttp.Response)
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://127.0.0.1" + uri)
		if body != "" {
			req.Header.SetContentType("application/json")
			req.Header.Set("If-Match", "*")
			req.SetBodyString(body)
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), string(resp.Body())
	}
	const api = "/balancer-manager/api/balancers/b/members"
	_, port, _ := net.SplitHostPort(two)
	added := "http://app.test:" + port
	if st, body := do("POST", api, `{"url":"http://meta.test:`+port+`"}`); st != 400 || !strings.Contains(body, "meta.test resolves to 169.254.169.254, outside admin.member_networks") {
		t.Fatalf("metadata member: %d %s", st, body)
	}
	if st, body := do("POST", api, `{"url":"`+added+`","route":"r2","status":"-D"}`); st != 201 {
		t.Fatalf("add: %d %s", st, body)
	}
	snap := s.rt.Load().hosts[0].balancers["b"].Load()
	if p := snap.Members[0].Backend.Options.Policy; p != nil {
		t.Error("a configured member dials through the policy")
	}
	if p := snap.Members[1].Backend.Options.Policy; p != s.adm.policy {
		t.Error("an added member does not dial through the policy")
	}
	if st, body := do("PATCH", api+"/r1", `{"status":"+D"}`); st != 200 {
		t.Fatalf("disable r1: %d %s", st, body)
	}
	if st, body := do("GET", "/", ""); st != 200 || body != "two" {
		t.Fatalf("added member: %d %q", st, body)
	}

	// Rebound outside member_networks: never dialled.
	names.set("app.test", "10.0.0.1")
	hits := twoHits.Load()
	if st, _ := do("GET", "/", ""); st != 503 {
		t.Errorf("rebound, no other member: %d, want 503", st)
	}
	if st, body := do("PATCH", api+"/r1", `{"status":"-D"}`); st != 200 {
		t.Fatalf("enable r1: %d %s", st, body)
	}
	for range 4 {
		if st, _ := do("PATCH", api+"/r2", `{"status":"-E"}`); st != 200 {
			t.Fatal("cannot clear E")
		}
		if st, body := do("GET", "/", ""); st != 200 || body != "one" {
			t.Errorf("rebound: %d %q, want a failover to one", st, body)
		}
	}
	if twoHits.Load() != hits {
		t.Errorf("the rebound member was reached %d times", twoHits.Load()-hits)
	}

	// Back inside: the member serves again.
	names.set("app.test", "127.0.0.1")
	do("PATCH", api+"/r2", `{"status":"-E"}`)
	do("PATCH", api+"/r1", `{"status":"+D"}`)
	if st, body := do("GET", "/", ""); st != 200 || body != "two" {
		t.Errorf("back: %d %q", st, body)
	}
}

func TestListenAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		":80":            "[::]:80",
		"*:443":          "[::]:443",
		"[::1]:9090":     "[::1]:9090",
		"8080":           "[::]:8080",
		"127.0.0.1:0":    "",
		"localhost:80":   "",
	} {
		ap, ok := listenAddrPort(in)
		if got := ap.String(); ok != (want != "") || ok && got != want {
			t.Errorf("%q: got %s %v, want %q", in, got, ok, want)
		}
	}
}
