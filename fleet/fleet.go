// Package fleet shares the balancer-manager's state across sluice
// instances through etcd (docs/fleet.md). It implements admin.Store: every
// admin change is a transaction on the balancer's record, conditional on
// the record's revision (the ETag), and every instance follows the records
// with a watch, handing each change to the admin, which applies it as a new
// snapshot exactly as a local change. Each instance also publishes its
// members' health under a lease, so that it disappears with the instance.
//
// Keys, under the configured prefix:
//
//	PREFIX/balancers/NAME    a balancer's record, the document BalancerPersist keeps
//	PREFIX/health/INSTANCE   an instance's health view (leased)
//
// The request path never waits on etcd: when etcd is unreachable the
// instances serve with the state they last applied, admin writes fail fast
// with 503, and the watch resumes from the last applied revision when etcd
// answers again (or reloads everything if etcd compacted past it).
package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/admin"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/fleet/etcd"
)

// Target is what the store feeds: the admin (admin.Admin implements it).
type Target interface {
	// ApplyRecord applies a balancer record another instance saved; nil
	// rec: the record was deleted (one put empty is not nil).
	ApplyRecord(balancer string, rec []byte, rev int64)
	// Reset replaces every record and peer health view by the whole
	// stored state.
	Reset(recs []admin.Record, peers map[string][]byte)
	// SetPeer records an instance's health view; nil: it left.
	SetPeer(instance string, rec []byte)
	// HealthRecord is this instance's health view, published as it changes.
	HealthRecord() []byte
}

// Store is the fleet's shared state in etcd. Save and Status are safe for
// concurrent use; Load and Run are called by one goroutine.
type Store struct {
	cli     *etcd.Client
	prefix  string
	timeout time.Duration
	log     *slog.Logger

	// loaded: a whole load happened, so records have known revisions and
	// Save may compare against them.
	loaded atomic.Bool
	// rev is the revision the watch resumes after: every change under the
	// prefix up to it was handed to the target. Written by Load and Run
	// only; atomic for Counters.
	rev atomic.Int64
	// Counted for Counters.
	saved, conflicts, unavailable atomic.Uint64
	changes, loads                atomic.Uint64
	// instance is this instance's name, known once Run starts.
	instance atomic.Pointer[string]
	// connected: the last request to etcd was answered.
	connected atomic.Bool
	// down is whether the last request to etcd failed; logged on change.
	downMu sync.Mutex
	down   bool
}

// Timings that are not configuration: how long the health lease outlives
// an instance that stopped renewing it, how often it is renewed (a third
// of that, as etcd's own client does: two renewals may fail in a row), how
// often the health view is compared with the one published, and the
// longest wait between two attempts to reach etcd.
const (
	leaseTTL      = 10 // seconds
	renewEvery    = leaseTTL * time.Second / 3
	healthEvery   = time.Second
	maxRetryDelay = time.Second
)

// New prepares the client for the etcd of cfg; it connects on the first
// request (an etcd that does not answer is not an error here). Passwords
// and TLS files are read now.
func New(cfg config.Fleet, log *slog.Logger) (*Store, error) {
	e := cfg.Etcd
	c := etcd.Config{Endpoints: e.Endpoints, Timeout: e.Timeout.D(), Username: e.Username}
	var err error
	if c.Password, err = config.ReadSecret("fleet etcd password", e.Password, e.PasswordFile, e.PasswordEnv); err != nil {
		return nil, err
	}
	if c.TLS, err = tlsConfig(e); err != nil {
		return nil, err
	}
	cli, err := etcd.New(c)
	if err != nil {
		return nil, fmt.Errorf("fleet: cannot set up the etcd client: %w", err)
	}
	return &Store{cli: cli, prefix: e.Prefix, timeout: e.Timeout.D(), log: log}, nil
}

// Close ends the connections to etcd; call it after Run returned.
func (s *Store) Close() error {
	s.cli.Close()
	return nil
}

// Counters are what the store did since New, for the metrics.
type Counters struct {
	// Connected: etcd answered the last request. Synced: the whole state
	// was loaded at least once.
	Connected, Synced bool
	// Revision is the etcd revision up to which every change under the
	// prefix was applied (0 before the first load).
	Revision int64
	// Changes are the balancer record changes (puts and deletes) the watch
	// delivered, this instance's own included.
	Changes uint64
	// Loads are the whole loads: at start, and after etcd compacted past
	// this instance.
	Loads uint64
	// Save calls by how they ended: the record replaced; refused because
	// another revision was stored (*admin.StaleError); refused because etcd
	// did not answer or was never loaded (admin.ErrUnavailable).
	Saved, Conflicts, Unavailable uint64
}

// Counters is a snapshot of the store's counts; safe for concurrent use.
func (s *Store) Counters() Counters {
	st := s.Status()
	return Counters{
		Connected: st.Connected, Synced: st.Synced, Revision: s.rev.Load(),
		Changes: s.changes.Load(), Loads: s.loads.Load(),
		Saved: s.saved.Load(), Conflicts: s.conflicts.Load(), Unavailable: s.unavailable.Load(),
	}
}

// Status is how this instance stands with etcd.
func (s *Store) Status() admin.StoreStatus {
	st := admin.StoreStatus{Synced: s.loaded.Load()}
	if id := s.instance.Load(); id != nil {
		st.Instance = *id
	}
	st.Connected = s.connected.Load()
	return st
}

// Save replaces balancer's record by rec if its mod revision is still rev,
// in one etcd transaction; it never waits longer than the configured
// timeout.
func (s *Store) Save(ctx context.Context, balancer string, rec []byte, rev int64) (int64, error) {
	if !s.loaded.Load() {
		s.unavailable.Add(1)
		return 0, fmt.Errorf("%w: its state was never loaded", admin.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.cli.CompareAndPut(ctx, s.balancerKey(balancer), rec, rev)
	if err != nil {
		s.failed(err)
		s.unavailable.Add(1)
		return 0, fmt.Errorf("%w: %v", admin.ErrUnavailable, err)
	}
	s.answered()
	if !res.Put {
		s.conflicts.Add(1)
		return 0, &admin.StaleError{Rev: res.ModRevision}
	}
	s.saved.Add(1)
	return res.Revision, nil
}

func (s *Store) balancerKey(name string) string {
	return s.prefix + "/balancers/" + url.PathEscape(name)
}

func (s *Store) healthKey(instance string) string {
	return s.prefix + "/health/" + url.PathEscape(instance)
}

// parseKey splits a key under the prefix into its kind ("balancers",
// "health") and name; ok is false for keys sluice does not write.
func (s *Store) parseKey(key []byte) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(string(key), s.prefix+"/")
	if !found {
		return "", "", false
	}
	kind, escaped, found := strings.Cut(rest, "/")
	if !found || kind != "balancers" && kind != "health" {
		return "", "", false
	}
	name, err := url.PathUnescape(escaped)
	if err != nil || name == "" {
		return "", "", false
	}
	return kind, name, true
}

// failed and answered log the transitions between reaching etcd and not.
func (s *Store) failed(err error) {
	s.connected.Store(false)
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if !s.down {
		s.down = true
		s.log.Warn("fleet store unavailable: serving with the last state; admin changes refused until it answers", "err", err)
	}
}

func (s *Store) answered() {
	s.connected.Store(true)
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if s.down {
		s.down = false
		s.log.Info("fleet store available again")
	}
}

// tlsConfig is the TLS setup of cfg; nil when neither a TLS file nor an
// https:// endpoint asks for TLS.
func tlsConfig(e config.Etcd) (*tls.Config, error) {
	https := false
	for _, ep := range e.Endpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	t := e.TLS
	if !https && t == (config.EtcdTLS{}) {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read fleet etcd ca_file %q: %w", t.CAFile, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fleet etcd ca_file %q holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load fleet etcd cert_file %q and key_file %q: %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
