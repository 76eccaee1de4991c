package headers

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkRequest times Request on a fresh copy of the client's header, as
// the server calls it; copy-only is the copy alone.
func BenchmarkRequest(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"browser", typicalRequest},
		{"curl", plainRequest},
		{"hop-fields", hopFieldsRequest},
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
				apacheForwarder.Request(&out, loopback, loopback, host, backend, false)
			}
		})
		b.Run(bc.name+"/direct", func(b *testing.B) {
			h := &readRequest(b, bc.raw).Header
			l := linesOf(b, h)
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				dst = apacheForwarder.AppendRequestFields(dst[:0], l, loopback, nil, h.Host(), h.Protocol())
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"browser", typicalRequest},
		{"ip-host", ipHostRequest},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			readRequest(b, bc.raw).CopyTo(&ctx.Request)
			var l Lines
			b.ReportAllocs()
			for b.Loop() {
				if status, _ := Check(&ctx, &l); status != 0 {
					b.Fatal(status)
				}
			}
		})
	}
}

// BenchmarkResponse times Response on a fresh copy of the backend's header.
func BenchmarkResponse(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"node", typicalResponse},
		{"nginx", nginxResponse},
		{"plain", plainResponse},
	} {
		b.Run(bc.name, func(b *testing.B) {
			backendResp := readResponseHeader(b, bc.raw)
			proto := []byte("HTTP/1.1")
			var h fasthttp.ResponseHeader
			h.DisableNormalizing()
			b.ReportAllocs()
			for b.Loop() {
				backendResp.CopyTo(&h)
				apacheForwarder.Response(&h, false, proto)
			}
		})
	}
}
