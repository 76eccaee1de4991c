package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/admin"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/fleet"
	"github.com/sluiceproxy/sluice/pathscope"
	"github.com/sluiceproxy/sluice/pool"
)

// adminSide is the server's half of the balancer-manager: it gives the
// admin package the live balancers (the admin listener's and each manager
// location's), builds members' connection pools the way runtime.go does,
// and serves the admin listener.
type adminSide struct {
	a     *admin.Admin
	token string   // resolved from token, token_file or token_env
	hosts []string // host names the admin listener answers to
	fs    *fasthttp.Server
	// backends are the pools of members the admin added since the last
	// reload, by member ID. Only builders touch it, under the admin lock.
	backends map[string]*pool.Backend
	// policy is where added members may connect (threats.md ADM-04),
	// checked when they are added and at each of their dials; listen is
	// the admin listener's address once it serves, one of the addresses
	// the policy refuses. Both change under s.mu.
	policy *pool.DialPolicy
	listen net.Addr
	// served are the proxy listeners' bound addresses (port 0 resolved),
	// also refused to added members.
	served []net.Addr
	// fleet shares the admin's state through etcd (nil outside fleet mode,
	// docs/fleet.md); instance is fleet.instance as configured at start.
	// StartFleet sets fleetStop and fleetDone, under s.mu.
	fleet     *fleet.Store
	instance  string
	fleetStop context.CancelFunc
	fleetDone chan struct{}
}

// newAdminSide sets up the admin for cfg. The state file defaults to
// sluice-state/ beside the configuration file; UseState changes it.
func newAdminSide(s *Server, cfg *config.Config) (*adminSide, error) {
	token, err := config.ReadSecret("admin token", cfg.Admin.Token, cfg.Admin.TokenFile, cfg.Admin.TokenEnv)
	if err != nil {
		return nil, err
	}
	side := &adminSide{token: token, backends: make(map[string]*pool.Backend), policy: &pool.DialPolicy{}}
	side.setPolicy(cfg)
	for _, h := range cfg.Admin.Hosts {
		side.hosts = append(side.hosts, strings.ToLower(h))
	}
	if host, _, err := net.SplitHostPort(cfg.Admin.Listen); err == nil && host != "" {
		side.hosts = append(side.hosts, strings.ToLower(host))
	}
	var store admin.Store
	if cfg.Fleet.On() {
		if side.fleet, err = fleet.New(cfg.Fleet, s.log); err != nil {
			return nil, err
		}
		store, side.instance = side.fleet, cfg.Fleet.Instance
	}
	side.a = admin.New(admin.Options{
		Health:    s.hc.Health,
		Changed:   s.membersChanged,
		Metrics:   s.WriteMetrics,
		Log:       s.log,
		Now:       s.now,
		Members:   side.policy,
		StateFile: filepath.Join(DefaultStateDir(cfg.Source), admin.StateFileName),
		Store:     store,
		Live:      func() *admin.Scope { return s.adminScope(s.rt.Load(), true) },
	})
	return side, nil
}

// setPolicy gives the member policy cfg's member_networks and the
// addresses sluice listens on: the configured listeners with a fixed port
// and the admin listener.
func (side *adminSide) setPolicy(cfg *config.Config) {
	var allow []netip.Prefix
	for _, n := range cfg.Admin.MemberNetworks {
		if p, err := config.ParseMemberNetwork(n); err == nil { // validated
			allow = append(allow, p)
		}
	}
	var own []netip.AddrPort
	for _, l := range cfg.Listen {
		if ap, ok := listenAddrPort(l); ok {
			own = append(own, ap)
		}
	}
	for _, a := range append(append([]net.Addr(nil), side.served...), side.listen) {
		if a == nil {
			continue
		}
		if ap, ok := listenAddrPort(a.String()); ok {
			own = append(own, ap)
		}
	}
	side.policy.SetRules(allow, own)
}

// listenAddrPort reads a listen address ("host:port", ":port", "port"),
// an empty or "*" host as every address; names and port 0 are skipped.
func listenAddrPort(l string) (netip.AddrPort, bool) {
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		host, port = "", l
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, false
	}
	ip := netip.IPv6Unspecified()
	if host != "" && host != "*" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPortFrom(ip, uint16(n)), true
}

// DefaultStateDir is where BalancerPersist keeps its state without
// -state-dir: a sluice-state directory beside the configuration file.
func DefaultStateDir(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "sluice-state")
}

// UseState sets the BalancerPersist state directory and restores the
// persisted state over the running configuration. Call it before Serve.
// With ignore, a state file that cannot be read is logged and replaced at
// the next change instead of failing.
//
// In fleet mode the state comes from etcd instead: it is loaded here, so
// that it overrides the configuration from the first request on. An etcd
// that does not answer leaves the configuration in force until it does.
func (s *Server) UseState(dir string, ignore bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adm.a.UseStateFile(filepath.Join(dir, admin.StateFileName), ignore)
	if st := s.adm.fleet; st != nil {
		if err := st.Load(context.Background(), s.adm.a); err != nil {
			s.log.Warn("fleet store unavailable at start: serving the configuration until it answers", "err", err)
		}
	}
	return s.publish(s.rt.Load())
}

// StartFleet follows the fleet's state and publishes this instance's
// health view until Shutdown; it does nothing outside fleet mode. The
// instance is named by fleet.instance, else hostname:port of adminAddr,
// the admin listener's bound address ("" when there is none: then
// hostname:pidN).
func (s *Server) StartFleet(adminAddr string) {
	st := s.adm.fleet
	if st == nil {
		return
	}
	id := s.adm.instance
	if id == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "sluice"
		}
		if _, port, err := net.SplitHostPort(adminAddr); err == nil {
			id = host + ":" + port
		} else {
			id = host + ":pid" + strconv.Itoa(os.Getpid())
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.adm.fleetStop, s.adm.fleetDone = stop, done
	s.mu.Unlock()
	go func() { defer close(done); st.Run(ctx, id, s.adm.a) }()
	s.log.Info("fleet mode", "instance", id)
}

// publish makes rt live after re-applying the persisted state to its
// balancers, with no admin change in between.
func (s *Server) publish(rt *runtime) error {
	return s.adm.a.Restore(s.adminScope(rt, false), func() {
		s.adm.setPolicy(rt.cfg)
		s.rt.Store(rt)
		clear(s.adm.backends)
		s.metrics.sync(rt)
	})
}

// membersChanged follows an admin change of membership: health checks and
// metrics learn the new members. It runs under the admin lock.
func (s *Server) membersChanged() {
	rt := s.rt.Load()
	s.hc.Update(rt.members(), rt.exprs, checkConcurrency(rt.cfg))
	s.metrics.sync(rt)
}

// adminScope is the admin listener's view of rt: every balancer once, by
// its ID (config.Balancer.ID). live marks rt as the running runtime, whose
// pools are shared.
func (s *Server) adminScope(rt *runtime, live bool) *admin.Scope {
	sc := &admin.Scope{
		Token:      s.adm.token,
		Hosts:      s.adm.hosts,
		ServerName: rt.hosts[0].serverName,
		Persist:    rt.cfg.BalancerPersist,
		Growth:     rt.cfg.BalancerGrowth,
		Build:      s.builder(rt, live),
	}
	// A balancer a vhost inherits is the main server's, listed once.
	seen := make(map[string]bool)
	for _, vh := range rt.hosts {
		for _, name := range sortedBalancers(vh) {
			if bal := vh.balancers[name]; !seen[bal.Name] {
				seen[bal.Name] = true
				sc.Entries = append(sc.Entries, admin.Entry{Bal: bal, Configured: configuredBalancer(rt, vh, name)})
			}
		}
	}
	return sc
}

// managerScope is what a manager location of the host serving host shows:
// that host's balancers, behind its Require rules.
func (s *Server) managerScope(host []byte, local net.Addr, path string) *admin.Scope {
	rt := s.rt.Load()
	vh := rt.vhostFor(host, local)
	i := slices.IndexFunc(vh.managers, func(m config.Manager) bool { return m.Path == path })
	if i < 0 {
		// Gone in a reload since the request was routed.
		return &admin.Scope{Prefix: strings.TrimSuffix(path, "/"), Location: true, Require: []string{"all denied"}}
	}
	sc := &admin.Scope{
		Prefix:     strings.TrimSuffix(path, "/"),
		Location:   true,
		Require:    vh.managers[i].Require,
		ServerName: vh.serverName,
		Persist:    rt.cfg.BalancerPersist,
		Growth:     rt.cfg.BalancerGrowth,
		Build:      s.builder(rt, true),
	}
	for _, h := range append([]*config.Host{vh.cfg}, rt.cfg.Main) {
		for _, n := range append([]string{h.ServerName}, h.ServerAliases...) {
			if n = hostName(n); n != "" {
				sc.Hosts = append(sc.Hosts, n)
			}
		}
	}
	for _, name := range sortedBalancers(vh) {
		sc.Entries = append(sc.Entries, admin.Entry{Bal: vh.balancers[name], Configured: configuredBalancer(rt, vh, name)})
	}
	return sc
}

// manage serves a request for one of vh's manager locations, reporting
// whether it did. It is the request path's only contact with the admin.
func (s *Server) manage(ctx *fasthttp.RequestCtx, vh *vhost) bool {
	path := ctx.Path()
	for i := range vh.managers {
		mp := vh.managers[i].Path
		if !pathscope.Under(path, mp) {
			continue
		}
		if vh.managers[i].TLSOnly && !ctx.IsTLS() {
			s.fail(ctx, fasthttp.StatusForbidden) // SSLRequireSSL
			return true
		}
		host, local := append([]byte(nil), ctx.Host()...), ctx.LocalAddr()
		s.adm.a.Serve(ctx, func() *admin.Scope { return s.managerScope(host, local, mp) })
		s.logRequest(ctx, s.now(), len(ctx.Response.Body()))
		return true
	}
	return false
}

func sortedBalancers(vh *vhost) []string {
	names := make([]string, 0, len(vh.balancers))
	for name := range vh.balancers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// configuredBalancer is balancer name as vh's configuration (or the main
// server's, which vh inherits) defines it; nil for an implicit one.
func configuredBalancer(rt *runtime, vh *vhost, name string) *config.Balancer {
	if b := vh.cfg.Balancer(name); b != nil {
		return b
	}
	return rt.cfg.Main.Balancer(name)
}

// builder builds snapshots for rt with pools as runtime.go builds them. A
// member rt already has keeps its pool: the admin never changes connection
// settings, and its ID fixes its URL. Any other member was added through
// the admin, and its pool dials through the member policy.
func (s *Server) builder(rt *runtime, live bool) admin.Builder {
	return func(bc *config.Balancer) (*pool.Snapshot, error) {
		snap, err := pool.NewSnapshot(s.reg, bc)
		if err != nil {
			return nil, err
		}
		hc := rt.cfg.Main
		for _, vh := range rt.hosts {
			if own := vh.cfg.Balancer(bc.Name); own != nil && own.ID() == bc.ID() {
				hc = vh.cfg
				break
			}
		}
		for _, m := range snap.Members {
			be := rt.backends[m.ID]
			o := backendOptions(m.Params, hc, bc)
			o.Policy = s.adm.policy
			switch {
			case be != nil:
			case !live:
				// rt is not serving yet: its map is still ours.
				be = pool.NewBackend(m, o)
				rt.backends[m.ID] = be
			default:
				be = s.adm.backends[m.ID]
				if be == nil {
					be = pool.NewBackend(m, o)
					s.adm.backends[m.ID] = be
				}
			}
			m.Backend = be
		}
		return snap, nil
	}
}

// ListenAdmin opens the admin listener: host:port, or unix:/path (a stale
// socket file is replaced; the new one is mode 0600).
func ListenAdmin(addr string) (net.Listener, error) {
	path, unix := strings.CutPrefix(addr, "unix:")
	if !unix {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on admin address %q: %w", addr, err)
		}
		return ln, nil
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on admin socket %q: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("cannot restrict admin socket %q: %w", path, err)
	}
	return ln, nil
}

// sideServer is the fasthttp server of a listener beside the proxy's (the
// admin's, the metrics'): operators' requests, small and few.
func (s *Server) sideServer(h fasthttp.RequestHandler, maxBody int) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               h,
		NoDefaultServerHeader: true,
		MaxRequestBodySize:    maxBody,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		CloseOnShutdown:       true,
		Logger:                slogPrinter{s.log},
	}
}

// ServeAdmin serves the admin API, page and /metrics on ln until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error {
	s.mu.Lock()
	if s.adm.fs == nil {
		s.adm.fs = s.sideServer(func(ctx *fasthttp.RequestCtx) {
			s.adm.a.Serve(ctx, func() *admin.Scope { return s.adminScope(s.rt.Load(), true) })
		}, 64<<10)
		s.adm.fs.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
			status := fasthttp.StatusBadRequest
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				status = fasthttp.StatusRequestEntityTooLarge
			}
			ctx.SetStatusCode(status)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"error":"` + fasthttp.StatusMessage(status) + `"}` + "\n")
		}
	}
	fs := s.adm.fs
	if ln.Addr().Network() == "tcp" {
		s.adm.listen = ln.Addr()
		s.adm.setPolicy(s.rt.Load().cfg)
	}
	s.mu.Unlock()
	err := fs.Serve(&patientListener{Listener: ln, log: s.log, wrap: s.startAdminTLS})
	if s.closing.Load() {
		return nil
	}
	return err
}

// stopAdmin ends drain waits and the admin listener, then leaves the
// fleet: its health view is withdrawn and the etcd connection closed.
func (s *Server) stopAdmin(ctx context.Context) {
	s.adm.a.Close()
	s.mu.Lock()
	fs, stopFleet, fleetDone := s.adm.fs, s.adm.fleetStop, s.adm.fleetDone
	s.mu.Unlock()
	if fs != nil {
		_ = fs.ShutdownWithContext(ctx)
	}
	if stopFleet != nil {
		stopFleet()
		<-fleetDone
	}
	if s.adm.fleet != nil {
		_ = s.adm.fleet.Close()
	}
}
