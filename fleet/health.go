package fleet

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// publish keeps this instance's health view under its key, attached to a
// lease it renews: the key disappears when the instance stops renewing
// (it died, or etcd lost it for longer than the lease), and is written again
// under a new lease when etcd answers. The view is written only when it
// changed. When ctx ends the lease is revoked, withdrawing the view.
func (s *Store) publish(ctx context.Context, instance string, t Target) {
	key := s.healthKey(instance)
	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	var (
		lease clientv3.LeaseID
		alive <-chan *clientv3.LeaseKeepAliveResponse
		last  []byte
	)
	for {
		if lease == 0 {
			lease, alive = s.grant(ctx)
			last = nil
		}
		if rec := t.HealthRecord(); lease != 0 && !bytes.Equal(rec, last) {
			c, cancel := context.WithTimeout(ctx, s.timeout)
			_, err := s.cli.Put(c, key, string(rec), clientv3.WithLease(lease))
			cancel()
			switch {
			case err == nil:
				last = rec
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				lease = 0
			default:
				s.failed(err)
			}
		}
		select {
		case <-ctx.Done():
			if lease != 0 {
				c, cancel := context.WithTimeout(context.Background(), s.timeout)
				_, _ = s.cli.Revoke(c, lease)
				cancel()
			}
			return
		case _, ok := <-alive:
			if !ok {
				lease, alive = 0, nil
			}
		case <-tick.C:
		}
	}
}

// grant starts a lease and its renewals; 0 when etcd does not answer.
func (s *Store) grant(ctx context.Context) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse) {
	c, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	l, err := s.cli.Grant(c, leaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return 0, nil
	}
	alive, err := s.cli.KeepAlive(ctx, l.ID)
	if err != nil {
		return 0, nil
	}
	return l.ID, alive
}
