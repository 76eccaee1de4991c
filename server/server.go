// Package server is sluice's data path: the fasthttp front end, routing by
// virtual host and ProxyPass rules, request preparation, the failover loop
// over balancer members, streamed forwarding, response rewriting, WebSocket
// tunnels and the access log.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/pool"
)

// prefetchBody is how much of a request body fasthttp reads before the
// handler runs; the rest is streamed to the backend as it arrives.
const prefetchBody = 64 << 10

// Server is a running proxy. Its configuration is swapped atomically by
// Reload; Serve, Reload and Shutdown are safe for concurrent use.
type Server struct {
	log *slog.Logger
	reg *pool.Registry
	rt  atomic.Pointer[runtime]
	fs  *fasthttp.Server
	// now is the clock of the request path (error times, retries).
	now func() time.Time

	metrics *serverMetrics
	// limits are the client connection caps of the main listeners.
	limits *connLimits
	// adm is the balancer-manager (server/admin.go).
	adm *adminSide
	// metricsFS serves metrics.listen once ServeMetrics runs (under mu).
	metricsFS *fasthttp.Server
	// tlsConf starts every TLS client connection, adminTLS every TLS
	// admin one (tls.go).
	tlsConf, adminTLS *tls.Config

	// hc runs the health checks; watches cancels the member exchanges of
	// clients that left. stopBackground ends both, background waits.
	hc             *hcheck.Checker
	watches        clientWatches
	stopBackground context.CancelFunc
	background     sync.WaitGroup

	// lot parks idle client connections (park.go); nil: none park.
	lot *idleLot

	mu      sync.Mutex // guards tunnels and reloads
	tunnels map[net.Conn]struct{}
	tunnelW sync.WaitGroup
	closing atomic.Bool
}

// New builds a server for cfg. Client-side limits and timeouts are fixed
// for the server's life; Reload changes everything else.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{
		log:     log,
		reg:     pool.NewRegistry(),
		now:     time.Now,
		metrics: newServerMetrics(time.Now()),
		tunnels: make(map[net.Conn]struct{}),
	}
	rt, err := newRuntime(cfg, s.reg, nil, s.log)
	if err != nil {
		return nil, err
	}
	if rt.logs, _, err = openLogs(rt, nil); err != nil {
		return nil, err
	}
	s.metrics.sync(rt)
	s.rt.Store(rt)
	s.hc = hcheck.New(hcheck.Options{Log: log, Now: s.now})
	s.hc.Update(rt.members(), rt.exprs, checkConcurrency(cfg))
	if s.adm, err = newAdminSide(s, cfg); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stopBackground = stop
	s.background.Go(func() { s.hc.Run(ctx) })
	s.background.Go(func() { s.watches.run(ctx, s.now) })
	t := cfg.Timeouts
	maxHeader := cfg.Limits.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 16 << 10
	}
	s.tlsConf, s.adminTLS = s.serverTLS(), s.adminTLSConfig()
	s.metrics.set.RegisterMetricsWriter(s.writeCertificates)
	s.limits = newConnLimits(cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerIP)
	s.limits.setBudget(rt.maxBody, maxHeader) // the largest body limit of any host, as Reload sets it
	s.fs = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.clientError,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		StreamRequestBody:             true,
		MaxRequestBodySize:            prefetchBody,
		ReadBufferSize:                maxHeader,
		// No ReadTimeout, WriteTimeout or IdleTimeout: sluice keeps the
		// client's timeouts itself (connLimits), from clock readings the
		// request takes anyway.
		CloseOnShutdown:   true,
		ReduceMemoryUsage: true,
		Logger:            slogPrinter{log},
		// sluice caps connections as it accepts them (listener.go); the
		// worker pool only has to stay above that cap.
		Concurrency: max(fasthttp.DefaultConcurrency, 2*cfg.Limits.MaxConns),
		ConnState:   connState,
	}
	s.limits.header, s.limits.idle, s.limits.write = t.ClientHeader.D(), t.ClientIdle.D(), t.ClientWrite.D()
	s.limits.yields = goruntime.GOMAXPROCS(0) == 1
	if s.limits.idle <= 0 {
		s.limits.idle = s.limits.header // as fasthttp's IdleTimeout
	}
	s.lot = newIdleLot(s.fs.ServeConn, s.limits.idle, t.ClientPark.D(), s.metrics.set.NewCounter("sluice_client_parks_total"), log)
	s.metrics.set.NewGauge("sluice_client_connections", func() float64 { return float64(s.limits.open.Load()) })
	s.metrics.set.NewGauge("sluice_client_connections_parked", s.lot.parkedCount)
	return s, nil
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if ln.Addr().Network() == "tcp" {
		// Added members may not point back at sluice (threats.md ADM-04).
		s.mu.Lock()
		s.adm.served = append(s.adm.served, ln.Addr())
		s.adm.setPolicy(s.rt.Load().cfg)
		s.mu.Unlock()
	}
	err := s.fs.Serve(&patientListener{Listener: ln, log: s.log, limits: s.limits, wrap: s.startConn})
	if s.closing.Load() {
		return nil
	}
	return err
}

// Reload swaps in cfg. Listeners, client timeouts and limits keep their
// startup values (a restart changes them); everything else takes effect
// for the next request. On error the running configuration is kept.
func (s *Server) Reload(cfg *config.Config) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.countReload(err == nil) }()
	prev := s.rt.Load()
	rt, err := newRuntime(cfg, s.reg, prev, s.log)
	if err != nil {
		return err
	}
	logs, opened, err := openLogs(rt, prev.logs)
	if err != nil {
		return err
	}
	rt.logs = logs
	// The admin's persisted state is re-applied before rt goes live.
	if err := s.publish(rt); err != nil {
		for _, f := range opened {
			f.close()
		}
		return err
	}
	// Files no log names any more close; lines of requests still running
	// on prev would be lost only for those.
	prev.logs.closeUnused(logs)
	s.hc.Update(rt.members(), rt.exprs, checkConcurrency(cfg))
	s.limits.setBudget(rt.maxBody, s.fs.ReadBufferSize)
	keep := make(map[string]struct{}, len(rt.backends))
	for id := range rt.backends {
		keep[id] = struct{}{}
	}
	for id, be := range prev.backends {
		if rt.backends[id] != be {
			be.CloseIdle()
		}
	}
	s.reg.Retain(keep)
	return nil
}

// Shutdown stops accepting, lets in-flight requests and tunnels finish
// until ctx is done, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.lot.close()
	err := s.fs.ShutdownWithContext(ctx)
	s.lot.drain(ctx.Done())
	s.stopAdmin(ctx)
	s.stopMetrics(ctx)
	done := make(chan struct{})
	go func() { s.tunnelW.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.tunnels {
			_ = c.Close()
		}
		s.mu.Unlock()
		// A closed client connection ends a tunnel or relay at once,
		// unless it waits on its member (a read there takes up to the
		// member's timeout): that is not waited for long.
		select {
		case <-done:
		case <-time.After(tunnelGrace):
			s.log.Warn("shutdown: connections still relaying past the drain deadline, left to end with the process")
		}
	}
	s.stopBackground()
	s.background.Wait()
	s.rt.Load().logs.closeUnused(nil)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// tunnelGrace is how long Shutdown waits, past its deadline, for the
// tunnels and relays it closed to end.
const tunnelGrace = time.Second

// clientError answers requests fasthttp could not parse.
func (s *Server) clientError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case isTimeout(err):
		status = fasthttp.StatusRequestTimeout
	}
	errorPage(ctx, status)
	ctx.SetConnectionClose()
	s.logRefused(ctx, s.now(), len(ctx.Response.Body()))
}

// slogPrinter routes fasthttp's own log lines to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.log.Debug("fasthttp", "detail", fmt.Sprintf(format, args...))
}

// checkConcurrency is ProxyHCTPsize, Apache's 16 when a caller built cfg
// without config's defaults.
func checkConcurrency(cfg *config.Config) int {
	if cfg.HCTPSize == nil {
		return config.DefaultHCTPSize
	}
	return *cfg.HCTPSize
}
