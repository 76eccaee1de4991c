//go:build linux

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat. The
// kernel ABI fixes it at 100 on every architecture Go supports on Linux.
const clockTick = 10 * time.Millisecond

// usage is what a process tree has consumed so far.
type usage struct {
	CPU   time.Duration // user + system time of every live process, plus what reaped children used
	User  time.Duration // the user-space part of CPU
	HWM   int64         // sum of VmHWM (peak resident set) over the live processes, bytes
	Procs int
}

// treeUsage walks /proc for root and all its descendants: nginx and Apache do
// their work in child processes.
func treeUsage(root int) (usage, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return usage{}, fmt.Errorf("cannot read /proc: %w", err)
	}
	type stat struct {
		ppid        int
		user, ticks int64
	}
	stats := make(map[int]stat, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone since ReadDir
		}
		ppid, user, ticks, err := parseStat(string(b))
		if err != nil {
			return usage{}, fmt.Errorf("cannot parse /proc/%d/stat: %w", pid, err)
		}
		stats[pid] = stat{ppid, user, ticks}
	}
	if _, ok := stats[root]; !ok {
		return usage{}, fmt.Errorf("cannot find process %d in /proc", root)
	}
	children := make(map[int][]int)
	for pid, s := range stats {
		children[s.ppid] = append(children[s.ppid], pid)
	}
	var u usage
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		queue = append(queue, children[pid]...)
		u.CPU += time.Duration(stats[pid].ticks) * clockTick
		u.User += time.Duration(stats[pid].user) * clockTick
		u.Procs++
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return usage{}, fmt.Errorf("cannot read /proc/%d/status: %w", pid, err)
		}
		hwm, err := parseHWM(string(b))
		if err != nil {
			return usage{}, fmt.Errorf("cannot parse /proc/%d/status: %w", pid, err)
		}
		u.HWM += hwm
	}
	return u, nil
}

// parseStat returns the parent, utime+cutime and utime+stime+cutime+cstime
// of a /proc/PID/stat line. cutime and cstime hold only reaped children,
// which are no longer in the tree, so summing them over the tree counts
// nothing twice.
func parseStat(s string) (ppid int, user, ticks int64, err error) {
	// The command name may hold spaces and parentheses; it ends at the last ')'.
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, 0, 0, errors.New("no command name")
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime are 14..17.
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, 0, err
	}
	for i, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, 0, err
		}
		ticks += n
		if i%2 == 0 { // utime, cutime
			user += n
		}
	}
	return ppid, user, ticks, nil
}

// parseHWM returns VmHWM in bytes, or 0 for a process without memory
// (a zombie or a kernel thread has no Vm lines).
func parseHWM(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, nil
}
