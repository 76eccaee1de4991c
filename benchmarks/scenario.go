//go:build linux

package main

import (
	"fmt"
	"strings"
)

// scenario is one workload, run against every peer in turn.
type scenario struct {
	Name  string
	Path  string
	Post  int  // request body bytes; 0 means GET
	Close bool // "Connection: close" on every request: one TCP connection per request
	// Fields are request fields sent besides Host ("Name: value").
	Fields []string
	Idle   int // idle keep-alive connections the harness holds open beside wrk's
	// Conns is wrk's connections where the scenario sets them (-conns
	// otherwise).
	Conns int
	Want  int // response body bytes every peer must return
	// TLS: clients speak TLS to the proxy (TLS 1.3, TLS_AES_128_GCM_SHA256,
	// an ECDSA P-256 certificate, for every peer); the backends stay plain.
	TLS bool
}

var scenarios = []scenario{
	{Name: "get-100b", Path: "/small", Want: 100},
	{Name: "get-page", Path: "/page", Want: 100},
	{Name: "get-browser", Path: "/small", Fields: browserFields, Want: 100},
	// One connection: light load, where the proxy idles between requests
	// and each one wakes it (the runtime's costs of going idle and busy).
	{Name: "get-1conn", Path: "/small", Conns: 1, Want: 100},
	{Name: "get-1k", Path: "/1k", Want: 1 << 10},
	{Name: "get-64k", Path: "/64k", Want: 64 << 10},
	{Name: "post-1k", Path: "/echo", Post: 1 << 10, Want: 1 << 10},
	{Name: "new-conn", Path: "/small", Close: true, Want: 100},
	{Name: "idle-1000", Path: "/small", Idle: 1000, Want: 100},
	{Name: "tls-get-1k", Path: "/1k", Want: 1 << 10, TLS: true},
	{Name: "tls-new-conn", Path: "/small", Close: true, Want: 100, TLS: true},
}

// browserFields are what a browser sends with a page's GET besides Host
// (690 bytes of head with it): every proxy reads and forwards them.
// instructions.sh's browser mode sends the same.
var browserFields = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
	"Accept-Language: en-US,en;q=0.9",
	"Accept-Encoding: gzip, deflate, br, zstd",
	"Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.1.123456789.1700000000",
	"Referer: https://example.com/index.html",
	"Sec-Fetch-Dest: document",
	"Sec-Fetch-Mode: navigate",
	"Sec-Fetch-Site: same-origin",
	"Upgrade-Insecure-Requests: 1",
	"Cache-Control: max-age=0",
}

// url is where a peer listening on addr is reached.
func (sc scenario) url(addr string) string {
	if sc.TLS {
		return "https://" + addr
	}
	return "http://" + addr
}

// runs reports whether peer takes part: the backends speak no TLS, so a
// TLS scenario has no direct row.
func (sc scenario) runs(peer string) bool { return !sc.TLS || peer != direct }

// pickScenarios returns every scenario for "" or "all", else the named one.
func pickScenarios(name string) ([]scenario, error) {
	if name == "" || name == "all" {
		return scenarios, nil
	}
	names := make([]string, 0, len(scenarios))
	for _, s := range scenarios {
		if s.Name == name {
			return []scenario{s}, nil
		}
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("unknown scenario %q (allowed: all, %s)", name, strings.Join(names, ", "))
}
