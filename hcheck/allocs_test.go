//go:build !race

package hcheck

import (
	"context"
	"testing"
	"time"
)

func TestSchedulerTickDoesNotAllocate(t *testing.T) {
	c, _ := idleChecker(t, 100)
	ctx := context.Background()
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second + time.Millisecond)
		c.dispatch(ctx, now)
		c.dispatch(ctx, now) // nothing due
	})
	if allocs != 0 {
		t.Fatalf("scheduler tick: %v allocs, want 0", allocs)
	}
	if c.running != 0 {
		t.Fatalf("stopped members were checked")
	}
}

func TestRecordPassiveDoesNotAllocate(t *testing.T) {
	c, m := idleChecker(t, 1)
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		c.RecordPassive(m.ID, now, 503, "failonstatus")
	})
	if allocs != 0 {
		t.Fatalf("RecordPassive: %v allocs, want 0", allocs)
	}
}
