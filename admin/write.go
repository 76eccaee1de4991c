package admin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// Fields each write accepts.
var (
	balancerFields  = []string{"lbmethod", "maxattempts", "timeout", "stickysession", "nofailover", "forcerecovery"}
	memberFields    = []string{"loadfactor", "lbset", "route", "redirect", "status"}
	newMemberFields = append([]string{"url"}, memberFields...)
)

const loadFactorRange = "a number from 1 to 100 (decimals allowed)"

// maxMaxAttempts bounds maxattempts.
const maxMaxAttempts = 99

// flagChange sets then clears status bits on a member.
type flagChange struct{ set, clear pool.Flags }

func (c flagChange) apply(f pool.Flags) pool.Flags { return (f | c.set) &^ c.clear }

// plan is one accepted change, ready to be saved and made live.
type plan struct {
	entry *Entry
	// cfg is the balancer's new config; nil keeps the snapshot.
	cfg *config.Balancer
	// flags change existing members' status; fresh sets a new member's.
	flags map[string]flagChange
	fresh map[string]pool.Flags
	// recalc is Apache's recalc_factors after a loadfactor change
	// (lbstatus = lbfactor); reset zeroes lbstatus (lbmethod reset()).
	recalc, reset bool
	members       bool // membership changed
	changes       []string
}

func (p *plan) note(what string, old, new any) {
	p.changes = append(p.changes, fmt.Sprintf("%s %v -> %v", what, old, new))
}

// commit validates, builds, saves and then applies p; nothing is live until
// the fleet store or the state file (when persisted) has the change. It
// returns the snapshot now live. It answers the request itself on error.
func (a *Admin) commit(ctx *fasthttp.RequestCtx, sc *Scope, p *plan, who, what string) (*pool.Snapshot, bool) {
	snap := p.entry.Bal.Load()
	if p.cfg != nil {
		if err := config.ValidateBalancer(p.cfg); err != nil {
			badRequest(ctx, err)
			return nil, false
		}
		next, err := sc.Build(p.cfg)
		if err != nil {
			badRequest(ctx, &inputError{msg: err.Error()})
			return nil, false
		}
		snap = next
	}
	after := func(m *pool.Member) pool.Flags {
		if f, ok := p.fresh[m.Name]; ok {
			return f
		}
		return p.flags[m.Name].apply(m.State.Flags())
	}
	switch {
	case a.fleet != nil:
		if !a.share(ctx, p.entry, snap, after) {
			return nil, false
		}
	case sc.Persist:
		if err := a.loadState(); err != nil {
			fail(ctx, fasthttp.StatusInternalServerError, "nothing changed: "+err.Error())
			return nil, false
		}
		doc := a.state.with(record(snap.Config, p.entry.Configured, snap.Members, after))
		if err := writeState(a.opts.StateFile, doc); err != nil {
			a.log.Error("admin: cannot save state", "err", err)
			fail(ctx, fasthttp.StatusInternalServerError, "nothing changed: "+err.Error())
			return nil, false
		}
		a.state = doc
	}
	a.apply(p, snap)
	a.log.Info("admin change", "who", who, "what", what, "change", strings.Join(p.changes, "; "))
	return snap, true
}

// keepRemoving keeps D in p on the members whose DELETE waits for their
// drain.
func (a *Admin) keepRemoving(p *plan, snap *pool.Snapshot) {
	for _, m := range snap.Members {
		if a.removing[m.State] > 0 {
			c := p.flags[m.Name]
			p.flags[m.Name] = flagChange{set: c.set | pool.FlagDisabled, clear: c.clear &^ pool.FlagDisabled}
		}
	}
}

// apply makes p live with snap, a local change or one from the fleet: new
// members' flags first, then the snapshot, then the status changes and
// Apache's lbstatus resets.
func (a *Admin) apply(p *plan, snap *pool.Snapshot) {
	// A new member's flags are set before it can be picked.
	for _, m := range snap.Members {
		if f, ok := p.fresh[m.Name]; ok {
			m.State.StoreFlags(f)
		}
	}
	wasUsable := make(map[string]bool, len(p.flags))
	for _, m := range snap.Members {
		wasUsable[m.Name] = m.State.Usable()
	}
	if snap != p.entry.Bal.Load() {
		p.entry.Bal.Store(snap)
	}
	for _, m := range snap.Members {
		if c, ok := p.flags[m.Name]; ok {
			m.State.SetFlags(c.set)
			m.State.ClearFlags(c.clear)
			// Apache resets the lbmethod when a member comes back.
			if !wasUsable[m.Name] && m.State.Usable() {
				p.reset = true
			}
		}
	}
	for _, m := range snap.Members {
		switch {
		case p.recalc:
			m.State.LBStatus.Store(m.LBFactor)
		case p.reset:
			m.State.LBStatus.Store(0)
		}
	}
	if p.members && a.opts.Changed != nil {
		a.opts.Changed()
	}
}

// patchBalancer is PATCH /api/balancers/{name}.
func (a *Admin) patchBalancer(ctx *fasthttp.RequestCtx, sc *Scope, e *Entry, who string) {
	snap := e.Bal.Load()
	if !writable(ctx, snap) || !precondition(ctx, a.balancerTag(snap)) {
		return
	}
	fields, ok := readFields(ctx, balancerFields)
	if !ok {
		return
	}
	bc := cloneBalancer(snap.Config)
	p := &plan{entry: e, cfg: bc}
	for _, f := range fields {
		var err error
		switch f.key {
		case "lbmethod":
			var s string
			if s, err = text(f); err == nil {
				bc.LBMethod = strings.ToLower(s)
				p.reset = bc.LBMethod != snap.Config.LBMethod
				p.note("lbmethod", snap.Config.LBMethod, bc.LBMethod)
			}
		case "maxattempts":
			var n int
			if n, err = integer(f, 0, maxMaxAttempts); err == nil {
				bc.MaxAttempts = &n
				p.note("maxattempts", snap.MaxAttempts, n)
			}
		case "timeout":
			var d time.Duration
			if d, err = duration(f); err == nil {
				bc.Timeout = config.Duration(d)
				p.note("timeout", snap.Config.Timeout.D(), d)
			}
		case "stickysession":
			var s string
			if s, err = text(f); err == nil {
				bc.StickyCookie, bc.StickyURLParam = "", ""
				if s != "" && s != "-" {
					c, u, found := strings.Cut(s, "|")
					if !found {
						u = c
					}
					bc.StickyCookie, bc.StickyURLParam = c, u
				}
				if bc.StickyCookie == "" {
					bc.StickySetCookie = false
				}
				p.note("stickysession", quoteOrNone(stickyText(snap.Config)), quoteOrNone(stickyText(bc)))
			}
		case "nofailover":
			if bc.NoFailover, err = boolean(f); err == nil {
				p.note("nofailover", snap.Config.NoFailover, bc.NoFailover)
			}
		case "forcerecovery":
			if bc.ForceRecovery, err = boolean(f); err == nil {
				p.note("forcerecovery", snap.Config.ForceRecovery, bc.ForceRecovery)
			}
		}
		if err != nil {
			badRequest(ctx, err)
			return
		}
	}
	if _, ok := a.commit(ctx, sc, p, who, "balancer://"+e.Bal.Name); !ok {
		return
	}
	v := a.balancerView(sc, e)
	sendJSON(ctx, v.ETag, v)
}

// patchMember is PATCH …/members/{id}. A status-only change goes to the
// member's state; anything else builds a new snapshot.
func (a *Admin) patchMember(ctx *fasthttp.RequestCtx, sc *Scope, e *Entry, m *pool.Member, who string) {
	snap := e.Bal.Load()
	if !writable(ctx, snap) || !precondition(ctx, a.memberTag(e.Bal.Name, m)) {
		return
	}
	fields, ok := readFields(ctx, memberFields)
	if !ok {
		return
	}
	p := &plan{entry: e}
	var mc *config.Member
	edit := func() *config.WorkerParams {
		if p.cfg == nil {
			p.cfg = cloneBalancer(snap.Config)
			mc = p.cfg.Members[m.Index]
		}
		return &mc.Params
	}
	for _, f := range fields {
		if err := memberField(p, f, m, edit); err != nil {
			badRequest(ctx, err)
			return
		}
	}
	if _, ok := a.commit(ctx, sc, p, who, "balancer://"+e.Bal.Name+" member "+m.Name); !ok {
		return
	}
	now := findMember(e.Bal.Load(), m.Name)
	sendJSON(ctx, a.memberTag(e.Bal.Name, now), a.memberView(e.Bal.Name, now))
}

// memberField applies one member field to p; edit returns the member's
// params in p's new config.
func memberField(p *plan, f field, m *pool.Member, edit func() *config.WorkerParams) error {
	switch f.key {
	case "loadfactor":
		v, err := number(f, 1, 100, loadFactorRange)
		if err != nil {
			return err
		}
		edit().LoadFactor = v
		p.recalc = true
		p.note("loadfactor", float64(m.LBFactor)/100, v)
	case "lbset":
		v, err := integer(f, 0, 99)
		if err != nil {
			return err
		}
		edit().LBSet = v
		p.note("lbset", m.LBSet, v)
	case "route", "redirect":
		v, err := text(f)
		if err != nil {
			return err
		}
		if f.key == "route" {
			edit().Route = v
			p.note("route", quoteOrNone(m.Route), quoteOrNone(v))
		} else {
			edit().Redirect = v
			p.note("redirect", quoteOrNone(m.Redirect), quoteOrNone(v))
		}
	case "status":
		v, err := text(f)
		if err != nil {
			return err
		}
		c, err := parseStatus(v)
		if err != nil {
			return badField("status", f.raw, "%v", err)
		}
		if p.flags == nil {
			p.flags = make(map[string]flagChange)
		}
		p.flags[m.Name] = c
		old := m.State.Flags()
		p.note("status", strings.TrimSpace(old.String()), strings.TrimSpace(c.apply(old).String()))
	}
	return nil
}

// parseStatus reads Apache's status syntax for the admin: '+' sets and '-'
// clears the letters after it (set is the initial mode), among D S I H R N C;
// E may only be cleared.
func parseStatus(s string) (flagChange, error) {
	var c flagChange
	if s == "" {
		return c, fmt.Errorf(`must be status letters such as "+D" or "-E" (allowed: D S I H R N C, and -E)`)
	}
	set := true
	for i := range len(s) {
		ch := s[i]
		switch ch {
		case '+':
			set = true
			continue
		case '-':
			set = false
			continue
		}
		bit, ok := pool.FlagForLetter(ch)
		switch {
		case ok && bit == pool.FlagError && !set:
		case ok && bit&adminFlags != 0:
		case ok && bit == pool.FlagError:
			return c, fmt.Errorf("the E flag is set by failed requests and can only be cleared (-E)")
		default:
			return c, fmt.Errorf("unknown status letter %q (allowed: D S I H R N C, and -E)", ch)
		}
		if set {
			c.set, c.clear = c.set|bit, c.clear&^bit
		} else {
			c.clear, c.set = c.clear|bit, c.set&^bit
		}
	}
	return c, nil
}

// addMember is POST …/members: Apache's "add worker". The member starts
// disabled (D) unless the request's status says otherwise.
func (a *Admin) addMember(ctx *fasthttp.RequestCtx, sc *Scope, e *Entry, who string) {
	snap := e.Bal.Load()
	if !writable(ctx, snap) || !precondition(ctx, a.balancerTag(snap)) {
		return
	}
	fields, ok := readFields(ctx, newMemberFields)
	if !ok {
		return
	}
	limit := maxMembers(sc, e)
	if len(snap.Members) >= limit {
		badRequest(ctx, &inputError{field: "url", msg: fmt.Sprintf("balancer://%s is full: %d members (growth allows %d)", e.Bal.Name, len(snap.Members), limit)})
		return
	}
	p := &plan{entry: e, cfg: cloneBalancer(snap.Config), members: true, recalc: true}
	mc := &config.Member{Pos: snap.Config.Pos}
	placeholder := &pool.Member{State: new(pool.State), LBFactor: 100}
	status := flagChange{set: pool.FlagDisabled}
	for _, f := range fields {
		switch f.key {
		case "url":
			u, err := text(f)
			if err != nil {
				badRequest(ctx, err)
				return
			}
			mc.URL = u
		case "status":
			v, err := text(f)
			if err == nil {
				var c flagChange
				if c, err = parseStatus(v); err != nil {
					err = badField("status", f.raw, "%v", err)
				}
				status = flagChange{set: (status.set | c.set) &^ c.clear, clear: c.clear}
			}
			if err != nil {
				badRequest(ctx, err)
				return
			}
		default:
			if err := memberField(p, f, placeholder, func() *config.WorkerParams { return &mc.Params }); err != nil {
				badRequest(ctx, err)
				return
			}
		}
	}
	if mc.URL == "" {
		badRequest(ctx, &inputError{field: "url", msg: "is required: the member's URL, such as http://10.0.0.5:8080"})
		return
	}
	if err := notSocket(mc.URL); err != nil {
		badRequest(ctx, err)
		return
	}
	p.cfg.Members = append(p.cfg.Members, mc)
	if err := config.ValidateBalancer(p.cfg); err != nil {
		badRequest(ctx, err)
		return
	}
	if err := a.checkDestination(mc.URL); err != nil {
		badRequest(ctx, err)
		return
	}
	name := mc.URL
	p.fresh = map[string]pool.Flags{name: status.apply(pool.FlagInit)}
	p.changes = append([]string{"added " + name + " status " + strings.TrimSpace(status.apply(pool.FlagInit).String())}, p.changes...)
	if _, ok := a.commit(ctx, sc, p, who, "balancer://"+e.Bal.Name); !ok {
		return
	}
	m := findMember(e.Bal.Load(), name)
	ctx.Response.Header.Set("Location", memberPath(sc, e.Bal.Name, name))
	ctx.Response.Header.Set("ETag", a.memberTag(e.Bal.Name, m))
	writeJSON(ctx, fasthttp.StatusCreated, a.memberView(e.Bal.Name, m))
}

// removeMember is DELETE …/members/{id}: the member is disabled at once, its
// requests in flight get until ?timeout= (default 30s) to finish, then it is
// removed. The answer says whether it had drained.
func (a *Admin) removeMember(ctx *fasthttp.RequestCtx, e *Entry, m *pool.Member, req request) {
	snap := e.Bal.Load()
	if !writable(ctx, snap) || !precondition(ctx, a.memberTag(e.Bal.Name, m)) {
		return
	}
	wait, err := waitParam(ctx.QueryArgs())
	if err != nil {
		badRequest(ctx, err)
		return
	}
	// D stops new requests at once, sticky ones included; it is not saved:
	// the removal is.
	wasDisabled := m.State.Flags()&pool.FlagDisabled != 0
	m.State.SetFlags(pool.FlagDisabled)
	a.removing[m.State]++
	a.mu.Unlock()
	drained := a.drained(m.State, wait)
	a.mu.Lock()
	if a.removing[m.State]--; a.removing[m.State] == 0 {
		delete(a.removing, m.State)
	}
	sc := req.scope()
	if e = sc.find(e.Bal.Name); e == nil || e.Bal.Load() != snap {
		fail(ctx, fasthttp.StatusConflict, "the balancer changed while the member drained; nothing was removed (it stays disabled: GET it and DELETE again)")
		return
	}
	p := &plan{entry: e, cfg: cloneBalancer(snap.Config), members: true, recalc: true}
	p.cfg.Members = withoutMember(p.cfg.Members, m.Name)
	p.changes = []string{"removed " + m.Name + " drained " + strconv.FormatBool(drained)}
	if _, ok := a.commit(ctx, sc, p, req.who, "balancer://"+e.Bal.Name); !ok {
		// Not saved, so nothing changed: the member serves again.
		if !wasDisabled {
			m.State.ClearFlags(pool.FlagDisabled)
		}
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, removedJSON{Removed: m.Name, Drained: drained, Busy: m.State.Busy.Load()})
}

type removedJSON struct {
	Removed string `json:"removed"`
	Drained bool   `json:"drained"`
	Busy    int64  `json:"busy"`
}

// notSocket refuses a member URL that names a Unix domain socket: a socket
// is a path on this machine (docker.sock among them), which only the config
// file may name (threats.md ADM-04).
func notSocket(url string) error {
	if _, _, ok := config.SplitSocketURL(url); ok {
		return &inputError{field: "url", value: strconv.Quote(url), msg: "cannot be a Unix domain socket through the admin API: add such a member in the config file"}
	}
	return nil
}

// writable refuses changes to a balancer locked with nonce=None, as Apache
// does.
func writable(ctx *fasthttp.RequestCtx, s *pool.Snapshot) bool {
	if err := locked(s.Config); err != nil {
		fail(ctx, fasthttp.StatusForbidden, err.Error())
		return false
	}
	return true
}

// locked is the error for a change to bc when nonce=None locks it.
func locked(bc *config.Balancer) error {
	if bc.Nonce == "None" {
		return errors.New("balancer://" + bc.Name + " has nonce=None: the manager cannot change it")
	}
	return nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}
