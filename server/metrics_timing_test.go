package server

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkObserve measures what metrics add to a finished request: the
// member lookup, the status class counter and the latency histogram, from
// every core at once on one member.
func BenchmarkObserve(b *testing.B) {
	s, _ := startProxy(b, "<Proxy balancer://b>\nBalancerMember http://BACKEND\n</Proxy>\nProxyPass /p balancer://b/\n", "127.0.0.1:1")
	snap := s.rt.Load().hosts[0].balancers["b"].Load()
	m := snap.Members[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Response.SetStatusCode(200)
		now := time.Now()
		for pb.Next() {
			s.observe(&ctx, m, snap, now)
		}
	})
}

// BenchmarkWriteMetrics measures one scrape of a balancer with 20 members,
// Go and process metrics included.
func BenchmarkWriteMetrics(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("<Proxy balancer://b>\n")
	for i := range 20 {
		fmt.Fprintf(&conf, "BalancerMember http://127.0.0.1:%d\n", 10000+i)
	}
	conf.WriteString("</Proxy>\nProxyPass /p balancer://b/\n")
	s, _ := startProxy(b, conf.String(), "")
	b.ReportAllocs()
	for b.Loop() {
		s.WriteMetrics(io.Discard)
	}
}
