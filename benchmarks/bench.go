//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/internal/lowport"
)

// bench is one harness run: its options, work folder and the backends.
type bench struct {
	opts     options
	dir      string
	sluice   string
	backends []string
	workers  int    // proxy workers: CPUs in -proxy-cpus, or all CPUs unpinned
	threads  int    // wrk threads: CPUs in -load-cpus, or all CPUs unpinned
	post     string // wrk script of the current POST scenario
	ports    lowport.Set
	admin    string // sluice's admin address with -profile
	stamp    string // names profile files like the results
}

// live is a peer running for one scenario: the process (nil for direct) and
// the address wrk targets.
type live struct {
	name string
	proc *proc
	addr string
	err  error // why it could not start; its runs are recorded as failed
}

func run(ctx context.Context, opts options) error {
	scens, err := pickScenarios(opts.scenario)
	if err != nil {
		return err
	}
	raiseFileLimit()
	addSbinToPath()
	if err := checkTools(opts); err != nil {
		return err
	}
	b := &bench{opts: opts, workers: runtime.NumCPU(), threads: runtime.NumCPU()}
	if opts.pin {
		b.workers, _ = countCPUs(opts.proxyCPUs)
		b.threads, _ = countCPUs(opts.loadCPUs)
	}
	if b.dir, err = os.MkdirTemp("", "sluice-bench-"); err != nil {
		return fmt.Errorf("cannot create work folder: %w", err)
	}
	keep := true
	defer func() {
		if keep {
			fmt.Fprintln(os.Stderr, "benchmarks: logs kept in", b.dir)
			return
		}
		os.RemoveAll(b.dir)
	}()
	// nginx and Apache workers drop to www-data and read files here.
	if err := os.Chmod(b.dir, 0o755); err != nil {
		return fmt.Errorf("cannot open up %q: %w", b.dir, err)
	}
	if err := writeCert(b.dir); err != nil {
		return err
	}
	if err := b.build(ctx); err != nil {
		return err
	}
	backend, err := b.startBackends(ctx)
	if err != nil {
		return err
	}
	defer backend.stop()
	m := b.describe()
	b.stamp = m.stamp()
	printMeta(os.Stdout, m, "")

	var runs []sample
	for _, sc := range scens {
		rs, err := b.scenario(ctx, sc)
		runs = append(runs, rs...)
		if err != nil {
			return err
		}
	}
	rows := summarize(runs, scens, opts.peers)
	fmt.Println()
	if err := writeTable(os.Stdout, rows); err != nil {
		return err
	}
	if opts.smoke {
		if bad := smokeFailures(rows, scens, opts.peers); len(bad) > 0 {
			return fmt.Errorf("smoke failed:\n  %s", strings.Join(bad, "\n  "))
		}
		keep = false
		return nil
	}
	if err := writeResults(opts.out, m, rows, runs); err != nil {
		return err
	}
	keep = false
	return nil
}

// scenario starts every peer, runs the reps in alternation, then stops them.
func (b *bench) scenario(ctx context.Context, sc scenario) ([]sample, error) {
	peers := make([]*live, 0, len(b.opts.peers))
	defer func() {
		for _, p := range peers {
			if p.proc != nil {
				p.proc.stop()
			}
		}
	}()
	if sc.Post > 0 {
		var err error
		if b.post, err = writePostScript(b.dir, sc.Post); err != nil {
			return nil, err
		}
	}
	for _, name := range b.opts.peers {
		if !sc.runs(name) {
			continue
		}
		p := b.startPeer(ctx, name, sc.TLS)
		peers = append(peers, p)
		if p.err == nil {
			p.err = preflight(p.addr, sc)
		}
		if p.err != nil {
			fmt.Fprintf(os.Stderr, "%s/%s: %v\n", sc.Name, name, p.err)
		}
	}
	var runs []sample
	for rep := range b.opts.reps {
		for _, p := range peers {
			if err := ctx.Err(); err != nil {
				return runs, err
			}
			r := b.measure(ctx, sc, p, rep)
			if r.Err != "" {
				fmt.Fprintf(os.Stderr, "%s/%s rep %d: %s\n", sc.Name, p.name, rep, r.Err)
			} else {
				fmt.Fprintf(os.Stderr, "%s/%s rep %d: %.0f req/s\n", sc.Name, p.name, rep, r.Result.RPS)
			}
			runs = append(runs, r)
		}
	}
	for _, p := range peers {
		if p.name == "sluice" && b.opts.profile && p.err == nil {
			if err := b.profile(ctx, sc, p); err != nil {
				fmt.Fprintf(os.Stderr, "%s/sluice profile: %v\n", sc.Name, err)
			}
		}
	}
	return runs, ctx.Err()
}

// startPeer starts one proxy on a fresh port and waits until it listens;
// with tls, it terminates TLS there.
func (b *bench) startPeer(ctx context.Context, name string, tls bool) *live {
	p := &live{name: name}
	if name == direct {
		p.addr = b.backends[0]
		return p
	}
	port, err := b.ports.Free()
	if err != nil {
		p.err = err
		return p
	}
	p.addr = "127.0.0.1:" + strconv.Itoa(port)
	s := site{Dir: b.dir, Listen: p.addr, Backends: b.backends, Workers: b.workers, Root: os.Geteuid() == 0, Sluice: b.sluice, TLS: tls}
	if name == baseline {
		s.Sluice = b.opts.baseline
	}
	if name == "sluice" && b.opts.profile {
		port, err := b.ports.Free()
		if err != nil {
			p.err = err
			return p
		}
		b.admin = "127.0.0.1:" + strconv.Itoa(port)
		s.Admin = b.admin
	}
	argv, env, err := peerCommand(name, s)
	if err != nil {
		p.err = err
		return p
	}
	if p.proc, err = startProc(b.dir, name, b.pinned(b.opts.proxyCPUs, argv), env); err != nil {
		p.err = err
		return p
	}
	p.err = waitListening(ctx, p.proc, p.addr)
	return p
}

// measure runs wrk once against a peer and samples the proxy's /proc.
func (b *bench) measure(ctx context.Context, sc scenario, p *live, rep int) sample {
	r := sample{Scenario: sc.Name, Peer: p.name, Rep: rep}
	if p.err != nil {
		r.Err = p.err.Error()
		return r
	}
	if sc.Idle > 0 {
		idle, err := openIdle(ctx, p.addr, sc.Path, sc.Idle)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		defer closeIdle(idle)
		defer func() {
			if r.Err == "" {
				r.IdleLost = recheckIdle(idle, p.addr, sc.Path)
			}
		}()
	}
	var before usage
	if p.proc != nil {
		var err error
		if before, err = treeUsage(p.proc.pid()); err != nil {
			r.Err = err.Error()
			return r
		}
	}
	argv := wrkArgs(sc, sc.url(p.addr), b.threads, b.opts.conns, b.opts.duration, b.post)
	res, err := runWrk(ctx, b.pinned(b.opts.loadCPUs, argv))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Result = res
	if p.proc != nil {
		after, err := treeUsage(p.proc.pid())
		if err != nil {
			r.Err = p.proc.failure(err).Error()
			return r
		}
		r.CPU, r.User, r.HWM, r.Resident = after.CPU-before.CPU, after.User-before.User, after.HWM, after.Resident
	}
	return r
}

// preflight checks that the peer answers the scenario's request correctly
// before it is timed: same status and body size through every proxy.
func preflight(addr string, sc scenario) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the harness's own certificate
	url := sc.url(addr) + sc.Path
	var resp *http.Response
	var err error
	var sent []byte
	if sc.Post > 0 {
		sent = bytes.Repeat([]byte("p"), sc.Post)
		resp, err = client.Post(url, "text/plain", bytes.NewReader(sent))
	} else {
		resp, err = client.Get(url)
	}
	if err != nil {
		return fmt.Errorf("cannot check %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read %s: %w", url, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s answered %d, want 200", url, resp.StatusCode)
	case len(body) != sc.Want:
		return fmt.Errorf("%s answered %d bytes, want %d", url, len(body), sc.Want)
	case sent != nil && !bytes.Equal(body, sent):
		return fmt.Errorf("%s did not echo the body", url)
	}
	return nil
}

// pinned prefixes argv with taskset when pinning.
func (b *bench) pinned(cpus string, argv []string) []string {
	if !b.opts.pin {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// build compiles sluice and the backend unless binaries were given.
func (b *bench) build(ctx context.Context) error {
	b.sluice = b.opts.sluiceBin
	needSluice := b.sluice == "" && slices.Contains(b.opts.peers, "sluice")
	if needSluice {
		b.sluice = filepath.Join(b.dir, "sluice")
		if err := goBuild(ctx, b.sluice, "./cmd/sluice"); err != nil {
			return err
		}
	}
	if b.opts.backendBin == "" {
		b.opts.backendBin = filepath.Join(b.dir, "backend")
		return goBuild(ctx, b.opts.backendBin, "./benchmarks/backend")
	}
	return nil
}

// goBuild builds pkg statically, as make build does: a binary that maps
// no C library holds about 1.4 MiB less resident memory.
func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build %s (run from the repository root): %w\n%s", pkg, err, msg)
	}
	return nil
}

// startBackends starts the backend process, pinned with the load, and reads
// the addresses it printed.
func (b *bench) startBackends(ctx context.Context) (*proc, error) {
	argv := b.pinned(b.opts.loadCPUs, []string{b.opts.backendBin, "-n", "2"})
	p, err := startProc(b.dir, "backend", argv, []string{"GOMAXPROCS=" + strconv.Itoa(b.threads)})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		out, _ := os.ReadFile(p.log)
		if lines := strings.Fields(string(out)); len(lines) == 3 && lines[2] == "ready" {
			b.backends = lines[:2]
			return p, nil
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop()
			return nil, p.failure(errors.New("backend did not become ready"))
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkTools fails early, naming the install script, when a tool is missing.
func checkTools(o options) error {
	need := []string{"wrk"}
	bins := map[string]string{"nginx": "nginx", "haproxy": "haproxy", "apache": "apache2"}
	for _, p := range o.peers {
		if bin, ok := bins[p]; ok {
			need = append(need, bin)
		}
	}
	if o.pin {
		need = append(need, "taskset")
	}
	var missing []string
	for _, bin := range need {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot find %s: run benchmarks/install.sh as root", strings.Join(missing, ", "))
	}
	return nil
}

// raiseFileLimit lifts the soft open-file limit to the hard one. Calling
// Setrlimit also makes Go hand the raised limit to the proxies it starts,
// which need over 1,000 descriptors in the idle scenario.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// addSbinToPath lets a non-root user find nginx, haproxy and apache2, which
// Debian installs in /usr/sbin.
func addSbinToPath() {
	path := os.Getenv("PATH")
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if !slices.Contains(filepath.SplitList(path), dir) {
			path += string(filepath.ListSeparator) + dir
		}
	}
	os.Setenv("PATH", path)
}
