package hcheck

import (
	"context"
	"testing"
	"time"
)

func BenchmarkSchedulerTick1000Idle(b *testing.B) {
	c, _ := idleChecker(b, 1000)
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second + time.Millisecond)
		c.dispatch(ctx, now)
	}
}

func BenchmarkRecordPassive(b *testing.B) {
	c, m := idleChecker(b, 1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c.RecordPassive(m.ID, now, 503, "failonstatus")
	}
}
