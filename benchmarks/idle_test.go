//go:build linux

package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestIdleConnections(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	addr := strings.TrimPrefix(ts.URL, "http://")
	conns, err := openIdle(context.Background(), addr, "/small", 40)
	if err != nil {
		t.Fatal(err)
	}
	defer closeIdle(conns)
	if lost := recheckIdle(conns, addr, "/small"); lost != 0 {
		t.Errorf("%d of 40 connections lost while the server kept them", lost)
	}
	// A proxy that drops idle connections loses them all.
	ts.CloseClientConnections()
	if lost := recheckIdle(conns, addr, "/small"); lost != 40 {
		t.Errorf("%d of 40 connections lost after the server closed them all", lost)
	}
}

func TestIdleConnectionsRefused(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	if _, err := openIdle(context.Background(), strings.TrimPrefix(ts.URL, "http://"), "/", 3); err == nil {
		t.Error("openIdle accepted 502 answers")
	}
}

func TestPreflight(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			_, _ = io.WriteString(w, strings.Repeat("s", 100))
		case "/echo":
			_, _ = io.Copy(w, r.Body)
		case "/1k":
			_, _ = io.WriteString(w, "short")
		default:
			http.NotFound(w, r)
		}
	})
	addr := strings.TrimPrefix(ts.URL, "http://")
	for _, sc := range []scenario{named(t, "get-100b"), named(t, "post-1k")} {
		if err := preflight(addr, sc); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
	}
	for _, sc := range []scenario{named(t, "get-1k"), {Name: "missing", Path: "/nope", Want: 100}} {
		if err := preflight(addr, sc); err == nil {
			t.Errorf("%s: a wrong answer passed", sc.Name)
		}
	}
}
