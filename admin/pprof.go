package admin

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// servePprof answers Go's profiles under /debug/pprof/ as net/http/pprof
// does, for `go tool pprof` and curl. It writes them to fasthttp itself:
// net/http/pprof, through fasthttp's adaptor, linked net/http's server into
// every sluice, about 0.85 MB of binary that is nearly all resident
// (docs/benchmarks.md, "Binary size is resident memory"). Delta profiles
// (seconds= on a named profile) are not served.
func servePprof(ctx *fasthttp.RequestCtx, name string) {
	args := ctx.QueryArgs()
	switch name {
	case "":
		pprofIndex(ctx)
	case "cmdline":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(strings.Join(os.Args, "\x00"))
	case "profile", "trace":
		def := 30
		if name == "trace" {
			def = 1
		}
		secs, ok := pprofSeconds(args, def)
		if !ok {
			pprofError(ctx, fasthttp.StatusBadRequest, "seconds must be a whole number from 1 to "+strconv.Itoa(maxPprofSeconds))
			return
		}
		pprofRecord(ctx, name, time.Duration(secs)*time.Second)
	case "symbol":
		pprofSymbols(ctx)
	default:
		p := pprof.Lookup(name)
		if p == nil {
			pprofError(ctx, fasthttp.StatusNotFound, "unknown profile")
			return
		}
		if args.Has("seconds") {
			pprofError(ctx, fasthttp.StatusBadRequest, "delta profiles (seconds=) are not served: take two profiles and compare them with go tool pprof -diff_base")
			return
		}
		debug, _ := strconv.Atoi(string(args.Peek("debug")))
		if name == "heap" && string(args.Peek("gc")) != "" && string(args.Peek("gc")) != "0" {
			runtime.GC()
		}
		var b bytes.Buffer
		if err := p.WriteTo(&b, debug); err != nil {
			pprofError(ctx, fasthttp.StatusInternalServerError, "cannot write the profile")
			return
		}
		if debug != 0 {
			ctx.SetContentType("text/plain; charset=utf-8")
		} else {
			pprofAttachment(ctx, name)
		}
		ctx.SetBody(b.Bytes())
	}
}

// maxPprofSeconds bounds how long a profile or trace request holds its
// handler (net/http/pprof has only the server's write timeout, which
// fasthttp applies once the handler is done).
const maxPprofSeconds = 300

// pprofSeconds reads seconds=N, def when absent.
func pprofSeconds(args *fasthttp.Args, def int) (int, bool) {
	v := args.Peek("seconds")
	if v == nil {
		return def, true
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil && n > 0 && n <= maxPprofSeconds
}

// pprofRecord runs a CPU profile or an execution trace for d and answers
// it. The handler waits, as net/http/pprof's does: the admin listener
// serves other requests meanwhile.
func pprofRecord(ctx *fasthttp.RequestCtx, name string, d time.Duration) {
	var b bytes.Buffer
	start, stop := pprof.StartCPUProfile, pprof.StopCPUProfile
	if name == "trace" {
		start, stop = trace.Start, trace.Stop
	}
	if err := start(&b); err != nil {
		// Another profile or trace is running.
		pprofError(ctx, fasthttp.StatusInternalServerError, "cannot start the "+name+": "+err.Error())
		return
	}
	time.Sleep(d)
	stop()
	pprofAttachment(ctx, name)
	ctx.SetBody(b.Bytes())
}

// pprofSymbols answers the symbol lookup older pprof tools make by GET:
// the function at each address of the query ("?0x1+0x2").
func pprofSymbols(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	var b bytes.Buffer
	b.WriteString("num_symbols: 1\n")
	for word := range strings.FieldsFuncSeq(string(ctx.QueryArgs().QueryString()), func(r rune) bool { return r == '+' }) {
		pc, err := strconv.ParseUint(word, 0, 64)
		if err != nil {
			continue
		}
		if f := runtime.FuncForPC(uintptr(pc)); f != nil {
			fmt.Fprintf(&b, "%#x %s\n", pc, f.Name())
		}
	}
	ctx.SetBody(b.Bytes())
}

// pprofIndex lists the profiles, with links, as net/http/pprof's index.
func pprofIndex(ctx *fasthttp.RequestCtx) {
	var b bytes.Buffer
	b.WriteString("<html><head><title>/debug/pprof/</title></head><body>\n<p>Types of profiles available:</p>\n<table><tr><th>Count</th><th>Profile</th></tr>\n")
	for _, p := range pprof.Profiles() {
		name := html.EscapeString(p.Name())
		fmt.Fprintf(&b, "<tr><td>%d</td><td><a href=\"%s?debug=1\">%s</a></td></tr>\n", p.Count(), name, name)
	}
	b.WriteString("<tr><td></td><td><a href=\"profile\">profile</a> (CPU, 30 s; ?seconds=N)</td></tr>\n")
	b.WriteString("<tr><td></td><td><a href=\"trace?seconds=1\">trace</a> (execution trace; ?seconds=N)</td></tr>\n")
	b.WriteString("<tr><td></td><td><a href=\"cmdline\">cmdline</a></td></tr>\n</table>\n")
	b.WriteString("<p><a href=\"goroutine?debug=2\">full goroutine stack dump</a></p>\n</body></html>\n")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b.Bytes())
}

func pprofAttachment(ctx *fasthttp.RequestCtx, name string) {
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
}

// pprofError answers in plain text, as net/http/pprof does.
func pprofError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Header.Set("X-Go-Pprof", "1")
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}
