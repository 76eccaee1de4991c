package admin

import (
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

// TestInvalidInput is ADM-05: each bad value gets 400 naming the field and
// what is allowed, and nothing changes.
func TestInvalidInput(t *testing.T) {
	f := newFixture(t, nil)
	before := f.bal.Load()
	cases := []struct {
		uri, body string
		status    int
		want      string
	}{
		{b1, `{"loadfactor":-1}`, 400, `loadfactor: must be a number from 1 to 100 (decimals allowed) (got -1)`},
		{b1, `{"loadfactor":0}`, 400, `loadfactor: must be a number from 1 to 100`},
		{b1, `{"loadfactor":100.5}`, 400, `loadfactor: must be a number from 1 to 100`},
		{b1, `{"loadfactor":1e309}`, 400, `loadfactor: must be a number from 1 to 100`},
		{b1, `{"loadfactor":"5"}`, 400, `loadfactor: must be a number from 1 to 100 (decimals allowed) (got \"5\")`},
		{b1, `{"loadfactor":NaN}`, 400, `loadfactor: the value is not valid JSON`},
		{b1, `{"loadfactor":Infinity}`, 400, `loadfactor: the value is not valid JSON`},
		{b1, `{"loadfactor":[5]}`, 400, `loadfactor: must be a number`},
		{b1, `{"lbset":5.5}`, 400, `lbset: must be a whole number from 0 to 99`},
		{b1, `{"lbset":100}`, 400, `lbset: must be a whole number from 0 to 99`},
		{b1, `{"lbset":9223372036854775808}`, 400, `lbset: must be a whole number from 0 to 99`},
		{b1, `{"lbset":-1}`, 400, `lbset: must be a whole number from 0 to 99`},
		{b1, `{"route":5}`, 400, `route: must be a string`},
		{b1, `{"route":"a\r\nb"}`, 400, `route: must not contain spaces or control characters`},
		{b1, `{"route":"` + strings.Repeat("r", 64) + `"}`, 400, `route: must be shorter than 64 characters`},
		{b1, `{"redirect":"<script>"}`, 200, ``}, // harmless text; shown escaped
		{b1, `{"status":"+E"}`, 400, `status: the E flag is set by failed requests and can only be cleared (-E)`},
		{b1, `{"status":"+X"}`, 400, `status: unknown status letter 'X' (allowed: D S I H R N C, and -E)`},
		{b1, `{"status":"+O"}`, 400, `unknown status letter 'O'`},
		{b1, `{"status":""}`, 400, `status: must be status letters`},
		{b1, `{"weight":5}`, 400, `weight: unknown field (allowed: loadfactor, lbset, route, redirect, status)`},
		{b1, `{"lbset":1,"lbset":2}`, 400, `lbset: given twice`},
		{b1, `{"route":null}`, 400, `route: must not be null`},
		{b1, `{}`, 400, `at least one field`},
		{b1, `[1]`, 400, `must be a JSON object`},
		{b1, `{"lbset":1} {"lbset":2}`, 400, `one JSON object and nothing after it`},
		{b1, `{"lbset":1`, 400, `not valid JSON`},
		{b1, `{"lbset":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`, 400, `lbset: must be a whole number`},
		{b1, `{"route":"` + strings.Repeat("x", 70<<10) + `"}`, 413, `larger than 64 KiB`},
		{app, `{"lbmethod":"random"}`, 400, `lbmethod: unknown lbmethod (allowed: byrequests, bytraffic, bybusyness) (got \"random\")`},
		{app, `{"lbmethod":"heartbeat"}`, 400, `not supported`},
		{app, `{"maxattempts":100}`, 400, `maxattempts: must be a whole number from 0 to 99`},
		{app, `{"timeout":7201}`, 400, `timeout: must be seconds from 0 to 7200, or duration text from \"0s\" to \"2h\"`},
		{app, `{"timeout":"3h"}`, 400, `timeout: must be seconds`},
		{app, `{"timeout":"-1s"}`, 400, `timeout: must be seconds`},
		{app, `{"timeout":-1}`, 400, `timeout: must be seconds`},
		{app, `{"stickysession":"a b"}`, 400, `sticky_cookie: name \"a b\" has a character not allowed`},
		{app, `{"nofailover":"yes"}`, 400, `nofailover: must be true or false`},
	}
	for _, c := range cases {
		tag := f.etag(c.uri)
		r := f.do("PATCH", c.uri, c.body, "If-Match", tag)
		if r.status != c.status || !strings.Contains(r.body, c.want) {
			t.Errorf("%.60s: %d %s\nwant %d with %s", c.body, r.status, r.body, c.status, c.want)
		}
		if c.status != 200 && f.bal.Load() != before {
			t.Errorf("%.60s: the snapshot changed", c.body)
		}
		before = f.bal.Load()
	}
	if r := f.do("PATCH", b1, `{"lbset":1}`, "If-Match", "*", "Content-Type", "text/plain"); r.status != 415 {
		t.Errorf("text/plain body: %d", r.status)
	}
}

// TestSameCodeAsConfig checks that the admin refuses what the config file
// refuses, through config.ValidateBalancer.
func TestSameCodeAsConfig(t *testing.T) {
	f := newFixture(t, func(b *config.Balancer) { b.StickySetCookie, b.StickyCookie, b.StickyURLParam = true, "S", "s" })
	// Clearing the sticky session also drops sticky_set_cookie, which
	// config validation would otherwise refuse.
	if r := f.write("PATCH", app, app, `{"stickysession":""}`); r.status != 200 {
		t.Errorf("%d %s", r.status, r.body)
	}
}
