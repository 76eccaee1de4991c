package main

// End-to-end harness: builds the real sluice binary once, starts it with a
// config written into t.TempDir(), and talks to it over loopback sockets.
// Every wait is bounded; every process is stopped by t.Cleanup.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
	ioTimeout    = 10 * time.Second
)

// sluiceBin is the binary built by TestMain (without -race: only the test
// process is instrumented).
var sluiceBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create build dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot build sluice: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// writeConfig writes text into dir/name after applying the old/new
// replacement pairs (placeholders such as "{B1}" become backend addresses).
func writeConfig(t *testing.T, dir, name, text string, oldnew ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writeFileAtomic(t, path, strings.NewReplacer(oldnew...).Replace(text))
	return path
}

// writeFileAtomic replaces path via rename so a concurrent SIGHUP never
// reads a half-written file.
func writeFileAtomic(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// sluiceProc is one running sluice process.
type sluiceProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	Addrs []string // bound listener addresses, in log order

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on each new stderr line
	exited  chan struct{}
	waitErr error
}

// startSluice runs `sluice -config cfg` and waits for msg=ready.
func startSluice(t *testing.T, cfg string) *sluiceProc {
	t.Helper()
	return startSluiceArgs(t, "-config", cfg)
}

// startSluiceArgs runs sluice with args and waits for msg=ready.
func startSluiceArgs(t *testing.T, args ...string) *sluiceProc {
	t.Helper()
	return startSluiceOut(t, io.Discard, args...)
}

// startSluiceOut is startSluiceArgs with sluice's stdout going to stdout.
func startSluiceOut(t *testing.T, stdout io.Writer, args ...string) *sluiceProc {
	t.Helper()
	p := &sluiceProc{t: t, changed: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(sluiceBin, args...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start sluice: %v", err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.addLine(sc.Text())
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		err := p.cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(p.cleanup)

	if _, err := p.waitLog(startTimeout, 0, func(f map[string]string) bool { return f["msg"] == "ready" }); err != nil {
		t.Fatalf("sluice did not become ready: %v\nstderr:\n%s", err, p.log())
	}
	p.mu.Lock()
	for _, l := range p.lines {
		if f := logfmt(l); f["msg"] == "listening" && f["addr"] != "" {
			p.Addrs = append(p.Addrs, f["addr"])
		}
	}
	p.mu.Unlock()
	if len(p.Addrs) == 0 {
		t.Fatalf("sluice logged no msg=listening addr=…\nstderr:\n%s", p.log())
	}
	return p
}

// Addr is the first listener's address.
func (p *sluiceProc) Addr() string { return p.Addrs[0] }

func (p *sluiceProc) addLine(l string) {
	p.mu.Lock()
	p.lines = append(p.lines, l)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// lineCount is how many stderr lines have been seen, for waitLog's from.
func (p *sluiceProc) lineCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

func (p *sluiceProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLog waits until a stderr line at index >= from satisfies match and
// returns its fields.
func (p *sluiceProc) waitLog(d time.Duration, from int, match func(map[string]string) bool) (map[string]string, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if f := logfmt(p.lines[i]); match(f) {
				p.mu.Unlock()
				return f, nil
			}
		}
		from = len(p.lines)
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exited:
			// Lines may still have arrived just before exit.
			if p.lineCount() > from {
				continue
			}
			return nil, fmt.Errorf("sluice exited: %v", p.exitErr())
		case <-deadline.C:
			return nil, fmt.Errorf("no matching log line within %v", d)
		}
	}
}

// waitMsg waits for a line with msg=want logged after line index from.
func (p *sluiceProc) waitMsg(from int, want string) map[string]string {
	p.t.Helper()
	f, err := p.waitLog(startTimeout, from, func(f map[string]string) bool { return f["msg"] == want })
	if err != nil {
		p.t.Fatalf("waiting for msg=%q: %v\nstderr:\n%s", want, err, p.log())
	}
	return f
}

func (p *sluiceProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("cannot signal sluice: %v", err)
	}
}

func (p *sluiceProc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// waitExit waits for the process to end and returns its exit code.
func (p *sluiceProc) waitExit(d time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(d):
		return -1, fmt.Errorf("sluice still running after %v", d)
	}
	var ee *exec.ExitError
	switch err := p.exitErr(); {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	default:
		return -1, err
	}
}

// cleanup stops the process (SIGTERM, then SIGKILL) and dumps its log when
// the test failed.
func (p *sluiceProc) cleanup() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if p.t.Failed() {
		p.t.Logf("sluice stderr:\n%s", p.log())
	}
}

// vmHWM is the process's peak resident set size in bytes.
func (p *sluiceProc) vmHWM() int64 {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				p.t.Fatalf("cannot parse VmHWM %q: %v", l, err)
			}
			return kb << 10
		}
	}
	p.t.Fatal("no VmHWM in /proc status")
	return 0
}

// runSluice runs the binary to completion (for -t, -version, -dump-config).
func runSluice(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("sluice %v: %v\nstderr:\n%s", args, err, e.String())
	}
	return o.String(), e.String(), code
}

// logfmt splits a log/slog text line into its key=value fields.
func logfmt(line string) map[string]string {
	f := make(map[string]string)
	for s := line; s != ""; {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key, rest := s[:eq], s[eq+1:]
		if strings.HasPrefix(rest, `"`) {
			v, tail, ok := cutQuoted(rest)
			if !ok {
				break
			}
			f[key], s = v, tail
			continue
		}
		v, tail, _ := strings.Cut(rest, " ")
		f[key], s = v, tail
	}
	return f
}

// cutQuoted unquotes the Go-quoted string at the start of s.
func cutQuoted(s string) (value, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			return v, s[i+1:], err == nil
		}
	}
	return "", "", false
}
