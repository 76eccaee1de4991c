// Command naive is the floor for a Go proxy: fasthttp's server in front of
// fasthttp's HostClient, round robin over the backends, with no header
// hygiene, routing, metrics or limits. docs/benchmarks.md compares sluice
// with it to tell what sluice's own code costs from what Go's runtime and
// fasthttp cost. It is a measuring stick, not a proxy to deploy.
package main

import (
	"flag"
	"log"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18085", "listen address")
	list := flag.String("backends", "127.0.0.1:21001,127.0.0.1:21002", "comma-separated backend addresses")
	flag.Parse()
	var backends []*fasthttp.HostClient
	for _, a := range strings.Split(*list, ",") {
		backends = append(backends, &fasthttp.HostClient{Addr: a, MaxConns: 1024})
	}
	var next atomic.Uint64
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Del("Connection")
		b := backends[next.Add(1)%uint64(len(backends))]
		if err := b.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			return
		}
		ctx.Response.Header.Del("Connection")
	}
	log.Fatal((&fasthttp.Server{Handler: handler}).ListenAndServe(*addr))
}
