package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAccessLogPortApache sends the same requests through Apache and
// sluice with the same vhosts: %p, %{canonical}p and %{local}p must be
// logged alike (the listening port read as LPORT), with and without a
// port in ServerName, with and without mod_headers rules on the host.
func TestAccessLogPortApache(t *testing.T) {
	member := newBackend(t, "member", nil)
	dir := t.TempDir()
	conf := func(log string) string {
		return strings.NewReplacer("{M}", member.addr, "{LOG}", filepath.Join(dir, log)).Replace(`
LogFormat "%{Host}i %p %{canonical}p %{local}p" ports
CustomLog {LOG} ports
ProxyPass / http://{M}/
<VirtualHost *>
    ServerName withport.test:8443
    ProxyPass / http://{M}/
</VirtualHost>
<VirtualHost *>
    ServerName plain.test
    ProxyPass / http://{M}/
</VirtualHost>
<VirtualHost *>
    ServerName rules.test:8081
    Header set X-Rule 1
    ProxyPass / http://{M}/
</VirtualHost>
`)
	}
	apache := startApache(t, "LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so\n"+conf("apache.log"))
	s := startSluice(t, writeConfig(t, dir, "ports.conf", "Listen 127.0.0.1:0\nServerName apache.test\n"+conf("sluice.log")))
	hosts := []string{"withport.test", "withport.test:9000", "plain.test", "plain.test:9000", "rules.test", "rules.test:9000", "other.test:7000", "other.test"}
	for _, host := range hosts {
		for _, addr := range []string{apache, s.Addr()} {
			wantStatus(t, rawDo(t, addr, buildReq("GET", "/x", host, nil, "")), 200)
		}
	}
	s.signal(syscall.SIGTERM)
	if _, err := s.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}
	var logs [2]string
	for i, name := range []string{"apache.log", "sluice.log"} {
		port := apache[strings.LastIndexByte(apache, ':')+1:]
		if i == 1 {
			port = s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:]
		}
		logs[i] = strings.ReplaceAll(logLines(t, filepath.Join(dir, name)), " "+port, " LPORT")
	}
	if logs[0] != logs[1] {
		t.Errorf("the access logs differ:\nApache\n%s\nsluice\n%s", logs[0], logs[1])
	}
}
