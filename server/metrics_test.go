package server

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

// scrape is one parsed WriteMetrics output: sample values by series
// ("name{labels}") and metric types by family.
type scrape struct {
	values map[string]float64
	types  map[string]string
	helps  map[string]bool
}

func scrapeMetrics(t *testing.T, s *Server) scrape {
	t.Helper()
	var buf bytes.Buffer
	s.WriteMetrics(&buf)
	sc := scrape{values: map[string]float64{}, types: map[string]string{}, helps: map[string]bool{}}
	lines := bufio.NewScanner(&buf)
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			sc.helps[strings.Fields(line)[2]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if _, dup := sc.types[f[2]]; dup {
				t.Errorf("TYPE %s written twice", f[2])
			}
			sc.types[f[2]] = f[3]
		case line == "" || strings.HasPrefix(line, "#"):
			t.Errorf("unexpected line %q", line)
		default:
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if i < 0 || err != nil {
				t.Fatalf("cannot parse sample %q: %v", line, err)
			}
			if _, dup := sc.values[line[:i]]; dup {
				t.Errorf("series %s written twice", line[:i])
			}
			sc.values[line[:i]] = v
		}
	}
	return sc
}

// expect checks series values; a want of -1 only requires the series.
func (sc scrape) expect(t *testing.T, want map[string]float64) {
	t.Helper()
	for series, w := range want {
		got, ok := sc.values[series]
		switch {
		case !ok:
			t.Errorf("missing %s", series)
		case w >= 0 && got != w:
			t.Errorf("%s = %v, want %v", series, got, w)
		}
	}
}

func (sc scrape) absent(t *testing.T, substr string) {
	t.Helper()
	for series := range sc.values {
		if strings.Contains(series, substr) {
			t.Errorf("%s still exposed", series)
		}
	}
}

func get(t *testing.T, c *fasthttp.Client, path string, status int) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://front.example.com" + path)
	if err := c.Do(req, resp); err != nil || resp.StatusCode() != status {
		t.Fatalf("GET %s: %v %d, want %d", path, err, resp.StatusCode(), status)
	}
}

const metricsConf = `
<Proxy balancer://b>
    BalancerMember http://DEAD
    BalancerMember http://BACKEND
    ProxySet failonstatus=500
</Proxy>
<Proxy balancer://off>
    BalancerMember http://BACKEND status=+D
</Proxy>
ProxyPass /p balancer://b/
ProxyPass /off balancer://off/
ProxyPass /d http://BACKEND/
`

func metricsBackend(t *testing.T) string {
	return startBackend(t, func(ctx *fasthttp.RequestCtx) {
		if strings.HasSuffix(string(ctx.Path()), "/bad") {
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
			ctx.SetBodyString("oops")
			return
		}
		ctx.SetBodyString("hello")
	})
}

func TestMetricsScrape(t *testing.T) {
	be, dead := metricsBackend(t), testnet.ClosedAddr(t)
	var logged syncBuffer
	s, c := startProxyLog(t, strings.ReplaceAll(metricsConf, "DEAD", dead), be, slog.New(slog.NewTextHandler(&logged, nil)))
	s.SetVersion("v1.2.3")
	// One of the first two requests goes to the dead member, fails over to
	// the live one and puts the dead one in error; the rest skip it.
	for range 3 {
		get(t, c, "/p/ok", 200)
	}
	get(t, c, "/p/bad", 500) // failonstatus puts the live member in error too
	// Each member's entry into error is logged once, with its cause.
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 ||
		!strings.Contains(lines[0], `msg="member in error state" member=balancer://b|http://`+dead+` why=unreachable err=`) ||
		!strings.Contains(lines[0], "connection refused") ||
		!strings.Contains(lines[1], `msg="member in error state" member=balancer://b|http://`+be+` why=failonstatus status=500 retry=`) {
		t.Errorf("log:\n%s", logged.String())
	}
	get(t, c, "/off/x", 503) // no usable member
	get(t, c, "/d/x", 200)   // a direct worker
	get(t, c, "/d/x", 200)

	sc := scrapeMetrics(t, s)
	live := `balancer="b",member="http://` + be + `"`
	down := `balancer="b",member="http://` + dead + `"`
	direct := `balancer="",member="http://` + be + `"`
	// Bytes read are Apache's: status line, as ap_getline gives it (no
	// CRLF: apache.md §4.3, 25 bytes for "HTTP/1.1 200 OK" and a 10-byte
	// body), and body ("HTTP/1.1 200 OK" and "hello";
	// "HTTP/1.1 500 Internal Server Error" and "oops").
	received := 3*(15+5) + (34 + 4)
	sc.expect(t, map[string]float64{
		`sluice_requests_total{` + live + `,code="2xx"}`:                                          3,
		`sluice_requests_total{` + live + `,code="5xx"}`:                                          1,
		`sluice_requests_total{` + live + `,code="4xx"}`:                                          0,
		`sluice_requests_total{` + down + `,code="2xx"}`:                                          0,
		`sluice_requests_total{` + down + `,code="5xx"}`:                                          0,
		`sluice_requests_total{` + direct + `,code="2xx"}`:                                        2,
		`sluice_request_duration_seconds_count{` + live + `}`:                                     4,
		`sluice_request_duration_seconds_bucket{` + live + `,le="+Inf"}`:                          4,
		`sluice_request_duration_seconds_bucket{` + live + `,le="60"}`:                            4,
		`sluice_request_duration_seconds_sum{` + live + `}`:                                       -1,
		`sluice_request_duration_seconds_count{` + direct + `}`:                                   2,
		`sluice_member_selections_total{` + live + `}`:                                            4,
		`sluice_member_selections_total{` + down + `}`:                                            1,
		`sluice_member_failovers_total{` + down + `}`:                                             1,
		`sluice_member_failovers_total{` + live + `}`:                                             0,
		`sluice_member_errors_total{` + down + `,reason="unreachable"}`:                           1,
		`sluice_member_errors_total{` + live + `,reason="failonstatus"}`:                          1,
		`sluice_member_errors_total{` + live + `,reason="unreachable"}`:                           0,
		`sluice_member_errors_total{` + live + `,reason="failontimeout"}`:                         0,
		`sluice_member_received_bytes_total{` + live + `}`:                                        float64(received),
		`sluice_member_received_bytes_total{` + down + `}`:                                        0,
		`sluice_member_sent_bytes_total{` + down + `}`:                                            0,
		`sluice_member_busy{` + live + `}`:                                                        0,
		`sluice_member_lbstatus{` + live + `}`:                                                    -1,
		`sluice_member_usable{` + live + `}`:                                                      0,
		`sluice_member_usable{` + down + `}`:                                                      0,
		`sluice_member_usable{` + direct + `}`:                                                    1,
		`sluice_member_status{` + down + `,flag="E"}`:                                             1,
		`sluice_member_status{` + down + `,flag="D"}`:                                             0,
		`sluice_member_status{` + direct + `,flag="I"}`:                                           1,
		`sluice_member_status{balancer="off",member="http://` + be + `",flag="D"}`:                1,
		`sluice_balancer_no_member_total{balancer="off"}`:                                         1,
		`sluice_balancer_no_member_total{balancer="b"}`:                                           0,
		`sluice_health_checks_total{result="passed"}`:                                             0,
		`sluice_health_transitions_total{to="down"}`:                                              0,
		`sluice_health_passive_failures_total`:                                                    1, // the failonstatus above
		`sluice_config_reloads_total{result="success"}`:                                           0,
		`sluice_config_reloads_total{result="failure"}`:                                           0,
		`sluice_config_last_reload_success_timestamp_seconds`:                                     -1,
		`sluice_build_info{version="v1.2.3",goversion="` + labelValue(goruntime.Version()) + `"}`: 1,
		`go_goroutines`: -1,
	})
	sc.absent(t, "sluice_fleet_") // local mode
	if sent := sc.values[`sluice_member_sent_bytes_total{`+live+`}`]; sent < 4*float64(len("GET /ok HTTP/1.1\r\n")) {
		t.Errorf("sent %v bytes to the live member, want at least four request heads", sent)
	}
	for family, typ := range map[string]string{
		"sluice_requests_total":                               "counter",
		"sluice_request_duration_seconds":                     "histogram",
		"sluice_member_sent_bytes_total":                      "counter",
		"sluice_member_selections_total":                      "counter",
		"sluice_member_busy":                                  "gauge",
		"sluice_member_status":                                "gauge",
		"sluice_balancer_no_member_total":                     "counter",
		"sluice_config_reloads_total":                         "counter",
		"sluice_config_last_reload_success_timestamp_seconds": "gauge",
		"sluice_build_info":                                   "gauge",
		"go_goroutines":                                       "gauge",
	} {
		if got := sc.types[family]; got != typ {
			t.Errorf("TYPE %s = %q, want %q", family, got, typ)
		}
		if !sc.helps[family] {
			t.Errorf("no HELP line for %s", family)
		}
	}
}

// TestMetricsFleet: in fleet mode the fleet series are there from the
// start, zero while etcd never answered (package fleet's tests count them
// against a real etcd; cmd/sluice's TestFleetE2E scrapes a live fleet).
func TestMetricsFleet(t *testing.T) {
	src := "listen: ['127.0.0.1:0']\nfleet: {etcd: {endpoints: ['" + testnet.ClosedAddr(t) + "'], timeout: 100ms}}\n" +
		"server:\n  routes: [{path: /, target: 'balancer://b/'}]\n  balancers: [{name: b, members: [{url: 'http://127.0.0.1:1'}]}]\n"
	cfg, err := config.ParseYAML("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := serveProxy(t, cfg)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	sc := scrapeMetrics(t, s)
	sc.expect(t, map[string]float64{
		"sluice_fleet_connected":                         0,
		"sluice_fleet_synced":                            0,
		"sluice_fleet_revision":                          0,
		"sluice_fleet_changes_total":                     0,
		"sluice_fleet_loads_total":                       0,
		`sluice_fleet_saves_total{result="saved"}`:       0,
		`sluice_fleet_saves_total{result="conflict"}`:    0,
		`sluice_fleet_saves_total{result="unavailable"}`: 0,
	})
	for family, typ := range map[string]string{
		"sluice_fleet_connected":     "gauge",
		"sluice_fleet_revision":      "gauge",
		"sluice_fleet_changes_total": "counter",
		"sluice_fleet_saves_total":   "counter",
	} {
		if got := sc.types[family]; got != typ || !sc.helps[family] {
			t.Errorf("TYPE %s = %q (HELP %v), want %q", family, got, sc.helps[family], typ)
		}
	}
}

func TestMetricsReload(t *testing.T) {
	be, other := metricsBackend(t), metricsBackend(t)
	conf := `
<Proxy balancer://b>
    BalancerMember http://BACKEND
    BalancerMember http://OTHER
</Proxy>
ProxyPass /p balancer://b/
`
	s, c := startProxy(t, strings.ReplaceAll(conf, "OTHER", other), be)
	for range 4 {
		get(t, c, "/p/ok", 200)
	}
	kept := `balancer="b",member="http://` + be + `"`
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_requests_total{` + kept + `,code="2xx"}`:                               2,
		`sluice_requests_total{balancer="b",member="http://` + other + `",code="2xx"}`: 2,
	})

	// OTHER leaves the balancer; BACKEND keeps its counts.
	cfg := s.rt.Load().cfg
	shrunk := *cfg.Main.Balancers[0]
	shrunk.Members = shrunk.Members[:1]
	main := *cfg.Main
	main.Balancers = append(main.Balancers[:0:0], &shrunk)
	next := *cfg
	next.Main = &main
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	get(t, c, "/p/ok", 200)
	sc := scrapeMetrics(t, s)
	sc.absent(t, other)
	sc.expect(t, map[string]float64{
		`sluice_requests_total{` + kept + `,code="2xx"}`:      3,
		`sluice_request_duration_seconds_count{` + kept + `}`: 3,
		`sluice_config_reloads_total{result="success"}`:       1,
		`sluice_config_reloads_total{result="failure"}`:       0,
	})

	// A failed reload is counted and changes nothing.
	broken := next
	broken.AccessLog.Path = t.TempDir() + "/no/such/dir/access.log"
	if err := s.Reload(&broken); err == nil {
		t.Fatal("reload with an unwritable access log succeeded")
	}
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_requests_total{` + kept + `,code="2xx"}`: 3,
		`sluice_config_reloads_total{result="success"}`:  1,
		`sluice_config_reloads_total{result="failure"}`:  1,
	})

	// OTHER comes back with fresh series.
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_requests_total{balancer="b",member="http://` + other + `",code="2xx"}`: 0,
		`sluice_requests_total{` + kept + `,code="2xx"}`:                               3,
	})
}

func TestMetricsTunnel(t *testing.T) {
	be := rawBackend(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	s, c := startProxy(t, "ProxyPass /ws ws://BACKEND/\n", be)
	conn, err := c.Dial("front")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /ws/ HTTP/1.1\r\nHost: front\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	var resp fasthttp.ResponseHeader
	if err := resp.Read(bufio.NewReader(conn)); err != nil || resp.StatusCode() != 101 {
		t.Fatalf("%v %d, want 101", err, resp.StatusCode())
	}
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_requests_total{balancer="",member="ws://` + be + `",code="1xx"}`: 1,
	})
}

// rawBackend answers every connection's first request head with answer
// and keeps the connection open until the test ends.
func rawBackend(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() })
			go func() {
				var req fasthttp.RequestHeader
				if req.Read(bufio.NewReader(conn)) == nil {
					_, _ = conn.Write([]byte(answer))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestObserveAllocs(t *testing.T) {
	be := metricsBackend(t)
	s, _ := startProxy(t, "<Proxy balancer://b>\nBalancerMember http://BACKEND\n</Proxy>\nProxyPass /p balancer://b/\n", be)
	snap := s.rt.Load().hosts[0].balancers["b"].Load()
	m := snap.Members[0]
	var ctx fasthttp.RequestCtx
	ctx.Response.SetStatusCode(200)
	now := time.Now()
	n := testing.AllocsPerRun(100, func() {
		s.observe(&ctx, m, snap, now)
		s.observe(&ctx, nil, snap, now)
		s.failedOver(m)
		s.markError(m, now, errUnreachable, errNoMember, 0)
	})
	if n != 0 {
		t.Fatalf("metrics hooks allocate %.1f times", n)
	}
	sc := scrapeMetrics(t, s)
	sc.expect(t, map[string]float64{
		`sluice_requests_total{balancer="b",member="http://` + be + `",code="2xx"}`: 101,
		`sluice_balancer_no_member_total{balancer="b"}`:                             101,
	})
}

func TestLabelValue(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
	f("http://b1:8080/", "http://b1:8080/")
	f(`a"b`, `a\"b`)
	f(`a\b`, `a\\b`)
	f("a\nb", `a\nb`)
}

// A balancer a reload removes loses its no-member series; the one that
// stays keeps its count.
func TestMetricsReloadDropsBalancer(t *testing.T) {
	conf := `
<Proxy balancer://stays>
    BalancerMember http://BACKEND status=+D
</Proxy>
<Proxy balancer://goes>
    BalancerMember http://BACKEND
</Proxy>
ProxyPass /s balancer://stays/
ProxyPass /g balancer://goes/
`
	s, c := startProxy(t, conf, metricsBackend(t))
	get(t, c, "/s/x", 503)
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_balancer_no_member_total{balancer="stays"}`: 1,
		`sluice_balancer_no_member_total{balancer="goes"}`:  0,
	})
	cfg := s.rt.Load().cfg
	main := *cfg.Main
	main.Balancers = main.Balancers[:1:1]
	main.Routes = main.Routes[:1:1]
	next := *cfg
	next.Main = &main
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	sc := scrapeMetrics(t, s)
	sc.absent(t, `balancer="goes"`)
	sc.expect(t, map[string]float64{`sluice_balancer_no_member_total{balancer="stays"}`: 1})
}

// TestMetricsPerVhostBalancer: where two vhosts define one balancer name,
// each vhost's balancer has its own series, under its ID (config
// Balancer.ID), the requests it served counted there alone.
func TestMetricsPerVhostBalancer(t *testing.T) {
	be := metricsBackend(t)
	s, c := startProxy(t, `
<VirtualHost *:80>
  ServerName a.example
  <Proxy balancer://app>
    BalancerMember http://BACKEND
  </Proxy>
  ProxyPass / balancer://app/
</VirtualHost>
<VirtualHost *:80>
  ServerName b.example
  <Proxy balancer://app>
    BalancerMember http://BACKEND
  </Proxy>
  ProxyPass / balancer://app/
</VirtualHost>
`, be)
	for range 3 {
		if r := hostGet(t, c, "b.example", "/x"); r.StatusCode() != 200 {
			t.Fatalf("b.example: %d", r.StatusCode())
		}
	}
	member := `member="http://` + be + `"`
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_member_selections_total{balancer="app@a.example:80",` + member + `}`: 0,
		`sluice_member_selections_total{balancer="app@b.example:80",` + member + `}`: 3,
		`sluice_balancer_no_member_total{balancer="app@b.example:80"}`:               0,
	})
}

// TestMemberErrorLoggedOnce: a balancer whose one member is down puts it
// back in error at every request (forcerecovery), and it is logged once.
func TestMemberErrorLoggedOnce(t *testing.T) {
	var logged syncBuffer
	_, c := startProxyLog(t, "<Proxy balancer://b>\nBalancerMember http://BACKEND\n</Proxy>\nProxyPass /p balancer://b/\n", testnet.ClosedAddr(t), slog.New(slog.NewTextHandler(&logged, nil)))
	for range 5 {
		get(t, c, "/p/x", 503)
	}
	if n := strings.Count(logged.String(), `msg="member in error state"`); n != 1 {
		t.Errorf("%d lines for one member down through 5 requests:\n%s", n, logged.String())
	}
}

// TestMetricsRewriteAndFileWorkers: the direct workers of RewriteRule [P]
// and of <FilesMatch> handlers have series as ProxyPass workers do. Before,
// sync looked at ProxyPass routes alone: requests a [P] rule proxied were
// counted nowhere.
func TestMetricsRewriteAndFileWorkers(t *testing.T) {
	be := metricsBackend(t)
	s, c := startProxy(t, `
RewriteEngine On
RewriteRule ^/r/(.*)$ http://BACKEND/$1 [P]
<FilesMatch "\.php$">
    SetHandler "proxy:fcgi://127.0.0.1:9/"
</FilesMatch>
`, be)
	get(t, c, "/r/ok", 200)
	get(t, c, "/r/ok", 200)
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_requests_total{balancer="",member="http://` + be + `",code="2xx"}`:      2,
		`sluice_request_duration_seconds_count{balancer="",member="http://` + be + `"}`: 2,
		`sluice_requests_total{balancer="",member="fcgi://127.0.0.1:9",code="2xx"}`:     0,
	})
}

// TestMetricsRewriteToUndefinedBalancer: a RewriteRule [P] to a balancer
// no section defines answers 503, counted as no member taking the
// request, as a ProxyPass to one is; it had no series at all.
func TestMetricsRewriteToUndefinedBalancer(t *testing.T) {
	s, c := startProxy(t, `
RewriteEngine On
RewriteRule ^/r/(.*)$ balancer://nowhere/$1 [P]
`, "")
	get(t, c, "/r/x", 503)
	scrapeMetrics(t, s).expect(t, map[string]float64{
		`sluice_balancer_no_member_total{balancer="nowhere"}`: 1,
	})
}
