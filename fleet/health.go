package fleet

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/sluiceproxy/sluice/fleet/etcd"
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
		lease   int64
		renewed time.Time // the lease's last grant or renewal
		last    []byte
	)
	for {
		if lease == 0 {
			lease, renewed, last = s.grant(ctx), time.Now(), nil
		}
		if lease != 0 && time.Since(renewed) >= renewEvery {
			switch err := s.renew(ctx, lease); {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, etcd.ErrLeaseNotFound):
				lease = 0
			}
		}
		if rec := t.HealthRecord(); lease != 0 && !bytes.Equal(rec, last) {
			c, cancel := context.WithTimeout(ctx, s.timeout)
			err := s.cli.Put(c, key, rec, lease)
			cancel()
			switch {
			case err == nil:
				last = rec
				s.answered()
			case errors.Is(err, etcd.ErrLeaseNotFound):
				lease = 0
			case ctx.Err() == nil:
				s.failed(err)
			}
		}
		select {
		case <-ctx.Done():
			if lease != 0 {
				c, cancel := context.WithTimeout(context.Background(), s.timeout)
				_ = s.cli.Revoke(c, lease)
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

// grant starts a lease; 0 when etcd does not answer.
func (s *Store) grant(ctx context.Context) int64 {
	c, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	id, err := s.cli.Grant(c, leaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return 0
	}
	s.answered()
	return id
}

// renew renews lease once. An etcd that does not answer leaves the lease
// as it is: if it expired meanwhile, the next renewal says so.
func (s *Store) renew(ctx context.Context, lease int64) error {
	c, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.cli.KeepAlive(c, lease)
	switch {
	case err == nil:
		s.answered()
	case !errors.Is(err, etcd.ErrLeaseNotFound) && ctx.Err() == nil:
		s.failed(err)
	}
	return err
}
