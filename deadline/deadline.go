// Package deadline arms socket deadlines lazily. Moving a deadline costs a
// runtime timer update (a lock and a heap fix-up) that, per read or write on
// a busy keep-alive connection, costs more than the proxying around it;
// nginx and HAProxy likewise keep coarse timers. A Lazy re-arms only when
// the deadline asked for lies outside what is armed by more than a slack of
// one eighth of the time left (at most one second), so a timeout fires at
// most that slack late and never early. An Early arms only deadlines that
// come closer and lets a later one ride on what is armed, re-arming when
// that fires too soon: for deadlines that move back and forth.
package deadline

import (
	"math"
	"time"
)

// maxSlack bounds how late a long timeout may fire.
const maxSlack = time.Second

// Lazy remembers the deadline armed on one connection direction. The zero
// value has none armed. It is not safe for concurrent use: each direction
// of a connection is driven by one goroutine at a time.
type Lazy struct{ armed time.Time }

// Next reports whether the caller must arm a new deadline for want, and
// which: want plus the slack. The zero time (no deadline) and deadlines in
// the past are armed exactly.
func (l *Lazy) Next(want time.Time, now time.Time) (time.Time, bool) {
	if want.IsZero() {
		if l.armed.IsZero() {
			return time.Time{}, false
		}
		l.armed = time.Time{}
		return time.Time{}, true
	}
	slack := min(want.Sub(now)/8, maxSlack)
	if slack < 0 {
		slack = 0
	}
	if !l.armed.IsZero() && !l.armed.Before(want) && l.armed.Sub(want) <= slack {
		return time.Time{}, false
	}
	l.armed = want.Add(slack)
	return l.armed, true
}

// Armed records a deadline the caller set on the connection itself, so
// that Next compares with what is really armed.
func (l *Lazy) Armed(t time.Time) { l.armed = t }

// Early arms a connection direction's deadline only when the one asked for
// is earlier than what is armed. A later deadline rides on the earlier
// one: when that fires, or has fired already, the caller's I/O fails and
// the caller asks Expired and, if the deadline it wants is still ahead,
// arms that and retries the I/O. A client connection's read deadline
// moves on every request (the idle timeout after a response; the header
// timeout where the next head has to wait, FirstWait); with Early that
// costs about one timer update per timeout period instead. The server
// computes those deadlines from clock readings the request takes anyway
// (NextNano), where fasthttp's own timeouts read the clock for each: at
// some 50 ns a reading, three per request were worth saving. Not safe for
// concurrent use.
//
// The deadlines are kept as Unix nanoseconds (0: none), not as time.Time:
// an Early rides in every client connection, whose size class is what a
// new connection costs in garbage, and two times take 48 bytes where two
// counts take 16.
type Early struct{ armed, want int64 }

// Next records want and reports whether to arm it now (the zero time is
// "no deadline").
func (e *Early) Next(want time.Time) (time.Time, bool) {
	if !e.NextNano(unixNano(want)) {
		return time.Time{}, false
	}
	return want, true
}

// NextNano is Next for a deadline in Unix nanoseconds (0: none): it
// reports whether to arm time.Unix(0, want) now.
func (e *Early) NextNano(want int64) bool {
	e.want = want
	// No deadline is the latest of all: it rides on what is armed too, and
	// Expired clears that when it fires. A write that waited asks for none
	// after it, and the deadline asked for next would otherwise cost a
	// timer update again.
	if want == 0 || e.armed != 0 && e.armed <= want {
		return false // fires early; Expired re-arms
	}
	e.armed = want
	return true
}

// PerWait records a timeout per wait instead of a deadline: none while the
// I/O goes on without waiting, d from when it starts to wait, which the
// caller arms then (WaitsFor, NextNano) and asks for again after. A
// request body's timeout between two reads is one: most reads find their
// bytes, and need neither a clock reading nor a deadline.
func (e *Early) PerWait(d time.Duration) { e.want = -int64(d) << 1 }

// FirstWait records a timeout that starts at the first wait, as PerWait's
// does, and then stays that wait's deadline, which the caller arms and
// does not ask again: a request head's, which nearly always comes whole
// with its first byte and then needs no deadline at all.
func (e *Early) FirstWait(d time.Duration) {
	e.want = 0
	if d > 0 {
		e.want = -(int64(d)<<1 | 1)
	}
}

// WaitsFor reports the timeout that PerWait or FirstWait recorded, if that
// is what is asked for now, and whether it was FirstWait's. (Either is
// kept as its negated count, doubled, plus one for FirstWait.)
func (e *Early) WaitsFor() (d time.Duration, first, ok bool) {
	if e.want < 0 {
		return time.Duration(-e.want >> 1), -e.want&1 == 1, true
	}
	return 0, false, false
}

// Expired is called after an I/O failed on the armed deadline: it reports
// whether the wanted one is still ahead, and then the deadline to arm
// before retrying. A timeout per wait is no deadline until a wait starts.
func (e *Early) Expired(now time.Time) (time.Time, bool) {
	n := unixNano(now)
	if e.want > 0 && e.want <= n {
		return time.Time{}, false
	}
	if e.want <= 0 {
		e.armed = 0
		return time.Time{}, true
	}
	e.armed = e.want
	// Counted from now, the deadline keeps now's monotonic clock reading:
	// the runtime's time.Until then takes its short way.
	return now.Add(time.Duration(e.want - n)), true
}

// Armed records a deadline set exactly on the connection itself.
func (e *Early) Armed(t time.Time) { e.armed = unixNano(t); e.want = e.armed }

// WantNano is the deadline last asked for in Unix nanoseconds, 0 for
// none (or a timeout per wait).
func (e *Early) WantNano() int64 { return max(e.want, 0) }

// unixNano is t in Unix nanoseconds, 0 for the zero time. The few times
// that a count cannot tell apart are moved, each the way that keeps its
// meaning as a deadline: the epoch and times before 1970 (long past) to
// 1 ns after it, times after 2262 (as good as never) to the latest count.
func unixNano(t time.Time) int64 {
	sec := t.Unix()
	switch {
	case uint64(sec) < math.MaxInt64/uint64(time.Second):
		return max(sec*int64(time.Second)+int64(t.Nanosecond()), 1)
	case t.IsZero():
		return 0
	case sec < 0:
		return 1
	}
	return math.MaxInt64
}
