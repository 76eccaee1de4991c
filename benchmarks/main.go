//go:build linux

// Command benchmarks compares sluice with nginx, HAProxy and Apache httpd
// (mod_proxy_balancer on mpm_event), each a round-robin keep-alive balancer
// over the same two fasthttp backends, and with one backend reached directly.
// wrk drives every scenario against every peer in turn (A B C D E A B C D E…)
// so that drift hits them alike. It prints a table and writes CSV, JSON and
// Markdown under -out. See docs/benchmarks.md. It runs on Linux only: it
// pins with taskset and reads CPU time and memory from /proc.
//
// Run it from the repository root after benchmarks/install.sh:
//
//	go run ./benchmarks -scenario get-100b -duration 10s -reps 5 -peers sluice,nginx
//
// With -baseline OLD, a second sluice build runs as the peer "baseline"
// beside sluice, in the same rounds: an A/B comparison of two builds.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario   string
	duration   time.Duration
	reps       int
	peers      []string
	pin        bool
	proxyCPUs  string
	loadCPUs   string
	conns      int
	smoke      bool
	out        string
	sluiceBin  string
	baseline   string // a second sluice binary, run as the peer baseline
	backendBin string
	profile    bool
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchmarks:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "benchmarks:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchmarks", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "all", "one scenario, or all")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run (whole seconds)")
	fs.IntVar(&o.reps, "reps", 5, "runs of each scenario against each peer")
	peers := fs.String("peers", strings.Join(peerNames, ","), "comma-separated peers to run")
	fs.BoolVar(&o.pin, "pin", true, "pin the proxy and the load (wrk, backends) to separate CPUs with taskset")
	fs.StringVar(&o.proxyCPUs, "proxy-cpus", "1", "CPU list for the proxy; its worker count follows")
	fs.StringVar(&o.loadCPUs, "load-cpus", "0", "CPU list for wrk and the backends")
	fs.IntVar(&o.conns, "conns", 64, "concurrent wrk connections")
	fs.BoolVar(&o.smoke, "smoke", false, "1 s, 1 rep unless set; write no files; exit 1 unless every peer has a row without errors")
	fs.StringVar(&o.out, "out", "benchmarks/results", "folder for CSV, JSON and Markdown results")
	fs.StringVar(&o.sluiceBin, "sluice", "", "sluice binary (default: built from ./cmd/sluice)")
	fs.StringVar(&o.baseline, "baseline", "", "a second sluice binary, run as the peer baseline beside sluice (A/B of two builds)")
	fs.StringVar(&o.backendBin, "backend", "", "backend binary (default: built from ./benchmarks/backend)")
	fs.BoolVar(&o.profile, "profile", false, "after each scenario's reps, profile one more sluice run (CPU and allocations, pprof files under -out)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["reps"] {
			o.reps = 1
		}
	}
	for p := range strings.SplitSeq(*peers, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == baseline && o.baseline == "":
			return o, fmt.Errorf("peer %s needs -baseline, the binary it runs", baseline)
		case p != baseline && !slices.Contains(peerNames, p):
			return o, fmt.Errorf("unknown peer %q (allowed: %s)", p, strings.Join(peerNames, ", "))
		}
		o.peers = append(o.peers, p)
	}
	if o.baseline != "" && !slices.Contains(o.peers, baseline) {
		// Right after sluice: the two builds' runs follow each other.
		at := slices.Index(o.peers, "sluice") + 1
		o.peers = slices.Insert(o.peers, at, baseline)
	}
	if o.reps < 1 || o.conns < 1 || o.duration < time.Second {
		return o, fmt.Errorf("need -reps ≥ 1, -conns ≥ 1 and -duration ≥ 1s")
	}
	if _, err := pickScenarios(o.scenario); err != nil {
		return o, err
	}
	for _, list := range []string{o.proxyCPUs, o.loadCPUs} {
		if _, err := countCPUs(list); err != nil {
			return o, err
		}
	}
	if o.pin && runtime.NumCPU() < 2 {
		fmt.Fprintln(os.Stderr, "benchmarks: one CPU: not pinning")
		o.pin = false
	}
	return o, nil
}
