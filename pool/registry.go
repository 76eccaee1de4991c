package pool

import "sync"

// Registry hands out the State for a member identity, creating it on first
// use, so a member that survives a reload keeps its counters and flags.
// It is safe for concurrent use; it is only consulted when snapshots are
// built, never on the request path.
type Registry struct {
	mu     sync.Mutex
	states map[string]*State
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{states: make(map[string]*State)} }

// State returns the state for id. created is true when it did not exist;
// the caller then initialises its flags.
func (r *Registry) State(id string) (s *State, created bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.states[id]; ok {
		return s, false
	}
	s = new(State)
	r.states[id] = s
	return s, true
}

// Retain drops every state whose id is not in keep.
func (r *Registry) Retain(keep map[string]struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.states {
		if _, ok := keep[id]; !ok {
			delete(r.states, id)
		}
	}
}
