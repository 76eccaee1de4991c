package main

// End-to-end tests of fleet mode: three sluice instances share their
// balancer-manager state through one real etcd (fleet/etcdtest), which is
// killed and started again under them.

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluiceproxy/sluice/fleet/etcdtest"
)

const fleetYAML = `listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0", member_networks: [127.0.0.0/8]}
fleet:
  etcd: {endpoints: ["{ETCD}"], prefix: /e2e, timeout: 1s}
server:
  routes:
    - {path: /, target: "balancer://app/"}
  balancers:
    - name: app
      members:
        - {url: "http://{B1}", route: r1}
        - {url: "http://{B2}", route: r2}
`

// propagationTimeout bounds the wait for a change to reach every instance;
// the measured latency is logged, never asserted.
const propagationTimeout = 10 * time.Second

// fleetNode is one sluice instance of the fleet.
type fleetNode struct {
	p    *sluiceProc
	base string // admin API base URL
}

func startFleetNode(t *testing.T, etcd, b1, b2 string) fleetNode {
	t.Helper()
	cfg := writeConfig(t, t.TempDir(), "s.yaml", fleetYAML, "{ETCD}", etcd, "{B1}", b1, "{B2}", b2)
	p := startSluice(t, cfg)
	return fleetNode{p: p, base: "http://" + p.adminAddr()}
}

// member GETs member id of balancer app.
func (n fleetNode) member(t *testing.T, c *http.Client, id string) (string, map[string]any) {
	t.Helper()
	s, h, out := api(t, c, "GET", memberURI(n.base, "app", id), "", "")
	if s != 200 {
		t.Fatalf("GET member %s at %s: %d %v", id, n.base, s, out)
	}
	return h.Get("ETag"), out
}

// waitAll polls every node until cond holds on member id there, and
// returns how long after start the last node got there.
func waitAll(t *testing.T, c *http.Client, nodes []fleetNode, id string, start time.Time, cond func(map[string]any) bool) time.Duration {
	t.Helper()
	var last time.Duration
	pending := slices.Clone(nodes)
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(n fleetNode) bool {
			_, m := n.member(t, c, id)
			if cond(m) {
				last = time.Since(start)
				return true
			}
			return false
		})
		if time.Since(start) > propagationTimeout {
			t.Fatalf("%d instances did not follow within %v", len(pending), propagationTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	return last
}

// latencies is "min X, median Y, max Z" of ds.
func latencies(ds []time.Duration) string {
	ds = slices.Sorted(slices.Values(ds))
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, max %v", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]))
}

// fleetMetrics is n's sluice_fleet_* samples from /metrics, by series.
func (n fleetNode) fleetMetrics(t *testing.T, c *http.Client) map[string]float64 {
	t.Helper()
	resp, err := c.Get(n.base + "/metrics")
	if err != nil {
		t.Fatalf("metrics at %s: %v", n.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics at %s: %d %v", n.base, resp.StatusCode, err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(series, "sluice_fleet_") {
			continue
		}
		if out[series], err = strconv.ParseFloat(value, 64); err != nil {
			t.Fatalf("metrics at %s: %q: %v", n.base, line, err)
		}
	}
	return out
}

// waitConnected polls every node's sluice_fleet_connected until it is want.
func waitConnected(t *testing.T, c *http.Client, nodes []fleetNode, want float64) {
	t.Helper()
	for _, n := range nodes {
		for start := time.Now(); n.fleetMetrics(t, c)["sluice_fleet_connected"] != want; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > propagationTimeout {
				t.Fatalf("sluice_fleet_connected at %s is not %v after %v: %v", n.base, want, propagationTimeout, n.fleetMetrics(t, c))
			}
		}
	}
}

// checkFleetPage loads n's manager page in Chromium: the fleet line shows
// the instances and the revision of summary, and member id's fleet column
// every instance's view of it, n's first. The page stays open.
func checkFleetPage(t *testing.T, n fleetNode, id string, summary map[string]any) *browser {
	t.Helper()
	br := startBrowser(t)
	br.do("load", chromedp.Navigate(n.base+"/"))
	br.do("render", chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"] tr[data-member="`+id+`"] ul.fleet li`)))
	line := browserValue(br, "fleet line", chromedp.Text(chromedp.CSS(`#fleet`)))
	views := browserValue(br, "fleet column", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('tr[data-member="`+id+`"] ul.fleet li'), (li) => li.textContent)`))
	instances := summary["instances"].([]any)
	want := fmt.Sprintf("fleet: connected, revision %d, %d instances (this one: %s)", int64(summary["revision"].(float64)), len(instances), summary["instance"])
	if line != want {
		t.Errorf("fleet line %q, want %q", line, want)
	}
	var names []string
	for _, v := range instances {
		names = append(names, v.(map[string]any)["instance"].(string)+": up")
	}
	if len(views) != len(names) || views[0] != names[0] || !slices.Equal(slices.Sorted(slices.Values(views)), slices.Sorted(slices.Values(names))) {
		t.Errorf("fleet column of %s: %q, want %q (this instance first)", id, views, names)
	}
	return br
}

func loadFactor(want float64) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["loadfactor"] == want }
}

func TestFleetE2E(t *testing.T) {
	etcd := etcdtest.Start(t)
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	nodes := []fleetNode{
		startFleetNode(t, etcd.Endpoint(), b1.addr, b2.addr),
		startFleetNode(t, etcd.Endpoint(), b1.addr, b2.addr),
		startFleetNode(t, etcd.Endpoint(), b1.addr, b2.addr),
	}
	a, others := nodes[0], nodes[1:]
	c := httpClient(t)

	// Propagation: 20 weight changes on A, each timed from the PATCH until
	// B and C both show it, and from A's answer until then.
	var sent, acked []time.Duration
	for i := range 20 {
		tag, _ := a.member(t, c, "r1")
		start := time.Now()
		if s, _, out := api(t, c, "PATCH", memberURI(a.base, "app", "r1"), tag, `{"loadfactor":`+strconv.Itoa(2+i)+`}`); s != 200 {
			t.Fatalf("PATCH on A: %d %v", s, out)
		}
		answered := time.Since(start)
		all := waitAll(t, c, others, "r1", start, loadFactor(float64(2+i)))
		sent, acked = append(sent, all), append(acked, max(0, all-answered))
	}
	t.Logf("propagation to B and C over %d changes, from the PATCH sent: %s; from A's answer: %s", len(sent), latencies(sent), latencies(acked))

	// Traffic follows on every instance: weight 3:1, then r2 drained.
	tag, _ := a.member(t, c, "r1")
	if s, _, out := api(t, c, "PATCH", memberURI(a.base, "app", "r1"), tag, `{"loadfactor":3}`); s != 200 {
		t.Fatalf("PATCH: %d %v", s, out)
	}
	waitAll(t, c, others, "r1", time.Now(), loadFactor(3))
	for _, n := range nodes {
		if got := split(t, n.p.Addr(), "/", 40); got["b1"] != 30 || got["b2"] != 10 {
			t.Errorf("split at %s after loadfactor 3: %v", n.base, got)
		}
	}
	tag, _ = a.member(t, c, "r2")
	if s, _, out := api(t, c, "PATCH", memberURI(a.base, "app", "r2"), tag, `{"status":"+N"}`); s != 200 {
		t.Fatalf("drain: %d %v", s, out)
	}
	waitAll(t, c, others, "r2", time.Now(), func(m map[string]any) bool { return m["admin_state"] == "drain" })
	for _, n := range nodes {
		if got := split(t, n.p.Addr(), "/", 10); got["b2"] != 0 {
			t.Errorf("split at %s with r2 drained: %v", n.base, got)
		}
	}

	// Every instance has the same ETag, and concurrent writes with it on
	// two instances: exactly one wins, the other gets 412. All three must
	// agree first: the pair alone may agree on the revision before the
	// last round's winner, both not yet told of it, and then both lose.
	for round := range 5 {
		pair := []fleetNode{a, others[round%2]}
		var tag string
		for start := time.Now(); ; time.Sleep(time.Millisecond) {
			var tags []string
			for _, n := range nodes {
				tn, _ := n.member(t, c, "r1")
				tags = append(tags, tn)
			}
			if tag = tags[0]; !slices.ContainsFunc(tags, func(tn string) bool { return tn != tag }) {
				break
			}
			if time.Since(start) > propagationTimeout {
				t.Fatalf("ETags differ: %v", tags)
			}
		}
		var wg sync.WaitGroup
		status := make([]int, 2)
		for i, n := range pair {
			wg.Go(func() {
				status[i], _, _ = api(t, c, "PATCH", memberURI(n.base, "app", "r1"), tag, `{"loadfactor":`+strconv.Itoa(10+i)+`}`)
			})
		}
		wg.Wait()
		slices.Sort(status)
		if status[0] != 200 || status[1] != 412 {
			t.Errorf("round %d: concurrent writes answered %v, want one 200 and one 412", round, status)
		}
	}

	// Each instance's health view of a member is visible on every one.
	for _, n := range nodes {
		var seen []any
		waitAll(t, c, []fleetNode{n}, "r1", time.Now(), func(m map[string]any) bool {
			seen, _ = m["fleet"].([]any)
			return len(seen) == 3
		})
		if v := seen[0].(map[string]any); v["operational_state"] != "up" || !strings.Contains(v["instance"].(string), ":") {
			t.Errorf("fleet view at %s: %v", n.base, seen)
		}
	}
	_, _, list := api(t, c, "GET", a.base+"/api/balancers", "", "")
	summary, _ := list["fleet"].(map[string]any)
	if summary["synced"] != true || summary["connected"] != true || len(summary["instances"].([]any)) != 3 {
		t.Fatalf("fleet summary: %v", list["fleet"])
	}
	// The page shows them.
	page := checkFleetPage(t, a, "http://"+b1.addr, summary)

	// The fleet series: connected and synced, at the same revision
	// everywhere once the last change arrived; A saved the changes above,
	// the others applied them from the watch.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var revs []float64
		for _, n := range nodes {
			revs = append(revs, n.fleetMetrics(t, c)["sluice_fleet_revision"])
		}
		if revs[0] > 0 && revs[0] == revs[1] && revs[1] == revs[2] {
			break
		}
		if time.Since(start) > propagationTimeout {
			t.Fatalf("sluice_fleet_revision differs after %v: %v", propagationTimeout, revs)
		}
	}
	for i, n := range nodes {
		m := n.fleetMetrics(t, c)
		if m["sluice_fleet_connected"] != 1 || m["sluice_fleet_synced"] != 1 || m["sluice_fleet_loads_total"] != 1 ||
			m["sluice_fleet_changes_total"] < 22 || m[`sluice_fleet_saves_total{result="unavailable"}`] != 0 {
			t.Errorf("fleet series at %s: %v", n.base, m)
		}
		if i == 0 && m[`sluice_fleet_saves_total{result="saved"}`] < 22 {
			t.Errorf("fleet series at A: %v, want at least 22 saved", m)
		}
	}

	// A new instance starts with the fleet's state, not the file's.
	d := startFleetNode(t, etcd.Endpoint(), b1.addr, b2.addr)
	if _, m := d.member(t, c, "r2"); m["admin_state"] != "drain" {
		t.Errorf("new instance: r2 %v, want drained from etcd", m["admin_state"])
	}
	nodes = append(nodes, d)

	// etcd down: traffic unaffected, writes refused with 503, reads served.
	etcd.Kill()
	for _, n := range nodes {
		if got := split(t, n.p.Addr(), "/", 8); got["b1"] != 8 {
			t.Errorf("traffic at %s with etcd down: %v", n.base, got)
		}
	}
	for _, n := range nodes[:2] {
		tag, _ := n.member(t, c, "r2")
		s, _, out := api(t, c, "PATCH", memberURI(n.base, "app", "r2"), tag, `{"status":"-N"}`)
		if s != 503 || out["error"] != "fleet store unavailable: nothing changed" {
			t.Errorf("write at %s with etcd down: %d %v", n.base, s, out)
		}
		if m := n.fleetMetrics(t, c); m[`sluice_fleet_saves_total{result="unavailable"}`] != 1 {
			t.Errorf("fleet series at %s after a refused write: %v", n.base, m)
		}
	}
	waitConnected(t, c, nodes, 0)
	page.do("the page's next refresh", chromedp.WaitVisible(chromedp.CSS(`#fleet.bad`)))
	if line := browserValue(page, "fleet line", chromedp.Text(chromedp.CSS(`#fleet`))); !strings.HasPrefix(line, "fleet: disconnected, revision ") {
		t.Errorf("fleet line with etcd down: %q", line)
	}

	// etcd back: a write succeeds and every instance converges.
	etcd.Restart()
	start := time.Now()
	for {
		tag, _ := a.member(t, c, "r2")
		s, _, out := api(t, c, "PATCH", memberURI(a.base, "app", "r2"), tag, `{"status":"-N"}`)
		if s == 200 {
			break
		}
		if s != 503 || time.Since(start) > propagationTimeout {
			t.Fatalf("write after etcd restart: %d %v", s, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first accepted write %v after etcd restarted", time.Since(start).Round(time.Millisecond))
	waitConnected(t, c, nodes, 1)
	waitAll(t, c, nodes, "r2", time.Now(), func(m map[string]any) bool { return m["admin_state"] == "ready" })
	for _, n := range nodes {
		if got := split(t, n.p.Addr(), "/", 40); got["b2"] == 0 {
			t.Errorf("traffic at %s after r2 is back: %v", n.base, got)
		}
	}

	// A reload applies the fleet's records over the file again.
	_, before := a.member(t, c, "r1")
	b := others[0]
	from := b.p.lineCount()
	b.p.signal(syscall.SIGHUP)
	b.p.waitMsg(from, "reloaded")
	if _, after := b.member(t, c, "r1"); after["loadfactor"] != before["loadfactor"] || after["loadfactor"] == 1.0 {
		t.Errorf("after a reload r1 has loadfactor %v, want the fleet's %v", after["loadfactor"], before["loadfactor"])
	}
}

func TestFleetConfigCheck(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "s.yaml", "listen: ['127.0.0.1:0']\nfleet: {etcd: {endpoints: ['etcd.example']}}\n")
	_, stderr, code := runSluice(t, "-config", cfg, "-t")
	if code != 1 || !strings.Contains(stderr, `endpoints "etcd.example": must be host:port`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
