package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// fixture is an Admin over one balancer "app" with members b1 (route r1)
// and b2 (route r2), served without a network.
type fixture struct {
	t    *testing.T
	a    *Admin
	sc   *Scope
	reg  *pool.Registry
	bal  *pool.Balancer
	logs *bytes.Buffer
	// peer is the client address requests come from.
	peer string
	host string
}

func newFixture(t *testing.T, edit func(*config.Balancer)) *fixture {
	t.Helper()
	bc := &config.Balancer{Name: "app", LBMethod: "byrequests", ForceRecovery: true, StickySep: ".", Members: []*config.Member{
		{URL: "http://b1:8080", Params: config.WorkerParams{Route: "r1"}},
		{URL: "http://b2:8080", Params: config.WorkerParams{Route: "r2"}},
	}}
	if edit != nil {
		edit(bc)
	}
	if err := config.ValidateBalancer(bc); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, reg: pool.NewRegistry(), logs: new(bytes.Buffer), peer: "127.0.0.1:5555", host: "127.0.0.1:9090"}
	snap, err := pool.NewSnapshot(f.reg, bc)
	if err != nil {
		t.Fatal(err)
	}
	f.bal = pool.NewBalancer("app", snap)
	f.a = New(Options{Log: slog.New(slog.NewTextHandler(f.logs, nil)), StateFile: t.TempDir() + "/" + StateFileName})
	f.a.poll = 1e6 // 1ms
	f.sc = &Scope{
		Entries:    []Entry{{Bal: f.bal, Configured: bc}},
		ServerName: "test",
		Build:      func(bc *config.Balancer) (*pool.Snapshot, error) { return pool.NewSnapshot(f.reg, bc) },
	}
	t.Cleanup(f.a.Close)
	return f
}

// reply is a response, read back.
type reply struct {
	status int
	header map[string]string
	body   string
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("cannot decode %q: %v", r.body, err)
	}
}

// do serves one request; hdr are name, value pairs. A body is sent as
// application/json unless hdr sets Content-Type.
func (f *fixture) do(method, uri, body string, hdr ...string) reply {
	f.t.Helper()
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(f.host)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	addr, err := net.ResolveTCPAddr("tcp", f.peer)
	if err != nil {
		f.t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, addr, nil)
	f.a.Serve(&ctx, func() *Scope { return f.sc })
	r := reply{status: ctx.Response.StatusCode(), header: map[string]string{}, body: string(ctx.Response.Body())}
	for k, v := range ctx.Response.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r
}

// etag GETs uri and returns its ETag.
func (f *fixture) etag(uri string) string {
	f.t.Helper()
	r := f.do("GET", uri, "")
	if r.status != 200 || r.header["Etag"] == "" {
		f.t.Fatalf("GET %s: %d %q %s", uri, r.status, r.header["Etag"], r.body)
	}
	return r.header["Etag"]
}

// write sends a change with a fresh If-Match.
func (f *fixture) write(method, uri, etagURI, body string, hdr ...string) reply {
	f.t.Helper()
	return f.do(method, uri, body, append([]string{"If-Match", f.etag(etagURI)}, hdr...)...)
}

func (f *fixture) member(i int) *pool.Member { return f.bal.Load().Members[i] }

const (
	list = "/api/balancers"
	app  = "/api/balancers/app"
	b1   = "/api/balancers/app/members/http%3A%2F%2Fb1%3A8080"
	b2   = "/api/balancers/app/members/r2"
	add  = "/api/balancers/app/members"
)

// fakeResolver answers "Require host" lookups from maps.
type fakeResolver struct{ reverse, forward map[string][]string }

func (r fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if v, ok := r.reverse[addr]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if v, ok := r.forward[host]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// stateOf is the registry's state for id, which must exist.
func stateOf(t *testing.T, reg *pool.Registry, id string) *pool.State {
	t.Helper()
	st, created := reg.State(id)
	if created {
		t.Fatalf("no state for %s", id)
	}
	return st
}
