//go:build linux

package main

import (
	"encoding/binary"
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
	CPU  time.Duration // user + system time of every live process, plus what reaped children used
	User time.Duration // the user-space part of CPU
	HWM  int64         // sum of VmHWM (peak resident set) over the live processes, bytes
	// Resident is the memory the live processes hold now, each physical
	// page counted once however many of them map it (HWM counts a master's
	// and its workers' shared pages in each), bytes; 0 when /proc does not
	// show page frames (not root).
	Resident int64
	Procs    int
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
	var pids []int
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
		pids = append(pids, pid)
	}
	u.Resident = residentOnce(pids)
	return u, nil
}

// residentOnce is the size of the physical pages pids map now, each
// counted once, from their page maps; 0 when a process's present page
// shows no frame (only root sees frames) or cannot be read.
func residentOnce(pids []int) int64 {
	frames := make(map[uint64]struct{})
	entry := make([]byte, 8<<10) // 1,024 pages' entries at a time
	for _, pid := range pids {
		maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			continue // gone
		}
		pm, err := os.Open("/proc/" + strconv.Itoa(pid) + "/pagemap")
		if err != nil {
			return 0
		}
		for line := range strings.Lines(string(maps)) {
			span, _, _ := strings.Cut(line, " ")
			from, to, ok := strings.Cut(span, "-")
			lo, err1 := strconv.ParseUint(from, 16, 64)
			hi, err2 := strconv.ParseUint(to, 16, 64)
			if !ok || err1 != nil || err2 != nil || strings.Contains(line, "[vsyscall]") {
				continue
			}
			for page := lo / pageSize; page < hi/pageSize; {
				n := min(hi/pageSize-page, uint64(len(entry)/8))
				got, err := pm.ReadAt(entry[:n*8], int64(page*8))
				for i := 0; i+8 <= got; i += 8 {
					e := binary.LittleEndian.Uint64(entry[i:])
					if e>>63 == 0 {
						continue // not present
					}
					frame := e & (1<<55 - 1)
					if frame == 0 {
						_ = pm.Close()
						return 0
					}
					frames[frame] = struct{}{}
				}
				if err != nil {
					break
				}
				page += n
			}
		}
		_ = pm.Close()
	}
	return int64(uint64(len(frames)) * pageSize)
}

var pageSize = uint64(os.Getpagesize())

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
