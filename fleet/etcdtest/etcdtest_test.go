package etcdtest

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// A port taken between the probe and etcd's bind must read as
// errPortTaken, the one failure start tries again on other ports.
func TestRunReportsTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := &Etcd{t: t, dir: t.TempDir(), client: ln.Addr().String(), peer: freeAddr(t),
		http: &http.Client{Timeout: 100 * time.Millisecond}}
	defer e.Kill()
	if err := e.run(); !errors.Is(err, errPortTaken) {
		t.Fatalf("run on a taken port: %v, want errPortTaken", err)
	}
}
