package admin

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// route dispatches an admitted request.
func (a *Admin) route(ctx *fasthttp.RequestCtx, sc *Scope, req request) {
	switch req.kind {
	case "page":
		servePage(ctx)
		return
	case "asset":
		serveAsset(ctx, req.asset)
		return
	case "metrics":
		a.writeMetrics(ctx)
		return
	case "pprof":
		// Go's profiles for `go tool pprof`, on the admin listener only,
		// behind its token like /metrics.
		servePprof(ctx, req.asset)
		return
	}
	segs := req.segs
	if segs[0] != "balancers" || len(segs) > 4 || len(segs) == 3 && segs[2] != "members" || len(segs) == 4 && segs[2] != "members" {
		fail(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if len(segs) == 1 {
		sendJSON(ctx, a.listETag(sc), a.listView(sc))
		return
	}
	e := sc.find(segs[1])
	if e == nil {
		fail(ctx, fasthttp.StatusNotFound, "no balancer://"+segs[1]+" here")
		return
	}
	method := string(ctx.Method())
	switch {
	case len(segs) == 2 && !req.write:
		sendJSON(ctx, a.balancerTag(e.Bal.Load()), a.balancerView(sc, e))
	case len(segs) == 2:
		a.patchBalancer(ctx, sc, e, req.who)
	case len(segs) == 3 && !req.write:
		v := a.balancerView(sc, e)
		sendJSON(ctx, v.ETag, v.Members)
	case len(segs) == 3:
		a.addMember(ctx, sc, e, req.who)
	default:
		m := findMember(e.Bal.Load(), segs[3])
		if m == nil {
			fail(ctx, fasthttp.StatusNotFound, "balancer://"+e.Bal.Name+" has no member "+segs[3])
			return
		}
		switch method {
		case fasthttp.MethodPatch:
			a.patchMember(ctx, sc, e, m, req.who)
		case fasthttp.MethodDelete:
			a.removeMember(ctx, e, m, req)
		default:
			a.getMember(ctx, e.Bal.Name, m)
		}
	}
}

// findMember finds a member by its worker URL as Apache's manager names it
// (normalized or not), or by its route.
func findMember(s *pool.Snapshot, id string) *pool.Member {
	for _, m := range s.Members {
		if m.Name == id {
			return m
		}
	}
	probe := &config.Balancer{Name: "x", Members: []*config.Member{{URL: id}}}
	if config.ValidateBalancer(probe) == nil {
		for _, m := range s.Members {
			if m.Name == probe.Members[0].URL {
				return m
			}
		}
	}
	for _, m := range s.Members {
		if m.Route != "" && m.Route == id {
			return m
		}
	}
	return nil
}

// memberPath is a member's API path, its URL escaped into one segment.
func memberPath(sc *Scope, balancer, name string) string {
	return sc.Prefix + "/api/balancers/" + url.PathEscape(balancer) + "/members/" + url.PathEscape(name)
}

// Drain waits are bounded so a forgotten client cannot hold a connection.
const (
	defaultDrainWait = 30 * time.Second
	maxDrainWait     = 5 * time.Minute
)

// getMember answers GET …/members/{id}, with ?wait=drained&timeout=30s
// answering once the member has no request in flight (504 when the timeout
// ends first).
func (a *Admin) getMember(ctx *fasthttp.RequestCtx, balancer string, m *pool.Member) {
	args := ctx.QueryArgs()
	if args.Has("wait") {
		if w := string(args.Peek("wait")); w != "drained" {
			fail(ctx, fasthttp.StatusBadRequest, (&inputError{field: "wait", value: strconv.Quote(w), msg: "must be drained"}).Error())
			return
		}
		wait, err := waitParam(args)
		if err != nil {
			fail(ctx, fasthttp.StatusBadRequest, err.Error())
			return
		}
		if !a.drained(m.State, wait) {
			ctx.Response.Header.Set("ETag", a.memberTag(balancer, m))
			writeJSON(ctx, fasthttp.StatusGatewayTimeout, a.memberView(balancer, m))
			return
		}
	}
	sendJSON(ctx, a.memberTag(balancer, m), a.memberView(balancer, m))
}

// waitParam reads ?timeout= for drain waits.
func waitParam(args *fasthttp.Args) (time.Duration, error) {
	if !args.Has("timeout") {
		return defaultDrainWait, nil
	}
	v := string(args.Peek("timeout"))
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxDrainWait {
		return 0, &inputError{field: "timeout", value: strconv.Quote(v), msg: `must be duration text from "0s" to "5m"`}
	}
	return d, nil
}

// drained waits until st has no request in flight, up to wait.
func (a *Admin) drained(st *pool.State, wait time.Duration) bool {
	if st.Busy.Load() <= 0 {
		return true
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(a.poll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if st.Busy.Load() <= 0 {
				return true
			}
		case <-deadline.C:
			return st.Busy.Load() <= 0
		case <-a.done:
			return st.Busy.Load() <= 0
		}
	}
}

// precondition enforces If-Match against the resource's current ETag.
func precondition(ctx *fasthttp.RequestCtx, etag string) bool {
	im := string(anycase.Request(&ctx.Request.Header, "If-Match"))
	if im == "" {
		fail(ctx, fasthttp.StatusPreconditionRequired, "a change needs If-Match with the ETag of a recent GET")
		return false
	}
	if strings.TrimSpace(im) == "*" {
		return true
	}
	for _, t := range strings.Split(im, ",") {
		if strings.TrimSpace(t) == etag {
			return true
		}
	}
	ctx.Response.Header.Set("ETag", etag)
	fail(ctx, fasthttp.StatusPreconditionFailed, "the resource changed since that ETag: GET it again")
	return false
}

// readFields reads and splits a write's body; it answers the request on
// error.
func readFields(ctx *fasthttp.RequestCtx, allowed []string) ([]field, bool) {
	body, err := readBody(ctx)
	if err == nil {
		var fields []field
		if fields, err = decodeObject(body, allowed); err == nil {
			return fields, true
		}
	}
	switch {
	case errors.Is(err, errTooLarge):
		fail(ctx, fasthttp.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, errContentType):
		fail(ctx, fasthttp.StatusUnsupportedMediaType, err.Error())
	default:
		badRequest(ctx, err)
	}
	return nil, false
}

// badRequest answers 400 with the field at fault.
func badRequest(ctx *fasthttp.RequestCtx, err error) {
	out := errorJSON{Error: err.Error()}
	var ie *inputError
	var ce *config.Error
	switch {
	case errors.As(err, &ie):
		out.Field = ie.field
	case errors.As(err, &ce):
		// The config package's own check: its key, value and message,
		// without the file position, which means nothing here.
		out.Field = ce.Key
		out.Error = (&inputError{field: ce.Key, value: strconv.Quote(ce.Value), msg: ce.Msg}).Error()
	}
	writeJSON(ctx, fasthttp.StatusBadRequest, out)
}

type errorJSON struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// fail answers a JSON error.
func fail(ctx *fasthttp.RequestCtx, status int, msg string) {
	writeJSON(ctx, status, errorJSON{Error: msg})
}

// sendJSON answers 200 with an ETag.
func sendJSON(ctx *fasthttp.RequestCtx, etag string, v any) {
	ctx.Response.Header.Set("ETag", etag)
	writeJSON(ctx, fasthttp.StatusOK, v)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = fasthttp.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// withoutMember returns ms without the member named name.
func withoutMember(ms []*config.Member, name string) []*config.Member {
	return slices.DeleteFunc(ms, func(m *config.Member) bool { return m.URL == name })
}
