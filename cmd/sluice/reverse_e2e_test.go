package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

const reverseConf = `
Listen 127.0.0.1:0
ProxyPass /direct/ http://{B1}/app/
ProxyPassReverse /direct/ http://{B1}/app/
ProxyPass /bal/ balancer://rr/
ProxyPassReverse /bal/ balancer://rr/
<Proxy balancer://rr>
    BalancerMember http://{B2}
</Proxy>
ProxyPassReverseCookieDomain backend.internal public.example.com
ProxyPassReverseCookiePath /app /pub
`

// redirector answers every request with a 302 to its own absolute URL, a
// Content-Location, and cookies carrying backend Domain/Path attributes.
func redirector(addr *string, target string) handlerFunc {
	return func(w *bufio.Writer, r *backendReq) bool {
		writeResp(w, 302, []string{
			"Location: http://" + *addr + target,
			"Content-Location: http://" + *addr + "/app/cl",
			"Set-Cookie: s=1; Path=/app/x; Domain=backend.internal",
			"Set-Cookie: fakepath=/app; Path=/app",
			"Set-Cookie: other=1; Path=/elsewhere; Domain=other.example",
		}, "moved")
		return false
	}
}

func TestReverseRewrite(t *testing.T) {
	var a1, a2 string
	b1 := newBackend(t, "b1", redirector(&a1, "/app/target?q=1"))
	b2 := newBackend(t, "b2", redirector(&a2, "/landing"))
	a1, a2 = b1.addr, b2.addr
	cfg := writeConfig(t, t.TempDir(), "reverse.conf", reverseConf, "{B1}", b1.addr, "{B2}", b2.addr)
	s := startSluice(t, cfg)

	t.Run("direct", func(t *testing.T) {
		m := getURI(t, s.Addr(), "/direct/go")
		wantStatus(t, m, 302)
		if got := b1.last().URI; got != "/app/go" {
			t.Errorf("backend received %q, want /app/go", got)
		}
		wantRewritten(t, m.Get("Location"), "/direct/target?q=1", b1.addr)
		wantRewritten(t, m.Get("Content-Location"), "/direct/cl", b1.addr)
		want := []string{
			"s=1; Path=/pub; Domain=public.example.com",
			"fakepath=/app; Path=/pub",
			"other=1; Path=/elsewhere; Domain=other.example",
		}
		if got := m.Values("Set-Cookie"); !slices.Equal(got, want) {
			t.Errorf("client Set-Cookie =\n%q\nwant\n%q", got, want)
		}
		if string(m.Body) != "moved" {
			t.Errorf("client body %q, want moved", m.Body)
		}
	})

	t.Run("balancer", func(t *testing.T) {
		m := getURI(t, s.Addr(), "/bal/go")
		wantStatus(t, m, 302)
		if got := b2.last().URI; got != "/go" {
			t.Errorf("backend received %q, want /go", got)
		}
		wantRewritten(t, m.Get("Location"), "/bal/landing", b2.addr)
	})
}

// wantRewritten checks that a reverse-mapped URL names the proxy (the
// client's Host) with the public path, and no longer the backend.
func wantRewritten(t *testing.T, got, wantPath, backendAddr string) {
	t.Helper()
	if strings.Contains(got, backendAddr) {
		t.Errorf("%q still names the backend %s", got, backendAddr)
	}
	if !strings.HasPrefix(got, "http://front.example.com") || !strings.HasSuffix(got, wantPath) {
		t.Errorf("got %q, want http://front.example.com[:port]%s", got, wantPath)
	}
}
