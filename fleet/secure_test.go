package fleet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/admin"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/fleet/etcdtest"
)

// TestSecureStore: the fleet settings' TLS files and password reach etcd:
// a store over TLS with a client certificate, as an etcd user, loads,
// saves and follows; a wrong password saves nothing.
func TestSecureStore(t *testing.T) {
	e := etcdtest.StartTLS(t)
	if err := e.Client().EnableAuth(context.Background(), "root-secret"); err != nil {
		t.Fatal(err)
	}
	f := e.TLS()
	secret := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(secret, []byte("root-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := config.Etcd{
		Endpoints: []string{e.URL()}, Prefix: "/test", Timeout: config.Duration(time.Second),
		Username: "root", PasswordFile: secret,
		TLS: config.EtcdTLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey},
	}
	open := func(s config.Etcd) *Store {
		st, err := New(config.Fleet{Etcd: s}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	a, b := open(settings), open(settings)
	ta, tb := newTarget(""), newTarget("")
	load(t, a, ta)
	load(t, b, tb)
	run(t, b, "b", tb)
	rev := save(t, a, "app", "secure", 0)
	waitFor(t, "record at b", func() bool { got, r := tb.record("app"); return got == "secure" && r == rev })

	wrong := settings
	wrong.PasswordFile, wrong.Password = "", "not-it"
	c := open(wrong)
	if err := c.Load(context.Background(), newTarget("")); err == nil {
		t.Fatal("load with a wrong password succeeded")
	}
	if _, err := c.Save(context.Background(), "app", []byte("x"), rev); !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("save with a wrong password: %v, want ErrUnavailable", err)
	}
}
