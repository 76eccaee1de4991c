package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// TestVHostsByAddress: when the vhosts' addresses differ, a request goes
// to the vhosts of the address its connection came in on, as in Apache:
// IP and port, then any IP and the port; among those by Host, else the
// first of them. A connection on an address no vhost names is served by
// Host among all of them (Apache would use the main server; until the
// tenth session sluice always chose by Host alone).
func TestVHostsByAddress(t *testing.T) {
	be := startBackend(t, echo)
	lns, nums := listeners(t, 4)
	ports := make([]any, 0, len(nums))
	for _, p := range nums {
		ports = append(ports, p)
	}
	src := fmt.Sprintf(`Listen 127.0.0.1:0
<VirtualHost *:%[1]d>
  ServerName one.example
  ProxyPass / http://BACKEND/one/
</VirtualHost>
<VirtualHost *:%[2]d>
  ServerName two.example
  ProxyPass / http://BACKEND/two/
</VirtualHost>
<VirtualHost *:%[2]d>
  ServerName three.example
  ServerAlias *.three.example
  ProxyPass / http://BACKEND/three/
</VirtualHost>
<VirtualHost *:%[3]d>
  ServerName wild.example
  ProxyPass / http://BACKEND/wild/
</VirtualHost>
<VirtualHost 127.0.0.1:%[3]d>
  ServerName exact.example
  ProxyPass / http://BACKEND/exact/
</VirtualHost>
`, ports...)
	cfg, err := config.ParseApache("test.conf", []byte(strings.ReplaceAll(src, "BACKEND", be)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		go func() { _ = s.Serve(ln) }()
	}
	for _, tc := range []struct {
		listener int
		host     string
		want     string
	}{
		{0, "one.example", "one"},
		{0, "two.example", "one"}, // two.example answers on another port only
		{1, "two.example", "two"},
		{1, "three.example", "three"},
		{1, "a.three.example", "three"},
		{1, "three.example.", "three"},   // a trailing dot names the same host, as in Apache
		{1, "A.Three.Example.", "three"}, // and so for a ServerAlias pattern
		{1, "one.example", "two"},        // the port's first vhost
		{2, "wild.example", "exact"},
		{2, "anything", "exact"}, // 127.0.0.1:port before *:port
		{3, "three.example", "three"},
		{3, "nobody.example", "one"}, // no vhost names this port: by Host among all
	} {
		c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return net.Dial("tcp", lns[tc.listener].Addr().String()) }}
		status, body, err := c.Get(nil, "http://"+tc.host+"/x")
		if err != nil {
			t.Fatal(err)
		}
		if want := "GET /" + tc.want + "/x\n"; status != 200 || !strings.HasPrefix(string(body), want) {
			t.Errorf("port %d, Host %s: %d %q, want %q", tc.listener, tc.host, status, firstLine(body), want)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}
