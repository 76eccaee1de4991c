package main

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		method, path, body string
		status, size       int
	}{
		{"GET", "/small", "", 200, 100},
		{"GET", "/page", "", 200, 100},
		{"GET", "/1k", "", 200, 1 << 10},
		{"GET", "/64k", "", 200, 64 << 10},
		{"POST", "/echo", "hello", 200, 5},
		{"GET", "/echo", "", 405, -1},
		{"GET", "/nope", "", 404, -1},
	}
	for _, tt := range tests {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(tt.method)
		ctx.Request.SetRequestURI(tt.path)
		ctx.Request.SetBodyString(tt.body)
		handle(&ctx)
		if got := ctx.Response.StatusCode(); got != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, got, tt.status)
		}
		if body := ctx.Response.Body(); tt.size >= 0 && len(body) != tt.size {
			t.Errorf("%s %s: %d bytes, want %d", tt.method, tt.path, len(body), tt.size)
		}
		if tt.body != "" && string(ctx.Response.Body()) != tt.body {
			t.Errorf("echo answered %q", ctx.Response.Body())
		}
	}
}
