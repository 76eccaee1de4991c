package hcheck

import (
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// outcome is what one probe found.
type outcome struct {
	ok     bool
	status int
	why    string
}

// apply counts a check's outcome against the thresholds and changes the
// member's flags on a transition. Streaks are consecutive, as Apache's
// documentation says (Apache's code counts cumulatively; see
// docs/health.md):
//
//	down (C or E set): a pass extends the pass streak; at hcpasses C and E
//	                   are cleared (E too, as Apache 2.4.55+). A failure
//	                   ends the streak.
//	up:                a failure extends the fail streak; at hcfails C is
//	                   set. A pass ends the streak.
//
// c.mu is held.
func (c *Checker) apply(e *entry, out outcome, start time.Time, latency time.Duration) Probe {
	pr := Probe{Time: start, OK: out.ok, Status: out.status, Latency: latency, Why: out.why}
	st := e.member.State
	down := st.Flags()&(pool.FlagHCFail|pool.FlagError) != 0
	e.checks++
	c.stats.Checks++
	if out.ok {
		c.stats.Passed++
		e.failStreak = 0
		if !down {
			e.passStreak = 0
		} else if e.passStreak++; e.passStreak >= e.plan.passes {
			st.ClearFlags(pool.FlagHCFail | pool.FlagError)
			e.passStreak = 0
			pr.Change = Up
			c.stats.Up++
			c.log.Info("health check passed, member enabled", "member", e.id, "passes", e.plan.passes)
		}
	} else {
		c.stats.Failed++
		e.passStreak = 0
		if down {
			e.failStreak = 0
		} else if e.failStreak++; e.failStreak >= e.plan.fails {
			st.SetFlags(pool.FlagHCFail)
			e.failStreak = 0
			pr.Change = Down
			c.stats.Down++
			c.log.Warn("health check failed, member disabled", "member", e.id, "fails", e.plan.fails, "why", out.why)
		}
	}
	e.hist.add(pr)
	return pr
}
