package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// TestCompatReal16TLS runs real config 16 (cocktailparty's broker) with
// the certificate lines its copy leaves out: a *:443 vhost whose rewrite
// rules send WebSocket upgrades to a ws:// balancer and everything else to
// an http:// one over the same two nodes, with ProxyPreserveHost and a
// ProxyPassReverse for the http balancer.
func TestCompatReal16TLS(t *testing.T) {
	text, err := readReal(t, "16-phoenix-ws-http-balancers.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert := testcert.NewFor(t, "broker.example.com")
	crt, key := cert.WriteFiles(t, dir, "broker")
	port, err := realConfigPorts.Free()
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(text), "ServerName broker.example.com\n",
		"ServerName broker.example.com\n        SSLEngine on\n        SSLCertificateFile "+crt+"\n        SSLCertificateKeyFile "+key+"\n", 1)
	if !strings.Contains(conf, "SSLEngine on") {
		t.Fatal("the ServerName line of config 16 was not found")
	}
	const live = "/live/websocket"
	a, b := newWSEchoBackend(t, "a", live), newWSEchoBackend(t, "b", live)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startSluice(t, writeConfig(t, dir, "16.conf", "Listen "+addr+"\n"+conf,
		"*:443>", fmt.Sprintf("*:%d>", port), "192.0.2.41:4000", a, "192.0.2.42:4000", b))

	tlsConf := &tls.Config{ServerName: "broker.example.com", RootCAs: cert.Roots}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		return httpsGet(t, addr, "broker.example.com", cert.Roots, path)
	}
	// The http balancer takes turns, with the query kept (QSA) and the
	// client's Host preserved.
	seen := map[string]int{}
	for range 4 {
		resp, body := get("/channels?page=2")
		if resp.StatusCode != 200 || !strings.HasSuffix(body, " GET /channels?page=2 proto= host=broker.example.com") {
			t.Fatalf("GET /channels: %d %q", resp.StatusCode, body)
		}
		seen[body[:1]]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("byrequests over the http balancer: %v, want 2 and 2", seen)
	}
	// A node's redirect to itself comes back as the broker's https URL.
	if resp, _ := get("/login"); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://broker.example.com/home" {
		t.Errorf("GET /login: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An upgrade takes the ws balancer, as wss.
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+addr+live+"?vsn=2.0.0", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}},
		Host:       "broker.example.com",
	})
	if err != nil {
		t.Fatalf("wss through the ws balancer: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`["1","1","phoenix","heartbeat",{}]`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), "heartbeat") {
		t.Errorf("echo: %q, %v", msg, err)
	}
}
