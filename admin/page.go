package admin

import (
	"embed"

	"github.com/valyala/fasthttp"
)

// ui is the page: static files that only call the JSON API and render
// every value as text, never as markup.
//
//go:embed ui/index.html ui/app.js ui/app.css
var ui embed.FS

// pageCSP allows nothing but this origin's script, style and API calls.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func servePage(ctx *fasthttp.RequestCtx) {
	serveFile(ctx, "ui/index.html", "text/html; charset=utf-8")
}

func serveAsset(ctx *fasthttp.RequestCtx, name string) {
	ct := "text/css; charset=utf-8"
	if name == "app.js" {
		ct = "text/javascript; charset=utf-8"
	}
	serveFile(ctx, "ui/"+name, ct)
}

func serveFile(ctx *fasthttp.RequestCtx, path, contentType string) {
	b, err := ui.ReadFile(path)
	if err != nil {
		fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	ctx.SetContentType(contentType)
	ctx.SetBody(b)
}
