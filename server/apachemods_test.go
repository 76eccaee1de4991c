package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

// The variables a RewriteRule reads come from the request and its
// connection: method, the port the client reached, the client's address,
// the vhost's ServerName, HTTPS off on a plain listener.
func TestRewriteVariablesFromTheConnection(t *testing.T) {
	src := "Listen 127.0.0.1:0\nServerName www.example.com\nRewriteEngine on\n" +
		"RewriteRule ^/v$ /to/%{REQUEST_METHOD}/%{SERVER_PORT}/%{REMOTE_ADDR}/%{SERVER_NAME}/%{HTTPS}/%{REQUEST_SCHEME}/%{HTTP_HOST}? [R=302,L]\n"
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTCP(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "DELETE /v HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	want := "/to/DELETE/" + port + "/127.0.0.1/www.example.com/off/http/front.example"
	br := bufio.NewReader(c)
	var status, location string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if status == "" {
			status = line
			continue
		}
		if line == "" {
			break
		}
		if k, v, _ := strings.Cut(line, ": "); strings.EqualFold(k, "Location") {
			location = v
		}
	}
	if status != "HTTP/1.1 302 Found" || !strings.HasSuffix(location, want) {
		t.Fatalf("%s, Location %q; want 302 to ...%s", status, location, want)
	}
}
