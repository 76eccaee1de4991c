package lb

import (
	"fmt"
	"testing"
)

// BenchmarkPick measures one attempt (Pick then Done) per method and
// balancer size, from parallel goroutines sharing one snapshot.
func BenchmarkPick(b *testing.B) {
	for _, mname := range []string{"byrequests", "bytraffic", "bybusyness"} {
		for _, n := range []int{2, 8, 64} {
			b.Run(fmt.Sprintf("%s/%d", mname, n), func(b *testing.B) {
				specs := make([]string, n)
				for i := range specs {
					specs[i] = fmt.Sprintf("B%d lf=%d", i, 1+i%3)
				}
				s := snap(b, specs...)
				m := method(b, mname)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var tr Tried
						Done(Pick(s, m, t0, &tr), 300, 1200)
					}
				})
			})
		}
	}
}

// BenchmarkSticky measures a sticky request: route extraction, lookup and
// election.
func BenchmarkSticky(b *testing.B) {
	specs := make([]string, 8)
	for i := range specs {
		specs[i] = fmt.Sprintf("B%d route=r%d", i, i)
	}
	s := snap(b, specs...)
	s.Config.StickyCookie, s.Config.StickyURLParam = "ROUTEID", "routeid"
	path, query := []byte("/app/page"), []byte("a=1&b=2")
	cookie := []byte("theme=dark; ROUTEID=5f2c9a.r6; lang=en")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var tr Tried
			route, _ := StickyRoute(s, path, query, cookie)
			mb := FindRouteMember(s, route, t0, &tr)
			ElectRoute(s, mb, &tr)
			Done(mb, 300, 1200)
		}
	})
}
