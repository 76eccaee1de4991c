package main

import (
	"slices"
	"testing"
)

const routingConf = `
Listen 127.0.0.1:0
<Location /loc/>
    ProxyPass http://{B3}/fromloc/
</Location>
# Location-level ProxyPass is tried before server-level rules.
ProxyPass /loc/ http://{B1}/server-level/
ProxyPass /foo/skip !
ProxyPass /foo http://{B1}/foo-target
# Never reached: /foo above matches /foo/bar first.
ProxyPass /foo/bar http://{B2}/never
ProxyPass /foobar http://{B2}/foobar-target
ProxyPassMatch ^/img/(.*)\.gif$ http://{B2}/images/$1.png
ProxyPass /bal balancer://pair
<Proxy balancer://pair>
    BalancerMember http://{B1}
    BalancerMember http://{B2}
</Proxy>
`

func TestRouting(t *testing.T) {
	b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
	cfg := writeConfig(t, t.TempDir(), "routing.conf", routingConf, "{B1}", b1.addr, "{B2}", b2.addr, "{B3}", b3.addr)
	s := startSluice(t, cfg)

	cases := []struct {
		desc    string
		uri     string
		backend *rawBackend
		wantURI string
	}{
		{"prefix with query string", "/foo/bar?x=1&y=2", b1, "/foo-target/bar?x=1&y=2"},
		{"exact prefix", "/foo", b1, "/foo-target"},
		{"segment boundary: /foo does not match /foobar", "/foobar", b2, "/foobar-target"},
		{"ProxyPassMatch with $1", "/img/a/b.gif", b2, "/images/a/b.png"},
		{"Location before server level", "/loc/x", b3, "/fromloc/x"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			before := c.backend.count()
			m := getURI(t, s.Addr(), c.uri)
			wantStatus(t, m, 200)
			if want := c.backend.name + " GET " + c.wantURI; string(m.Body) != want {
				t.Errorf("client got %q, want %q", m.Body, want)
			}
			if c.backend.count() != before+1 {
				t.Fatalf("backend %s got %d requests, want %d", c.backend.name, c.backend.count(), before+1)
			}
			if got := c.backend.last(); got.URI != c.wantURI || got.Method != "GET" {
				t.Errorf("backend received %s %s, want GET %s", got.Method, got.URI, c.wantURI)
			}
		})
	}

	t.Run("exclusion answers 404 locally", func(t *testing.T) {
		before := b1.count() + b2.count() + b3.count()
		for _, uri := range []string{"/foo/skip", "/foo/skip/deeper"} {
			wantStatus(t, getURI(t, s.Addr(), uri), 404)
		}
		if after := b1.count() + b2.count() + b3.count(); after != before {
			t.Errorf("excluded paths reached a backend (%d new requests)", after-before)
		}
	})

	t.Run("byrequests alternates two members", func(t *testing.T) {
		var seq []string
		for range 6 {
			m := getURI(t, s.Addr(), "/bal/x?n=1")
			wantStatus(t, m, 200)
			seq = append(seq, m.Get("X-Backend"))
		}
		if want := []string{"b1", "b2", "b1", "b2", "b1", "b2"}; !slices.Equal(seq, want) {
			t.Errorf("sequence %v, want %v", seq, want)
		}
		for _, b := range []*rawBackend{b1, b2} {
			if got := b.last().URI; got != "/x?n=1" {
				t.Errorf("backend %s received %q, want /x?n=1", b.name, got)
			}
		}
	})
}
