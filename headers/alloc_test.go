//go:build !race

package headers

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// assertNoAllocs runs f until pooled and fasthttp buffers have grown, then
// requires it not to allocate.
func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	for range 100 {
		f()
	}
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocs per run, want 0", name, n)
	}
}

func TestAllocsRequest(t *testing.T) {
	for _, raw := range []string{typicalRequest, plainRequest, hopFieldsRequest} {
		client := readRequest(t, raw)
		var out fasthttp.RequestHeader
		out.DisableNormalizing()
		host := client.Header.Host()
		assertNoAllocs(t, "Request", func() {
			client.Header.CopyTo(&out)
			apacheForwarder.Request(&out, loopback, loopback, host, backend, false)
		})
	}
}

func TestAllocsAppendRequestFields(t *testing.T) {
	for _, raw := range []string{typicalRequest, plainRequest, hopFieldsRequest} {
		client := readRequest(t, raw)
		h := &client.Header
		l := linesOf(t, h)
		var dst []byte
		assertNoAllocs(t, "AppendRequestFields", func() {
			dst = apacheForwarder.AppendRequestFields(dst[:0], l, loopback, nil, h.Host(), h.Protocol())
		})
	}
}

func TestAllocsResponse(t *testing.T) {
	for _, raw := range []string{typicalResponse, nginxResponse, plainResponse} {
		backendResp := readResponseHeader(t, raw)
		var h fasthttp.ResponseHeader
		h.DisableNormalizing()
		proto := []byte("HTTP/1.1")
		assertNoAllocs(t, "Response", func() {
			backendResp.CopyTo(&h)
			apacheForwarder.Response(&h, false, proto)
		})
	}
}

func TestAllocsCheck(t *testing.T) {
	for _, raw := range []string{typicalRequest, ipHostRequest, "GET http://front.example.com:27080/x HTTP/1.1\r\nHost: front.example.com:27080\r\n\r\n"} {
		var ctx fasthttp.RequestCtx
		readRequest(t, raw).CopyTo(&ctx.Request)
		var l Lines
		assertNoAllocs(t, "Check", func() {
			if status, _ := Check(&ctx, &l); status != 0 {
				t.Fatalf("Check refused %q: %d", raw, status)
			}
		})
	}
}
