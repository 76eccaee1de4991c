package pool

import (
	"sync/atomic"

	"github.com/sluiceproxy/sluice/config"
)

// Snapshot is an immutable view of a balancer's members and parameters.
// Readers load it once per request and never lock; writers (reload, admin)
// build a whole new Snapshot and Store it.
type Snapshot struct {
	// Config is the balancer as configured (or as the admin last changed it).
	Config *config.Balancer
	// Members in config order; Members[i].Index == i.
	Members []*Member
	// Names are the members' worker URLs, in the same order.
	Names []string
	// MaxAttempts is the number of extra attempts after the first
	// (Apache's default: members-1, 0 for a single member).
	MaxAttempts int
	// Proto is what the members speak (config validation keeps a
	// balancer's members to one protocol).
	Proto Protocol
}

// Balancer is a balancer://name group. The snapshot pointer is the only
// mutable field; it is safe for concurrent use.
type Balancer struct {
	Name string // its config.Balancer.ID: "mycluster", or "mycluster@host"
	snap atomic.Pointer[Snapshot]
}

// NewBalancer returns a balancer serving s.
func NewBalancer(name string, s *Snapshot) *Balancer {
	b := &Balancer{Name: name}
	b.snap.Store(s)
	return b
}

// Load returns the current snapshot.
func (b *Balancer) Load() *Snapshot { return b.snap.Load() }

// Store swaps in a new snapshot.
func (b *Balancer) Store(s *Snapshot) { b.snap.Store(s) }

// NewSnapshot builds a balancer snapshot from its config, taking member
// state from reg.
func NewSnapshot(reg *Registry, bc *config.Balancer) (*Snapshot, error) {
	s := &Snapshot{Config: bc, Members: make([]*Member, 0, len(bc.Members))}
	for i, mc := range bc.Members {
		m, err := NewMember(reg, bc.ID(), mc.URL, mc.Params, false)
		if err != nil {
			return nil, err
		}
		m.Index = i
		s.Members = append(s.Members, m)
		s.Names = append(s.Names, m.Name)
		s.Proto = m.Proto
	}
	switch {
	case bc.MaxAttempts != nil:
		s.MaxAttempts = *bc.MaxAttempts
	case len(s.Members) > 1:
		s.MaxAttempts = len(s.Members) - 1
	}
	return s, nil
}
