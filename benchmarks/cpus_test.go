//go:build linux

package main

import (
	"strings"
	"testing"
	"time"
)

func TestCountCPUs(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "1": 1, "2-3": 2, "0,4-7": 5, "0,1,2": 3} {
		if got, err := countCPUs(in); err != nil || got != want {
			t.Errorf("countCPUs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "1-", "0,,1"} {
		if _, err := countCPUs(bad); err == nil {
			t.Errorf("countCPUs(%q) succeeded", bad)
		}
	}
}

// named is the scenario called name.
func named(t *testing.T, name string) scenario {
	t.Helper()
	scs, err := pickScenarios(name)
	if err != nil {
		t.Fatal(err)
	}
	return scs[0]
}

func TestPickScenarios(t *testing.T) {
	if got, err := pickScenarios("all"); err != nil || len(got) != len(scenarios) {
		t.Errorf("all: %d scenarios, %v", len(got), err)
	}
	if got, err := pickScenarios("post-1k"); err != nil || len(got) != 1 || got[0].Post != 1024 {
		t.Errorf("post-1k: %+v, %v", got, err)
	}
	if _, err := pickScenarios("get-2k"); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-smoke", "-peers", "sluice, nginx", "-pin=false"})
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != time.Second || o.reps != 1 || len(o.peers) != 2 || o.peers[1] != "nginx" || o.pin {
		t.Errorf("smoke defaults: %+v", o)
	}
	o, err = parseFlags([]string{"-smoke", "-duration", "3s", "-reps", "2"})
	if err != nil || o.duration != 3*time.Second || o.reps != 2 || len(o.peers) != len(peerNames) {
		t.Errorf("smoke with explicit duration and reps: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-baseline", "/tmp/old", "-peers", "sluice,nginx"})
	if err != nil || strings.Join(o.peers, ",") != "sluice,baseline,nginx" || o.baseline != "/tmp/old" {
		t.Errorf("-baseline: peers %q, %v", o.peers, err)
	}
	o, err = parseFlags([]string{"-baseline", "/tmp/old", "-peers", "nginx,baseline"})
	if err != nil || strings.Join(o.peers, ",") != "nginx,baseline" {
		t.Errorf("-baseline with the peer listed: peers %q, %v", o.peers, err)
	}
	for _, bad := range [][]string{
		{"-peers", "sluice,baseline"}, // without -baseline
		{"-peers", "sluice,caddy"},
		{"-scenario", "get-2k"},
		{"-reps", "0"},
		{"-duration", "500ms"},
		{"-proxy-cpus", "x"},
		{"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}
