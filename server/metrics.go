package server

import (
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/fleet"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/pool"
)

// MetricsContentType is the Content-Type of WriteMetrics' output: the
// Prometheus text format.
const MetricsContentType = "text/plain; version=0.0.4"

// durationBuckets are the request latency histogram's upper bounds, in
// seconds: from a fast local backend up to the default 60 s timeout.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// statusLetters are the status flags exposed as sluice_member_status, in
// Apache's display order (pool.Flags; O, G, U and F are internal).
const statusLetters = "INDSEHCR"

// errorLogEvery is the least time between two logged errors of a member.
const errorLogEvery = time.Minute

// errReason says why the request path put a member in error.
type errReason int

const (
	errUnreachable   errReason = iota // connect or pool acquire failed
	errFailOnStatus                   // failonstatus matched
	errFailOnTimeout                  // failontimeout and a timeout
	numErrReasons
)

var errReasonNames = [numErrReasons]string{"unreachable", "failonstatus", "failontimeout"}

// serverMetrics are a Server's Prometheus series, in a metrics.Set of its
// own. Every member's series are created when a runtime that has the
// member is built (sync) and removed when one no longer has it; the
// request path only looks its member's up and increments. What pool.State
// already counts (bytes, selections, busy, flags) is read at scrape time.
//
// A nil *serverMetrics records nothing (tests build bare Servers).
type serverMetrics struct {
	set *metrics.Set

	// byState is the request path's index: a member's series by its
	// State, which survives reloads, so a request that started on the
	// previous runtime still finds them. Replaced whole by sync.
	byState atomic.Pointer[map[*pool.State]*memberMetrics]
	// noMember counts, per balancer name, requests no member took.
	noMember atomic.Pointer[map[string]*metrics.Counter]

	mu        sync.Mutex                // serializes sync with itself and with refresh
	members   map[string]*memberMetrics // by member ID
	balancers map[string]*metrics.Counter

	reloads    [2]*metrics.Counter // success, failure
	lastReload *metrics.Gauge
	health     struct{ passed, failed, down, up, passive *metrics.Counter }
	handshakes [2]*metrics.Counter // TLS client handshakes: success, failure
	version    atomic.Pointer[string]
}

// memberMetrics are one member's series.
type memberMetrics struct {
	st    *pool.State
	names []string // every series registered, for unregistering

	requests  [5]*metrics.Counter // by status class, 1xx to 5xx
	duration  *metrics.PrometheusHistogram
	errors    [numErrReasons]*metrics.Counter
	failovers *metrics.Counter

	// Copied from st at scrape time.
	sent, received, selections *metrics.Counter
}

func newServerMetrics(now time.Time) *serverMetrics {
	metrics.ExposeMetadata(true)
	sm := &serverMetrics{
		set:       metrics.NewSet(),
		members:   make(map[string]*memberMetrics),
		balancers: make(map[string]*metrics.Counter),
	}
	sm.byState.Store(&map[*pool.State]*memberMetrics{})
	sm.noMember.Store(&map[string]*metrics.Counter{})
	sm.reloads[0] = sm.set.NewCounter(`sluice_config_reloads_total{result="success"}`)
	sm.reloads[1] = sm.set.NewCounter(`sluice_config_reloads_total{result="failure"}`)
	sm.lastReload = sm.set.NewGauge("sluice_config_last_reload_success_timestamp_seconds", nil)
	sm.lastReload.Set(float64(now.Unix()))
	sm.health.passed = sm.set.NewCounter(`sluice_health_checks_total{result="passed"}`)
	sm.health.failed = sm.set.NewCounter(`sluice_health_checks_total{result="failed"}`)
	sm.health.down = sm.set.NewCounter(`sluice_health_transitions_total{to="down"}`)
	sm.health.up = sm.set.NewCounter(`sluice_health_transitions_total{to="up"}`)
	sm.health.passive = sm.set.NewCounter("sluice_health_passive_failures_total")
	sm.handshakes[0] = sm.set.NewCounter(`sluice_tls_handshakes_total{result="success"}`)
	sm.handshakes[1] = sm.set.NewCounter(`sluice_tls_handshakes_total{result="failure"}`)
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	sm.version.Store(&version)
	sm.set.RegisterMetricsWriter(func(w io.Writer) {
		metrics.WriteGaugeUint64(w, `sluice_build_info{version="`+labelValue(*sm.version.Load())+
			`",goversion="`+labelValue(goruntime.Version())+`"}`, 1)
	})
	return sm
}

// handshake counts a client TLS handshake.
func (sm *serverMetrics) handshake(err error) {
	if sm == nil {
		return
	}
	if err != nil {
		sm.handshakes[1].Inc()
		return
	}
	sm.handshakes[0].Inc()
}

// SetVersion sets the version label of sluice_build_info (the binary's
// -ldflags version; by default the main module's version).
func (s *Server) SetVersion(v string) { s.metrics.version.Store(&v) }

// WriteMetrics writes the server's metrics, in fleet mode the fleet's,
// then the Go runtime and process metrics, in the Prometheus text format
// (MetricsContentType).
func (s *Server) WriteMetrics(w io.Writer) {
	s.metrics.refresh(s.hc)
	s.metrics.set.WritePrometheus(w)
	if s.adm != nil && s.adm.fleet != nil {
		writeFleetMetrics(w, s.adm.fleet.Counters())
	}
	metrics.WriteProcessMetrics(w)
}

// writeFleetMetrics writes the fleet store's series, read at scrape time
// from its counters (docs/metrics.md).
func writeFleetMetrics(w io.Writer, c fleet.Counters) {
	metrics.WriteGaugeFloat64(w, "sluice_fleet_connected", boolValue(c.Connected))
	metrics.WriteGaugeFloat64(w, "sluice_fleet_synced", boolValue(c.Synced))
	metrics.WriteGaugeUint64(w, "sluice_fleet_revision", uint64(c.Revision))
	metrics.WriteCounterUint64(w, "sluice_fleet_changes_total", c.Changes)
	metrics.WriteCounterUint64(w, "sluice_fleet_loads_total", c.Loads)
	metrics.WriteMetadataIfNeeded(w, "sluice_fleet_saves_total", "counter")
	fmt.Fprintf(w, `sluice_fleet_saves_total{result="saved"} %d`+"\n", c.Saved)
	fmt.Fprintf(w, `sluice_fleet_saves_total{result="conflict"} %d`+"\n", c.Conflicts)
	fmt.Fprintf(w, `sluice_fleet_saves_total{result="unavailable"} %d`+"\n", c.Unavailable)
}

// observe records a request that the member m answered (or that failed on
// it) once its response is complete: the status class of ctx's response
// and the time since the request arrived. With m nil, a request that no
// member of snap's balancer took is counted. It does not allocate.
func (s *Server) observe(ctx *fasthttp.RequestCtx, m *pool.Member, snap *pool.Snapshot, now time.Time) {
	sm := s.metrics
	if sm == nil {
		return
	}
	if m == nil {
		if snap != nil {
			if c := (*sm.noMember.Load())[snap.Config.ID()]; c != nil {
				c.Inc()
			}
		}
		return
	}
	mm := (*sm.byState.Load())[m.State]
	if mm == nil {
		return // a member the metrics do not know yet (or any more)
	}
	if class := ctx.Response.StatusCode()/100 - 1; uint(class) < uint(len(mm.requests)) {
		mm.requests[class].Inc()
	}
	mm.duration.Update(now.Sub(ctx.Time()).Seconds())
}

// markError puts m in error at now, as State.MarkError, and counts it
// under why. A member that was not in error is logged with its cause (err,
// or the status failonstatus matched): as Apache's "disabled connection
// for", the line at the default level that says why requests go
// elsewhere, or get 503, until retry has passed. One line per member per
// retry (errorLogEvery at least): with every member down, forcerecovery
// puts them back in error at each request.
func (s *Server) markError(m *pool.Member, now time.Time, why errReason, err error, status int) bool {
	marked, entered := m.State.MarkError(now)
	if !marked {
		return false
	}
	if entered && m.State.LogDue(now, max(m.Retry, errorLogEvery)) {
		if why == errFailOnStatus {
			s.log.Warn("member in error state", "member", m.ID, "why", errReasonNames[why], "status", status, "retry", m.Retry)
		} else {
			s.log.Warn("member in error state", "member", m.ID, "why", errReasonNames[why], "err", err, "retry", m.Retry)
		}
	}
	if mm := s.metrics.member(m); mm != nil {
		mm.errors[why].Inc()
	}
	return true
}

// failedOver counts a request leaving m to try another member.
func (s *Server) failedOver(m *pool.Member) {
	if mm := s.metrics.member(m); mm != nil {
		mm.failovers.Inc()
	}
}

// ReloadRefused counts a reload whose configuration did not load (a
// syntax or validation error), which never reaches Reload: an alert on
// failed reloads must see those too.
func (s *Server) ReloadRefused() { s.countReload(false) }

// countReload counts a reload by its outcome.
func (s *Server) countReload(ok bool) {
	sm := s.metrics
	if sm == nil {
		return
	}
	if !ok {
		sm.reloads[1].Inc()
		return
	}
	sm.reloads[0].Inc()
	sm.lastReload.Set(float64(s.now().Unix()))
}

func (sm *serverMetrics) member(m *pool.Member) *memberMetrics {
	if sm == nil {
		return nil
	}
	return (*sm.byState.Load())[m.State]
}

// sync makes the series match rt's members (its balancers' current
// snapshots and its direct workers): new members get theirs, members that
// are gone lose them, the rest keep counting.
func (sm *serverMetrics) sync(rt *runtime) {
	if sm == nil {
		return
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	members := make(map[string]*memberMetrics)
	byState := make(map[*pool.State]*memberMetrics)
	balancers := make(map[string]*metrics.Counter)
	add := func(balancer string, m *pool.Member) {
		if members[m.ID] != nil {
			return // shared by several hosts or routes
		}
		mm := sm.members[m.ID]
		if mm == nil {
			mm = newMemberMetrics(sm.set, balancer, m)
		}
		members[m.ID], byState[m.State] = mm, mm
	}
	noMember := func(name string) {
		if balancers[name] == nil {
			c := sm.balancers[name]
			if c == nil {
				c = sm.set.NewCounter(`sluice_balancer_no_member_total{balancer="` + labelValue(name) + `"}`)
			}
			balancers[name] = c
		}
	}
	for _, vh := range rt.hosts {
		for _, bal := range vh.balancers {
			noMember(bal.Name)
			for _, m := range bal.Load().Members {
				add(bal.Name, m)
			}
		}
		// Direct workers: ProxyPass routes, <Files> handlers and the
		// targets of RewriteRule [P].
		for _, rs := range [][]*route{vh.routes, vh.handlers} {
			for _, r := range rs {
				if r.direct != nil {
					add("", r.direct)
				}
			}
		}
		if vh.mods != nil {
			for _, r := range vh.mods.targets {
				switch {
				case r.direct != nil:
					add("", r.direct)
				case r.balancer != nil:
					// A [P] to a balancer no section defines answers 503:
					// counted as a ProxyPass to one is.
					noMember(r.balancer.Name)
				}
			}
		}
	}
	for id, mm := range sm.members {
		if members[id] == nil {
			for _, name := range mm.names {
				sm.set.UnregisterMetric(name)
			}
		}
	}
	for name := range sm.balancers {
		if balancers[name] == nil {
			sm.set.UnregisterMetric(`sluice_balancer_no_member_total{balancer="` + labelValue(name) + `"}`)
		}
	}
	sm.members, sm.balancers = members, balancers
	sm.byState.Store(&byState)
	sm.noMember.Store(&balancers)
}

// refresh copies the counters that pool.State and the health checker keep
// into their series before a scrape.
func (sm *serverMetrics) refresh(hc *hcheck.Checker) {
	sm.mu.Lock()
	for _, mm := range sm.members {
		mm.sent.Set(mm.st.Transferred.Load())
		mm.received.Set(mm.st.Read.Load())
		mm.selections.Set(mm.st.Elected.Load())
	}
	sm.mu.Unlock()
	if hc == nil {
		return
	}
	c := hc.Counters()
	sm.health.passed.Set(c.Passed)
	sm.health.failed.Set(c.Failed)
	sm.health.down.Set(c.Down)
	sm.health.up.Set(c.Up)
	sm.health.passive.Set(c.Passive)
}

// newMemberMetrics registers m's series in set; balancer is "" for a
// direct worker.
func newMemberMetrics(set *metrics.Set, balancer string, m *pool.Member) *memberMetrics {
	st := m.State
	mm := &memberMetrics{st: st}
	labels := `{balancer="` + labelValue(balancer) + `",member="` + labelValue(m.Name) + `"`
	name := func(family, extra string) string {
		n := family + labels + extra + "}"
		mm.names = append(mm.names, n)
		return n
	}
	gauge := func(family, extra string, f func() float64) { set.NewGauge(name(family, extra), f) }

	for i := range mm.requests {
		mm.requests[i] = set.NewCounter(name("sluice_requests_total", `,code="`+strconv.Itoa(i+1)+`xx"`))
	}
	mm.duration = set.NewPrometheusHistogramExt(name("sluice_request_duration_seconds", ""), durationBuckets)
	for i, reason := range errReasonNames {
		mm.errors[i] = set.NewCounter(name("sluice_member_errors_total", `,reason="`+reason+`"`))
	}
	mm.failovers = set.NewCounter(name("sluice_member_failovers_total", ""))
	mm.sent = set.NewCounter(name("sluice_member_sent_bytes_total", ""))
	mm.received = set.NewCounter(name("sluice_member_received_bytes_total", ""))
	mm.selections = set.NewCounter(name("sluice_member_selections_total", ""))
	gauge("sluice_member_busy", "", func() float64 { return float64(st.Busy.Load()) })
	gauge("sluice_member_lbstatus", "", func() float64 { return float64(st.LBStatus.Load()) })
	gauge("sluice_member_usable", "", func() float64 { return boolValue(st.Usable()) })
	for _, letter := range statusLetters {
		bit, _ := pool.FlagForLetter(byte(letter))
		gauge("sluice_member_status", `,flag="`+string(letter)+`"`, func() float64 { return boolValue(st.Flags()&bit != 0) })
	}
	return mm
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// labelValue escapes v for a Prometheus label value.
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace
