package deadline

import (
	"testing"
	"time"
)

func TestLazy(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var l Lazy
	// The first deadline is armed, with an eighth of the timeout as slack.
	at, ok := l.Next(t0.Add(8*time.Second), t0)
	if !ok || !at.Equal(t0.Add(9*time.Second)) {
		t.Fatalf("first: %v %v, want armed at +9s", at, ok)
	}
	// Within the slack nothing is re-armed: the armed deadline is at most
	// the slack later than asked, never earlier.
	for _, d := range []time.Duration{0, time.Millisecond, 500 * time.Millisecond, time.Second} {
		now := t0.Add(d)
		if at, ok := l.Next(now.Add(8*time.Second), now); ok {
			t.Fatalf("after %v: re-armed at %v", d, at)
		}
	}
	// Past the slack it is.
	now := t0.Add(1001 * time.Millisecond)
	if at, ok := l.Next(now.Add(8*time.Second), now); !ok || at.Before(now.Add(8*time.Second)) {
		t.Fatalf("past slack: %v %v", at, ok)
	}
	// A shorter timeout (an earlier deadline) is armed at once.
	if at, ok := l.Next(now.Add(time.Second), now); !ok || !at.Equal(now.Add(time.Second+time.Second/8)) {
		t.Fatalf("earlier: %v %v", at, ok)
	}
	// A deadline in the past is armed exactly.
	past := now.Add(-time.Second)
	if at, ok := l.Next(past, now); !ok || !at.Equal(past) {
		t.Fatalf("past: %v %v", at, ok)
	}
	// No deadline: armed once, then nothing to do.
	if _, ok := l.Next(time.Time{}, now); !ok {
		t.Fatal("zero not armed")
	}
	if _, ok := l.Next(time.Time{}, now); ok {
		t.Fatal("zero armed twice")
	}
}

func TestLazySlackBound(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var l Lazy
	at, _ := l.Next(t0.Add(time.Hour), t0)
	if late := at.Sub(t0.Add(time.Hour)); late != maxSlack {
		t.Fatalf("slack %v, want %v", late, maxSlack)
	}
}

func TestLazyArmed(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var l Lazy
	l.Next(t0.Add(8*time.Second), t0)
	// The caller cleared the deadline itself: the next one must be armed.
	l.Armed(time.Time{})
	if _, ok := l.Next(t0.Add(8*time.Second), t0); !ok {
		t.Fatal("not re-armed after Armed(zero)")
	}
}

func TestEarly(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var e Early
	// fasthttp's pattern: header timeout, then idle, then header again.
	if at, ok := e.Next(t0.Add(30 * time.Second)); !ok || !at.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("first: %v %v", at, ok)
	}
	now := t0.Add(time.Second)
	if _, ok := e.Next(now.Add(75 * time.Second)); ok {
		t.Fatal("a later deadline was armed")
	}
	now = now.Add(time.Second)
	if _, ok := e.Next(now.Add(30 * time.Second)); ok {
		t.Fatal("a later deadline was armed")
	}
	// The early one fires: the wanted one is still ahead, so it is armed.
	fired := t0.Add(30 * time.Second)
	if at, ok := e.Expired(fired); !ok || !at.Equal(now.Add(30*time.Second)) {
		t.Fatalf("expired early: %v %v", at, ok)
	}
	// Past the wanted deadline the timeout is real.
	if _, ok := e.Expired(now.Add(31 * time.Second)); ok {
		t.Fatal("a real timeout was retried")
	}
	// An earlier deadline is armed at once.
	if at, ok := e.Next(now.Add(time.Second)); !ok || !at.Equal(now.Add(time.Second)) {
		t.Fatalf("earlier: %v %v", at, ok)
	}
	// A later one rides even on an armed deadline that has passed: the
	// I/O fails on it at once, and Expired arms the one wanted.
	later := now.Add(2 * time.Second)
	if _, ok := e.Next(later.Add(30 * time.Second)); ok {
		t.Fatal("a later deadline was armed")
	}
	if at, ok := e.Expired(later); !ok || !at.Equal(later.Add(30*time.Second)) {
		t.Fatalf("expired before: %v %v", at, ok)
	}
	// No deadline rides too: the armed one clears when it fires.
	if _, ok := e.Next(time.Time{}); ok {
		t.Fatal("no deadline was armed at once")
	}
	if at, ok := e.Expired(later.Add(time.Minute)); !ok || !at.IsZero() {
		t.Fatalf("expired with none wanted: %v %v", at, ok)
	}
	if _, ok := e.Next(time.Time{}); ok {
		t.Fatal("no deadline armed twice")
	}
	if at, ok := e.Next(later.Add(time.Minute)); !ok || !at.Equal(later.Add(time.Minute)) {
		t.Fatalf("after a clear: %v %v", at, ok)
	}
	// Exact deadlines set by the caller count as armed and wanted.
	e.Armed(later.Add(time.Second))
	if _, ok := e.Expired(later.Add(2 * time.Second)); ok {
		t.Fatal("an exact deadline was retried after it passed")
	}
}

// TestEarlyPerWait: a timeout per wait is no deadline until the caller
// arms one as a wait starts; the armed one that fires meanwhile clears.
func TestEarlyPerWait(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var e Early
	if _, ok := e.Next(t0.Add(30 * time.Second)); !ok {
		t.Fatal("the head's deadline was not armed")
	}
	e.PerWait(time.Minute)
	if d, first, ok := e.WaitsFor(); !ok || first || d != time.Minute {
		t.Fatalf("WaitsFor: %v %v %v, want 1m per wait", d, first, ok)
	}
	if w := e.WantNano(); w != 0 {
		t.Fatalf("WantNano under a timeout per wait: %d, want 0", w)
	}
	// The head's deadline fires during the body: no deadline until a wait.
	if at, ok := e.Expired(t0.Add(30 * time.Second)); !ok || !at.IsZero() {
		t.Fatalf("expired under a timeout per wait: %v %v, want it cleared", at, ok)
	}
	// A wait starts: d from now is armed (nothing is), and is real.
	now := t0.Add(40 * time.Second)
	if !e.NextNano(now.Add(time.Minute).UnixNano()) {
		t.Fatal("a wait's deadline was not armed")
	}
	if _, _, ok := e.WaitsFor(); ok {
		t.Fatal("a wait's deadline still reads as a timeout per wait")
	}
	if _, ok := e.Expired(now.Add(time.Minute)); ok {
		t.Fatal("a wait past its timeout was retried")
	}
	// What the wait armed stays armed: a later deadline rides on it.
	e.PerWait(time.Minute)
	if _, ok := e.Next(now.Add(2 * time.Minute)); ok {
		t.Fatal("a later deadline than the wait's was armed")
	}
	if at, ok := e.Expired(now.Add(time.Minute)); !ok || !at.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("the wait's deadline fired: %v %v, want the later one armed", at, ok)
	}
}

// TestEarlyFirstWait: a timeout from the first wait reads as such until
// the caller arms it; a zero one is no deadline at all.
func TestEarlyFirstWait(t *testing.T) {
	var e Early
	e.FirstWait(30 * time.Second)
	if d, first, ok := e.WaitsFor(); !ok || !first || d != 30*time.Second {
		t.Fatalf("WaitsFor: %v %v %v, want 30s from the first wait", d, first, ok)
	}
	if w := e.WantNano(); w != 0 {
		t.Fatalf("WantNano before the first wait: %d, want 0", w)
	}
	for _, set := range []func(time.Duration){e.FirstWait, e.PerWait} {
		set(0)
		if _, _, ok := e.WaitsFor(); ok || e.WantNano() != 0 {
			t.Fatal("a zero timeout reads as one")
		}
	}
}

// TestEarlyExtremes holds the times a count of nanoseconds cannot tell
// apart to their meaning as deadlines.
func TestEarlyExtremes(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name string
		at   time.Time
		past bool
	}{
		{"epoch", time.Unix(0, 0), true},
		{"before 1970", time.Unix(-5, 0), true},
		{"year 1", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), true},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"a minute ahead", now.Add(time.Minute), false},
	} {
		var e Early
		if _, ok := e.Next(tc.at); !ok {
			t.Errorf("%s: not armed, as if no deadline", tc.name)
		}
		if e.WantNano() == 0 {
			t.Errorf("%s: wanted reads as no deadline", tc.name)
		}
		if _, ok := e.Expired(now); ok == tc.past {
			t.Errorf("%s: retried %v after it fired at %v", tc.name, ok, now)
		}
		// An earlier deadline is armed, a later one rides (even on one
		// that has passed: the I/O fails at once and Expired re-arms).
		hour := now.Add(time.Hour)
		if _, ok := e.Next(hour); ok != tc.at.After(hour) {
			t.Errorf("%s: a deadline an hour ahead armed %v", tc.name, ok)
		}
	}
}
