package admin

import (
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/pool"
)

// Builder builds the snapshot for a changed balancer config: member state
// from the server's registry (kept by member ID) and a connection pool for
// each member.
type Builder func(bc *config.Balancer) (*pool.Snapshot, error)

// Entry is one balancer the admin manages.
type Entry struct {
	Bal *pool.Balancer
	// Configured is the balancer as the configuration file has it; the
	// members the admin may add are counted from it.
	Configured *config.Balancer
}

// Scope is what one request sees: the balancers of the admin listener or of
// a manager location's host, and how it is guarded. The server builds it
// from its current runtime.
type Scope struct {
	// Prefix is where the page and API are mounted: "" on the admin
	// listener, the <Location> path for a manager location.
	Prefix string
	// Entries in display order, one per balancer name.
	Entries []Entry
	// Token, when set, is required as "Authorization: Bearer TOKEN" on every
	// API request.
	Token string
	// Require are the manager location's Require lines ("ip 10.0.0.0/8");
	// nil on the admin listener. A location without any is local only.
	Require []string
	// Location is true for a manager location.
	Location bool
	// Hosts are the host names accepted in Host besides localhost and IP
	// literals (DNS rebinding defence); wildcards ("*.example.com") match
	// as path.Match does.
	Hosts []string
	// ServerName titles the page.
	ServerName string
	// Persist is BalancerPersist; Growth is BalancerGrowth.
	Persist bool
	Growth  int
	// Build makes snapshots for this scope's runtime.
	Build Builder
}

// find returns the entry named name.
func (sc *Scope) find(name string) *Entry {
	for i := range sc.Entries {
		if sc.Entries[i].Bal.Name == name {
			return &sc.Entries[i]
		}
	}
	return nil
}

// Options configure an Admin.
type Options struct {
	// Health returns a member's health-check state by member ID.
	Health func(id string) (hcheck.Health, bool)
	// Changed is called, under the admin lock, after members were added or
	// removed, so the health checker can follow.
	Changed func()
	// Metrics writes the Prometheus exposition for /metrics on the admin
	// listener; nil answers 404.
	Metrics func(w io.Writer)
	// Log gets one audit line per change; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Resolver answers "Require host" lookups; nil is net.DefaultResolver.
	Resolver Resolver
	// Members is where added members may connect (SSRF defence, see
	// policy.go); nil checks nothing. The server always sets it.
	Members *pool.DialPolicy
	// StateFile is where BalancerPersist keeps changes; IgnoreState starts
	// without a state file that cannot be read.
	StateFile   string
	IgnoreState bool
	// Store, in fleet mode, replaces the state file (store.go); Live is the
	// admin listener's scope of the running configuration, where changes
	// from the fleet are applied.
	Store Store
	Live  func() *Scope
}

// Admin serves the balancer-manager. Its methods are safe for concurrent use.
type Admin struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	// poll is how often a drain wait looks at the member's busy count.
	poll time.Duration
	// done closes on Close, ending drain waits.
	done      chan struct{}
	closeOnce sync.Once

	failures limiter

	// mu serializes writers, state restores and runtime swaps.
	mu sync.Mutex
	// state is the persisted document; loaded on first use.
	state  *stateDoc
	loaded bool
	// fleet is nil unless Options.Store is set.
	fleet *fleetState
	// removing counts the DELETEs waiting for each member to drain: D
	// stays on it, whatever a fleet record or a restore says meanwhile.
	removing map[*pool.State]int
}

// New returns an Admin.
func New(o Options) *Admin {
	a := &Admin{opts: o, log: o.Log, now: o.Now, poll: 50 * time.Millisecond, done: make(chan struct{}), removing: make(map[*pool.State]int)}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.failures = limiter{max: 10, window: time.Second}
	if o.Store != nil {
		a.fleet = newFleetState(o.Store)
	}
	return a
}

// Close ends pending drain waits; it is safe to call more than once.
func (a *Admin) Close() { a.closeOnce.Do(func() { close(a.done) }) }

// Serve answers one admin request. scope is called once per request, under
// the write lock for writes, so a write always lands in the live runtime.
func (a *Admin) Serve(ctx *fasthttp.RequestCtx, scope func() *Scope) {
	defer a.recoverPanic(ctx)
	noStore(ctx)
	sc := scope()
	req, ok := a.admit(ctx, sc)
	if !ok {
		return
	}
	req.scope = scope
	if req.write {
		a.mu.Lock()
		defer a.mu.Unlock()
		sc = scope()
	}
	a.route(ctx, sc, req)
}

// noStore marks an answer private to this request.
func noStore(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
}

// recoverPanic keeps a bug met by one admin request from ending the proxy
// (the admin listener's server does not recover): the request gets a 500
// and the log the stack.
func (a *Admin) recoverPanic(ctx *fasthttp.RequestCtx) {
	if v := recover(); v != nil {
		a.log.Error("panic serving an admin request", "panic", v, "stack", string(debug.Stack()))
		ctx.Response.Reset()
		noStore(ctx)
		fail(ctx, fasthttp.StatusInternalServerError, "internal error")
	}
}
