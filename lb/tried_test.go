package lb

import "testing"

func TestTried(t *testing.T) {
	var tr Tried
	for _, i := range []int{0, 63, 64, 255} {
		if tr.Has(i) {
			t.Fatalf("empty set has %d", i)
		}
		tr.Add(i)
	}
	for i := range TriedExact {
		want := i == 0 || i == 63 || i == 64 || i == 255
		if tr.Has(i) != want {
			t.Fatalf("Has(%d) = %v, want %v", i, !want, want)
		}
	}
	// Large indexes: exact for the last len(over), the oldest forgotten.
	n := len(tr.over)
	for i := range n + 1 {
		tr.Add(1000 + i)
		tr.Add(1000 + i) // adding twice does not use a slot
	}
	if tr.Has(1000) {
		t.Error("the oldest large index was not forgotten")
	}
	for i := 1; i <= n; i++ {
		if !tr.Has(1000 + i) {
			t.Errorf("large index %d forgotten", 1000+i)
		}
	}
	if tr.Has(999) || !tr.Has(255) {
		t.Error("large indexes disturbed the bitset")
	}
	tr.Reset()
	if tr.Has(0) || tr.Has(1005) {
		t.Error("Reset left members")
	}
	var nilSet *Tried
	nilSet.Add(3)
	if nilSet.Has(3) {
		t.Error("nil set has a member")
	}
}

func TestPickWithManyMembers(t *testing.T) {
	// Failover over more than TriedExact members never repeats one while
	// the ring still remembers it.
	specs := make([]string, TriedExact+10)
	for i := range specs {
		specs[i] = "M" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	s := snap(t, specs...)
	var tr Tried
	seen := map[int]bool{}
	for range len(specs) {
		mb := Pick(s, method(t, "byrequests"), t0, &tr)
		if mb == nil || seen[mb.Index] {
			t.Fatalf("picked %v twice or none", name(mb))
		}
		seen[mb.Index] = true
	}
	if mb := Pick(s, method(t, "byrequests"), t0, &tr); mb != nil {
		t.Fatalf("all tried but picked %s", name(mb))
	}
}
