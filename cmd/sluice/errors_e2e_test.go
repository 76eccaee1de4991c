package main

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

const errorsConf = `
Listen 127.0.0.1:0
ProxyPass /dead http://{DEAD}/
ProxyPass /slow http://{SLOW}/ timeout=1
ProxyPass /badheader http://{BAD}/badheader
ProxyPass /garbage http://{BAD}/garbage
ProxyPass /ok http://{OK}/ok
`

// goErrorText are fragments of Go / fasthttp error strings that must never
// reach a client.
var goErrorText = []string{"dial tcp", "connection refused", "i/o timeout", "EOF", "fasthttp", "error when", "cannot ", "read tcp", "write tcp", "context deadline"}

func TestErrorMapping(t *testing.T) {
	dead := testnet.ClosedAddr(t)
	slow := newBackend(t, "slow", func(w *bufio.Writer, r *backendReq) bool {
		select { // far beyond timeout=1, bounded by the test's end
		case <-time.After(3 * time.Second):
		case <-r.Done:
			return true
		}
		writeResp(w, 200, nil, "too late")
		return false
	})
	bad := newBackend(t, "bad", func(w *bufio.Writer, r *backendReq) bool {
		if r.URI == "/badheader" {
			w.WriteString("HTTP/1.1 200 OK\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nok")
		} else {
			w.WriteString("garbage that is not HTTP\r\n\r\n")
		}
		return true
	})
	ok := newBackend(t, "ok", nil)
	cfg := writeConfig(t, t.TempDir(), "errors.conf", errorsConf,
		"{DEAD}", dead, "{SLOW}", slow.addr, "{BAD}", bad.addr, "{OK}", ok.addr)
	s := startSluice(t, cfg)

	cases := []struct {
		desc    string
		req     string
		status  int
		backend string // address that must not appear in the body
	}{
		{"dead backend", buildReq("GET", "/dead", "front.example.com", nil, ""), 503, dead},
		{"backend slower than timeout=1", buildReq("GET", "/slow", "front.example.com", nil, ""), 504, slow.addr},
		{"header line without a colon", buildReq("GET", "/badheader", "front.example.com", nil, ""), 502, bad.addr},
		{"not HTTP at all", buildReq("GET", "/garbage", "front.example.com", nil, ""), 502, bad.addr},
		{"request headers too large", buildReq("GET", "/ok", "front.example.com", []string{"X-Big: " + strings.Repeat("a", 64<<10)}, ""), 431, ok.addr},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			m := rawDo(t, s.Addr(), c.req)
			wantStatus(t, m, c.status)
			body := string(m.Body)
			if strings.Contains(body, c.backend) || strings.Contains(body, "127.0.0.1:") {
				t.Errorf("error body names a backend address: %q", body)
			}
			for _, frag := range goErrorText {
				if strings.Contains(body, frag) {
					t.Errorf("error body contains Go error text %q: %q", frag, body)
				}
			}
		})
	}
	if n := ok.count(); n != 0 {
		t.Errorf("backend received %d requests whose headers were too large", n)
	}
	if n := slow.count(); n != 1 {
		t.Errorf("slow backend received %d requests, want 1 (a timeout must not be retried)", n)
	}
	wantStatus(t, getURI(t, s.Addr(), "/ok"), 200)
}
