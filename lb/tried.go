package lb

// Tried is the set of members one request has already been sent to, so
// that failover never picks the same member twice. Its zero value is empty;
// it lives on the request's stack and is never shared between goroutines.
//
// Indexes below TriedExact are kept exactly in a bitset. Larger ones go to
// a small ring holding the last len(over) of them; a request that fails
// over through more members than that forgets the oldest, which then stays
// excluded only through its E flag, as in Apache (which has no such set).
type Tried struct {
	bits [TriedExact / 64]uint64
	over [16]int32
	n    uint32 // large indexes ever added; over[n%len(over)] is the next slot
}

// TriedExact is how many leading member indexes Tried tracks exactly
// whatever the number of attempts.
const TriedExact = 256

// Add records member index i. Adding to a nil Tried does nothing.
func (t *Tried) Add(i int) {
	if t == nil {
		return
	}
	if i < TriedExact {
		t.bits[i>>6] |= 1 << (i & 63)
		return
	}
	if t.Has(i) {
		return
	}
	t.over[t.n%uint32(len(t.over))] = int32(i)
	t.n++
}

// Has reports whether member index i was added. A nil Tried is empty.
func (t *Tried) Has(i int) bool {
	if t == nil {
		return false
	}
	if i < TriedExact {
		return t.bits[i>>6]&(1<<(i&63)) != 0
	}
	for _, j := range t.over[:min(t.n, uint32(len(t.over)))] {
		if int(j) == i {
			return true
		}
	}
	return false
}

// Reset empties the set for reuse by another request.
func (t *Tried) Reset() { *t = Tried{} }
