package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/pool"
)

// Store keeps the admin's state where every instance of a fleet sees it
// (fleet mode, docs/fleet.md); package fleet implements it over etcd. With
// a Store, every accepted change is saved there instead of the state file,
// the ETag of a balancer and of its members is the revision of its record,
// and changes saved by other instances arrive through ApplyRecord.
type Store interface {
	// Save replaces balancer's record by rec if the stored one is still at
	// revision rev (0: none is stored) and returns the new revision. It
	// fails with a *StaleError when another revision is stored, and with an
	// error wrapping ErrUnavailable when the store did not answer in time.
	Save(ctx context.Context, balancer string, rec []byte, rev int64) (int64, error)
	// Status says how this instance stands with the store.
	Status() StoreStatus
}

// StoreStatus is shown in GET /api/balancers.
type StoreStatus struct {
	// Instance is this instance's name in the fleet ("" until it is known).
	Instance string
	// Connected: the store answers. Synced: its state was loaded at least
	// once, so changes can be saved.
	Connected, Synced bool
}

// ErrUnavailable is the store not answering: nothing was changed here.
var ErrUnavailable = errors.New("fleet store unavailable")

// StaleError is a Save against a record that another change replaced.
type StaleError struct{ Rev int64 }

func (e *StaleError) Error() string {
	return "the balancer's record is at revision " + strconv.FormatInt(e.Rev, 10)
}

// Record is one balancer's saved state at a store revision.
type Record struct {
	Balancer string
	Data     []byte
	Rev      int64
}

// sharedFlags are the status bits a fleet shares, the ones an ETag covers:
// the admin's less C, which each instance's own health checks set (they see
// the network from their own place).
const sharedFlags = etagFlags

// fleetState is what the admin knows of the fleet. recs change under the
// admin lock; mu lets GETs read them without it, and guards peers, which
// the watch sets.
type fleetState struct {
	store Store
	mu    sync.RWMutex
	// recs are the newest records applied or saved, by balancer.
	recs map[string]fleetRecord
	// applied is the highest revision applied or saved, deletions
	// included: how far this instance has followed the fleet's changes.
	applied int64
	// peers are the health views the instances publish, by instance.
	peers map[string]*instanceJSON
}

type fleetRecord struct {
	// rec is the newest record that could be read; nil when none could.
	rec *stateBalancer
	rev int64
}

func newFleetState(s Store) *fleetState {
	return &fleetState{store: s, recs: make(map[string]fleetRecord), peers: make(map[string]*instanceJSON)}
}

// rev is the revision of balancer's record; 0 when none is stored.
func (f *fleetState) rev(balancer string) int64 {
	return f.get(balancer).rev
}

func (f *fleetState) get(balancer string) fleetRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.recs[balancer]
}

func (f *fleetState) set(balancer string, r fleetRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[balancer] = r
	f.applied = max(f.applied, r.rev)
}

// setRev gives balancer's record, kept as it is, revision rev: that of a
// record that could not be read, which the next change must replace.
func (f *fleetState) setRev(balancer string, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.recs[balancer]
	r.rev = rev
	f.recs[balancer] = r
	f.applied = max(f.applied, rev)
}

// drop forgets balancer's record, deleted at revision rev (0: unknown).
func (f *fleetState) drop(balancer string, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, balancer)
	f.applied = max(f.applied, rev)
}

// records is a copy of recs.
func (f *fleetState) records() map[string]fleetRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.recs)
}

// newest is how far this instance has followed the fleet's changes.
func (f *fleetState) newest() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

func revTag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// share saves e's record after the change to snap (after gives each
// member's status bits) in the fleet store, on condition that the stored
// record is still the one this instance applied. It answers the request
// itself on error: 412 when another instance changed the balancer since
// (409 for If-Match: *, which only this instance's view had matched), 503
// when the store does not answer.
func (a *Admin) share(ctx *fasthttp.RequestCtx, e *Entry, snap *pool.Snapshot, after func(*pool.Member) pool.Flags) bool {
	name := e.Bal.Name
	r := record(snap.Config, e.Configured, snap.Members, func(m *pool.Member) pool.Flags { return after(m) & sharedFlags })
	data, err := json.Marshal(r)
	if err != nil {
		fail(ctx, fasthttp.StatusInternalServerError, "nothing changed: cannot encode the record")
		return false
	}
	rev, err := a.fleet.store.Save(context.Background(), name, data, a.fleet.rev(name))
	var stale *StaleError
	switch {
	case errors.As(err, &stale):
		ctx.Response.Header.Set("ETag", revTag(stale.Rev))
		if strings.TrimSpace(string(anycase.Request(&ctx.Request.Header, "If-Match"))) == "*" {
			fail(ctx, fasthttp.StatusConflict, "balancer://"+name+" changed on another instance at the same time: nothing changed; retry")
		} else {
			fail(ctx, fasthttp.StatusPreconditionFailed, "the resource changed since that ETag (on another instance): GET it again")
		}
		return false
	case err != nil:
		a.log.Warn("admin: fleet store unavailable; change refused", "balancer", name, "err", err)
		fail(ctx, fasthttp.StatusServiceUnavailable, "fleet store unavailable: nothing changed")
		return false
	}
	a.fleet.set(name, fleetRecord{rec: &r, rev: rev})
	return true
}

// ApplyRecord makes a record saved by another instance live: the balancer
// is rebuilt from its configuration overridden by the record (nil data: the
// record was deleted at revision rev, back to the configuration) and
// swapped in as a local change is. Changes not newer than the record
// applied are ignored; a record for a balancer this instance does not have
// is kept for later reloads.
func (a *Admin) ApplyRecord(balancer string, data []byte, rev int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applyRecord(Record{Balancer: balancer, Data: data, Rev: rev})
}

// Reset replaces every record by recs, the whole stored state at one
// revision (at start, and after the store compacted past this instance):
// balancers without a record go back to their configuration. peers are the
// instances' health views.
func (a *Admin) Reset(recs []Record, peers map[string][]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fleet
	f.mu.RLock()
	var gone []string
	for name := range f.recs {
		if !slices.ContainsFunc(recs, func(r Record) bool { return r.Balancer == name }) {
			gone = append(gone, name)
		}
	}
	f.mu.RUnlock()
	for _, name := range gone {
		a.applyRecord(Record{Balancer: name})
	}
	for _, r := range recs {
		if r.Rev != f.rev(r.Balancer) {
			a.applyRecord(r)
		}
	}
	f.mu.Lock()
	clear(f.peers)
	f.mu.Unlock()
	for id, data := range peers {
		a.SetPeer(id, data)
	}
}

// applyRecord is ApplyRecord under the admin lock.
func (a *Admin) applyRecord(r Record) {
	f := a.fleet
	if r.Rev != 0 && r.Rev <= f.rev(r.Balancer) {
		return
	}
	var rec *stateBalancer
	if r.Data == nil {
		f.drop(r.Balancer, r.Rev)
	} else {
		var err error
		if rec, err = readRecord(r.Balancer, r.Data); err != nil {
			a.log.Error("fleet: cannot read a balancer record; the balancer is unchanged until the next change replaces it", "balancer", r.Balancer, "revision", r.Rev, "err", err)
			// Its revision is what the next change must replace, or
			// every save would be refused as stale.
			f.setRev(r.Balancer, r.Rev)
			return
		}
		f.set(r.Balancer, fleetRecord{rec: rec, rev: r.Rev})
	}
	if a.opts.Live == nil {
		return
	}
	sc := a.opts.Live()
	e := sc.find(r.Balancer)
	if e == nil {
		a.log.Warn("fleet: a record names a balancer this configuration does not have; kept", "balancer", r.Balancer)
		return
	}
	p, snap, err := recordPlan(sc, e, rec)
	if err != nil {
		a.log.Error("fleet: cannot apply a balancer record; the balancer is unchanged", "balancer", r.Balancer, "revision", r.Rev, "err", err)
		return
	}
	a.keepRemoving(p, snap)
	a.apply(p, snap)
	a.log.Info("fleet change applied", "balancer", r.Balancer, "revision", r.Rev)
}

// readRecord decodes balancer's record. A field this version does not know
// is dropped, not refused: during a rolling upgrade a newer instance may
// write one, and every field applied is checked (fleetConfig).
func readRecord(balancer string, data []byte) (*stateBalancer, error) {
	rec := new(stateBalancer)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, err
	}
	if rec.Name != balancer {
		return nil, fmt.Errorf("it names balancer %q", rec.Name)
	}
	return rec, nil
}

// instanceJSON is what an instance publishes about itself: how far it
// followed the fleet's changes, and its members' health as it sees them.
type instanceJSON struct {
	Revision  int64                                  `json:"revision"`
	Balancers map[string]map[string]memberHealthJSON `json:"balancers"`
}

// memberHealthJSON is one instance's view of a member.
type memberHealthJSON struct {
	OperationalState string `json:"operational_state"`
	Flags            string `json:"flags"`
	// Why is the last failed probe's reason while the member is down.
	Why string `json:"why,omitempty"`
}

// instanceHealthJSON is a member's health as one instance sees it, in GET.
type instanceHealthJSON struct {
	Instance string `json:"instance"`
	memberHealthJSON
}

// SetPeer records the health view instance published; nil data: it left.
func (a *Admin) SetPeer(instance string, data []byte) {
	var v *instanceJSON
	if data != nil {
		v = new(instanceJSON)
		if err := json.Unmarshal(data, v); err != nil {
			a.log.Warn("fleet: cannot read an instance's health view; ignored", "instance", instance, "err", err)
			return
		}
	}
	f := a.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if v == nil {
		delete(f.peers, instance)
		return
	}
	f.peers[instance] = v
}

// HealthRecord is this instance's health view, for the fleet to publish.
func (a *Admin) HealthRecord() []byte {
	v := instanceJSON{Revision: a.fleet.newest(), Balancers: map[string]map[string]memberHealthJSON{}}
	if a.opts.Live != nil {
		for _, e := range a.opts.Live().Entries {
			ms := map[string]memberHealthJSON{}
			for _, m := range e.Bal.Load().Members {
				ms[m.Name] = a.memberHealth(m)
			}
			v.Balancers[e.Bal.Name] = ms
		}
	}
	b, _ := json.Marshal(v) // maps of strings cannot fail; keys come out sorted
	return b
}

func (a *Admin) memberHealth(m *pool.Member) memberHealthJSON {
	f := m.State.Flags()
	h := memberHealthJSON{OperationalState: operationalState(f), Flags: flagLetters(f)}
	if h.OperationalState == "down" && a.opts.Health != nil {
		if hc, ok := a.opts.Health(m.ID); ok && len(hc.History) > 0 {
			if p := hc.History[len(hc.History)-1]; !p.OK {
				h.Why = p.Why
			}
		}
	}
	return h
}

// fleetView is every instance's view of member m of balancer, this one's
// first; nil outside fleet mode.
func (a *Admin) fleetView(balancer string, m *pool.Member) []instanceHealthJSON {
	if a.fleet == nil {
		return nil
	}
	self := a.fleet.store.Status().Instance
	out := []instanceHealthJSON{{Instance: self, memberHealthJSON: a.memberHealth(m)}}
	a.fleet.mu.RLock()
	defer a.fleet.mu.RUnlock()
	ids := make([]string, 0, len(a.fleet.peers))
	for id := range a.fleet.peers {
		if id != self {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if h, ok := a.fleet.peers[id].Balancers[balancer][m.Name]; ok {
			out = append(out, instanceHealthJSON{Instance: id, memberHealthJSON: h})
		}
	}
	return out
}

// fleetJSON is the fleet part of GET /api/balancers.
type fleetJSON struct {
	Instance  string `json:"instance"`
	Connected bool   `json:"connected"`
	Synced    bool   `json:"synced"`
	// Revision is the highest revision of a balancer record (or of its
	// deletion) this instance applied.
	Revision  int64             `json:"revision"`
	Instances []fleetMemberJSON `json:"instances"`
}

// fleetMemberJSON is an instance of the fleet and how far it followed.
type fleetMemberJSON struct {
	Instance string `json:"instance"`
	Revision int64  `json:"revision"`
}

func (a *Admin) fleetSummary() *fleetJSON {
	if a.fleet == nil {
		return nil
	}
	st := a.fleet.store.Status()
	v := &fleetJSON{Instance: st.Instance, Connected: st.Connected, Synced: st.Synced, Revision: a.fleet.newest()}
	v.Instances = append(v.Instances, fleetMemberJSON{Instance: st.Instance, Revision: v.Revision})
	a.fleet.mu.RLock()
	for id, p := range a.fleet.peers {
		if id != st.Instance {
			v.Instances = append(v.Instances, fleetMemberJSON{Instance: id, Revision: p.Revision})
		}
	}
	a.fleet.mu.RUnlock()
	slices.SortFunc(v.Instances[1:], func(x, y fleetMemberJSON) int { return cmp.Compare(x.Instance, y.Instance) })
	return v
}
