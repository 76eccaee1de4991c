package server

import (
	"context"
	"net"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// ServeMetrics serves the Prometheus metrics at metrics.path on ln, the
// metrics.listen listener, until Shutdown. It answers as /metrics on the
// admin listener does: the same Host names and token. The path and
// listener are the start's (a restart changes them).
func (s *Server) ServeMetrics(ln net.Listener) error {
	cfg := s.rt.Load().cfg
	path := cfg.Metrics.Path
	hosts := s.adm.hosts
	if host, _, err := net.SplitHostPort(cfg.Metrics.Listen); err == nil && host != "" {
		hosts = append(slices.Clip(hosts), strings.ToLower(host))
	}
	fs := s.sideServer(func(ctx *fasthttp.RequestCtx) {
		s.adm.a.ServeMetrics(ctx, path, s.adm.token, hosts)
	}, 4<<10)
	s.mu.Lock()
	s.metricsFS = fs
	// Added members may not point back at sluice (threats.md ADM-04).
	s.adm.served = append(s.adm.served, ln.Addr())
	s.adm.setPolicy(s.rt.Load().cfg)
	s.mu.Unlock()
	err := fs.Serve(&patientListener{Listener: ln, log: s.log})
	if s.closing.Load() {
		return nil
	}
	return err
}

// stopMetrics closes the metrics listener and its connections once their
// answers are out, or ctx is done.
func (s *Server) stopMetrics(ctx context.Context) {
	s.mu.Lock()
	fs := s.metricsFS
	s.mu.Unlock()
	if fs != nil {
		_ = fs.ShutdownWithContext(ctx)
	}
}
