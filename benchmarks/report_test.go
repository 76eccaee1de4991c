//go:build linux

package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ok := func(peer string, rep int, rps float64, reqs int64, cpu time.Duration) sample {
		return sample{Scenario: "get-100b", Peer: peer, Rep: rep, CPU: cpu, User: cpu / 4, HWM: int64(rep+1) << 20,
			Result: wrkResult{Requests: reqs, RPS: rps, P50: time.Duration(rep+1) * time.Millisecond, P99: 10 * time.Millisecond}}
	}
	runs := []sample{
		ok("sluice", 0, 300, 3000, 300*time.Millisecond),
		ok("nginx", 0, 200, 2000, 100*time.Millisecond),
		ok("direct", 0, 400, 4000, 0),
		ok("sluice", 1, 100, 1000, 100*time.Millisecond),
		ok("nginx", 1, 200, 2000, 100*time.Millisecond),
		ok("direct", 1, 400, 4000, 0),
		ok("sluice", 2, 200, 2000, 200*time.Millisecond),
		{Scenario: "get-100b", Peer: "nginx", Rep: 2, Err: "wrk failed"},
		ok("direct", 2, 400, 4000, 0),
	}
	runs[3].Result.Errors, runs[3].IdleLost, runs[6].Result.Non2xx = 2, 3, 4
	rows := summarize(runs, []scenario{named(t, "get-100b")}, []string{"sluice", "nginx", "direct"})
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rows))
	}
	s, n, d := rows[0], rows[1], rows[2]
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("sluice median", s.RPS, 200)
	near("sluice min", s.RPSMin, 100)
	near("sluice max", s.RPSMax, 300)
	near("sluice p50", s.P50, 2)
	near("sluice CPU/10k", s.CPU10k, 1) // 0.6 s over 6,000 requests
	near("sluice user %", s.UserPct, 25)
	near("sluice RSS", s.RSS, 3)
	near("sluice vs nginx", s.RPSNginx, 1)
	near("sluice CPU vs nginx", s.CPUNginx, 2)
	near("sluice CPU vs nginx, lowest run", s.CPUNginxMin, 2) // rep 2 has no nginx run to pair with
	near("sluice CPU vs nginx, highest run", s.CPUNginxMax, 2)
	near("nginx CPU vs nginx, lowest run", n.CPUNginxMin, 1)
	near("sluice vs direct", s.RPSDirect, 0.5)
	if s.Runs != 3 || s.Requests != 6000 || s.Errors != 5 || s.Non2xx != 4 {
		t.Errorf("sluice counts: %+v", s)
	}
	near("nginx median of two", n.RPS, 200)
	near("nginx CPU/10k", n.CPU10k, 0.5)
	if n.Runs != 3 || n.Errors != 1 {
		t.Errorf("nginx with a failed run: %+v", n)
	}
	if d.CPU10k != 0 || d.UserPct != 0 || d.CPUNginx != 0 || d.CPUNginxMin != 0 || d.RPSDirect != 1 {
		t.Errorf("direct has no proxy CPU: %+v", d)
	}
}

// TestCPURatiosPerRun: each run is set against nginx's of the same round,
// in the order of the runs; a failed run or one without requests pairs
// with nothing.
func TestCPURatiosPerRun(t *testing.T) {
	run := func(peer string, rep int, reqs int64, cpu time.Duration) sample {
		return sample{Scenario: "get-1k", Peer: peer, Rep: rep, CPU: cpu, Result: wrkResult{Requests: reqs}}
	}
	runs := []sample{
		run("sluice", 0, 1000, 150*time.Millisecond), run("nginx", 0, 2000, 200*time.Millisecond),
		run("sluice", 1, 1000, 300*time.Millisecond), run("nginx", 1, 1000, 100*time.Millisecond),
		run("sluice", 2, 0, 0), run("nginx", 2, 1000, 100*time.Millisecond),
		run("sluice", 3, 1000, 100*time.Millisecond), {Scenario: "get-1k", Peer: "nginx", Rep: 3, Err: "wrk failed"},
		{Scenario: "get-100b", Peer: "nginx", Rep: 0, CPU: time.Second, Result: wrkResult{Requests: 1}},
	}
	got := cpuRatiosPerRun(runs, "get-1k", "sluice")
	if len(got) != 2 || math.Abs(got[0]-1.5) > 1e-9 || math.Abs(got[1]-3) > 1e-9 {
		t.Errorf("got %v, want [1.5 3]", got)
	}
}

func TestMedian(t *testing.T) {
	in := []float64{5, 1, 3, 2}
	if got := median(in); got != 2.5 {
		t.Errorf("median of four = %v, want 2.5", got)
	}
	if in[0] != 5 {
		t.Error("median sorted its argument")
	}
	if got := median([]float64{7, 1, 4}); got != 4 {
		t.Errorf("median of three = %v, want 4", got)
	}
}

func TestSmokeFailures(t *testing.T) {
	scens := []scenario{named(t, "get-100b"), named(t, "get-1k")}
	peers := []string{"sluice", "nginx"}
	rows := []row{
		{Scenario: "get-100b", Peer: "sluice", Requests: 10},
		{Scenario: "get-100b", Peer: "nginx", Requests: 10, Non2xx: 1},
		{Scenario: "get-1k", Peer: "sluice"},
	}
	got := smokeFailures(rows, scens, peers)
	want := []string{"get-100b/nginx: 0 errors, 1 non-2xx", "get-1k/sluice: no requests", "get-1k/nginx: no row"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	rows[1].Non2xx, rows[2].Requests = 0, 5
	rows = append(rows, row{Scenario: "get-1k", Peer: "nginx", Requests: 5})
	if got := smokeFailures(rows, scens, peers); len(got) != 0 {
		t.Errorf("clean rows failed: %q", got)
	}
}

func TestWriters(t *testing.T) {
	rows := []row{
		{Scenario: "get-1k", Peer: "sluice", Runs: 1, Requests: 10, RPS: 1234.4, RPSMin: 1000, RPSMax: 1500,
			P50: 1.234, P99: 9.5, CPU10k: 0.25, UserPct: 57.4, RSS: 15.5, Resident: 12.25, RPSNginx: 0.9, CPUNginx: 1.1,
			CPUNginxMin: 1, CPUNginxMax: 1.3, RPSDirect: 0.5},
		{Scenario: "get-1k", Peer: "direct", Runs: 1, Requests: 20, RPS: 2000, RPSMin: 2000, RPSMax: 2000, P50: 1, P99: 2, RPSDirect: 1},
	}
	var text, md, csv bytes.Buffer
	if err := writeTable(&text, rows); err != nil {
		t.Fatal(err)
	}
	if err := writeMarkdown(&md, rows); err != nil {
		t.Fatal(err)
	}
	if err := writeCSV(&csv, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1234 (1000–1500)", "1.23", "0.250", " 57 ", "15.5", "12.2", "0.90", "1.10 (1.00–1.30)"} {
		if !strings.Contains(text.String(), want) || !strings.Contains(md.String(), want) {
			t.Errorf("text or Markdown table lacks %q:\n%s\n%s", want, text.String(), md.String())
		}
	}
	if lines := strings.Split(strings.TrimSpace(md.String()), "\n"); len(lines) != 4 ||
		!strings.HasPrefix(lines[3], "| get-1k | direct | 2000 (2000–2000) | 1.00 | 2.00 | - | - | - | - | 0 | 0 | - | - | 1.00 |") {
		t.Errorf("Markdown:\n%s", md.String())
	}
	wantCSV := "scenario,peer,runs,requests,rps_median,rps_min,rps_max,p50_ms,p99_ms,cpu_s_per_10k,user_pct,peak_rss_mib,resident_mib,errors,non_2xx,rps_vs_nginx,cpu_vs_nginx,cpu_vs_nginx_min,cpu_vs_nginx_max,rps_vs_direct\n" +
		"get-1k,sluice,1,10,1234.4,1000,1500,1.234,9.5,0.25,57.4,15.5,12.25,0,0,0.9,1.1,1,1.3,0.5\n" +
		"get-1k,direct,1,20,2000,2000,2000,1,2,,,,,0,0,,,,,1\n"
	if csv.String() != wantCSV {
		t.Errorf("CSV:\n%s\nwant:\n%s", csv.String(), wantCSV)
	}
}
