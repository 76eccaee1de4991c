package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRemoteIPApache sends the same requests through Apache 2.4 with
// mod_remoteip and through sluice, with the same configuration, to one
// member: the client address each found must be the same in the access
// log (%a, and %{c}a the peer), and the fields the member got the same
// (what is left of RemoteIPHeader, RemoteIPProxiesHeader, and the
// X-Forwarded-For the proxy appends to).
func TestRemoteIPApache(t *testing.T) {
	member := newBackend(t, "member", nil)
	dir := t.TempDir()
	conf := func(log string) string {
		return strings.NewReplacer("{M}", member.addr, "{LOG}", filepath.Join(dir, log)).Replace(`
LogFormat "%{Host}i %a %{c}a" remote
CustomLog {LOG} remote
ProxyPass / http://{M}/
<VirtualHost *>
    ServerName nolist.test
    RemoteIPHeader X-Forwarded-For
    ProxyPass / http://{M}/
</VirtualHost>
<VirtualHost *>
    ServerName trusted.test
    RemoteIPHeader X-Forwarded-For
    RemoteIPTrustedProxy 127.0.0.1 203.0.113.9
    RemoteIPProxiesHeader X-Forwarded-By
    ProxyPass / http://{M}/
</VirtualHost>
<VirtualHost *>
    ServerName internal.test
    RemoteIPHeader X-Client-IP
    RemoteIPInternalProxy 127.0.0.0/8
    RemoteIPProxiesHeader X-Forwarded-By
    ProxyPass / http://{M}/
</VirtualHost>
`)
	}
	apache := startApache(t, "LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so\nLoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so\n"+conf("apache.log"))
	s := startSluice(t, writeConfig(t, dir, "remoteip.conf", "Listen 127.0.0.1:0\n"+conf("sluice.log")))
	cases := []struct{ host, field string }{
		{"nolist.test", "X-Forwarded-For: 203.0.113.7"},
		{"nolist.test", "X-Forwarded-For: 192.168.1.5"},
		{"nolist.test", "X-Forwarded-For: 198.51.100.1, 203.0.113.7"},
		{"nolist.test", "X-Forwarded-For: unknown, 203.0.113.7"},
		{"nolist.test", "X-Forwarded-For: 2001:db8::1"},
		{"trusted.test", "X-Forwarded-For: 198.51.100.1, 203.0.113.7"},
		{"trusted.test", "X-Forwarded-For: 198.51.100.1, 203.0.113.9"},
		{"trusted.test", "X-Forwarded-For: 10.1.1.1"},
		{"trusted.test", ""},
		{"trusted.test", "X-Forwarded-For: 198.51.100.66\r\nX-Forwarded-For: 203.0.113.8"},
		{"nolist.test", "X-Forwarded-For: 198.51.100.66\r\nX-Forwarded-For: 203.0.113.8"},
		{"internal.test", "X-Client-IP: 192.168.1.5"},
		{"internal.test", "X-Client-IP: 10.0.0.1, 192.168.1.5"},
	}
	fields := []string{"X-Forwarded-For", "X-Forwarded-By", "X-Client-IP"}
	for _, c := range cases {
		var got [2]string
		for i, addr := range []string{apache, s.Addr()} {
			var h []string
			if c.field != "" {
				h = []string{c.field}
			}
			m := rawDo(t, addr, buildReq("GET", "/x", c.host, h, ""))
			wantStatus(t, m, 200)
			r := member.last()
			for _, f := range fields {
				got[i] += fmt.Sprintf("%s=%q ", f, strings.Join(r.Values(f), "|"))
			}
		}
		if got[0] != got[1] {
			t.Errorf("%s %q: the member got\nApache %s\nsluice %s", c.host, c.field, got[0], got[1])
		}
	}
	// sluice writes its log lines out as it stops.
	s.signal(syscall.SIGTERM)
	if _, err := s.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}
	logs := [2]string{}
	for i, name := range []string{"apache.log", "sluice.log"} {
		logs[i] = logLines(t, filepath.Join(dir, name))
	}
	if n := strings.Count(logs[1], "\n"); n != len(cases) {
		t.Errorf("sluice logged %d requests, want %d:\n%s", n, len(cases), logs[1])
	}
	if !strings.Contains(logs[1], "trusted.test 203.0.113.7 127.0.0.1\n") {
		t.Errorf("no line with the client and the peer:\n%s", logs[1])
	}
	if logs[0] != logs[1] {
		t.Errorf("the access logs differ:\nApache\n%s\nsluice\n%s", logs[0], logs[1])
	}
}
