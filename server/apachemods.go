package server

import (
	"crypto/tls"
	"fmt"
	"mime"
	"path"
	"slices"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/modrewrite"
	"github.com/sluiceproxy/sluice/pathscope"
	"github.com/sluiceproxy/sluice/pool"
)

// hostMods is one vhost's merged rules: Apache's inheritance from the
// main server already applied.
type hostMods struct {
	rewrite   []*modrewrite.Rules // host-level lists, in run order
	locations []scopedRewrite
	headers   []scopedHeader
	requestH  []scopedHeader
	// requestLines: every requestH rule can edit the request's own field
	// lines (headers.LineEditable), so the request keeps its own head.
	requestLines bool
	docs         map[int]*config.ErrorDocument
	// locDocs are <Location> sections' ErrorDocuments, Main's first: the
	// last that covers a request overrides docs.
	locDocs []scopedDoc
	// setEnv are the SetEnvIf lines, Main's first, that set the variables
	// header rules read.
	setEnv []scopedEnv
	// targets are the routes of [P] rules.
	targets map[*modrewrite.Rule]*route
	// ssl: a rule reads mod_ssl's variables (%{VAR}s, %{SSL:VAR}).
	ssl bool
	// headersRead: a Header rule reads the request or its variables
	// (modheaders.Rule.ReadsVars); without one, none are made for them.
	headersRead bool
	// readsEnv: a rewrite rule reads %{ENV:NAME}.
	readsEnv bool
	// noKeepAlive is proxy-nokeepalive, when a SetEnv or SetEnvIf line of
	// the host may set it (hasNoKeepAlive).
	noKeepAlive    modheaders.Var
	hasNoKeepAlive bool
	// noProxy is mod_proxy's no-proxy, when a SetEnv or SetEnvIf line or
	// an [E=] flag of the host may set it (hasNoProxy).
	noProxy    modheaders.Var
	hasNoProxy bool
	// rwEnv are the variables of the [E=] flags of the host's rewrite
	// rules, by rule (config.Rewrite.EnvVars).
	rwEnv map[*modrewrite.Rule][]modheaders.Var
}

type scopedRewrite struct {
	pathscope.Scope
	rules *modrewrite.Rules
}

type scopedHeader struct {
	pathscope.Scope
	rule *modheaders.Rule
}

type scopedDoc struct {
	pathscope.Scope
	doc *config.ErrorDocument
}

type scopedEnv struct {
	pathscope.Scope
	rule *modheaders.EnvRule
}

// buildMods compiles the runtime's rewrite, header and ErrorDocument
// rules into its vhosts (vhost.mods); it reports whether any host has
// some. A config that uses none leaves the request path untouched.
func buildMods(rt *runtime, b *builder) (bool, error) {
	used := false
	main := rt.cfg.Main
	for _, vh := range rt.hosts {
		hm, err := hostModsOf(vh, main, b)
		if err != nil {
			return false, err
		}
		if hm != nil {
			if v, ok := rt.cfg.Vars().Find("proxy-nokeepalive"); ok && len(hm.setEnv) > 0 {
				hm.noKeepAlive, hm.hasNoKeepAlive = v, true
			}
			if v, ok := rt.cfg.Vars().Find("no-proxy"); ok && (len(hm.setEnv) > 0 || len(hm.rwEnv) > 0) {
				hm.noProxy, hm.hasNoProxy = v, true
			}
			vh.mods = hm
			used = true
		}
	}
	return used, nil
}

func hostModsOf(vh *vhost, main *config.Host, b *builder) (*hostMods, error) {
	hc := vh.cfg
	isMain := hc == main
	hm := &hostMods{docs: map[int]*config.ErrorDocument{}, targets: map[*modrewrite.Rule]*route{}}
	if rw := hc.Rewrite; rw != nil && rw.Engine {
		own, inherited := rw.Compiled, (*modrewrite.Rules)(nil)
		if !isMain && main.Rewrite != nil && rw.Inherit != "" {
			inherited = main.Rewrite.Compiled
		}
		if rw.Inherit == "inheritbefore" {
			own, inherited = inherited, own
		}
		for _, rs := range []*modrewrite.Rules{own, inherited} {
			if rs.Len() > 0 {
				hm.rewrite = append(hm.rewrite, rs)
			}
		}
	}
	hosts := []*config.Host{hc}
	if !isMain {
		hosts = []*config.Host{main, hc}
	}
	for _, h := range hosts {
		rws := h.LocationRewrites
		if h.Rewrite != nil {
			rws = append([]*config.Rewrite{h.Rewrite}, rws...)
		}
		for _, rw := range rws {
			for rule, vars := range rw.EnvVars {
				if hm.rwEnv == nil {
					hm.rwEnv = map[*modrewrite.Rule][]modheaders.Var{}
				}
				hm.rwEnv[rule] = vars
			}
		}
		for _, lr := range h.LocationRewrites {
			if lr.Engine && lr.Compiled.Len() > 0 {
				hm.locations = append(hm.locations, scopedRewrite{Scope: pathscope.New(lr.Scope, lr.ScopeMatch), rules: lr.Compiled})
			}
		}
		for _, hr := range h.Headers {
			hm.headers = append(hm.headers, scopedHeader{Scope: pathscope.New(hr.Scope, hr.ScopeMatch), rule: hr.Compiled})
			hm.ssl = hm.ssl || hr.Compiled.UsesSSL()
			hm.headersRead = hm.headersRead || hr.Compiled.ReadsVars()
		}
		for _, hr := range h.RequestHeaders {
			if bodyFraming(hr.Compiled.Name()) {
				continue // config warned: the body's framing is sluice's
			}
			hm.requestH = append(hm.requestH, scopedHeader{Scope: pathscope.New(hr.Scope, hr.ScopeMatch), rule: hr.Compiled})
			hm.ssl = hm.ssl || hr.Compiled.UsesSSL()
		}
		for _, d := range h.ErrorDocuments {
			if d.Scope != "" {
				hm.locDocs = append(hm.locDocs, scopedDoc{Scope: pathscope.New(d.Scope, d.ScopeMatch), doc: d})
				continue
			}
			hm.docs[d.Status] = d
		}
		for _, se := range h.SetEnvIf {
			hm.setEnv = append(hm.setEnv, scopedEnv{Scope: pathscope.New(se.Scope, se.ScopeMatch), rule: se.Compiled})
		}
	}
	lists := append([]*modrewrite.Rules(nil), hm.rewrite...)
	for _, lr := range hm.locations {
		lists = append(lists, lr.rules)
	}
	for _, rs := range lists {
		hm.ssl = hm.ssl || rs.UsesSSL()
		hm.readsEnv = hm.readsEnv || rs.ReadsEnv()
	}
	for _, rs := range lists {
		for _, rule := range rs.List() {
			if rule.Flags().Proxy {
				r, err := rewriteTarget(vh, rule, b)
				if err != nil {
					return nil, err
				}
				hm.targets[rule] = r
			}
		}
	}
	if len(hm.rewrite) == 0 && len(hm.locations) == 0 && len(hm.headers) == 0 && len(hm.requestH) == 0 && len(hm.docs) == 0 && len(hm.locDocs) == 0 && len(hm.setEnv) == 0 {
		return nil, nil
	}
	hm.requestLines = true
	for _, rh := range hm.requestH {
		hm.requestLines = hm.requestLines && headers.LineEditable(rh.rule.Name())
	}
	return hm, nil
}

// bodyFraming reports Content-Length and Transfer-Encoding, which frame
// the request's body: sluice writes them for the body it sends, as
// mod_proxy does (apache.md §2), and a RequestHeader rule that changed
// them would have the member read another body than the one that follows.
func bodyFraming(name string) bool {
	return anycase.SameName([]byte(name), "Content-Length") || anycase.SameName([]byte(name), "Transfer-Encoding")
}

// rewriteTarget builds the route a [P] rule proxies through: the vhost's
// balancer of that name, or a direct worker for the rule's origin (the
// ProxyPass worker's pool when one has the same origin).
func rewriteTarget(vh *vhost, rule *modrewrite.Rule, b *builder) (*route, error) {
	rc := &config.Route{Path: "/", Target: rule.Origin()}
	if name := rule.Balancer(); name != "" {
		rc.Target = "balancer://" + name
		bal := vh.balancers[name]
		if bal == nil {
			// As ProxyPass to an undefined balancer: 503.
			bal = pool.NewBalancer(name, &pool.Snapshot{Config: &config.Balancer{Name: name, ForceRecovery: true}})
		}
		return &route{cfg: rc, balancer: bal}, nil
	}
	m, err := pool.NewMember(b.reg, "", rule.Origin(), config.WorkerParams{}, true)
	if err != nil {
		return nil, fmt.Errorf("RewriteRule [P] target %q: %w", rule.Origin(), err)
	}
	m.Backend = b.backend(m, vh.cfg, nil)
	return &route{cfg: rc, direct: m}, nil
}

// appendServerPort appends SERVER_PORT as Apache's ap_get_server_port has
// it under its defaults (UseCanonicalName Off, UseCanonicalPhysicalPort
// Off): the port the client's Host names, else the ServerName's, else the
// scheme's default. The socket's own port never shows, so a proxy
// published on another port (Docker's -p 8080:80) reports the one the
// client used.
func appendServerPort(dst, host []byte, namePort string, tls bool) []byte {
	if i := lastColon(host); i >= 0 && i+1 < len(host) && allDigits(host[i+1:]) {
		return append(dst, host[i+1:]...)
	}
	switch {
	case namePort != "":
		return append(dst, namePort...)
	case tls:
		return append(dst, "443"...)
	}
	return append(dst, "80"...)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// namePort is the port of a host's ServerName, or of the main server's
// when the host sets none ("https://www.example.com:8443" gives "8443").
func namePort(name, mainName string) string {
	if name == "" {
		name = mainName
	}
	if _, port := config.SplitServerName(name); port != "" && allDigits([]byte(port)) {
		return port
	}
	return ""
}

// modsReq is one request's rewrite scratch space.
type modsReq struct {
	st  modrewrite.State
	req modrewrite.Request
	env modheaders.Env
	sc  modheaders.Scratch
	tls tls.ConnectionState // req.TLS points here when set
	buf []byte
	// port and addr hold req's SERVER_PORT and REMOTE_ADDR once a rule
	// reads them (ServerPort, RemoteAddr), from namePort and ctx; name
	// holds BALANCER_NAME.
	port, addr, name []byte
	namePort         string
	ctx              *fasthttp.RequestCtx
	// vars name env's variables, for LookupEnv.
	vars *modheaders.Vars
}

var modsReqPool = sync.Pool{New: func() any { return new(modsReq) }}

// fill sets mr.req to ctx's request, in mr's own buffers: a request
// through rules allocates nothing for them.
func (mr *modsReq) fill(ctx *fasthttp.RequestCtx, vh *vhost, hm *hostMods, path []byte) {
	mr.ctx, mr.namePort = ctx, vh.namePort
	mr.req = modrewrite.Request{
		Method: ctx.Method(), Path: path, RawPath: ctx.URI().PathOriginal(), Query: ctx.URI().QueryString(),
		Host: ctx.Host(), HTTPS: ctx.IsTLS(), Header: &ctx.Request.Header,
		ServerName: vh.serverName, Conn: mr, DocumentRoot: vh.docRoot,
	}
	if hm.ssl {
		mr.tls = tls.ConnectionState{} // nothing of another connection's kept
		if c, ok := ctx.Conn().(*tlsConn); ok {
			mr.tls = c.ConnectionState()
			mr.req.TLS = &mr.tls
		}
	}
}

// ServerPort makes mr.req's SERVER_PORT, from the Host it was filled with.
func (mr *modsReq) ServerPort() []byte {
	mr.port = appendServerPort(mr.port[:0], mr.req.Host, mr.namePort, mr.req.HTTPS)
	return mr.port
}

// RemoteAddr makes mr.req's REMOTE_ADDR.
func (mr *modsReq) RemoteAddr() []byte {
	mr.addr = appendClientIP(mr.addr[:0], mr.ctx)
	return mr.addr
}

// LookupEnv reads a variable SetEnvIf set, for the rewrite rules.
func (mr *modsReq) LookupEnv(name string) ([]byte, bool) {
	if v, ok := mr.vars.Find(name); ok {
		return mr.env.Get(v)
	}
	return nil, false
}

// startEnv starts the request's variables for a phase of header rules:
// none, then what the host's SetEnvIf lines set, what x's rewrite rules
// set ([E=]; x nil on error pages), then mod_ssl's HTTPS (its fixup runs
// after them in Apache).
func (mr *modsReq) startEnv(hm *hostMods, x *exchange) {
	mr.sc.ResetEnv(&mr.env)
	for i := range hm.setEnv {
		if se := &hm.setEnv[i]; se.Covers(mr.req.Path) {
			se.rule.Apply(&mr.req, &mr.env, &mr.sc)
		}
	}
	if x != nil {
		for i := range x.env {
			if e := &x.env[i]; e.unset {
				mr.env.Unset(e.v)
			} else {
				mr.env.Set(e.v, e.val)
			}
		}
	}
	if mr.req.HTTPS {
		mr.env.Set(modheaders.HTTPS, httpsOn)
	}
}

var httpsOn = []byte("on")

// rewrite runs vh's RewriteRules before route matching. It reports
// whether the request was answered: redirected, refused, or proxied by a
// [P] rule. An internal rewrite changes the request path and leaves
// routing to the caller.
func (s *Server) rewrite(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost, x *exchange) bool {
	hm := vh.mods
	if hm == nil || len(hm.rewrite) == 0 && len(hm.locations) == 0 {
		return false
	}
	mr := modsReqPool.Get().(*modsReq)
	defer modsReqPool.Put(mr)
	mr.fill(ctx, vh, hm, x.requestPath(ctx))
	if hm.readsEnv {
		// %{ENV:NAME} reads what SetEnvIf set (Apache runs it first).
		mr.startEnv(hm, nil)
		mr.vars, mr.req.Env = rt.cfg.Vars(), mr
	}
	st := &mr.st
	st.Reset(mr.req.Path, mr.req.Query)
	for _, rs := range hm.rewrite {
		rs.Apply(st, &mr.req)
	}
	for i := range hm.locations {
		if st.Done() {
			break
		}
		if lr := &hm.locations[i]; lr.Covers(st.Path) {
			st.NextPhase()
			lr.rules.Apply(st, &mr.req)
		}
	}
	st.Finish(ctx.Host(), ctx.IsTLS())
	x.keepEnv(st.Env, hm)
	switch st.Action {
	case modrewrite.Respond:
		s.fail(ctx, st.Status)
		return true
	case modrewrite.Redirect:
		s.sendRedirect(ctx, vh, st.Status, st.Location)
		return true
	case modrewrite.Proxy:
		r := hm.targets[st.Rule]
		if r == nil {
			s.fail(ctx, fasthttp.StatusInternalServerError)
			return true
		}
		x.path = x.path[:0]
		if len(st.Path) == 0 || st.Path[0] != '/' {
			x.path = append(x.path, '/')
		}
		if st.NoEscape() {
			x.path = modrewrite.AppendPath(x.path, st.Path, true)
		} else {
			// An encoded slash NoDecode kept goes on as it came.
			x.path = appendEscapedPath(x.path, st.Path, x.keepSlashes)
		}
		ctx.URI().SetQueryStringBytes(st.Query)
		s.proxyRoute(ctx, rt, vh, r, x)
		return true
	}
	if st.Rewritten {
		mr.buf = modrewrite.AppendPath(mr.buf[:0], st.Path, false)
		ctx.URI().SetPathBytes(mr.buf)
		x.keptPath = nil // an encoded slash kept is a literal %2F in ctx.Path() now
		ctx.URI().SetQueryStringBytes(st.Query)
	}
	return false
}

// requestHeaders runs RequestHeader rules on the outbound request. The
// balancer has not chosen a member yet, so no BALANCER_* variable is set
// (as in Apache, where RequestHeader runs before the proxy handler).
func (s *Server) requestHeaders(ctx *fasthttp.RequestCtx, vh *vhost, h *fasthttp.RequestHeader, x *exchange) {
	hm := vh.mods
	if hm == nil || len(hm.requestH) == 0 && !hm.hasNoKeepAlive {
		return
	}
	mr := x.proxiedMods(ctx, vh, hm)
	mr.startEnv(hm, x)
	var fields modheaders.Header = h
	if x.ownHead {
		fields = &x.fields // the request goes out with its own head
	}
	for i := range hm.requestH {
		if rh := &hm.requestH[i]; rh.Covers(mr.req.Path) {
			rh.rule.Apply(fields, &mr.req, &mr.env, false, &mr.sc)
		}
	}
	if x.ownHead {
		x.call.SetHeaderFields(x.fields.B)
	}
	if _, set := mr.env.Get(hm.noKeepAlive); set && hm.hasNoKeepAlive && len(anycase.Request(h, "Upgrade")) == 0 {
		// mod_proxy's proxy-nokeepalive: "Connection: close" to the
		// member, whose connection is then not pooled (a tunnel's never
		// is). With its own head the request carries no Upgrade: the
		// header it leaves is empty but for this flag.
		h.SetConnectionClose()
	}
}

// noProxy reports whether the request's variables set mod_proxy's
// no-proxy, which turns every ProxyPass down as "!" does: the one way to
// exclude a path inside a <Location> that proxies. The test of the flag
// inlines into the route loop; a config that never sets no-proxy costs no
// call.
func (x *exchange) noProxy(ctx *fasthttp.RequestCtx, vh *vhost) bool {
	hm := vh.mods
	return hm != nil && hm.hasNoProxy && x.setsNoProxy(ctx, vh, hm)
}

func (x *exchange) setsNoProxy(ctx *fasthttp.RequestCtx, vh *vhost, hm *hostMods) bool {
	mr := x.proxiedMods(ctx, vh, hm)
	mr.startEnv(hm, x)
	_, set := mr.env.Get(hm.noProxy)
	return set
}

// proxiedMods is the exchange's modsReq for the RequestHeader and Header
// rules of a proxied request, filled once: both see the same request, on
// the path routing matched. Each caller starts its own variables.
func (x *exchange) proxiedMods(ctx *fasthttp.RequestCtx, vh *vhost, hm *hostMods) *modsReq {
	if x.mods == nil {
		x.mods = modsReqPool.Get().(*modsReq)
		x.mods.fill(ctx, vh, hm, x.requestPath(ctx))
	}
	return x.mods
}

// responseHeaders runs Header rules on a proxied response, with the
// balancer variables Apache sets for the chosen member.
func (s *Server) responseHeaders(ctx *fasthttp.RequestCtx, vh *vhost, m *pool.Member, snap *pool.Snapshot, x *exchange) {
	hm := vh.mods
	if hm == nil || len(hm.headers) == 0 {
		return
	}
	if !hm.headersRead {
		// Fields set to text, as security headers are: no variables.
		applyHeaders(&ctx.Response.Header, hm, x.requestPath(ctx), nil, nil, false, &x.headerScratch)
		return
	}
	mr := x.proxiedMods(ctx, vh, hm)
	mr.startEnv(hm, x)
	balancerEnv(mr, m, snap, x)
	applyHeaders(&ctx.Response.Header, hm, mr.req.Path, &mr.req, &mr.env, false, &mr.sc)
}

// applyHeaders runs the host's Header rules that cover path on h; req and
// env are nil where none reads them (hostMods.headersRead).
func applyHeaders(h *fasthttp.ResponseHeader, hm *hostMods, path []byte, req *modrewrite.Request, env *modheaders.Env, errorPage bool, sc *modheaders.Scratch) {
	for i := range hm.headers {
		if rh := &hm.headers[i]; rh.Covers(path) {
			rh.rule.Apply(h, req, env, errorPage, sc)
		}
	}
}

// envValue is a variable an [E=] flag set (or unset) for the request.
type envValue struct {
	v     modheaders.Var
	unset bool
	val   []byte
}

// keepEnv copies the [E=] flags the rules applied into x, whose buffers
// outlive the pooled rewrite state and are reused request after request.
func (x *exchange) keepEnv(env []modrewrite.EnvAssign, hm *hostMods) {
	for i := range env {
		a := &env[i]
		n := len(x.env)
		x.env = slices.Grow(x.env, 1)[:n+1] // keeps a val buffer of an earlier request
		e := &x.env[n]
		e.v, e.unset = hm.rwEnv[a.Rule][a.I], a.Unset
		e.val = append(e.val[:0], a.Value...)
	}
}

// balancerEnv sets the variables mod_proxy_balancer exports (apache.md
// §4.7): BALANCER_ROUTE_CHANGED when the balancer is sticky and the request
// did not reach the member of the route it asked for.
func balancerEnv(mr *modsReq, m *pool.Member, snap *pool.Snapshot, x *exchange) {
	if snap == nil || m == nil {
		return
	}
	bc, env := snap.Config, &mr.env
	mr.name = append(append(mr.name[:0], "balancer://"...), bc.Name...)
	env.Set(modheaders.BalancerName, mr.name)
	env.SetString(modheaders.BalancerWorkerName, m.Name)
	env.SetString(modheaders.BalancerWorkerRoute, m.Route)
	if bc.StickyCookie == "" && bc.StickyURLParam == "" {
		return
	}
	if len(x.route) > 0 {
		env.Set(modheaders.BalancerSessionRoute, x.route)
		name := bc.StickyCookie
		if x.routeByURL {
			name = bc.StickyURLParam
		}
		env.SetString(modheaders.BalancerSessionSticky, name)
	}
	if len(x.route) == 0 || string(x.route) != m.Route {
		env.SetString(modheaders.BalancerRouteChanged, "1")
	}
}

// errorResponse writes sluice's error page for status, or the vhost's
// ErrorDocument, then runs the Header always rules.
func (s *Server) errorResponse(ctx *fasthttp.RequestCtx, status int) {
	errorPage(ctx, status)
	rt := s.rt.Load()
	if !rt.mods {
		return
	}
	vh := rt.hostOf(ctx)
	hm := vh.mods
	if hm == nil {
		return
	}
	if d := hm.document(status, ctx.Path()); d != nil {
		errorDocument(ctx, d)
	}
	alwaysHeaders(ctx, vh)
}

// alwaysHeaders runs vh's Header always rules on an answer sluice made
// (an error page, a redirect): Apache sends those through mod_headers'
// error filter, which knows no other rules.
func alwaysHeaders(ctx *fasthttp.RequestCtx, vh *vhost) {
	hm := vh.mods
	if hm == nil || len(hm.headers) == 0 {
		return
	}
	mr := modsReqPool.Get().(*modsReq)
	defer modsReqPool.Put(mr)
	mr.requestEnv(ctx, vh)
	applyHeaders(&ctx.Response.Header, hm, mr.req.Path, &mr.req, &mr.env, true, &mr.sc)
}

// requestEnv fills mr for ctx and starts its variables as they stand
// outside the proxying (error pages, logs): what the host's SetEnvIf lines
// set, and mod_ssl's HTTPS.
func (mr *modsReq) requestEnv(ctx *fasthttp.RequestCtx, vh *vhost) *modheaders.Env {
	hm := vh.mods
	if hm == nil {
		hm = &noMods
	}
	mr.fill(ctx, vh, hm, ctx.Path())
	mr.startEnv(hm, nil)
	return &mr.env
}

// noMods stands in for a host without rules.
var noMods hostMods

// document is the ErrorDocument for status on a request to path: the last
// <Location> section's that covers path, else the host's.
func (hm *hostMods) document(status int, path []byte) *config.ErrorDocument {
	d := hm.docs[status]
	for i := range hm.locDocs {
		if ld := &hm.locDocs[i]; ld.doc.Status == status && ld.Covers(path) {
			d = ld.doc
		}
	}
	return d
}

// errorDocument replaces the body of an error response: a file read when
// the config loaded, a message, or a redirect to a URL (302, as Apache).
// A default one, or a file that could not be read, keeps the built-in page.
func errorDocument(ctx *fasthttp.RequestCtx, d *config.ErrorDocument) {
	switch {
	case d.URL != "":
		ctx.SetStatusCode(fasthttp.StatusFound)
		ctx.Response.Header.Set("Location", d.URL)
	case d.Message != "":
		ctx.SetBodyString(d.Message)
	case d.Body != nil:
		ct := mime.TypeByExtension(path.Ext(d.Path))
		if ct == "" {
			ct = "text/html; charset=utf-8"
		}
		ctx.Response.Header.SetContentType(ct)
		ctx.SetBody(d.Body)
	}
}
