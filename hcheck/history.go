package hcheck

import "time"

// HistorySize is how many probes each member keeps.
const HistorySize = 16

// Probe is one health observation of a member.
type Probe struct {
	// Time is when the check started, or when the request path saw the
	// failure.
	Time time.Time
	// Passive marks a failure the request path reported (failonstatus,
	// failontimeout) rather than a check.
	Passive bool
	OK      bool
	// Status is the backend's HTTP status; 0 for TCP checks and when no
	// response came.
	Status  int
	Latency time.Duration // 0 for passive probes
	// Why says what failed: the connect or read error, the status outside
	// 200-399, or the part of the hcexpr that was false and the values it
	// saw. Empty when OK.
	Why string
	// Change is the state change this probe caused.
	Change Change
}

// Change is a health transition caused by a probe.
type Change uint8

// Transitions.
const (
	NoChange Change = iota
	Down            // C set after hcfails consecutive failures
	Up              // C and E cleared after hcpasses consecutive passes
)

func (c Change) String() string {
	switch c {
	case Down:
		return "down"
	case Up:
		return "up"
	}
	return ""
}

// history is a ring of the last HistorySize probes.
type history struct {
	buf [HistorySize]Probe
	n   uint64 // probes ever added
}

func (h *history) add(p Probe) {
	h.buf[h.n%HistorySize] = p
	h.n++
}

// list returns the probes oldest first, in a new slice.
func (h *history) list() []Probe {
	k := min(h.n, HistorySize)
	out := make([]Probe, 0, k)
	for i := h.n - k; i < h.n; i++ {
		out = append(out, h.buf[i%HistorySize])
	}
	return out
}
