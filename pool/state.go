package pool

import (
	"sync/atomic"
	"time"
)

// noCopy makes `go vet` report copies of the structs that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// State is a member's hot, mutable state. It is keyed by member identity
// (balancer name and worker URL) and survives snapshot swaps and reloads,
// so counters and error state are kept when the configuration changes.
//
// All methods are safe for concurrent use. A State must not be copied.
type State struct {
	_ noCopy

	flags atomic.Uint32
	// configured is the flag set the config asked for at the last build.
	configured atomic.Uint32

	// LBStatus is byrequests' running score (Apache's lbstatus).
	LBStatus atomic.Int64
	// Busy is the number of requests in flight (Apache's busy).
	Busy atomic.Int64
	// Elected counts how many times the member was chosen.
	Elected atomic.Uint64
	// Transferred counts bytes sent to the member (request line, headers, body).
	Transferred atomic.Uint64
	// Read counts bytes read from the member (status line and body).
	Read atomic.Uint64
	// ErrorTime is when E was last set, in Unix nanoseconds.
	ErrorTime atomic.Int64
	// Retries counts how often E was cleared to retry the member.
	Retries atomic.Uint64
	// Errors counts how often the member was put in error (E).
	Errors atomic.Uint64
	// loggedAt is when an error of the member was last logged (LogDue).
	loggedAt atomic.Int64
}

// LogDue reports whether an error of the member may be logged at now: the
// first, then at most one every interval. A balancer whose members are all
// down puts each back in error at every request (forcerecovery).
func (s *State) LogDue(now time.Time, every time.Duration) bool {
	last := s.loggedAt.Load()
	if last != 0 && now.UnixNano()-last < int64(every) {
		return false
	}
	return s.loggedAt.CompareAndSwap(last, now.UnixNano())
}

// Flags returns the current status bits.
func (s *State) Flags() Flags { return Flags(s.flags.Load()) }

// SetFlags sets the bits in b.
func (s *State) SetFlags(b Flags) { s.flags.Or(uint32(b)) }

// ClearFlags clears the bits in b.
func (s *State) ClearFlags(b Flags) { s.flags.And(^uint32(b)) }

// StoreFlags replaces every bit.
func (s *State) StoreFlags(f Flags) { s.flags.Store(uint32(f)) }

// Usable reports whether the member may be selected now.
func (s *State) Usable() bool { return s.Flags().Usable() }

// MarkError puts the member in error at now unless it has I. It reports
// whether E was set, and whether this call set it (the member was not in
// error before: worth a line in the log).
func (s *State) MarkError(now time.Time) (marked, entered bool) {
	if s.Flags()&FlagIgnoreErrors != 0 {
		return false, false
	}
	s.ErrorTime.Store(now.UnixNano())
	was := Flags(s.flags.Or(uint32(FlagError)))
	s.Errors.Add(1)
	return true, was&FlagError == 0
}

// MarkConnected records a successful connect: Apache resets error_time and
// retries then.
func (s *State) MarkConnected() {
	if s.ErrorTime.Load() != 0 {
		s.ErrorTime.Store(0)
	}
	if s.Retries.Load() != 0 {
		s.Retries.Store(0)
	}
}

// Retry is Apache's ap_proxy_retry_worker: a member without E is usable as
// far as E goes; one in E is given another chance (E cleared, Retries
// incremented) when it has I, or when retry has passed strictly since the
// error. S is never retried. It reports whether E is clear afterwards.
func (s *State) Retry(now time.Time, retry time.Duration) bool {
	f := s.Flags()
	if f&FlagError == 0 {
		return true
	}
	if f&FlagStopped != 0 {
		return false
	}
	if f&FlagIgnoreErrors != 0 || now.UnixNano() > s.ErrorTime.Load()+int64(retry) {
		s.Retries.Add(1)
		s.ClearFlags(FlagError)
		return true
	}
	return false
}
