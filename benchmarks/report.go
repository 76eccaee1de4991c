//go:build linux

package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// sample is one wrk run against one peer.
type sample struct {
	Scenario string        `json:"scenario"`
	Peer     string        `json:"peer"`
	Rep      int           `json:"rep"`
	Result   wrkResult     `json:"wrk"`
	CPU      time.Duration `json:"proxy_cpu_ns"`  // proxy tree CPU during the run; 0 for direct
	User     time.Duration `json:"proxy_user_ns"` // its user-space part
	HWM      int64         `json:"proxy_hwm_bytes"`
	Resident int64         `json:"proxy_resident_bytes"` // at the run's end, each page once
	IdleLost int           `json:"idle_lost"`            // idle connections the proxy dropped
	Err      string        `json:"error,omitempty"`
}

// row summarizes the runs of one peer in one scenario.
type row struct {
	Scenario string  `json:"scenario"`
	Peer     string  `json:"peer"`
	Runs     int     `json:"runs"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps_median"`
	RPSMin   float64 `json:"rps_min"`
	RPSMax   float64 `json:"rps_max"`
	P50      float64 `json:"p50_ms"` // median over the runs
	P99      float64 `json:"p99_ms"`
	CPU10k   float64 `json:"cpu_s_per_10k"` // total CPU / total requests × 10,000; 0: not measured
	UserPct  float64 `json:"user_pct"`      // user-space share of that CPU, %
	RSS      float64 `json:"peak_rss_mib"`
	// Resident is the most the proxy's processes held at a run's end, each
	// physical page counted once (RSS counts a multi-process proxy's shared
	// pages in every process); 0: not measured.
	Resident float64 `json:"resident_mib"`
	Errors   int64   `json:"errors"` // socket errors + idle connections lost + failed runs
	Non2xx   int64   `json:"non_2xx"`
	RPSNginx float64 `json:"rps_vs_nginx"` // 0: no nginx row
	CPUNginx float64 `json:"cpu_vs_nginx"`
	// CPUNginxMin and CPUNginxMax span the same ratio taken run by run,
	// each run against nginx's of the same round (0: no pair measured).
	CPUNginxMin float64 `json:"cpu_vs_nginx_min"`
	CPUNginxMax float64 `json:"cpu_vs_nginx_max"`
	RPSDirect   float64 `json:"rps_vs_direct"` // 0: no direct row
}

// summarize groups runs by scenario and peer, in the order given.
func summarize(runs []sample, scens []scenario, peers []string) []row {
	var rows []row
	for _, sc := range scens {
		first := len(rows)
		for _, p := range peers {
			r := row{Scenario: sc.Name, Peer: p}
			var rps, p50, p99 []float64
			var cpu, user time.Duration
			for _, x := range runs {
				if x.Scenario != sc.Name || x.Peer != p {
					continue
				}
				r.Runs++
				if x.Err != "" {
					r.Errors++
					continue
				}
				r.Requests += x.Result.Requests
				rps = append(rps, x.Result.RPS)
				p50 = append(p50, ms(x.Result.P50))
				p99 = append(p99, ms(x.Result.P99))
				cpu += x.CPU
				user += x.User
				r.RSS = max(r.RSS, float64(x.HWM)/(1<<20))
				r.Resident = max(r.Resident, float64(x.Resident)/(1<<20))
				r.Errors += x.Result.Errors + int64(x.IdleLost)
				r.Non2xx += x.Result.Non2xx
			}
			if r.Runs == 0 {
				continue
			}
			if len(rps) > 0 {
				r.RPS, r.RPSMin, r.RPSMax = median(rps), slices.Min(rps), slices.Max(rps)
				r.P50, r.P99 = median(p50), median(p99)
			}
			if p != direct && r.Requests > 0 {
				r.CPU10k = cpu.Seconds() / float64(r.Requests) * 1e4
				r.UserPct = 100 * ratio(user.Seconds(), cpu.Seconds())
			}
			rows = append(rows, r)
		}
		addRatios(rows[first:])
		for i := first; i < len(rows); i++ {
			if v := cpuRatiosPerRun(runs, sc.Name, rows[i].Peer); len(v) > 0 {
				rows[i].CPUNginxMin, rows[i].CPUNginxMax = slices.Min(v), slices.Max(v)
			}
		}
	}
	return rows
}

// cpuRatiosPerRun is peer's CPU per request over nginx's, round by round:
// the two ran minutes apart at most, so the host's drift between rounds,
// which the totals mix in, mostly cancels out.
func cpuRatiosPerRun(runs []sample, scen, peer string) []float64 {
	perReq := func(x sample) float64 {
		if x.Err != "" || x.Result.Requests == 0 {
			return 0
		}
		return x.CPU.Seconds() / float64(x.Result.Requests)
	}
	var v []float64
	for _, x := range runs {
		if x.Scenario != scen || x.Peer != peer {
			continue
		}
		for _, n := range runs {
			if n.Scenario == scen && n.Peer == "nginx" && n.Rep == x.Rep {
				if r := ratio(perReq(x), perReq(n)); r > 0 {
					v = append(v, r)
				}
			}
		}
	}
	return v
}

// addRatios compares each row of one scenario with its nginx and direct rows.
func addRatios(rows []row) {
	var nginx, dir *row
	for i := range rows {
		switch rows[i].Peer {
		case "nginx":
			nginx = &rows[i]
		case direct:
			dir = &rows[i]
		}
	}
	for i := range rows {
		r := &rows[i]
		if nginx != nil {
			r.RPSNginx = ratio(r.RPS, nginx.RPS)
			r.CPUNginx = ratio(r.CPU10k, nginx.CPU10k)
		}
		if dir != nil {
			r.RPSDirect = ratio(r.RPS, dir.RPS)
		}
	}
}

func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

// median of a non-empty slice; it sorts a copy.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var tableHeader = []string{"scenario", "peer", "req/s median (min–max)", "p50 ms", "p99 ms",
	"CPU s/10k req", "user %", "peak RSS MiB", "resident MiB", "errors", "non-2xx", "req/s ÷ nginx", "CPU ÷ nginx (per-run min–max)", "req/s ÷ direct"}

// cells renders a row for the text and Markdown tables; "-" marks what was
// not measured.
func (r row) cells() []string {
	dash := func(v float64, f string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(f, v)
	}
	rps := "-"
	if r.RPS > 0 {
		rps = fmt.Sprintf("%.0f (%.0f–%.0f)", r.RPS, r.RPSMin, r.RPSMax)
	}
	cpu := dash(r.CPUNginx, "%.2f")
	if r.CPUNginx > 0 && r.CPUNginxMin > 0 {
		cpu = fmt.Sprintf("%.2f (%.2f–%.2f)", r.CPUNginx, r.CPUNginxMin, r.CPUNginxMax)
	}
	return []string{r.Scenario, r.Peer, rps, dash(r.P50, "%.2f"), dash(r.P99, "%.2f"),
		dash(r.CPU10k, "%.3f"), dash(r.UserPct, "%.0f"), dash(r.RSS, "%.1f"), dash(r.Resident, "%.1f"), strconv.FormatInt(r.Errors, 10),
		strconv.FormatInt(r.Non2xx, 10), dash(r.RPSNginx, "%.2f"), cpu, dash(r.RPSDirect, "%.2f")}
}

// writeTable prints the aligned text table.
func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	return tw.Flush()
}

// writeMarkdown prints the table as Markdown, for docs/benchmarks.md.
func writeMarkdown(w io.Writer, rows []row) error {
	line := func(cells []string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	line(tableHeader)
	sep := make([]string, len(tableHeader))
	for i := range sep {
		sep[i] = "---"
		if i >= 2 {
			sep[i] = "--:"
		}
	}
	line(sep)
	for _, r := range rows {
		line(r.cells())
	}
	return nil
}

// writeCSV writes one line per row with raw numbers (empty: not measured).
func writeCSV(w io.Writer, rows []row) error {
	cw := csv.NewWriter(w)
	num := func(v float64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	_ = cw.Write([]string{"scenario", "peer", "runs", "requests", "rps_median", "rps_min", "rps_max",
		"p50_ms", "p99_ms", "cpu_s_per_10k", "user_pct", "peak_rss_mib", "resident_mib", "errors", "non_2xx",
		"rps_vs_nginx", "cpu_vs_nginx", "cpu_vs_nginx_min", "cpu_vs_nginx_max", "rps_vs_direct"})
	for _, r := range rows {
		_ = cw.Write([]string{r.Scenario, r.Peer, strconv.Itoa(r.Runs), strconv.FormatInt(r.Requests, 10),
			num(r.RPS), num(r.RPSMin), num(r.RPSMax), num(r.P50), num(r.P99), num(r.CPU10k), num(r.UserPct), num(r.RSS), num(r.Resident),
			strconv.FormatInt(r.Errors, 10), strconv.FormatInt(r.Non2xx, 10),
			num(r.RPSNginx), num(r.CPUNginx), num(r.CPUNginxMin), num(r.CPUNginxMax), num(r.RPSDirect)})
	}
	cw.Flush()
	return cw.Error()
}

// smokeFailures lists what makes a smoke run fail: a missing row, a run
// that failed, errors, non-2xx answers, or no requests at all.
func smokeFailures(rows []row, scens []scenario, peers []string) []string {
	var bad []string
	for _, sc := range scens {
		for _, p := range peers {
			if !sc.runs(p) {
				continue
			}
			i := slices.IndexFunc(rows, func(r row) bool { return r.Scenario == sc.Name && r.Peer == p })
			switch {
			case i < 0:
				bad = append(bad, fmt.Sprintf("%s/%s: no row", sc.Name, p))
			case rows[i].Errors > 0 || rows[i].Non2xx > 0:
				bad = append(bad, fmt.Sprintf("%s/%s: %d errors, %d non-2xx", sc.Name, p, rows[i].Errors, rows[i].Non2xx))
			case rows[i].Requests == 0:
				bad = append(bad, fmt.Sprintf("%s/%s: no requests", sc.Name, p))
			}
		}
	}
	return bad
}
