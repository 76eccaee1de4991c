package headers

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func BenchmarkPrepareRequest(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"rebuild", typicalRequest},
		{"inplace", plainRequest},
	} {
		b.Run(bc.name+"/copy-only", func(b *testing.B) {
			client := readRequest(b, bc.raw)
			var out fasthttp.RequestHeader
			out.DisableNormalizing()
			b.ReportAllocs()
			for b.Loop() {
				client.Header.CopyTo(&out)
			}
		})
		b.Run(bc.name, func(b *testing.B) {
			client := readRequest(b, bc.raw)
			host := client.Header.Host()
			var out fasthttp.RequestHeader
			out.DisableNormalizing()
			b.ReportAllocs()
			for b.Loop() {
				client.Header.CopyTo(&out)
				apacheForwarder.Request(&out, loopback, host, backend, false)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	var ctx fasthttp.RequestCtx
	readRequest(b, typicalRequest).CopyTo(&ctx.Request)
	b.ReportAllocs()
	for b.Loop() {
		if status, _ := Check(&ctx); status != 0 {
			b.Fatal(status)
		}
	}
}

func BenchmarkResponse(b *testing.B) {
	backendResp := readResponseHeader(b, typicalResponse)
	proto := []byte("HTTP/1.1")
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	b.ReportAllocs()
	for b.Loop() {
		backendResp.CopyTo(&h)
		apacheForwarder.Response(&h, false, proto)
	}
}
