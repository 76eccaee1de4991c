package lb

import (
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// Recover is Apache's force_recovery (apache.md §4.5), run before every
// selection: if some member is out of E, or leaves it through State.Retry,
// nothing happens. Otherwise every member is in error and, when the
// balancer's forcerecovery is on (the default; a nil Config counts as on),
// E is cleared on all of them and each one's Retries is incremented, so the
// request tries the dead members again instead of failing at once.
//
// Pick and FindRouteMember call it; a second call in the same attempt finds
// a member without E and returns at once.
func Recover(s *pool.Snapshot, now time.Time) {
	for _, mb := range s.Members {
		if mb.State.Flags()&pool.FlagError == 0 || mb.State.Retry(now, mb.Retry) {
			return
		}
	}
	if s.Config != nil && !s.Config.ForceRecovery {
		return
	}
	for _, mb := range s.Members {
		mb.State.Retries.Add(1)
		mb.State.ClearFlags(pool.FlagError)
	}
}
