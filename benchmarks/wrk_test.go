//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Recorded from wrk 4.1.0 (Debian bookworm) against a local proxy.
const wrkClean = `Running 1s test @ http://127.0.0.1:31279/small
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.41ms  675.23us  12.04ms   89.56%
    Req/Sec    45.30k     2.12k   47.60k    80.00%
  Latency Distribution
     50%    1.28ms
     75%    1.53ms
     90%    1.89ms
     99%    4.20ms
  45065 requests in 1.00s, 8.21MB read
Requests/sec:  45065.37
Transfer/sec:      8.20MB
`

const wrkErrors = `Running 2s test @ http://127.0.0.1:8080/echo
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   850.50us    1.20ms   2.00s    99.10%
    Req/Sec     8.09k   500.12     9.01k    70.00%
  Latency Distribution
     50%  650.00us
     75%  800.00us
     90%    1.10ms
     99%    1.02s
  16174 requests in 2.00s, 3.01MB read
  Socket errors: connect 2, read 3, write 0, timeout 5
  Non-2xx or 3xx responses: 17
Requests/sec:   8087.11
Transfer/sec:      1.50MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		desc string
		out  string
		want wrkResult
	}{
		{"clean run", wrkClean, wrkResult{Requests: 45065, Elapsed: time.Second, RPS: 45065.37,
			P50: 1280 * time.Microsecond, P99: 4200 * time.Microsecond}},
		{"errors and non-2xx", wrkErrors, wrkResult{Requests: 16174, Elapsed: 2 * time.Second, RPS: 8087.11,
			P50: 650 * time.Microsecond, P99: 1020 * time.Millisecond, Errors: 10, Non2xx: 17}},
	}
	for _, tt := range tests {
		got, err := parseWrk(tt.out)
		if err != nil {
			t.Fatalf("%s: %v", tt.desc, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.desc, got, tt.want)
		}
	}
}

func TestParseWrkFailures(t *testing.T) {
	for _, out := range []string{
		"unable to connect to 127.0.0.1:1 Connection refused\n",
		strings.Replace(wrkClean, "99%    4.20ms", "99%    4.20parsecs", 1),
		strings.Replace(wrkClean, "     50%    1.28ms\n", "", 1),
		strings.Replace(wrkErrors, "read 3,", "read x,", 1),
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("parseWrk accepted:\n%s", out)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"675.23us": 675230 * time.Nanosecond,
		"1.28ms":   1280 * time.Microsecond,
		"2.00s":    2 * time.Second,
		"1.50m":    90 * time.Second,
		"1.00h":    time.Hour,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDuration("12"); err == nil {
		t.Error("parseWrkDuration accepted a number without a unit")
	}
}

func TestWrkArgs(t *testing.T) {
	tests := []struct {
		sc      scenario
		threads int
		d       time.Duration
		want    string
	}{
		{named(t, "get-100b"), 1, 10 * time.Second, "wrk -t1 -c64 -d10s --latency http://h/small"},
		{named(t, "post-1k"), 2, 1500 * time.Millisecond, "wrk -t2 -c64 -d2s --latency -s /w/post.lua http://h/echo"},
		{named(t, "new-conn"), 1, time.Second, "wrk -t1 -c64 -d1s --latency -H Connection: close http://h/small"},
		{named(t, "get-100b"), 128, time.Second, "wrk -t64 -c64 -d1s --latency http://h/small"}, // threads ≤ conns
		{named(t, "get-browser"), 1, time.Second, "wrk -t1 -c64 -d1s --latency -H " + strings.Join(browserFields, " -H ") + " http://h/small"},
		{named(t, "get-1conn"), 2, time.Second, "wrk -t1 -c1 -d1s --latency http://h/small"}, // its own connections, and threads ≤ them
	}
	for _, tt := range tests {
		got := strings.Join(wrkArgs(tt.sc, "http://h", tt.threads, 64, tt.d, "/w/post.lua"), " ")
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.sc.Name, got, tt.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("got %q", got)
	}
	if got := strings.Split(lastLines("a", 5), "\n"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("got %q", got)
	}
}
