// Package lowport finds free loopback ports below the kernel's ephemeral
// range (32768 and up on Linux), for programs that must be told a port
// before they listen (etcd, nginx, HAProxy, Apache). A port the kernel
// picked with :0 and handed back can be taken at once as the source port
// of any outgoing connection; a port below the range can only be taken by
// another listener.
package lowport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

const lo, hi = 20000, 32768

// Set hands out ports no earlier call on it returned. Its zero value is
// ready to use and safe for concurrent use.
type Set struct {
	mu   sync.Mutex
	used map[int]bool
}

// Free returns a port on 127.0.0.1 that was free when probed and that
// this Set has not returned before. The probe starts at a random port,
// so that concurrent processes rarely probe the same ones.
func (s *Set) Free() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used == nil {
		s.used = map[int]bool{}
	}
	start := rand.IntN(hi - lo)
	for i := range hi - lo {
		port := lo + (start+i)%(hi-lo)
		if s.used[port] {
			continue
		}
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		if err := ln.Close(); err != nil {
			return 0, err
		}
		s.used[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi-1)
}
