package fleet

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/admin"
	"github.com/sluiceproxy/sluice/fleet/etcd"
)

// Load reads the whole stored state in one request and hands it to t; the
// watch then resumes after its revision. The server calls it at start so
// that etcd's state overrides the configuration before the first request.
func (s *Store) Load(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kvs, rev, err := s.cli.GetPrefix(ctx, s.prefix+"/")
	if err != nil {
		s.failed(err)
		return err
	}
	s.answered()
	var recs []admin.Record
	peers := make(map[string][]byte)
	for _, kv := range kvs {
		switch kind, name, ok := s.parseKey(kv.Key); {
		case !ok:
		case kind == "balancers":
			recs = append(recs, admin.Record{Balancer: name, Data: stored(kv), Rev: kv.ModRevision})
		default:
			peers[name] = stored(kv)
		}
	}
	s.contain(func() { t.Reset(recs, peers) })
	s.rev.Store(rev)
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

// watch applies events until the watch ends: on compaction (then the
// next round reloads everything), when the stream breaks or etcd's member
// loses its leader (the next round resumes after the last applied
// revision), or when ctx ends.
func (s *Store) watch(ctx context.Context, t Target) {
	err := s.cli.Watch(ctx, s.prefix+"/", s.rev.Load()+1, func(events []etcd.Event) {
		s.answered()
		for _, ev := range events {
			s.contain(func() { s.event(ev, t) })
			s.rev.Store(ev.KV.ModRevision)
		}
	})
	var compacted *etcd.CompactedError
	switch {
	case errors.As(err, &compacted):
		s.log.Warn("fleet store compacted past this instance's revision: reloading everything", "revision", s.rev.Load(), "compacted", compacted.Revision)
		s.loaded.Store(false)
	case ctx.Err() == nil:
		s.failed(err)
	}
}

// event hands one change to t.
func (s *Store) event(ev etcd.Event, t Target) {
	kind, name, ok := s.parseKey(ev.KV.Key)
	if !ok {
		return
	}
	var value []byte
	if !ev.Deleted {
		value = stored(ev.KV)
	}
	if kind == "balancers" {
		s.changes.Add(1)
		t.ApplyRecord(name, value, ev.KV.ModRevision)
		return
	}
	t.SetPeer(name, value)
}

// stored is the value kv holds, never nil: nil tells the target that the
// key was deleted, and etcd's gateway omits an empty value.
func stored(kv etcd.KeyValue) []byte {
	if kv.Value == nil {
		return []byte{}
	}
	return kv.Value
}

// contain runs apply, which hands stored state to the admin API, and
// survives a panic in it: a fault in applying one record (a bug, since the
// records are validated) is logged with its stack and that record skipped,
// where it would otherwise end the whole proxy. The watch goes on after
// its revision, so the same record is not applied again and again.
func (s *Store) contain(apply func()) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("applying a fleet record failed inside sluice; skipped", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	apply()
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
