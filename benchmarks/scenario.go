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
	Idle  int  // idle keep-alive connections the harness holds open beside wrk's
	Want  int  // response body bytes every peer must return
}

var scenarios = []scenario{
	{Name: "get-100b", Path: "/small", Want: 100},
	{Name: "get-1k", Path: "/1k", Want: 1 << 10},
	{Name: "get-64k", Path: "/64k", Want: 64 << 10},
	{Name: "post-1k", Path: "/echo", Post: 1 << 10, Want: 1 << 10},
	{Name: "new-conn", Path: "/small", Close: true, Want: 100},
	{Name: "idle-1000", Path: "/small", Idle: 1000, Want: 100},
}

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
