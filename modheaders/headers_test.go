package modheaders

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/modrewrite"
)

func mustCompile(t *testing.T, s Spec) *Rule {
	t.Helper()
	r, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fields(h *fasthttp.ResponseHeader) string {
	var b []string
	for k, v := range h.All() {
		if string(k) != "Content-Type" && string(k) != "Server" && string(k) != "Date" {
			b = append(b, string(k)+": "+string(v))
		}
	}
	return strings.Join(b, "\n")
}

// TestApply follows mod_headers' documented actions, conditions and the
// sticky-cookie recipe of mod_proxy_balancer.
func TestApply(t *testing.T) {
	var changed, stuck Env
	for _, e := range []*Env{&changed, &stuck} {
		e.SetString(BalancerWorkerRoute, "r2")
		e.SetString(BalancerName, "balancer://c")
	}
	changed.SetString(BalancerRouteChanged, "1")
	var broken Env
	broken.SetString(BalancerName, "a\r\nInjected: 1")
	req := &modrewrite.Request{HTTPS: true, ServerPort: []byte("443")}
	cases := []struct {
		name      string
		spec      Spec
		env       *Env
		errorPage bool
		want      string
	}{
		{"set replaces any case", Spec{Action: "set", Name: "X-A", Value: "new"}, &stuck, false, "X-A: new"},
		{"add keeps", Spec{Action: "add", Name: "X-A", Value: "two"}, &stuck, false, "x-a: one\nX-A: two"},
		{"append joins", Spec{Action: "append", Name: "X-A", Value: "two"}, &stuck, false, "X-A: one, two"},
		{"unset", Spec{Action: "unset", Name: "X-A"}, &stuck, false, ""},
		{"recipe, route changed", Spec{Action: "add", Name: "X-Cookie", Value: "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/", Cond: "env=BALANCER_ROUTE_CHANGED"},
			&changed, false, "x-a: one\nX-Cookie: ROUTEID=.r2; path=/"},
		{"recipe, stuck", Spec{Action: "add", Name: "X-Cookie", Value: "ROUTEID=.%{BALANCER_WORKER_ROUTE}e", Cond: "env=BALANCER_ROUTE_CHANGED"},
			&stuck, false, "x-a: one"},
		{"env=!VAR", Spec{Action: "set", Name: "X-B", Value: "100%% %{BALANCER_NAME}e", Cond: "env=!BALANCER_ROUTE_CHANGED"},
			&stuck, false, "x-a: one\nX-B: 100% balancer://c"},
		{"a % ending the value is text", Spec{Action: "set", Name: "X-B", Value: "100%"}, &stuck, false, "x-a: one\nX-B: 100%"},
		{"onsuccess skips error pages", Spec{Action: "set", Name: "X-B", Value: "v"}, &stuck, true, "x-a: one"},
		{"always reaches error pages", Spec{Always: true, Action: "set", Name: "X-B", Value: "v"}, &stuck, true, "x-a: one\nX-B: v"},
		{"expr value", Spec{Action: "set", Name: "X-Proto", Value: "expr=%{REQUEST_SCHEME}:%{SERVER_PORT}"}, &stuck, false, "x-a: one\nX-Proto: https:443"},
		{"merge appends a new item", Spec{Action: "merge", Name: "X-A", Value: "two"}, &stuck, false, "X-A: one, two"},
		{"merge keeps an item there", Spec{Action: "merge", Name: "X-A", Value: "one"}, &stuck, false, "x-a: one"},
		{"merge adds a missing field", Spec{Action: "merge", Name: "X-B", Value: "v"}, &stuck, false, "x-a: one\nX-B: v"},
		{"setifempty keeps a field there", Spec{Action: "setifempty", Name: "X-A", Value: "v"}, &stuck, false, "x-a: one"},
		{"setifempty sets a missing one", Spec{Action: "setifempty", Name: "X-B", Value: "v"}, &stuck, false, "x-a: one\nX-B: v"},
		{"edit, first match", Spec{Action: "edit", Name: "X-A", Regex: "(o)", Value: "[$1]"}, &stuck, false, "X-A: [o]ne"},
		{"edit*, every match", Spec{Action: "edit*", Name: "X-A", Regex: "[oe]", Value: "_"}, &stuck, false, "X-A: _n_"},
		{"edit, no match", Spec{Action: "edit", Name: "X-A", Regex: "z", Value: "y"}, &stuck, false, "x-a: one"},
		{"edit, $1 then a digit, \\$ and a lone $", Spec{Action: "edit", Name: "X-A", Regex: "^(.*)$", Value: "$10 \\$2 $x"}, &stuck, false, "X-A: one0 $2 $x"},
		{"edit with %{VAR}e", Spec{Action: "edit", Name: "X-A", Regex: "^(.*)$", Value: "$1-%{BALANCER_WORKER_ROUTE}e"}, &stuck, false, "X-A: one-r2"},
		// A value with a line break cannot open a field of its own.
		{"set, a line break in the value", Spec{Action: "set", Name: "X-B", Value: "%{BALANCER_NAME}e"}, &broken, false, "x-a: one\nX-B: a  Injected: 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustCompile(t, c.spec)
			reads := c.spec.Cond != "" || strings.Contains(c.spec.Value, "%{")
			if r.ReadsVars() != reads {
				t.Errorf("ReadsVars %v, want %v", r.ReadsVars(), reads)
			}
			apply := func(req *modrewrite.Request, env *Env) {
				var h fasthttp.ResponseHeader
				h.DisableNormalizing()
				h.Add("x-a", "one")
				r.Apply(&h, req, env, c.errorPage, &Scratch{})
				if got := fields(&h); got != c.want {
					t.Errorf("got\n%s\nwant\n%s", got, c.want)
				}
			}
			apply(req, c.env)
			if !reads {
				apply(nil, nil) // as the server applies a rule that reads nothing
			}
		})
	}
}

// TestSetApart: set reaches a field fasthttp keeps apart from its list,
// whatever the case the rule spells it in.
func TestSetApart(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.SetContentType("text/plain")
	mustCompile(t, Spec{Action: "set", Name: "content-type", Value: "text/x"}).Apply(&h, &modrewrite.Request{}, &Env{}, false, &Scratch{})
	if got := string(h.ContentType()); got != "text/x" {
		t.Errorf("Content-Type %q, want text/x", got)
	}
}

func TestSetCookie(t *testing.T) {
	var env Env
	env.SetString(BalancerWorkerRoute, "n1")
	env.SetString(BalancerRouteChanged, "1")
	var h fasthttp.ResponseHeader
	h.Add("Set-Cookie", "JSESSIONID=abc; Path=/")
	mustCompile(t, Spec{Action: "add", Name: "Set-Cookie", Value: "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/", Cond: "env=BALANCER_ROUTE_CHANGED"}).
		Apply(&h, &modrewrite.Request{}, &env, false, &Scratch{})
	var got []string
	for k, v := range h.All() {
		if strings.EqualFold(string(k), "Set-Cookie") {
			got = append(got, string(v))
		}
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, "|"), "ROUTEID=.n1") {
		t.Errorf("Set-Cookie fields %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{Action: "echo", Name: "X", Value: "a"}, "not supported"},
		{Spec{Action: "edit", Name: "X", Value: "a"}, "needs a regular expression and a replacement"},
		{Spec{Action: "edit*", Name: "X", Regex: "(", Value: "a"}, "cannot compile regex"},
		{Spec{Action: "edit", Name: "X", Regex: "a", Value: "expr=%{HTTPS}"}, "not expr="},
		{Spec{Action: "set", Name: "X", Regex: "a", Value: "b"}, "only edit and edit*"},
		{Spec{Action: "set", Name: "X Y", Value: "a"}, "not a token"},
		{Spec{Action: "set", Name: "X", Value: "%{FOO}e"}, "never set by sluice"},
		{Spec{Action: "set", Name: "X", Value: "%t"}, "not supported"},
		{Spec{Action: "set", Name: "X", Value: "%{X}s"}, `SSL variable "X" is not supported (sluice reads HTTPS, SSL_CIPHER,`},
		{Spec{Action: "set", Name: "X", Value: "%{X}c"}, "allowed: %{VAR}e, %{VAR}s, %%"},
		{Spec{Action: "set", Name: "X", Value: "a", Cond: "expr=%{X}"}, "not supported"},
		{Spec{Action: "set", Name: "X", Value: "a", Cond: "env=dontlog"}, "never set by sluice"},
		{Spec{Action: "unset", Name: "X", Value: "a"}, "takes no value"},
		{Spec{Action: "set", Name: "X", Value: "a", Always: true, Request: true}, "no always"},
		{Spec{Action: "set", Name: "X", Value: "expr=%{NOPE}"}, "not supported"},
	} {
		if _, err := Compile(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
}

// TestSSLVariables: %{VAR}s reads mod_ssl's variables from the request's
// TLS state: on a plain connection HTTPS is off and the others (null), as
// mod_headers writes them.
func TestSSLVariables(t *testing.T) {
	r := mustCompile(t, Spec{Action: "set", Name: "X", Value: "%{HTTPS}s %{SSL_PROTOCOL}s %{SSL_CLIENT_S_DN}s %{SSL_CLIENT_VERIFY}s %{SSL_CLIENT_V_END}s"})
	if !r.UsesSSL() || mustCompile(t, Spec{Action: "set", Name: "X", Value: "%{BALANCER_NAME}e"}).UsesSSL() {
		t.Error("UsesSSL")
	}
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: "alice", Organization: []string{"Example"}}, NotAfter: time.Date(2026, 3, 7, 9, 5, 1, 0, time.UTC)}
	var err error
	if leaf.RawSubject, err = asn1.Marshal(leaf.Subject.ToRDNSequence()); err != nil { // what mod_ssl's names are read from
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cs   *tls.ConnectionState
		want string
	}{
		{"plain", nil, "off (null) (null) (null) (null)"},
		{"TLS, no client certificate", &tls.ConnectionState{Version: tls.VersionTLS12}, "on TLSv1.2 (null) NONE (null)"},
		{"verified client", &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}},
			"on TLSv1.3 CN=alice,O=Example SUCCESS Mar  7 09:05:01 2026 GMT"},
		{"unverified client (optional_no_ca)", &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf}},
			"on TLSv1.3 CN=alice,O=Example GENEROUS Mar  7 09:05:01 2026 GMT"},
	} {
		var h fasthttp.RequestHeader
		r.Apply(&h, &modrewrite.Request{TLS: c.cs}, &Env{}, false, &Scratch{})
		if got := string(h.Peek("X")); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// edit runs on every field of the name, in order (Set-Cookie hardening,
// the commonest use), and leaves other fields alone.
func TestEditEveryField(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.Add("Set-Cookie", "a=1; Path=/")
	h.Add("X-Other", "x")
	h.Add("set-cookie", "b=2")
	mustCompile(t, Spec{Always: true, Action: "edit", Name: "Set-Cookie", Regex: "^(.*)$", Value: "$1; HttpOnly; Secure"}).
		Apply(&h, &modrewrite.Request{}, &Env{}, true, &Scratch{})
	var cookies []string
	for k, v := range h.All() {
		if strings.EqualFold(string(k), "Set-Cookie") {
			cookies = append(cookies, string(v))
		}
	}
	if got := strings.Join(cookies, " | "); got != "a=1; Path=/; HttpOnly; Secure | b=2; HttpOnly; Secure" || string(h.Peek("X-Other")) != "x" {
		t.Errorf("Set-Cookie %q, X-Other %q", got, h.Peek("X-Other"))
	}
}

// hasListToken reads a list as Apache's merge does: quoted commas are
// inside an item, spaces before an item are skipped, bytes compare
// exactly.
func TestHasListToken(t *testing.T) {
	for _, c := range []struct {
		list, tok string
		want      bool
	}{
		{"no-cache, no-store", "no-store", true},
		{"no-cache,no-store", "no-store", true},
		{"no-cache, No-Store", "no-store", false},
		{`a="x, no-store", b`, "no-store", false},
		{`a="x, y", b`, `a="x, y"`, true},
		{"", "x", false},
		{"x ", "x", false},
	} {
		if got := hasListToken([]byte(c.list), []byte(c.tok)); got != c.want {
			t.Errorf("hasListToken(%q, %q) = %v", c.list, c.tok, got)
		}
	}
}

// SetEnvIf sets and unsets variables from a request header or a special
// attribute, $0..$9 reading the match, and Header rules read them.
func TestSetEnvIf(t *testing.T) {
	vars := NewVars()
	for _, n := range []string{"ORIGIN_OK", "FROM_LAN", "IS_GET", "SUB"} {
		if _, err := vars.Define(n); err != nil {
			t.Fatal(err)
		}
	}
	compile := func(s EnvSpec) *EnvRule {
		t.Helper()
		s.Vars = vars
		r, err := CompileEnv(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rules := []*EnvRule{
		compile(EnvSpec{Attribute: "Origin", Regex: `^https?://((.+)\.)?example\.com$`, Assignments: []string{"ORIGIN_OK=$0", "SUB=$2"}}),
		compile(EnvSpec{Attribute: "Remote_Addr", Regex: `^10\.`, Assignments: []string{"FROM_LAN"}}),
		compile(EnvSpec{Attribute: "request_method", Regex: "get", NoCase: true, Assignments: []string{"IS_GET"}}),
		compile(EnvSpec{Attribute: "X-No-Lan", Regex: ".", Assignments: []string{"!FROM_LAN"}}),
	}
	for _, c := range []struct {
		origin, addr, method, nolan string
		want                        map[string]string // set variables
	}{
		{"https://app.example.com", "10.1.2.3", "GET", "", map[string]string{"ORIGIN_OK": "https://app.example.com", "SUB": "app", "FROM_LAN": "1", "IS_GET": "1"}},
		{"https://example.com", "192.0.2.1", "POST", "", map[string]string{"ORIGIN_OK": "https://example.com", "SUB": ""}},
		{"https://evil.com", "10.0.0.1", "get", "yes", map[string]string{"IS_GET": "1"}},
		{"", "10.0.0.1", "PUT", "", map[string]string{"FROM_LAN": "1"}},
	} {
		var h fasthttp.RequestHeader
		h.DisableNormalizing() // as sluice's server keeps names
		if c.origin != "" {
			h.Set("origin", c.origin) // any case (a gateway from HTTP/2 sends lower case)
		}
		if c.nolan != "" {
			h.Set("X-No-Lan", c.nolan)
		}
		got := envAfter(vars, rules, &modrewrite.Request{Method: []byte(c.method), RemoteAddr: []byte(c.addr), Header: &h})
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: %v, want %v", c, got, c.want)
		}
	}
}

// envAfter runs rules on req and returns the variables of vars they set.
func envAfter(vars *Vars, rules []*EnvRule, req *modrewrite.Request) map[string]string {
	var env Env
	var sc Scratch
	sc.ResetEnv(&env)
	for _, r := range rules {
		r.Apply(req, &env, &sc)
	}
	got := map[string]string{}
	for i, n := range vars.names {
		if v, ok := env.Get(Var(i)); ok {
			got[n] = string(v)
		}
	}
	return got
}

// TestSetEnvIfMissingOrVariable: as mod_setenvif, a header the request
// lacks matches as "" (so ^$ tests for it), and an attribute that names no
// header the request has but a variable an earlier line set tests that
// variable. A missing header used to match nothing, and a variable was
// never read.
func TestSetEnvIfMissingOrVariable(t *testing.T) {
	vars := NewVars()
	for _, n := range []string{"NO_TOKEN", "FROM_LAN", "LAN_SEEN"} {
		if _, err := vars.Define(n); err != nil {
			t.Fatal(err)
		}
	}
	var rules []*EnvRule
	for _, s := range []EnvSpec{
		{Attribute: "X-Token", Regex: "^$", Assignments: []string{"NO_TOKEN"}},
		{Attribute: "Remote_Addr", Regex: `^10\.`, Assignments: []string{"FROM_LAN=yes"}},
		{Attribute: "from_lan", Regex: "^yes$", Assignments: []string{"LAN_SEEN"}},
	} {
		s.Vars = vars
		r, err := CompileEnv(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	for _, c := range []struct {
		token, addr, fromLan string
		want                 string
	}{
		{"", "10.0.0.1", "", "map[FROM_LAN:yes LAN_SEEN:1 NO_TOKEN:1]"},
		{"t", "192.0.2.1", "", "map[]"},
		{"t", "192.0.2.1", "yes", "map[LAN_SEEN:1]"}, // the header first
		{"t", "10.0.0.1", "no", "map[FROM_LAN:yes]"},
	} {
		var h fasthttp.RequestHeader
		h.DisableNormalizing()
		if c.token != "" {
			h.Set("X-Token", c.token)
		}
		if c.fromLan != "" {
			h.Set("From_Lan", c.fromLan)
		}
		got := envAfter(vars, rules, &modrewrite.Request{Method: []byte("GET"), RemoteAddr: []byte(c.addr), Header: &h})
		if fmt.Sprint(got) != c.want {
			t.Errorf("%+v: %v, want %s", c, got, c.want)
		}
	}
}

func TestSetEnvIfErrors(t *testing.T) {
	vars := NewVars()
	_, _ = vars.Define("A")
	for _, c := range []struct {
		spec EnvSpec
		want string
	}{
		{EnvSpec{Attribute: "Remote_Host", Regex: "x", Assignments: []string{"A"}}, "not supported"},
		{EnvSpec{Attribute: "^X-.*", Regex: "x", Assignments: []string{"A"}}, "regular expression of header names"},
		{EnvSpec{Attribute: "X", Regex: "(", Assignments: []string{"A"}}, "cannot compile regex"},
		{EnvSpec{Attribute: "X", Regex: "x", Assignments: []string{"!A=1"}}, "takes no value"},
		{EnvSpec{Attribute: "X", Regex: "x", Assignments: []string{"B"}}, "never set by sluice"},
		{EnvSpec{Attribute: "X", Regex: "x"}, "at least one variable"},
	} {
		c.spec.Vars = vars
		if _, err := CompileEnv(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
	for range MaxVars {
		_, _ = vars.Define(fmt.Sprint("V", len(vars.names)))
	}
	if _, err := vars.Define("ONE_MORE"); err == nil {
		t.Errorf("more than %d variables defined", MaxVars)
	}
}

// TestLines: field lines edited by name as a fasthttp header that does not
// normalise names: exact-name deletes keep the others' order, even with a
// key that points into the lines; adds append; CR and LF in a value
// become spaces; a rule's unset removes every case of its name.
func TestLines(t *testing.T) {
	l := Lines{B: []byte("X-A: 1\r\nB: 2\r\nx-a: 3\r\nX-A: 4\r\nC: 5\r\n")}
	var keys [][]byte
	for k := range l.All() {
		keys = append(keys, k)
	}
	l.DelBytes(keys[0]) // "X-A", inside l.B
	if got, want := string(l.B), "B: 2\r\nx-a: 3\r\nC: 5\r\n"; got != want {
		t.Fatalf("after DelBytes: %q, want %q", got, want)
	}
	l.AddBytesKV([]byte("D"), []byte("a\r\nb"))
	if got, want := string(l.B), "B: 2\r\nx-a: 3\r\nC: 5\r\nD: a  b\r\n"; got != want {
		t.Fatalf("after AddBytesKV: %q, want %q", got, want)
	}
	r, err := Compile(Spec{Action: "unset", Name: "X-A", Request: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Apply(&l, nil, nil, false, &Scratch{})
	if got, want := string(l.B), "B: 2\r\nC: 5\r\nD: a  b\r\n"; got != want {
		t.Fatalf("after unset: %q, want %q", got, want)
	}
}

// TestEnv: variables are set, read, unset and reset one by one, the first
// and the last of MaxVars included; Reset leaves no value behind.
func TestEnv(t *testing.T) {
	var e Env
	for _, v := range []Var{0, 5, MaxVars - 1} {
		e.Set(v, []byte{byte('a' + v%26)})
	}
	e.Unset(5)
	for v := range Var(MaxVars) {
		val, set := e.Get(v)
		if want := v == 0 || v == MaxVars-1; set != want || (set && string(val) != string(rune('a'+v%26))) {
			t.Errorf("Get(%d) = %q, %v", v, val, set)
		}
	}
	e.Reset()
	for v, val := range e.vals {
		if val != nil || e.set != 0 {
			t.Errorf("Reset left %d: %q (set %b)", v, val, e.set)
		}
	}
}
