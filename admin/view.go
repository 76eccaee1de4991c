package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/pool"
)

// adminFlags are the status bits the admin sets and BalancerPersist keeps.
// E is the request path's and clears by retry; O, G, U, F are internal.
const adminFlags = pool.FlagDisabled | pool.FlagStopped | pool.FlagIgnoreErrors | pool.FlagHotStandby |
	pool.FlagHotSpare | pool.FlagDrain | pool.FlagHCFail

// etagFlags are the bits an ETag covers: the admin's, less C, which health
// checks flip on their own.
const etagFlags = adminFlags &^ pool.FlagHCFail

// listJSON is GET /api/balancers.
type listJSON struct {
	ServerName string         `json:"server_name"`
	Persist    bool           `json:"persist"`
	Balancers  []balancerJSON `json:"balancers"`
	// Fleet is this instance's standing in the fleet (store.go).
	Fleet *fleetJSON `json:"fleet,omitempty"`
}

// balancerJSON is a balancer's settings and its members.
type balancerJSON struct {
	Name          string       `json:"name"`
	ETag          string       `json:"etag"`
	LBMethod      string       `json:"lbmethod"`
	MaxAttempts   int          `json:"maxattempts"`
	Timeout       string       `json:"timeout"`
	StickySession string       `json:"stickysession"`
	NoFailover    bool         `json:"nofailover"`
	ForceRecovery bool         `json:"forcerecovery"`
	MaxMembers    int          `json:"max_members"`
	Locked        bool         `json:"locked"`
	Members       []memberJSON `json:"members"`
}

// memberJSON is a member's settings and live state.
type memberJSON struct {
	ID               string      `json:"id"`
	ETag             string      `json:"etag"`
	Route            string      `json:"route"`
	Redirect         string      `json:"redirect"`
	LoadFactor       float64     `json:"loadfactor"`
	LBSet            int         `json:"lbset"`
	Flags            string      `json:"flags"`
	Status           string      `json:"status"`
	AdminState       string      `json:"admin_state"`
	OperationalState string      `json:"operational_state"`
	Elected          uint64      `json:"elected"`
	Busy             int64       `json:"busy"`
	LBStatus         int64       `json:"lbstatus"`
	Transferred      uint64      `json:"transferred"`
	Read             uint64      `json:"read"`
	Retries          uint64      `json:"retries"`
	Errors           uint64      `json:"errors"`
	ErrorTime        *time.Time  `json:"error_time,omitempty"`
	Health           *healthJSON `json:"health,omitempty"`
	// Fleet is the member's health as each instance sees it (fleet mode).
	Fleet []instanceHealthJSON `json:"fleet,omitempty"`
}

// healthJSON is a member's health-check state.
type healthJSON struct {
	Method     string      `json:"method,omitempty"`
	URI        string      `json:"uri,omitempty"`
	Expr       string      `json:"expr,omitempty"`
	Interval   string      `json:"interval,omitempty"`
	Passes     int         `json:"passes,omitempty"`
	Fails      int         `json:"fails,omitempty"`
	PassStreak int         `json:"pass_streak"`
	FailStreak int         `json:"fail_streak"`
	Checks     uint64      `json:"checks"`
	Next       *time.Time  `json:"next,omitempty"`
	History    []probeJSON `json:"history"`
}

type probeJSON struct {
	Time      time.Time `json:"time"`
	OK        bool      `json:"ok"`
	Passive   bool      `json:"passive,omitempty"`
	Status    int       `json:"status,omitempty"`
	LatencyMS float64   `json:"latency_ms,omitempty"`
	Why       string    `json:"why,omitempty"`
	Change    string    `json:"change,omitempty"`
}

func (a *Admin) listView(sc *Scope) listJSON {
	out := listJSON{ServerName: sc.ServerName, Persist: sc.Persist || a.fleet != nil, Balancers: []balancerJSON{}, Fleet: a.fleetSummary()}
	for i := range sc.Entries {
		out.Balancers = append(out.Balancers, a.balancerView(sc, &sc.Entries[i]))
	}
	return out
}

func (a *Admin) balancerView(sc *Scope, e *Entry) balancerJSON {
	snap := e.Bal.Load()
	bc := snap.Config
	v := balancerJSON{
		Name:          e.Bal.Name,
		ETag:          a.balancerTag(snap),
		LBMethod:      bc.LBMethod,
		MaxAttempts:   snap.MaxAttempts,
		Timeout:       bc.Timeout.D().String(),
		StickySession: stickyText(bc),
		NoFailover:    bc.NoFailover,
		ForceRecovery: bc.ForceRecovery,
		MaxMembers:    maxMembers(sc, e),
		Locked:        bc.Nonce == "None",
		Members:       make([]memberJSON, 0, len(snap.Members)),
	}
	if v.LBMethod == "" {
		v.LBMethod = "byrequests"
	}
	for _, m := range snap.Members {
		v.Members = append(v.Members, a.memberView(e.Bal.Name, m))
	}
	return v
}

func (a *Admin) memberView(balancer string, m *pool.Member) memberJSON {
	st := m.State
	f := st.Flags()
	v := memberJSON{
		ID:               m.Name,
		ETag:             a.memberTag(balancer, m),
		Route:            m.Route,
		Redirect:         m.Redirect,
		LoadFactor:       float64(m.LBFactor) / 100,
		LBSet:            m.LBSet,
		Flags:            flagLetters(f),
		Status:           f.String(),
		AdminState:       adminState(f),
		OperationalState: operationalState(f),
		Elected:          st.Elected.Load(),
		Busy:             st.Busy.Load(),
		LBStatus:         st.LBStatus.Load(),
		Transferred:      st.Transferred.Load(),
		Read:             st.Read.Load(),
		Retries:          st.Retries.Load(),
		Errors:           st.Errors.Load(),
	}
	if t := st.ErrorTime.Load(); t != 0 {
		et := time.Unix(0, t).UTC()
		v.ErrorTime = &et
	}
	if a.opts.Health != nil {
		if h, ok := a.opts.Health(m.ID); ok {
			v.Health = healthView(h)
		}
	}
	v.Fleet = a.fleetView(balancer, m)
	return v
}

func healthView(h hcheck.Health) *healthJSON {
	v := &healthJSON{
		Method: h.Method, URI: h.Target, Expr: h.Expr, Passes: h.Passes, Fails: h.Fails,
		PassStreak: h.PassStreak, FailStreak: h.FailStreak, Checks: h.Checks,
		History: make([]probeJSON, 0, len(h.History)),
	}
	if h.Interval > 0 {
		v.Interval = h.Interval.String()
	}
	if !h.Next.IsZero() {
		n := h.Next.UTC()
		v.Next = &n
	}
	for _, p := range h.History {
		v.History = append(v.History, probeJSON{
			Time: p.Time.UTC(), OK: p.OK, Passive: p.Passive, Status: p.Status,
			LatencyMS: float64(p.Latency.Microseconds()) / 1000, Why: p.Why, Change: p.Change.String(),
		})
	}
	return v
}

// adminState is HAProxy's admin_state: maint (D or S), drain (N) or ready.
func adminState(f pool.Flags) string {
	switch {
	case f&(pool.FlagDisabled|pool.FlagStopped) != 0:
		return "maint"
	case f&pool.FlagDrain != 0:
		return "drain"
	}
	return "ready"
}

// operationalState is HAProxy's operational_state: stopping (U), down (in
// error or failing its health check) or up.
func operationalState(f pool.Flags) string {
	switch {
	case f&pool.FlagShutdown != 0:
		return "stopping"
	case f&(pool.FlagError|pool.FlagHCFail) != 0:
		return "down"
	}
	return "up"
}

// flagOrder is Apache's display order of the status letters.
const flagOrder = "OINGUDSEHFCR"

// flagLetters lists the set bits as letters ("OD").
func flagLetters(f pool.Flags) string {
	var b strings.Builder
	for i := range len(flagOrder) {
		if bit, _ := pool.FlagForLetter(flagOrder[i]); f&bit != 0 {
			b.WriteByte(flagOrder[i])
		}
	}
	return b.String()
}

func stickyText(bc *config.Balancer) string {
	if bc.StickyCookie == "" {
		return ""
	}
	if bc.StickyURLParam == bc.StickyCookie {
		return bc.StickyCookie
	}
	return bc.StickyCookie + "|" + bc.StickyURLParam
}

// maxMembers is Apache's max_workers: the configured members plus growth
// (the balancer's growth, else BalancerGrowth, else Apache's default 5).
func maxMembers(sc *Scope, e *Entry) int {
	configured, growth := 0, sc.Growth
	if e.Configured != nil {
		configured = len(e.Configured.Members)
		if e.Configured.Growth > 0 {
			growth = e.Configured.Growth
		}
	}
	if growth <= 0 {
		growth = 5
	}
	return configured + growth
}

// memberETag covers what the admin can change on a member.
func memberETag(m *pool.Member) string {
	d := xxhash.New()
	writeMember(d, m)
	return quoteTag(d.Sum64())
}

func writeMember(d *xxhash.Digest, m *pool.Member) {
	_, _ = d.WriteString(m.Name + "\x00" + m.Route + "\x00" + m.Redirect + "\x00")
	_, _ = d.WriteString(strconv.FormatInt(m.LBFactor, 10) + "\x00" + strconv.Itoa(m.LBSet) + "\x00")
	_, _ = d.WriteString(strconv.FormatUint(uint64(m.State.Flags()&etagFlags), 16) + "\x01")
}

// balancerETag covers the balancer's settings and every member's.
func balancerETag(s *pool.Snapshot) string {
	bc := s.Config
	d := xxhash.New()
	_, _ = d.WriteString(bc.Name + "\x00" + bc.LBMethod + "\x00" + strconv.Itoa(s.MaxAttempts) + "\x00" + bc.Timeout.D().String() + "\x00")
	_, _ = d.WriteString(stickyText(bc) + "\x00" + strconv.FormatBool(bc.NoFailover) + strconv.FormatBool(bc.ForceRecovery) + "\x00")
	for _, m := range s.Members {
		writeMember(d, m)
	}
	return quoteTag(d.Sum64())
}

// listETag covers every balancer of the scope.
func (a *Admin) listETag(sc *Scope) string {
	d := xxhash.New()
	for _, e := range sc.Entries {
		_, _ = d.WriteString(a.balancerTag(e.Bal.Load()))
	}
	return quoteTag(d.Sum64())
}

// balancerTag is s's ETag: in fleet mode the revision of its record, which
// every instance shares, else a hash of what the admin can change.
func (a *Admin) balancerTag(s *pool.Snapshot) string {
	if a.fleet != nil {
		return revTag(a.fleet.rev(s.Config.ID()))
	}
	return balancerETag(s)
}

// memberTag is m's ETag; in fleet mode its balancer's record revision.
func (a *Admin) memberTag(balancer string, m *pool.Member) string {
	if a.fleet != nil {
		return revTag(a.fleet.rev(balancer))
	}
	return memberETag(m)
}

func quoteTag(h uint64) string { return `"` + strconv.FormatUint(h, 16) + `"` }
