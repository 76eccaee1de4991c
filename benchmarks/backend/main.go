// Command backend is the demo backend of the benchmark harness: a fasthttp
// server listening on -n loopback ports, with fixed-size answers so that
// every proxy moves the same bytes.
//
//	GET  /small  100 bytes
//	GET  /page   100 bytes with the fields a web application's page
//	             usually comes with (caching, security, a cookie)
//	GET  /1k     1 KiB
//	GET  /64k    64 KiB
//	POST /echo   the request body
//
// It prints each listening address on its own line, then "ready", so the
// harness can use kernel-picked ports without racing for them.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Bodies are built once and sent with SetBodyRaw: the answer path does not copy.
var (
	small = bytes.Repeat([]byte("s"), 100)
	oneK  = bytes.Repeat([]byte("k"), 1<<10)
	big   = bytes.Repeat([]byte("m"), 64<<10)
)

func main() {
	n := flag.Int("n", 2, "number of listeners when -addr has port 0 (a named port has one)")
	addr := flag.String("addr", "127.0.0.1:0", "address of each listener (port 0: kernel-picked)")
	flag.Parse()
	if _, port, err := net.SplitHostPort(*addr); err == nil && port != "0" {
		*n = 1 // one backend per -addr, as the 16-core scaling run starts them
	}
	if err := run(*n, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(n int, addr string) error {
	srv := &fasthttp.Server{
		Handler:               handle,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		Concurrency:           1 << 20,
	}
	errc := make(chan error, n)
	for range n {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return fmt.Errorf("cannot listen on %q: %w", addr, err)
		}
		fmt.Println(ln.Addr().String())
		go func() { errc <- srv.Serve(ln) }()
	}
	fmt.Println("ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
		return srv.Shutdown()
	case err := <-errc:
		return err
	}
}

// pageFields are /page's fields besides Content-Type and Content-Length.
var pageFields = [...][2]string{
	{"Cache-Control", "private, max-age=0, must-revalidate"},
	{"ETag", `"33a64df551425fcc55e4d42a148795d9f25f89d4"`},
	{"Last-Modified", "Wed, 21 Oct 2026 07:28:00 GMT"},
	{"Vary", "Accept-Encoding"},
	{"X-Frame-Options", "SAMEORIGIN"},
	{"X-Content-Type-Options", "nosniff"},
	{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	{"Set-Cookie", "session=8f14e45fceea167a5a36dedd4bea2543; Path=/; HttpOnly; Secure"},
}

func handle(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain")
	switch string(ctx.Path()) {
	case "/small":
		ctx.Response.SetBodyRaw(small)
	case "/page":
		h := &ctx.Response.Header
		for _, f := range pageFields {
			h.Add(f[0], f[1])
		}
		ctx.Response.SetBodyRaw(small)
	case "/1k":
		ctx.Response.SetBodyRaw(oneK)
	case "/64k":
		ctx.Response.SetBodyRaw(big)
	case "/echo":
		if !ctx.IsPost() {
			ctx.Error("POST only", fasthttp.StatusMethodNotAllowed)
			return
		}
		ctx.SetBody(ctx.PostBody())
	default:
		ctx.NotFound()
	}
}
