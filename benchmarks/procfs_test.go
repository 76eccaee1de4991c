//go:build linux

package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 14-17 (utime stime cutime cstime) are 7 11 13 17.
	const tail = " S 42 100 100 0 -1 4194560 500 0 0 0 7 11 13 17 20 0 3 0 100 1000 200 18446744073709551615"
	for _, comm := range []string{"(nginx)", "(a b) (c))", "()"} {
		ppid, user, ticks, err := parseStat("123 " + comm + tail)
		if err != nil || ppid != 42 || user != 20 || ticks != 48 {
			t.Errorf("%s: got ppid %d user %d ticks %d err %v; want 42 20 48 nil", comm, ppid, user, ticks, err)
		}
	}
	for _, bad := range []string{"123 nginx S 1", "123 (x) S 1 2 3", "123 (x) S y" + tail[4:]} {
		if _, _, _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat accepted %q", bad)
		}
	}
}

func TestParseHWM(t *testing.T) {
	got, err := parseHWM("Name:\tnginx\nVmPeak:\t  1000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n")
	if err != nil || got != 2048<<10 {
		t.Errorf("got %d, %v; want %d", got, err, 2048<<10)
	}
	if got, err := parseHWM("Name:\tkthreadd\nState:\tS\n"); err != nil || got != 0 {
		t.Errorf("no VmHWM: got %d, %v; want 0", got, err)
	}
	if _, err := parseHWM("VmHWM:\t 12 MB\n"); err == nil {
		t.Error("parseHWM accepted a unit other than kB")
	}
}

// treeUsage must see a child of the root, as it sees nginx's workers.
func TestTreeUsageCountsChildren(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	alone, err := treeUsage(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Procs != 1 || alone.HWM <= 0 || (alone.Resident <= 0) == (os.Geteuid() == 0) {
		t.Errorf("sleep alone: %+v, want 1 process with a resident set (its pages counted only by root)", alone)
	}
	// Spin so the test process has CPU time to report.
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	tree, err := treeUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree.Procs < 2 || tree.HWM <= alone.HWM || tree.Resident < alone.Resident || tree.CPU <= 0 {
		t.Errorf("test process and its child: %+v, want ≥ 2 processes, more memory than sleep alone, some CPU", tree)
	}
}

func TestTreeUsageMissingProcess(t *testing.T) {
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := treeUsage(child.Process.Pid); err == nil {
		t.Error("treeUsage of a reaped process succeeded")
	}
}
