//go:build !race

package pool

import (
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
)

// Finding the pool of a server name already met allocates nothing and
// takes no lock, whatever the case of the Host it came in; nor does an IP
// address's.
func TestForServerNameAllocs(t *testing.T) {
	m, err := NewMember(NewRegistry(), "b", "https://backend.test:8443", config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, BackendOptions{Timeout: time.Second})
	be.ForServerName([]byte("app.test"))
	for _, host := range []string{"app.test", "App.Test:443", "192.0.2.1:443"} {
		if n := testing.AllocsPerRun(100, func() { be.ForServerName([]byte(host)) }); n != 0 {
			t.Errorf("%s: %v allocations", host, n)
		}
	}
}
