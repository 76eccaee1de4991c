package server

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/sluiceproxy/sluice/config"
)

// startBackend serves h on a loopback port and returns its address.
func startBackend(tb testing.TB, h fasthttp.RequestHandler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, DisableHeaderNamesNormalizing: true}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startProxy loads an Apache config (BACKEND replaced by backend) and serves
// it on an in-memory listener; it returns a client bound to that listener.
func startProxy(tb testing.TB, conf, backend string) (*Server, *fasthttp.Client) {
	tb.Helper()
	src := "Listen 127.0.0.1:0\n" + strings.ReplaceAll(conf, "BACKEND", backend)
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	c := &fasthttp.Client{
		Dial:                          func(string) (net.Conn, error) { return ln.Dial() },
		DisableHeaderNamesNormalizing: true,
		MaxIdemponentCallAttempts:     1,
	}
	return s, c
}
