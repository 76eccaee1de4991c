// Command sluice is an L7 reverse proxy and load balancer that reads Apache
// httpd proxy configuration (or its native YAML form).
//
//	sluice -config FILE        run in the foreground
//	sluice -config FILE -t     validate and exit
//	sluice -config FILE -dump-config
//	sluice -version
//	sluice -config FILE -state-dir DIR [-ignore-state]   BalancerPersist state
//
// SIGHUP reloads the configuration (the last good one is kept on error);
// SIGTERM and SIGINT stop accepting, drain in-flight requests and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/server"
)

// defaultAdminListen is where the admin API listens when the config does
// not say.
const defaultAdminListen = "127.0.0.1:9090"

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// The request path allocates nothing, so garbage comes slowly (a
		// request body, a new connection) and collecting it at half Go's
		// default heap growth costs little CPU; it keeps resident memory
		// under load below nginx's (docs/benchmarks.md). GOGC overrides.
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultGCPercent is sluice's GOGC when the environment sets none.
const defaultGCPercent = 50

// loadConfig reads the configuration at start and on SIGHUP; -d gives it
// an initial ServerRoot.
var loadConfig = config.Load

// load runs loadConfig and turns a panic into an error. Parsing builds a
// new model and touches nothing shared, so a bug in it must fail the check
// or the reload with a message, not end a proxy serving the last good
// configuration.
func load(path string) (cfg *config.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			cfg, err = nil, fmt.Errorf("%s: the configuration parser failed (a sluice bug, please report it): %v\n%s", path, p, debug.Stack())
		}
	}()
	return loadConfig(path)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (*.conf: Apache syntax, *.yaml: native)")
	check := fs.Bool("t", false, "validate the configuration and exit")
	dump := fs.Bool("dump-config", false, "print the normalized YAML configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	root := fs.String("d", "", "initial ServerRoot `directory` for relative Include paths (Apache's -d)")
	stateDir := fs.String("state-dir", "", "BalancerPersist state `directory` (default: sluice-state beside the config file)")
	ignoreState := fs.Bool("ignore-state", false, "start even when the BalancerPersist state file cannot be read (it is replaced at the next change)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h asked for the usage
		}
		return 2
	}
	if fs.NArg() > 0 {
		// Flags after a word are not read: "-config x.conf foo -t" must
		// not start serving.
		fmt.Fprintf(stderr, "sluice: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "sluice", version)
		return 0
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice: -config is required")
		fs.Usage()
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "sluice: -log-level %q: allowed debug, info, warn, error\n", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	if *root != "" {
		if !strings.EqualFold(filepath.Ext(*path), ".conf") {
			fmt.Fprintln(stderr, "sluice: -d applies to Apache (.conf) configs only")
			return 2
		}
		loadConfig = func(p string) (*config.Config, error) { return config.LoadApacheRoot(p, *root) }
	}
	cfg, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	switch {
	case *check:
		fmt.Fprintln(stdout, "Syntax OK")
		return 0
	case *dump:
		out, err := config.Dump(cfg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		_, _ = stdout.Write(out)
		return 0
	}
	if *stateDir == "" {
		*stateDir = server.DefaultStateDir(*path)
	}
	if err := serve(cfg, *path, state{*stateDir, *ignoreState}, log); err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

// state is where BalancerPersist keeps its state (-state-dir, -ignore-state).
type state struct {
	dir    string
	ignore bool
}

// serve runs the proxy until SIGTERM or SIGINT.
func serve(cfg *config.Config, path string, st state, log *slog.Logger) error {
	// Signals are caught before anything starts: a SIGHUP (a log rotation,
	// say) while the state loads or etcd is awaited would otherwise end
	// the process; they are acted on once it serves. A write to a broken
	// pipe fails with EPIPE instead: Go's default ends the process when
	// stdout or stderr is one (a log reader that died), and nginx and
	// Apache ignore SIGPIPE for the same reason.
	sig := make(chan os.Signal, 4)
	signal.Ignore(syscall.SIGPIPE)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	srv.SetVersion(version)
	if err := srv.UseState(st.dir, st.ignore); err != nil {
		return err
	}
	var listeners []net.Listener
	for _, addr := range cfg.Listen {
		ln, err := server.Listen(listenAddr(addr), cfg.AcceptFilter != config.AcceptFilterNone)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return fmt.Errorf("cannot listen on %q: %w", addr, err)
		}
		listeners = append(listeners, ln)
	}
	serveErr := make(chan error, len(listeners)+2) // and the admin and metrics listeners
	for _, ln := range listeners {
		log.Info("listening", "addr", ln.Addr().String())
		go func(ln net.Listener) { serveErr <- srv.Serve(ln) }(ln)
	}
	// The admin API listens on 127.0.0.1:9090 unless admin.listen says
	// otherwise ("off" disables it). Only a configured address is required
	// to bind: the default is skipped with a warning when it is taken.
	adminAddr := cfg.Admin.Listen
	if adminAddr == "" {
		adminAddr = defaultAdminListen
	}
	bound := ""
	if adminAddr != "off" {
		ln, err := server.ListenAdmin(adminAddr)
		switch {
		case err == nil:
			bound = ln.Addr().String()
			log.Info("admin listening", "addr", bound)
			go func() { serveErr <- srv.ServeAdmin(ln) }()
		case cfg.Admin.Listen != "":
			return err
		default:
			log.Warn("admin API not started: default address unavailable", "addr", adminAddr, "err", err)
		}
	}
	if m := cfg.Metrics; m.Listen != "" {
		ln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			return fmt.Errorf("cannot listen on metrics address %q: %w", m.Listen, err)
		}
		log.Info("metrics listening", "addr", ln.Addr().String(), "path", m.Path)
		go func() { serveErr <- srv.ServeMetrics(ln) }()
	}
	srv.StartFleet(bound) // names the instance by the admin port
	log.Info("ready", "config", path, "version", version)
	for {
		select {
		case err := <-serveErr:
			if err != nil {
				return err
			}
		case s := <-sig:
			if s == syscall.SIGHUP {
				if next := reload(srv, path, log); next != nil {
					cfg = next // timeouts.drain as reloaded
				}
				continue
			}
			drain := cfg.Timeouts.Drain.D()
			if drain <= 0 {
				drain = 30 * time.Second
			}
			log.Info("shutting down", "signal", s.String(), "drain", drain)
			ctx, cancel := context.WithTimeout(context.Background(), drain)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

// reload loads the configuration file again and swaps it in, and returns
// it; on any error the running configuration stays, and it returns nil.
func reload(srv *server.Server, path string, log *slog.Logger) *config.Config {
	cfg, err := load(path)
	if err != nil {
		srv.ReloadRefused()
	} else {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error("reload failed", "err", err)
		return nil
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	log.Info("reloaded", "config", path)
	return cfg
}

// listenAddr accepts Apache's bare-port form ("80").
func listenAddr(a string) string {
	if !strings.Contains(a, ":") {
		return ":" + a
	}
	return a
}
