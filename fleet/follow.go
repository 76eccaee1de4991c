package fleet

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluiceproxy/sluice/admin"
)

// Load reads the whole stored state in one request and hands it to t; the
// watch then resumes after its revision. The server calls it at start so
// that etcd's state overrides the configuration before the first request.
func (s *Store) Load(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.prefix+"/", clientv3.WithPrefix())
	if err != nil {
		s.failed(err)
		return err
	}
	s.answered()
	var recs []admin.Record
	peers := make(map[string][]byte)
	for _, kv := range resp.Kvs {
		switch kind, name, ok := s.parseKey(kv.Key); {
		case !ok:
		case kind == "balancers":
			recs = append(recs, admin.Record{Balancer: name, Data: kv.Value, Rev: kv.ModRevision})
		default:
			peers[name] = kv.Value
		}
	}
	t.Reset(recs, peers)
	s.rev.Store(resp.Header.Revision)
	s.loads.Add(1)
	s.loaded.Store(true)
	return nil
}

// Run follows the stored state and publishes this instance's health view
// as instance until ctx ends, then withdraws the health view. Load must
// have been tried first.
func (s *Store) Run(ctx context.Context, instance string, t Target) {
	s.instance.Store(&instance)
	var wg sync.WaitGroup
	wg.Go(func() { s.publish(ctx, instance, t) })
	s.follow(ctx, t)
	wg.Wait()
}

// follow watches the prefix from the last applied revision, reloading
// everything when that revision was compacted away.
func (s *Store) follow(ctx context.Context, t Target) {
	delay := retryDelay()
	for ctx.Err() == nil {
		if !s.loaded.Load() {
			if err := s.Load(ctx, t); err != nil {
				delay(ctx)
				continue
			}
		}
		s.watch(ctx, t)
		delay(ctx)
	}
}

// watch applies events until the watch ends. The client resumes a broken
// stream by itself after the last event it delivered, so this returns only
// on compaction, on a cluster without a leader, or when ctx ends.
func (s *Store) watch(ctx context.Context, t Target) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(ctx, s.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(s.rev.Load()+1)) {
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				s.log.Warn("fleet store compacted past this instance's revision: reloading everything", "revision", s.rev.Load(), "compacted", resp.CompactRevision)
				s.loaded.Store(false)
			} else if ctx.Err() == nil {
				s.failed(err)
			}
			return
		}
		s.answered()
		for _, ev := range resp.Events {
			s.event(ev, t)
			s.rev.Store(ev.Kv.ModRevision)
		}
	}
}

// event hands one change to t.
func (s *Store) event(ev *clientv3.Event, t Target) {
	kind, name, ok := s.parseKey(ev.Kv.Key)
	if !ok {
		return
	}
	var value []byte
	if ev.Type == mvccpb.PUT {
		value = ev.Kv.Value
	}
	if kind == "balancers" {
		s.changes.Add(1)
		t.ApplyRecord(name, value, ev.Kv.ModRevision)
		return
	}
	t.SetPeer(name, value)
}

// retryDelay returns a wait that doubles from 100ms to maxRetryDelay and
// starts again after a long quiet time.
func retryDelay() func(ctx context.Context) {
	d, last := 100*time.Millisecond, time.Now()
	return func(ctx context.Context) {
		if time.Since(last) > 10*maxRetryDelay {
			d = 100 * time.Millisecond
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-ctx.Done():
		case <-tm.C:
		}
		d, last = min(2*d, maxRetryDelay), time.Now()
	}
}
