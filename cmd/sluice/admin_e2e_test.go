package main

// End-to-end tests of the balancer-manager: the admin listener, manager
// locations, BalancerPersist across kill -9 and reloads, and the page in a
// headless Chromium.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// adminAddr is the admin listener's address from the log.
func (p *sluiceProc) adminAddr() string {
	return p.waitMsg(0, "admin listening")["addr"]
}

// api calls the admin API at base; etag "" sends no If-Match.
func api(t *testing.T, c *http.Client, method, uri, etag, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, uri, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header, out
}

// split sends n requests through the proxy and counts answers by backend.
func split(t *testing.T, addr, path string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		m := getURI(t, addr, path)
		wantStatus(t, m, 200)
		got[m.Get("X-Backend")]++
	}
	return got
}

func memberURI(base, balancer, member string) string {
	return base + "/api/balancers/" + balancer + "/members/" + url.PathEscape(member)
}

const adminYAML = `listen: ["127.0.0.1:0"]
balancer_persist: {PERSIST}
admin: {listen: "{ADMIN}", member_networks: [127.0.0.0/8]}
server:
  routes:
    - {path: /, target: "balancer://app/"}
  balancers:
    - name: app
      growth: 2
      members:
        - {url: "http://{B1}", route: r1}
        - {url: "http://{B2}", route: r2}
`

func TestAdminListenerE2E(t *testing.T) {
	b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "s.yaml", adminYAML, "{B1}", b1.addr, "{B2}", b2.addr, "{PERSIST}", "false", "{ADMIN}", "127.0.0.1:0")
	p := startSluice(t, cfg)
	base := "http://" + p.adminAddr()
	c := httpClient(t)

	if got := split(t, p.Addr(), "/", 20); got["b1"] != 10 || got["b2"] != 10 {
		t.Fatalf("before: %v", got)
	}
	status, h, _ := api(t, c, "GET", memberURI(base, "app", "http://"+b1.addr), "", "")
	if status != 200 || h.Get("ETag") == "" {
		t.Fatalf("GET member: %d", status)
	}
	if s, _, out := api(t, c, "PATCH", memberURI(base, "app", "r1"), h.Get("ETag"), `{"loadfactor":3}`); s != 200 || out["loadfactor"] != 3.0 {
		t.Fatalf("PATCH: %d %v", s, out)
	}
	if got := split(t, p.Addr(), "/", 40); got["b1"] != 30 || got["b2"] != 10 {
		t.Errorf("after loadfactor 3: %v", got)
	}
	if s, _, _ := api(t, c, "PATCH", memberURI(base, "app", "r1"), h.Get("ETag"), `{"loadfactor":1}`); s != 412 {
		t.Errorf("stale ETag: %d", s)
	}
	if s, _, _ := api(t, c, "PATCH", memberURI(base, "app", "r1"), "", `{"loadfactor":1}`); s != 428 {
		t.Errorf("no If-Match: %d", s)
	}
	if s, _, _ := api(t, c, "PATCH", memberURI(base, "app", "r1"), "*", `{"loadfactor":1}`, "Origin", "http://evil.example"); s != 403 {
		t.Errorf("cross-site: %d", s)
	}
	req, _ := http.NewRequest("GET", base+"/api/balancers", nil)
	req.Host = "rebind.evil.example"
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("foreign Host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Add b3 enabled, remove b2: traffic follows.
	_, h, _ = api(t, c, "GET", base+"/api/balancers/app", "", "")
	if s, hdr, _ := api(t, c, "POST", base+"/api/balancers/app/members", h.Get("ETag"), `{"url":"http://`+b3.addr+`","status":"-D"}`); s != 201 || hdr.Get("Location") == "" {
		t.Fatalf("POST: %d", s)
	}
	// SSRF (ADM-04): the admin listener itself is refused, inside
	// member_networks too, and so is the metadata service outside it.
	_, h, _ = api(t, c, "GET", base+"/api/balancers/app", "", "")
	for _, u := range []string{base, "http://169.254.169.254", "http://0x7f.1:" + strings.Split(b3.addr, ":")[1]} {
		if s, _, out := api(t, c, "POST", base+"/api/balancers/app/members", h.Get("ETag"), `{"url":"`+u+`"}`); s != 400 || out["field"] != "url" {
			t.Errorf("POST %s: %d %v, want 400 on url", u, s, out)
		}
	}
	_, h, _ = api(t, c, "GET", memberURI(base, "app", "r2"), "", "")
	if s, _, out := api(t, c, "DELETE", memberURI(base, "app", "r2"), h.Get("ETag"), ""); s != 200 || out["drained"] != true {
		t.Fatalf("DELETE: %d %v", s, out)
	}
	if got := split(t, p.Addr(), "/", 40); got["b2"] != 0 || got["b3"] != 10 || got["b1"] != 30 {
		t.Errorf("after add and remove: %v", got)
	}
	if s, _, _ := api(t, c, "GET", memberURI(base, "app", "http://"+b3.addr)+"?wait=drained&timeout=2s", "", ""); s != 200 {
		t.Errorf("wait=drained: %d", s)
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v %v", resp, err)
	}
	resp.Body.Close()
	if f, err := p.waitLog(ioTimeout, 0, func(f map[string]string) bool {
		return f["msg"] == "admin change" && strings.Contains(f["change"], "loadfactor 1 -> 3")
	}); err != nil || !strings.HasPrefix(f["who"], "127.0.0.1:") {
		t.Errorf("audit line: %v %v", f, err)
	}

	// Without BalancerPersist a reload rebuilds from the file.
	from := p.lineCount()
	p.signal(syscall.SIGHUP)
	p.waitMsg(from, "reloaded")
	// Back to 1:1 and b1, b2 only (lbstatus carries over a reload).
	if got := split(t, p.Addr(), "/", 20); got["b1"] < 9 || got["b2"] < 9 || got["b3"] != 0 {
		t.Errorf("after reload without persistence: %v", got)
	}

	// A file that does not parse is a failed reload too.
	writeConfig(t, dir, "s.yaml", "listen: [127.0.0.1:0]\nno_such_key: 1\n")
	from = p.lineCount()
	p.signal(syscall.SIGHUP)
	p.waitMsg(from, "reload failed")
	for series, want := range map[string]string{
		`sluice_config_reloads_total{result="success"}`: "1",
		`sluice_config_reloads_total{result="failure"}`: "1",
	} {
		if got := metricValue(t, c, base, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
}

// metricValue is series' value in the admin listener's /metrics at base.
func metricValue(t *testing.T, c *http.Client, base, series string) string {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "absent"
}

// TestMetricsListenerE2E: metrics.listen serves the admin's /metrics at
// metrics.path, behind the admin token, and nothing else; SIGTERM closes it.
func TestMetricsListenerE2E(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "s.yaml", adminYAML+"metrics: {listen: \"127.0.0.1:0\", path: /prom}\n",
		"{B1}", b1.addr, "{B2}", b2.addr, "{PERSIST}", "false", `listen: "{ADMIN}"`, `listen: "127.0.0.1:0", token: s3cret`)
	p := startSluice(t, cfg)
	f := p.waitMsg(0, "metrics listening")
	if f["path"] != "/prom" {
		t.Errorf("logged path %q", f["path"])
	}
	base := "http://" + f["addr"]
	c := httpClient(t)
	auth := []string{"Authorization", "Bearer s3cret"}

	status, h, _ := api(t, c, "GET", base+"/prom", "", "", auth...)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /prom: %d %v", status, h)
	}
	req, _ := http.NewRequest("GET", base+"/prom", nil)
	req.Header.Set(auth[0], auth[1])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sluice_member_usable{balancer="app",member="http://`+b1.addr+`"} 1`) {
		t.Errorf("no member series in:\n%.500s", body)
	}
	for _, tc := range []struct {
		method, path, host, token string
		want                      int
	}{
		{"HEAD", "/prom", "", "s3cret", 200},
		{"GET", "/prom", "", "", 401},
		{"GET", "/prom", "", "wrong", 401},
		{"GET", "/metrics", "", "s3cret", 404},
		{"GET", "/", "", "s3cret", 404},
		{"GET", "/api/balancers", "", "s3cret", 404},
		{"POST", "/prom", "", "s3cret", 405},
		{"GET", "/prom", "evil.example", "s3cret", 403}, // DNS rebinding
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s (host %q, token %q): %d, want %d", tc.method, tc.path, tc.host, tc.token, resp.StatusCode, tc.want)
		}
	}

	// A kept-alive scrape connection does not hold up the shutdown.
	if s, _, _ := api(t, c, "GET", base+"/prom", "", "", auth...); s != 200 {
		t.Fatalf("GET /prom: %d", s)
	}
	p.signal(syscall.SIGTERM)
	if code, err := p.waitExit(stopTimeout); code != 0 || err != nil {
		t.Fatalf("exit %d %v", code, err)
	}
	if _, err := net.DialTimeout("tcp", f["addr"], time.Second); err == nil {
		t.Error("metrics listener still accepts after the exit")
	}
}

func TestAdminUnixSocketAndToken(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "s.yaml", strings.Replace(adminYAML, `listen: "{ADMIN}"`, `listen: "unix:{SOCK}", token_file: "{TOKEN}"`, 1),
		"{B1}", b1.addr, "{B2}", b2.addr, "{PERSIST}", "false", "{SOCK}", sock, "{TOKEN}", tokenFile)
	startSluice(t, cfg)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	c := &http.Client{Timeout: ioTimeout, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	if s, _, _ := api(t, c, "GET", "http://localhost/api/balancers", "", ""); s != 401 {
		t.Errorf("no token: %d", s)
	}
	if s, _, out := api(t, c, "GET", "http://localhost/api/balancers", "", "", "Authorization", "Bearer t0ken"); s != 200 || out["balancers"] == nil {
		t.Errorf("token: %d %v", s, out)
	}
}

func TestAdminRefusesOpenListener(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "s.yaml", "listen: ['127.0.0.1:0']\nadmin: {listen: '0.0.0.0:0'}\n")
	_, stderr, code := runSluice(t, "-config", cfg, "-t")
	if code != 1 || !strings.Contains(stderr, "an admin listener off loopback needs a token") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestPersistKill9 is ADM-07: sluice is killed while changes stream in;
// after a restart the state is the last acknowledged change or the one in
// flight, never torn.
func TestPersistKill9(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "s.yaml", adminYAML, "{B1}", b1.addr, "{B2}", b2.addr, "{PERSIST}", "true", "{ADMIN}", "127.0.0.1:0")
	state := filepath.Join(dir, "state")
	for round := range 3 {
		p := startSluiceArgs(t, "-config", cfg, "-state-dir", state)
		base := "http://" + p.adminAddr()
		c := httpClient(t)
		var acked atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				lf := 1 + i%99
				req, _ := http.NewRequest("PATCH", memberURI(base, "app", "r1"), strings.NewReader(fmt.Sprintf(`{"loadfactor":%d}`, lf)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("If-Match", "*")
				resp, err := c.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				acked.Store(lf)
			}
		}()
		for acked.Load() < int64(5+round*7) {
			time.Sleep(time.Millisecond)
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		<-done
		last := acked.Load()
		if _, err := p.waitExit(stopTimeout); err != nil {
			t.Fatal(err)
		}
		q := startSluiceArgs(t, "-config", cfg, "-state-dir", state)
		_, _, out := api(t, c, "GET", memberURI("http://"+q.adminAddr(), "app", "r1"), "", "")
		got := int64(out["loadfactor"].(float64))
		if got != last && got != 1+(last%99) {
			t.Fatalf("round %d: restored loadfactor %d, want %d (last acknowledged) or %d (in flight)", round, got, last, 1+last%99)
		}
		q.signal(syscall.SIGTERM)
		if _, err := q.waitExit(stopTimeout); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPersistRestartAndReload(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "s.yaml", adminYAML, "{B1}", b1.addr, "{B2}", b2.addr, "{PERSIST}", "true", "{ADMIN}", "127.0.0.1:0")
	p := startSluice(t, cfg) // default state directory: beside the config
	base := "http://" + p.adminAddr()
	c := httpClient(t)
	if s, _, _ := api(t, c, "PATCH", memberURI(base, "app", "r2"), "*", `{"status":"+D"}`); s != 200 {
		t.Fatalf("PATCH: %d", s)
	}
	from := p.lineCount()
	p.signal(syscall.SIGHUP)
	p.waitMsg(from, "reloaded")
	if got := split(t, p.Addr(), "/", 10); got["b2"] != 0 {
		t.Errorf("after reload with persistence: %v", got)
	}
	p.signal(syscall.SIGTERM)
	if _, err := p.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sluice-state", "balancers.state")
	q := startSluice(t, cfg)
	if got := split(t, q.Addr(), "/", 10); got["b2"] != 0 {
		t.Errorf("after restart: %v", got)
	}
	q.signal(syscall.SIGTERM)
	if _, err := q.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}

	// A corrupt state file stops the start, naming the file.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runSluice(t, "-config", cfg)
	if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, "-ignore-state") {
		t.Errorf("corrupt state: exit %d\n%s", code, stderr)
	}
	r := startSluiceArgs(t, "-config", cfg, "-ignore-state")
	if got := split(t, r.Addr(), "/", 10); got["b2"] != 5 {
		t.Errorf("with -ignore-state: %v", got)
	}
}

const managerConf = `Listen 127.0.0.1:0
<Proxy balancer://app>
BalancerMember http://{B1} route=r1
BalancerMember http://{B2} route=r2
</Proxy>
ProxyPass /app balancer://app
<Location "/balancer-manager">
SetHandler balancer-manager
Require ip 127.0.0.1
</Location>
`

// browser is a headless Chromium tab (Debian's chromium) for one test,
// closed when the test ends.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// browserTimeout bounds everything a test does in its browser.
const browserTimeout = 60 * time.Second

func startBrowser(t *testing.T) *browser {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: `make test` installs Debian's chromium (%v)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// do runs a, failing the test with what on error.
func (b *browser) do(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, a); err != nil {
		b.t.Fatalf("chromium: %s: %v", what, err)
	}
}

// browserValue runs a and returns its value, failing the test with what on
// error.
func browserValue[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("chromium: %s: %v", what, err)
	}
	return v
}

// TestAdminBrowser loads the manager page in headless Chromium, changes a
// weight there and sees the traffic split follow. A hostile route must show
// as text. Outside fleet mode the page shows no fleet line or column.
func TestAdminBrowser(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	cfg := writeConfig(t, t.TempDir(), "s.conf", managerConf, "{B1}", b1.addr, "{B2}", b2.addr)
	p := startSluice(t, cfg)
	base := "http://" + p.Addr() + "/balancer-manager"
	c := httpClient(t)
	hostile := `"><img/src=x/onerror=document.title='pwned'>`
	body, _ := json.Marshal(map[string]string{"route": hostile})
	if s, _, out := api(t, c, "PATCH", memberURI(base, "app", "r2"), "*", string(body)); s != 200 {
		t.Fatalf("PATCH: %d %v", s, out)
	}
	if got := split(t, p.Addr(), "/app/x", 20); got["b1"] != 10 || got["b2"] != 10 {
		t.Fatalf("before: %v", got)
	}

	br := startBrowser(t)
	row := func(addr string) string { return `tr[data-member="http://` + addr + `"]` }
	br.do("load", chromedp.Navigate(base+"/"))
	br.do("render", chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"] `+row(b2.addr))))
	route := browserValue(br, "route", chromedp.Text(chromedp.CSS(row(b2.addr)+` td:nth-child(2)`)))
	title := browserValue(br, "title", chromedp.Title())
	imgs := browserValue(br, "img count", chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
	fleet := browserValue(br, "fleet parts", chromedp.Evaluate[bool](`!document.getElementById("fleet").hidden || document.querySelectorAll("ul.fleet").length > 0`))
	br.do("edit", chromedp.Click(chromedp.CSS(row(b1.addr)+` button.edit`)))
	br.do("form", chromedp.WaitVisible(chromedp.CSS(`#edit-loadfactor`)))
	br.do("weight", chromedp.SetValue(chromedp.CSS(`#edit-loadfactor`), "4"))
	br.do("save", chromedp.Click(chromedp.CSS(`#edit-save`)))
	br.do("saved", chromedp.WaitVisible(chromedp.CSS(`#message.ok`)))
	msg := browserValue(br, "message", chromedp.Text(chromedp.CSS(`#message`)))
	if route != hostile || title == "pwned" || imgs != 0 {
		t.Errorf("hostile route rendered as markup: text %q, title %q, %d img", route, title, imgs)
	}
	if fleet {
		t.Error("the page shows fleet parts outside fleet mode")
	}
	if !strings.Contains(msg, "Saved") {
		t.Errorf("message %q", msg)
	}
	if got := split(t, p.Addr(), "/app/x", 50); got["b1"] != 40 || got["b2"] != 10 {
		t.Errorf("after the page set loadfactor 4: %v", got)
	}
}
