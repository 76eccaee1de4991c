package server

import (
	"bufio"
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStampCache: a cached second reads as time.AppendFormat writes it, in
// the local zone (cached) and in others (not), second after second and
// back to an earlier one.
func TestStampCache(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	zones := []*time.Location{time.Local, time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -7*3600)}
	for _, loc := range zones {
		c := stampCache{layout: "[02/Jan/2006:15:04:05 -0700]"}
		for _, d := range []time.Duration{0, 300 * time.Millisecond, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, 0, 86400 * time.Second} {
			at := base.Add(d).In(loc)
			got := c.appendTo([]byte("x "), at)
			if want := at.AppendFormat([]byte("x "), c.layout); !bytes.Equal(got, want) {
				t.Errorf("%v: %q, want %q", at, got, want)
			}
		}
	}
}

// TestAppendRFC3339Nano: the JSON log's time reads as time.RFC3339Nano
// writes it, for fractions with and without trailing zeros, in zones with
// offsets of every sign, and for years of other lengths.
func TestAppendRFC3339Nano(t *testing.T) {
	zones := []*time.Location{time.Local, time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -7*3600)}
	for _, loc := range zones {
		for _, sec := range []int64{1_800_000_000, 1_800_000_001, -62_198_755_200 /* year 1 */, 253_402_300_800 /* year 10000 */} {
			for _, ns := range []int{0, 1, 10, 5000, 120_000_000, 123_456_789, 100_000_000, 999_999_999} {
				at := time.Unix(sec, int64(ns)).In(loc)
				got := appendRFC3339Nano([]byte(`{"time":"`), at)
				if want := at.AppendFormat([]byte(`{"time":"`), time.RFC3339Nano); !bytes.Equal(got, want) {
					t.Errorf("%v: %q, want %q", at, got, want)
				}
			}
		}
	}
}

// TestStampCacheConcurrent: lines written at once, each of its own second,
// read their own (go test -race checks the stamps' hand-over).
func TestStampCacheConcurrent(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			b := make([]byte, 0, 64)
			for i := range 500 {
				at := base.Add(time.Duration((g+i)%3) * time.Second)
				b = clfTimes.appendTo(b[:0], at)
				if want := at.AppendFormat(nil, clfTimes.layout); !bytes.Equal(b, want) {
					t.Errorf("%q, want %q", b, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCLFLogTime: common and combined lines carry the time the request came
// (Apache's %t), not the time it was logged.
func TestCLFLogTime(t *testing.T) {
	ctx := logCtx(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	var out bytes.Buffer
	f := &logFile{w: bufio.NewWriter(&out)}
	for _, format := range []string{"common", "combined"} {
		out.Reset()
		(&accessLog{file: f, format: format}).log(ctx, lineOf(ctx, false, time.Time{}), nil, nil, ctx.Time().Add(time.Hour), 5)
		_ = f.w.Flush()
		if want := ctx.Time().AppendFormat(nil, "[02/Jan/2006:15:04:05 -0700]"); !strings.Contains(out.String(), string(want)) {
			t.Errorf("%s: %q, want the request's time %s", format, out.String(), want)
		}
	}
}
