package server

import (
	"strings"
	"testing"
)

// TestLocationProxyFlags: ProxyPreserveHost and ProxyAddHeaders in
// <Location> and <LocationMatch> sections apply to the requests they
// cover, later sections over earlier ones and each flag on its own, the
// main server's sections in vhosts too, and on the tunnel path as well.
// Until the twelfth session they were refused at load.
func TestLocationProxyFlags(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `
<Location /app>
  ProxyPreserveHost On
</Location>
<LocationMatch "^/app/internal">
  ProxyAddHeaders Off
</LocationMatch>
<Location /app/plain>
  ProxyPreserveHost Off
</Location>
<VirtualHost *:80>
  ServerName plain.example
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName site.example
  ProxyPreserveHost On
  <Location /site/nofwd>
    ProxyAddHeaders Off
  </Location>
  ProxyPass / http://BACKEND/
</VirtualHost>
`, be)
	for _, tc := range []struct {
		host, path string
		host2      string // the Host the member got
		xff        bool   // whether it got X-Forwarded-For
	}{
		{"plain.example", "/other", be, true},
		{"plain.example", "/app", "plain.example", true},
		{"plain.example", "/app/x", "plain.example", true},
		{"plain.example", "/app/internal/x", "plain.example", false},
		{"plain.example", "/app/plain/x", be, true},
		{"plain.example", "/apple", be, true}, // /app covers /app and /app/…, not /apple
		{"site.example", "/x", "site.example", true},
		{"site.example", "/app/x", "site.example", true},
		{"site.example", "/app/internal/x", "site.example", false},
		{"site.example", "/app/plain/x", be, true},
		{"site.example", "/site/nofwd/x", "site.example", false},
	} {
		body := string(hostGet(t, c, tc.host, tc.path).Body())
		if !strings.Contains(body, "\nHost: "+tc.host2+"\n") {
			t.Errorf("%s%s: member did not get Host %s:\n%s", tc.host, tc.path, tc.host2, body)
		}
		if got := strings.Contains(body, "X-Forwarded-For:"); got != tc.xff {
			t.Errorf("%s%s: X-Forwarded-For sent %v, want %v:\n%s", tc.host, tc.path, got, tc.xff, body)
		}
	}
}

// TestProxySectionFlags: ProxyPreserveHost and ProxyAddHeaders in a
// <Proxy> section apply to the requests routed to its backends (a
// balancer by name, a direct worker by URL prefix), before any
// <Location> section's, as Apache merges them.
func TestProxySectionFlags(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `
<Proxy balancer://keep>
  BalancerMember http://BACKEND
  ProxyPreserveHost On
</Proxy>
<Proxy http://BACKEND/quiet/>
  ProxyAddHeaders Off
</Proxy>
<Location /lb/override>
  ProxyPreserveHost Off
</Location>
ProxyPass /lb/ balancer://keep/
ProxyPass /quiet/ http://BACKEND/quiet/
ProxyPass / http://BACKEND/
`, be)
	for _, tc := range []struct {
		path, host string
		xff        bool
	}{
		{"/lb/x", "front.example", true},
		{"/lb/override/x", be, true},
		{"/quiet/x", be, false},
		{"/other", be, true},
	} {
		body := string(hostGet(t, c, "front.example", tc.path).Body())
		if !strings.Contains(body, "\nHost: "+tc.host+"\n") {
			t.Errorf("%s: member did not get Host %s:\n%s", tc.path, tc.host, body)
		}
		if got := strings.Contains(body, "X-Forwarded-For:"); got != tc.xff {
			t.Errorf("%s: X-Forwarded-For sent %v, want %v", tc.path, got, tc.xff)
		}
	}
}
