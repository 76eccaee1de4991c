//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests int64
	Elapsed  time.Duration
	RPS      float64
	P50      time.Duration
	P99      time.Duration
	Errors   int64 // socket errors: connect + read + write + timeout
	Non2xx   int64 // wrk's "Non-2xx or 3xx responses" (the backends never answer 3xx)
}

// wrkArgs builds wrk's command line (after any taskset prefix).
func wrkArgs(sc scenario, url string, threads, conns int, d time.Duration, postScript string) []string {
	if sc.Conns > 0 {
		conns = sc.Conns
	}
	if threads > conns {
		threads = conns
	}
	secs := int((d + time.Second - 1) / time.Second) // wrk takes whole seconds
	args := []string{"wrk", "-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(secs) + "s", "--latency"}
	if sc.Close {
		args = append(args, "-H", "Connection: close")
	}
	for _, f := range sc.Fields {
		args = append(args, "-H", f)
	}
	if sc.Post > 0 {
		args = append(args, "-s", postScript)
	}
	return append(args, url+sc.Path)
}

// writePostScript writes the wrk script of the POST scenario. It only sets
// globals, so wrk keeps its static-request fast path (no per-request Lua).
func writePostScript(dir string, size int) (string, error) {
	path := filepath.Join(dir, "post.lua")
	script := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = string.rep(\"p\", %d)\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n", size)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return "", fmt.Errorf("cannot write %q: %w", path, err)
	}
	return path, nil
}

// runWrk runs wrk to completion and parses its report.
func runWrk(ctx context.Context, argv []string) (wrkResult, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("cannot run %q: %w: %s", strings.Join(argv, " "), err, lastLines(string(out), 5))
	}
	return parseWrk(string(out))
}

// parseWrk reads the report of wrk 4 run with --latency.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveReqs, haveP50, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var err error
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.P50, err = parseWrkDuration(f[1])
			haveP50 = true
		case len(f) == 2 && f[0] == "99%":
			r.P99, err = parseWrkDuration(f[1])
			haveP99 = true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.Requests, err = strconv.ParseInt(f[0], 10, 64)
			if err == nil {
				r.Elapsed, err = parseWrkDuration(strings.TrimSuffix(f[3], ","))
			}
			haveReqs = true
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.RPS, err = strconv.ParseFloat(f[1], 64)
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			r.Errors, err = parseSocketErrors(f[2:])
		case len(f) == 5 && f[0] == "Non-2xx":
			r.Non2xx, err = strconv.ParseInt(f[4], 10, 64)
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("cannot parse wrk line %q: %w", sc.Text(), err)
		}
	}
	if !haveReqs || !haveP50 || !haveP99 {
		return wrkResult{}, fmt.Errorf("cannot find requests and latency in wrk output: %s", lastLines(out, 5))
	}
	return r, nil
}

// parseSocketErrors sums "connect 0, read 1, write 0, timeout 2".
func parseSocketErrors(f []string) (int64, error) {
	var sum int64
	for i := 1; i < len(f); i += 2 {
		n, err := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// parseWrkDuration reads wrk's units: us, ms, s, m, h.
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse duration %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("cannot parse duration %q: unknown unit", s)
}

// lastLines keeps the end of a command's output for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
