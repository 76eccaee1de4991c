//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// meta says where and how a table was made; only figures with the same
// meta compare.
type meta struct {
	Started  time.Time         `json:"started"`
	CPU      string            `json:"cpu"`
	Cores    int               `json:"cores"`
	Kernel   string            `json:"kernel"`
	Pinning  string            `json:"pinning"`
	Workers  int               `json:"proxy_workers"`
	Duration string            `json:"duration"`
	Reps     int               `json:"reps"`
	Conns    int               `json:"conns"`
	Versions map[string]string `json:"versions"`
}

func (b *bench) describe() meta {
	m := meta{
		Started:  time.Now().UTC().Truncate(time.Second),
		CPU:      cpuModel(),
		Cores:    runtime.NumCPU(),
		Kernel:   firstLine(commandOutput("uname", "-sr")),
		Pinning:  "off",
		Workers:  b.workers,
		Duration: b.opts.duration.String(),
		Reps:     b.opts.reps,
		Conns:    b.opts.conns,
		Versions: map[string]string{"wrk": firstLine(commandOutput("wrk", "-v")), "go": runtime.Version()},
	}
	if b.opts.pin {
		m.Pinning = fmt.Sprintf("proxy on CPU %s, wrk and backends on CPU %s", b.opts.proxyCPUs, b.opts.loadCPUs)
	}
	for _, p := range b.opts.peers {
		switch p {
		case "sluice":
			m.Versions[p] = firstLine(commandOutput(b.sluice, "-version"))
		case baseline:
			m.Versions[p] = b.opts.baseline + ": " + firstLine(commandOutput(b.opts.baseline, "-version"))
		case "nginx":
			m.Versions[p] = firstLine(commandOutput("nginx", "-v"))
		case "haproxy":
			m.Versions[p] = firstLine(commandOutput("haproxy", "-v"))
		case "apache":
			m.Versions[p] = firstLine(commandOutput("apache2", "-v"))
		}
	}
	return m
}

// printMeta writes the description one line each, every line after prefix
// ("- " makes a Markdown list).
func printMeta(w io.Writer, m meta, prefix string) {
	fmt.Fprintf(w, "%smachine: %s, %d CPUs, %s\n", prefix, m.CPU, m.Cores, m.Kernel)
	fmt.Fprintf(w, "%spinning: %s; proxy workers: %d; wrk: %d connections, %s per run, %d runs per peer\n",
		prefix, m.Pinning, m.Workers, m.Conns, m.Duration, m.Reps)
	for _, k := range append([]string{"wrk", "go"}, slices.Insert(slices.Clone(peerNames), 1, baseline)...) {
		if v, ok := m.Versions[k]; ok {
			fmt.Fprintf(w, "%s%s: %s\n", prefix, k, v)
		}
	}
}

// writeResults writes STAMP.{csv,json,md} and copies them to latest.*.
// stamp names a run's files: its UTC start time.
func (m meta) stamp() string { return m.Started.Format("20060102-150405") }

func writeResults(dir string, m meta, rows []row, runs []sample) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %q: %w", dir, err)
	}
	stamp := m.stamp()
	writers := map[string]func(io.Writer) error{
		"csv": func(w io.Writer) error { return writeCSV(w, rows) },
		"json": func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Meta meta     `json:"meta"`
				Rows []row    `json:"rows"`
				Runs []sample `json:"runs"`
			}{m, rows, runs})
		},
		"md": func(w io.Writer) error {
			printMeta(w, m, "- ")
			fmt.Fprintln(w)
			return writeMarkdown(w, rows)
		},
	}
	for ext, write := range writers {
		for _, name := range []string{stamp, "latest"} {
			path := filepath.Join(dir, name+"."+ext)
			if err := writeFile(path, write); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\nresults: %s/{%s,latest}.{csv,json,md}\n", dir, stamp)
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return nil
}

// cpuModel reads the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// commandOutput runs a version command; nginx prints to stderr and wrk
// exits 1 after printing its version, so any output counts.
func commandOutput(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	if len(out) == 0 {
		return "unknown"
	}
	return string(out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
