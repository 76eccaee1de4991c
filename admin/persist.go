package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// StateFileName is the state file's name in the state directory.
const StateFileName = "balancers.state"

// stateMagic starts the state file's first line: "sluice-state v1 sha256=HEX".
const (
	stateMagic   = "sluice-state"
	stateVersion = "v1"
)

// stateDoc is what BalancerPersist keeps: every balancer the admin changed,
// as it was after the last accepted change.
type stateDoc struct {
	Balancers []stateBalancer `json:"balancers"`
}

type stateBalancer struct {
	Name           string        `json:"name"`
	LBMethod       string        `json:"lbmethod"`
	MaxAttempts    *int          `json:"maxattempts"`
	Timeout        string        `json:"timeout"`
	StickyCookie   string        `json:"sticky_cookie"`
	StickyURLParam string        `json:"sticky_urlparam"`
	NoFailover     bool          `json:"nofailover"`
	ForceRecovery  bool          `json:"forcerecovery"`
	Members        []stateMember `json:"members"`
	// Removed are configured members the admin deleted.
	Removed []string `json:"removed"`
}

type stateMember struct {
	URL        string  `json:"url"`
	LoadFactor float64 `json:"loadfactor"`
	LBSet      int     `json:"lbset"`
	Route      string  `json:"route"`
	Redirect   string  `json:"redirect"`
	// Flags are the admin's status letters (D S I H R N C) that are set.
	Flags string `json:"flags"`
	// Added marks a member the admin added, which a restore adds again; a
	// configured member the configuration no longer has is not brought
	// back (Apache drops the persisted state of a member whose URL
	// changed). Files written before it existed lack it: nil, added.
	Added *bool `json:"added,omitempty"`
}

// added reports whether the admin added rm (see Added).
func (rm *stateMember) added() bool { return rm.Added == nil || *rm.Added }

// loadState reads the state file once; a missing file is an empty state.
func (a *Admin) loadState() error {
	if a.loaded {
		return nil
	}
	doc, err := readState(a.opts.StateFile)
	if err != nil {
		if !a.opts.IgnoreState {
			return err
		}
		a.log.Warn("ignoring the state file (-ignore-state)", "err", err)
		doc = &stateDoc{}
	}
	a.state, a.loaded = doc, true
	return nil
}

// readState reads and checks a state file: the header, the version, the
// checksum over the body, and a strict decode of the body.
func readState(path string) (*stateDoc, error) {
	if path == "" {
		return &stateDoc{}, nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &stateDoc{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read state file %q: %w", path, err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("cannot trust state file %q: it is writable by others (mode %v; want 0600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read state file %q: %w", path, err)
	}
	head, body, ok := bytes.Cut(b, []byte("\n"))
	var magic, version, sum string
	if ok {
		_, err = fmt.Sscanf(string(head), "%s %s sha256=%s", &magic, &version, &sum)
	}
	switch {
	case !ok || err != nil || magic != stateMagic:
		return nil, fmt.Errorf("cannot load state file %q: not a sluice state file, or truncated (start it with -ignore-state to discard it)", path)
	case version != stateVersion:
		return nil, fmt.Errorf("cannot load state file %q: unknown version %q (this sluice reads %s; start it with -ignore-state to discard it)", path, version, stateVersion)
	}
	got := sha256.Sum256(body)
	if hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("cannot load state file %q: corrupt or truncated (checksum mismatch; start it with -ignore-state to discard it)", path)
	}
	doc := &stateDoc{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		return nil, fmt.Errorf("cannot load state file %q: corrupt: %v", path, err)
	}
	return doc, nil
}

// writeState replaces the state file atomically: a temporary file in the
// same directory, fsync, rename, fsync of the directory. A crash leaves the
// old file or the new one, never a torn one.
func writeState(path string, doc *stateDoc) error {
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode state: %w", err)
	}
	sum := sha256.Sum256(body)
	data := fmt.Appendf(nil, "%s %s sha256=%s\n", stateMagic, stateVersion, hex.EncodeToString(sum[:]))
	data = append(data, body...)

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create state directory %q: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot write state file %q: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("cannot write state file %q: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("cannot write state file %q: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("cannot sync state file %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write state file %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot replace state file %q: %w", path, err)
	}
	done = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync state directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync state directory %q: %w", dir, err)
	}
	return nil
}

// record is a balancer's state as persisted; flags gives each member's
// status bits after the change being saved.
func record(bc *config.Balancer, configured *config.Balancer, members []*pool.Member, flags func(*pool.Member) pool.Flags) stateBalancer {
	r := stateBalancer{
		Name: bc.ID(), LBMethod: bc.LBMethod, MaxAttempts: bc.MaxAttempts, Timeout: bc.Timeout.D().String(),
		StickyCookie: bc.StickyCookie, StickyURLParam: bc.StickyURLParam,
		NoFailover: bc.NoFailover, ForceRecovery: bc.ForceRecovery,
		Members: make([]stateMember, 0, len(members)), Removed: []string{},
	}
	for _, m := range members {
		added := configured == nil || !slices.ContainsFunc(configured.Members, func(cm *config.Member) bool { return cm.URL == m.Name })
		r.Members = append(r.Members, stateMember{
			URL: m.Name, LoadFactor: float64(m.LBFactor) / 100, LBSet: m.LBSet, Route: m.Route, Redirect: m.Redirect,
			Flags: flagLetters(flags(m) & adminFlags), Added: &added,
		})
	}
	if configured != nil {
		for _, cm := range configured.Members {
			if !slices.ContainsFunc(members, func(m *pool.Member) bool { return m.Name == cm.URL }) {
				r.Removed = append(r.Removed, cm.URL)
			}
		}
	}
	return r
}

// with returns a copy of d with r replacing the record of the same name.
func (d *stateDoc) with(r stateBalancer) *stateDoc {
	out := &stateDoc{Balancers: make([]stateBalancer, 0, len(d.Balancers)+1)}
	replaced := false
	for _, b := range d.Balancers {
		if b.Name == r.Name {
			b, replaced = r, true
		}
		out.Balancers = append(out.Balancers, b)
	}
	if !replaced {
		out.Balancers = append(out.Balancers, r)
	}
	return out
}

// applyRecord rebuilds e's balancer as bc, its current config overridden
// by r (recordConfig), as Apache restores its persisted shared memory over
// the config: the balancer settings, each member's settings and status,
// members the admin added, less those it removed. The status bits in mask
// are restored by flags.store, once every record has applied: member state
// is shared with the running configuration, which a failed restore must
// leave as it was.
func applyRecord(e *Entry, r *stateBalancer, bc *config.Balancer, build Builder, mask pool.Flags, flags *flagWrites) error {
	snap, err := build(bc)
	if err != nil {
		return err
	}
	for _, m := range snap.Members {
		f, ok, err := recordFlags(r, m.Name)
		if err != nil {
			return err
		}
		if ok {
			flags.add(m.State, mask, f)
		}
	}
	e.Bal.Store(snap)
	return nil
}

// flagWrites are status bits to store in members' state, in order.
type flagWrites []flagWrite

type flagWrite struct {
	state      *pool.State
	mask, bits pool.Flags
}

func (w *flagWrites) add(st *pool.State, mask, bits pool.Flags) {
	*w = append(*w, flagWrite{st, mask, bits & mask})
}

func (w flagWrites) store() {
	for _, f := range w {
		f.state.StoreFlags(f.state.Flags()&^f.mask | f.bits)
	}
}

// recordConfig is base overridden by r, validated.
func recordConfig(base *config.Balancer, r *stateBalancer) (*config.Balancer, error) {
	bc := cloneBalancer(base)
	bc.LBMethod, bc.MaxAttempts = r.LBMethod, r.MaxAttempts
	bc.StickyCookie, bc.StickyURLParam = r.StickyCookie, r.StickyURLParam
	if bc.StickyCookie == "" {
		// The admin cleared the sticky session, and sticky_set_cookie
		// with it (patchBalancer): without this the record fails
		// validation and the restart with it.
		bc.StickySetCookie = false
	}
	bc.NoFailover, bc.ForceRecovery = r.NoFailover, r.ForceRecovery
	t, err := time.ParseDuration(r.Timeout)
	if err != nil {
		return nil, fmt.Errorf("timeout %q: %w", r.Timeout, err)
	}
	bc.Timeout = config.Duration(t)
	kept := bc.Members[:0]
	for _, m := range bc.Members {
		if !slices.Contains(r.Removed, m.URL) {
			kept = append(kept, m)
		}
	}
	bc.Members = kept
	for _, rm := range r.Members {
		i := slices.IndexFunc(bc.Members, func(m *config.Member) bool { return m.URL == rm.URL })
		if i < 0 {
			if !rm.added() {
				continue // the configuration dropped it
			}
			bc.Members = append(bc.Members, &config.Member{Pos: bc.Pos, URL: rm.URL})
			i = len(bc.Members) - 1
		}
		p := &bc.Members[i].Params
		p.LoadFactor, p.LBSet, p.Route, p.Redirect = rm.LoadFactor, rm.LBSet, rm.Route, rm.Redirect
	}
	if err := config.ValidateBalancer(bc); err != nil {
		return nil, err
	}
	return bc, nil
}

// fleetConfig is recordConfig for a record from the fleet, which any
// client of etcd may have written: it is refused where the admin API would
// have refused the change (threats.md ADM-04): a locked balancer, settings
// out of the admin's ranges, a Unix domain socket or more members than
// growth allows. Settings as the configuration gives them are kept, in
// range or not.
func fleetConfig(sc *Scope, e *Entry, base *config.Balancer, r *stateBalancer) (*config.Balancer, error) {
	if err := locked(base); err != nil {
		return nil, err
	}
	if r.MaxAttempts != nil && (base.MaxAttempts == nil || *r.MaxAttempts != *base.MaxAttempts) {
		f := field{key: "maxattempts", raw: strconv.AppendInt(nil, int64(*r.MaxAttempts), 10)}
		if _, err := integer(f, 0, maxMaxAttempts); err != nil {
			return nil, err
		}
	}
	if r.Timeout != base.Timeout.D().String() {
		if _, err := duration(field{key: "timeout", raw: strconv.AppendQuote(nil, r.Timeout)}); err != nil {
			return nil, err
		}
	}
	bc, err := recordConfig(base, r)
	if err != nil {
		return nil, err
	}
	for _, m := range bc.Members {
		if !slices.ContainsFunc(base.Members, func(cm *config.Member) bool { return cm.URL == m.URL }) {
			if err := notSocket(m.URL); err != nil {
				return nil, err
			}
		}
	}
	if limit := maxMembers(sc, e); len(bc.Members) > limit {
		return nil, fmt.Errorf("balancer://%s would have %d members (growth allows %d)", e.Bal.Name, len(bc.Members), limit)
	}
	return bc, nil
}

// recordFlags are member name's status bits in r; ok is false when r does
// not list it.
func recordFlags(r *stateBalancer, name string) (f pool.Flags, ok bool, err error) {
	i := slices.IndexFunc(r.Members, func(rm stateMember) bool { return rm.URL == name })
	if i < 0 {
		return 0, false, nil
	}
	if f, err = parseLetters(r.Members[i].Flags); err != nil {
		return 0, false, fmt.Errorf("member %s: %w", name, err)
	}
	return f, true, nil
}

// recordPlan is the change that brings e to r, a record from the fleet, or
// back to its configuration when r is nil: the balancer rebuilt from its
// configuration, and every member's shared status bits set as r (or the
// configuration) says.
func recordPlan(sc *Scope, e *Entry, r *stateBalancer) (*plan, *pool.Snapshot, error) {
	live := e.Bal.Load()
	base := e.Configured
	if base == nil {
		base = live.Config
	}
	var bc *config.Balancer
	if r == nil {
		bc = cloneBalancer(base)
	} else {
		var err error
		if bc, err = fleetConfig(sc, e, base, r); err != nil {
			return nil, nil, err
		}
	}
	snap, err := sc.Build(bc)
	if err != nil {
		return nil, nil, err
	}
	p := &plan{entry: e, cfg: bc, flags: make(map[string]flagChange, len(snap.Members))}
	for _, m := range snap.Members {
		want, _, _ := pool.ApplyStatus(pool.FlagInit, m.Params.Status)
		if r != nil {
			f, ok, err := recordFlags(r, m.Name)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				want = f
			}
		}
		p.flags[m.Name] = flagChange{set: want & sharedFlags, clear: sharedFlags &^ want}
	}
	p.members = !slices.Equal(live.Names, snap.Names)
	p.recalc = p.members || slices.ContainsFunc(snap.Members, func(m *pool.Member) bool {
		old := findMember(live, m.Name)
		return old == nil || old.LBFactor != m.LBFactor
	})
	p.reset = bc.LBMethod != live.Config.LBMethod
	return p, snap, nil
}

// parseLetters reads a flags string such as "DN".
func parseLetters(s string) (pool.Flags, error) {
	var f pool.Flags
	for i := range len(s) {
		bit, ok := pool.FlagForLetter(s[i])
		if !ok {
			return 0, fmt.Errorf("unknown status letter %q", s[i])
		}
		f |= bit
	}
	return f, nil
}

// UseStateFile sets the BalancerPersist state file; it is read at the next
// Restore. ignore starts without a file that cannot be read.
func (a *Admin) UseStateFile(path string, ignore bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.StateFile, a.opts.IgnoreState = path, ignore
	a.state, a.loaded = nil, false
}

// Restore resets sc's members to their configured status (D S I H R N),
// re-applies the persisted state (the fleet store's records in fleet mode,
// else the state file when sc.Persist) to sc's balancers,
// freshly built from the configuration, then runs commit, which makes them
// live; no admin change can run in between. The server calls it
// at start and on every reload. A state file that cannot be read is an
// error naming the file, unless IgnoreState.
func (a *Admin) Restore(sc *Scope, commit func()) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Member state outlives reloads; the admin's flags must not, unless
	// persisted: each member starts again from its configured status.
	var flags flagWrites
	for _, e := range sc.Entries {
		for _, m := range e.Bal.Load().Members {
			want, _, _ := pool.ApplyStatus(pool.FlagInit, m.Params.Status)
			flags.add(m.State, etagFlags, want)
		}
	}
	switch {
	case a.fleet != nil:
		// A record this configuration cannot take must not stop every
		// instance of the fleet: it is logged and the balancer kept as
		// configured.
		for name, fr := range a.fleet.records() {
			// A record that could never be read was logged then.
			if e := sc.find(name); e != nil && fr.rec != nil {
				bc, err := fleetConfig(sc, e, e.Bal.Load().Config, fr.rec)
				if err == nil {
					err = applyRecord(e, fr.rec, bc, sc.Build, sharedFlags, &flags)
				}
				if err != nil {
					a.log.Error("fleet: cannot restore a balancer from its record; kept as configured", "balancer", name, "revision", fr.rev, "err", err)
				}
			}
		}
	case sc.Persist:
		if err := a.loadState(); err != nil {
			return err
		}
		for i := range a.state.Balancers {
			r := &a.state.Balancers[i]
			e := sc.find(r.Name)
			if e == nil {
				a.log.Warn("state file names a balancer the configuration does not have; kept", "balancer", r.Name, "file", a.opts.StateFile)
				continue
			}
			bc, err := recordConfig(e.Bal.Load().Config, r)
			if err == nil {
				err = applyRecord(e, r, bc, sc.Build, adminFlags, &flags)
			}
			if err != nil {
				return fmt.Errorf("cannot restore balancer://%s from state file %q: %w", r.Name, a.opts.StateFile, err)
			}
		}
	}
	for st := range a.removing {
		flags.add(st, pool.FlagDisabled, pool.FlagDisabled)
	}
	flags.store()
	commit()
	return nil
}

func cloneBalancer(bc *config.Balancer) *config.Balancer {
	c := *bc
	c.Members = make([]*config.Member, len(bc.Members))
	for i, m := range bc.Members {
		mc := *m
		c.Members[i] = &mc
	}
	return &c
}
