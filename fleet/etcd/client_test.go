package etcd

// Tests against a real etcd (fleet/etcdtest) through its JSON gateway.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/fleet/etcdtest"
	"github.com/sluiceproxy/sluice/internal/testnet"
)

const callTimeout = 5 * time.Second

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return c
}

func TestPrefixEnd(t *testing.T) {
	for prefix, want := range map[string]string{"/a/": "/a0", "a\xff": "b", "\xff\xff": "\x00", "/": "0"} {
		if got := string(prefixEnd(prefix)); got != want {
			t.Errorf("prefixEnd(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestGetAndCompareAndPut(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}})
	binary := []byte{0, 0xff, '\n', '"'}
	if err := c.Put(ctx(t), "/p/b", binary, 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"/p/a", "/p0", "/o"} {
		if err := c.Put(ctx(t), k, []byte(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	kvs, rev, err := c.GetPrefix(ctx(t), "/p/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 || string(kvs[0].Key) != "/p/a" || string(kvs[1].Key) != "/p/b" || string(kvs[1].Value) != string(binary) ||
		kvs[0].ModRevision <= kvs[1].ModRevision || rev < kvs[0].ModRevision {
		t.Fatalf("prefix /p/ at %d: %+v", rev, kvs)
	}

	// The put wins only from the key's revision; 0 is a key that does not
	// exist.
	res, err := c.CompareAndPut(ctx(t), "/p/new", []byte("one"), 0)
	if err != nil || !res.Put || res.Revision <= rev {
		t.Fatalf("first put of /p/new: %+v %v", res, err)
	}
	first := res.Revision
	if res, err = c.CompareAndPut(ctx(t), "/p/new", []byte("two"), 0); err != nil || res.Put || res.ModRevision != first {
		t.Fatalf("put of /p/new from 0 over %d: %+v %v", first, res, err)
	}
	if res, err = c.CompareAndPut(ctx(t), "/p/new", []byte("two"), first); err != nil || !res.Put || res.Revision <= first {
		t.Fatalf("put of /p/new from %d: %+v %v", first, res, err)
	}
	if res, err = c.CompareAndPut(ctx(t), "/p/gone", []byte("x"), first); err != nil || res.Put || res.ModRevision != 0 {
		t.Fatalf("put of a missing key from %d: %+v %v", first, res, err)
	}
}

// TestRefusal: what etcd refuses comes back as *Error with its code and
// message.
func TestRefusal(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.URL()}})
	err := c.Put(ctx(t), "", []byte("x"), 0)
	var ee *Error
	if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(ee.Message, "key is not provided") {
		t.Fatalf("put of an empty key: %v, want code 3 (invalid argument)", err)
	}
}

// TestRefusalText: an answer etcd wrote as text (not through its gateway)
// keeps its reason.
func TestRefusalText(t *testing.T) {
	text := "CommonName of client sending a request against gateway will be ignored and not used as expected\n"
	err := refusal(&response{code: 400, status: "400 Bad Request", body: &body{r: strings.NewReader(text)}})
	if want := "etcd refused the request: HTTP 400 Bad Request: " + strings.TrimSpace(text); err == nil || err.Error() != want {
		t.Fatalf("refusal: %v, want %s", err, want)
	}
}

// watcher runs Watch until the test ends; batches has what it applied.
type watcher struct {
	batches chan []Event
	done    chan struct{}
	err     error // what Watch returned, once done is closed
	cancel  context.CancelFunc
}

func watch(t *testing.T, c *Client, prefix string, rev int64) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{batches: make(chan []Event, 100), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.done)
		w.err = c.Watch(ctx, prefix, rev, func(evs []Event) { w.batches <- evs })
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// next is the next batch the watch applied.
func (w *watcher) next(t *testing.T) []Event {
	t.Helper()
	select {
	case evs := <-w.batches:
		return evs
	case <-w.done:
		t.Fatalf("watch ended: %v", w.err)
	case <-time.After(callTimeout):
		t.Fatalf("no watch message within %v", callTimeout)
	}
	return nil
}

// end is what Watch returned.
func (w *watcher) end(t *testing.T) error {
	t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(callTimeout):
		t.Fatalf("watch still running after %v", callTimeout)
	}
	return nil
}

// events collects the next n events the watch applied.
func (w *watcher) events(t *testing.T, n int) []Event {
	t.Helper()
	var evs []Event
	for len(evs) < n {
		evs = append(evs, w.next(t)...)
	}
	return evs
}

func TestWatch(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}})
	if err := c.Put(ctx(t), "/w/a", []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	_, rev, err := c.GetPrefix(ctx(t), "/w/")
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, c, "/w/", rev) // from the last put on
	if evs := w.next(t); len(evs) != 0 {
		t.Fatalf("first message: %+v, want the creation without events", evs)
	}
	if err := c.Put(ctx(t), "/w/b", []byte("put"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx(t), "/x", []byte("outside"), 0); err != nil {
		t.Fatal(err)
	}
	del, err := e.Client().Delete(ctx(t), "/w/a")
	if err != nil {
		t.Fatal(err)
	}
	evs := w.events(t, 3)
	if len(evs) != 3 || string(evs[0].KV.Key) != "/w/a" || string(evs[0].KV.Value) != "before" || evs[0].KV.ModRevision != rev ||
		string(evs[1].KV.Key) != "/w/b" || string(evs[1].KV.Value) != "put" || evs[1].Deleted ||
		string(evs[2].KV.Key) != "/w/a" || !evs[2].Deleted || evs[2].KV.ModRevision != del {
		t.Fatalf("events: %+v", evs)
	}
	w.cancel()
	if err := w.end(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("watch after cancel: %v", err)
	}
}

func TestWatchCompacted(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}})
	for range 3 {
		if err := c.Put(ctx(t), "/w/a", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, rev, err := c.GetPrefix(ctx(t), "/w/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client().Compact(ctx(t), rev); err != nil {
		t.Fatal(err)
	}
	err = c.Watch(ctx(t), "/w/", rev-1, func([]Event) {})
	var compacted *CompactedError
	if !errors.As(err, &compacted) || compacted.Revision != rev {
		t.Fatalf("watch from %d after compacting at %d: %v", rev-1, rev, err)
	}
}

func TestLease(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}})
	id, err := c.Grant(ctx(t), 10)
	if err != nil || id == 0 {
		t.Fatalf("grant: %d %v", id, err)
	}
	if err := c.Put(ctx(t), "/l/a", []byte("leased"), id); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.KeepAlive(ctx(t), id); err != nil || ttl <= 0 || ttl > 10 {
		t.Fatalf("keep-alive: %d %v", ttl, err)
	}
	if err := c.Revoke(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if kvs, _, err := c.GetPrefix(ctx(t), "/l/"); err != nil || len(kvs) != 0 {
		t.Fatalf("keys of a revoked lease: %+v %v", kvs, err)
	}
	if _, err := c.KeepAlive(ctx(t), id); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("keep-alive of a revoked lease: %v", err)
	}
	if err := c.Put(ctx(t), "/l/a", []byte("x"), id); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put with a revoked lease: %v", err)
	}
}

// TestEndpoints: a request goes to the next endpoint when one does not
// take connections, and waits, as long as its context lets it, for one
// that does.
func TestEndpoints(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{testnet.ClosedAddr(t), e.Endpoint()}})
	if err := c.Put(ctx(t), "/e/a", []byte("x"), 0); err != nil {
		t.Fatalf("put with the first endpoint closed: %v", err)
	}
	w := watch(t, c, "/e/", 1)
	if evs := w.events(t, 1); string(evs[0].KV.Key) != "/e/a" {
		t.Fatalf("watch with the first endpoint closed: %+v", evs)
	}

	e.Kill()
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := c.GetPrefix(short, "/e/")
	var refused *Error
	if err == nil || errors.As(err, &refused) || !unsent(err) {
		t.Fatalf("read with etcd down: %v, want a connection error", err)
	}
	if err := w.end(t); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("watch with etcd down: %v, want a broken stream", err)
	}

	// The put waits for etcd's restart and election as well as its own
	// round trip.
	restarting, cancel := context.WithTimeout(context.Background(), 3*callTimeout)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- c.Put(restarting, "/e/b", []byte("y"), 0) }()
	e.Restart()
	if err := <-got; err != nil {
		t.Fatalf("put while etcd restarted: %v", err)
	}
}

// TestEndpointNotAnswering: an endpoint that never answers a connection (a
// host that drops SYNs) takes only its share of a request's time, and the
// next endpoint answers within it.
func TestEndpointNotAnswering(t *testing.T) {
	etcd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"header":{"revision":"7"}}`)
	}))
	t.Cleanup(etcd.Close)
	const silent = "192.0.2.1:2379" // TEST-NET-1
	c := newClient(t, Config{Endpoints: []string{silent, etcd.URL}, Timeout: time.Second})
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == silent {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	call, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if _, rev, err := c.GetPrefix(call, "/p/"); err != nil || rev != 7 {
		t.Fatalf("read with the first endpoint silent: %d %v", rev, err)
	}
}

func TestAuth(t *testing.T) {
	e := etcdtest.Start(t)
	root := e.Client()
	if err := root.EnableAuth(ctx(t), "root-secret"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}, Username: "root", Password: "root-secret"})
	if err := c.Put(ctx(t), "/a/x", []byte("1"), 0); err != nil {
		t.Fatalf("put as root: %v", err)
	}
	w := watch(t, c, "/a/", 1)
	if evs := w.events(t, 1); string(evs[0].KV.Key) != "/a/x" {
		t.Fatalf("watch as root: %+v", evs)
	}

	// A token etcd no longer takes is replaced once, for calls and
	// watches alike.
	old, err := c.authToken(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.DropTokens(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.roundTrip(ctx(t), "/v3/kv/range", old, []byte(`{"key":"L2Ev"}`), &struct{}{}); !tokenRefused(err) {
		t.Fatalf("a call with the dropped token: %v, want it refused", err)
	}
	if _, _, err := c.GetPrefix(ctx(t), "/a/"); err != nil {
		t.Fatalf("read after the token was dropped: %v", err)
	}
	if err := root.DropTokens(ctx(t)); err != nil {
		t.Fatal(err)
	}
	w2 := watch(t, c, "/a/", 1)
	if evs := w2.events(t, 1); string(evs[0].KV.Key) != "/a/x" {
		t.Fatalf("watch after the token was dropped: %+v", evs)
	}

	// A wrong password fails without showing it; no user is refused.
	bad := newClient(t, Config{Endpoints: []string{e.Endpoint()}, Username: "root", Password: "wrong-secret"})
	if _, _, err := bad.GetPrefix(ctx(t), "/a/"); err == nil || strings.Contains(err.Error(), "wrong-secret") || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("read with a wrong password: %v", err)
	}
	anonymous := newClient(t, Config{Endpoints: []string{e.Endpoint()}})
	if _, _, err := anonymous.GetPrefix(ctx(t), "/a/"); !tokenRefused(err) {
		t.Fatalf("read without a user: %v", err)
	}
}

// TestAuthOff: a username for an etcd without authentication works, as
// with etcd's own client.
func TestAuthOff(t *testing.T) {
	e := etcdtest.Start(t)
	c := newClient(t, Config{Endpoints: []string{e.Endpoint()}, Username: "root", Password: "pw"})
	if err := c.Put(ctx(t), "/a/x", []byte("1"), 0); err != nil {
		t.Fatalf("put with a user, auth off: %v", err)
	}
}

func TestTLS(t *testing.T) {
	e := etcdtest.StartTLS(t)
	good := e.TLS().ClientConfig(t)
	roots, cert := good.RootCAs, good.Certificates[0]

	// https:// and a bare host:port with TLS set are the same.
	for _, ep := range []string{e.URL(), e.Endpoint()} {
		c := newClient(t, Config{Endpoints: []string{ep}, TLS: good})
		if err := c.Put(ctx(t), "/t/"+ep, []byte("x"), 0); err != nil {
			t.Fatalf("put over TLS to %s: %v", ep, err)
		}
		w := watch(t, c, "/t/", 1)
		if evs := w.events(t, 1); !strings.HasPrefix(string(evs[0].KV.Key), "/t/") {
			t.Fatalf("watch over TLS: %+v", evs)
		}
	}
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": {RootCAs: roots},
		"an unknown CA":         {Certificates: []tls.Certificate{cert}},
	} {
		c := newClient(t, Config{Endpoints: []string{e.URL()}, TLS: cfg})
		if err := c.Put(ctx(t), "/t/x", []byte("x"), 0); err == nil {
			t.Errorf("put over TLS with %s succeeded", name)
		}
	}
}
