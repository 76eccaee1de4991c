package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	reloadV1 = "Listen 127.0.0.1:0\nProxyPass /a http://{B1}/a\n"
	reloadV2 = "Listen 127.0.0.1:0\nProxyPass /b http://{B2}/b\nProxyPass /a http://{B1}/a\n"
	// Invalid: ProxyPass without a URL.
	reloadBad = "Listen 127.0.0.1:0\nProxyPass /a\n"
)

// loadGen sends GET /a from a few goroutines until stopped (normally well
// under a second), a maximum count, or a safety deadline generous enough for
// a loaded 2-core machine, and counts failures.
type loadGen struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(t *testing.T, c *http.Client, url string) *loadGen {
	l := &loadGen{stop: make(chan struct{})}
	deadline := time.Now().Add(10 * time.Second)
	for range 4 {
		l.wg.Go(func() {
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := fetchOK(c, url); err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err)
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	t.Cleanup(l.finish)
	return l
}

func (l *loadGen) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitOK waits until at least n requests succeeded (bounded).
func (l *loadGen) waitOK(t *testing.T, n int64) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(ioTimeout)
	for l.ok.Load() < n {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("load made only %d successful requests (%d failed, first error %v)", l.ok.Load(), l.failed.Load(), l.firstErr.Load())
		}
	}
}

func fetchOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("cannot read body of %s: %w", url, err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d, body %q", url, resp.StatusCode, body)
	}
	return nil
}

func TestReloadUnderLoad(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	dir := t.TempDir()
	vars := []string{"{B1}", b1.addr, "{B2}", b2.addr}
	cfg := writeConfig(t, dir, "reload.conf", reloadV1, vars...)
	s := startSluice(t, cfg)
	c := httpClient(t)
	base := "http://" + s.Addr()

	if m := getURI(t, s.Addr(), "/b"); m.Status == 200 {
		t.Fatalf("/b answered 200 before the reload")
	}
	l := startLoad(t, c, base+"/a")
	l.waitOK(t, 20)

	writeConfig(t, dir, "reload.conf", reloadV2, vars...)
	from := s.lineCount()
	s.signal(syscall.SIGHUP)
	s.waitMsg(from, "reloaded")
	if err := fetchOK(c, base+"/b"); err != nil {
		t.Errorf("new route after reload: %v", err)
	}
	if got := b2.last().URI; got != "/b" {
		t.Errorf("b2 received %q, want /b", got)
	}
	okAfterGood := l.ok.Load()
	l.waitOK(t, okAfterGood+20)

	writeConfig(t, dir, "reload.conf", reloadBad, vars...)
	from = s.lineCount()
	s.signal(syscall.SIGHUP)
	s.waitMsg(from, "reload failed")
	if err := fetchOK(c, base+"/b"); err != nil {
		t.Errorf("last good config not kept after a failed reload: %v", err)
	}
	l.waitOK(t, l.ok.Load()+20)

	l.finish()
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %v", n, n+l.ok.Load(), l.firstErr.Load())
	}
	t.Logf("%d requests succeeded during two reloads", l.ok.Load())
}

func TestGracefulShutdown(t *testing.T) {
	const inFlight = 3
	arrived := make(chan struct{}, inFlight)
	release := make(chan struct{})
	b := newBackend(t, "b1", func(w *bufio.Writer, r *backendReq) bool {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Done:
			return true
		}
		writeResp(w, 200, nil, "finished "+r.URI)
		return false
	})
	s := startSluice(t, writeConfig(t, t.TempDir(), "drain.conf", "Listen 127.0.0.1:0\nProxyPass / http://{B1}/\n", "{B1}", b.addr))
	c := httpClient(t)

	errs := make(chan error, inFlight)
	for i := range inFlight {
		go func() { errs <- fetchOK(c, fmt.Sprintf("http://%s/slow%d", s.Addr(), i)) }()
	}
	for range inFlight {
		select {
		case <-arrived:
		case <-time.After(ioTimeout):
			t.Fatal("slow requests did not reach the backend")
		}
	}

	s.signal(syscall.SIGTERM)
	waitRefused(t, s.Addr())
	close(release)
	for range inFlight {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("in-flight request during shutdown: %v", err)
			}
		case <-time.After(ioTimeout):
			t.Fatal("in-flight requests did not complete")
		}
	}
	code, err := s.waitExit(stopTimeout)
	if err != nil || code != 0 {
		t.Errorf("exit code %d (%v), want 0", code, err)
	}
}

// waitRefused waits until new connections to addr are refused (bounded).
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(ioTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatal("sluice still accepts connections after SIGTERM")
		}
	}
}

const brokenStdoutYAML = `
listen: ["127.0.0.1:0"]
admin: {listen: "off"}
access_log: {path: stdout}
server:
  routes:
    - {path: /, target: "http://{B}/"}
`

// TestBrokenStdout: when nobody reads sluice's stdout any more (a log
// shipper that died), the access log written there is lost and the proxy
// goes on. sluice ignores SIGPIPE, as nginx and Apache do: Go's default
// ends a process at its first write to a broken pipe on stdout or stderr,
// here once the log's 64 KiB buffer fills, within a hundred requests.
func TestBrokenStdout(t *testing.T) {
	b := newBackend(t, "b", nil)
	cfg := writeConfig(t, t.TempDir(), "s.yaml", brokenStdoutYAML, "{B}", b.addr)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := startSluiceOut(t, w, "-config", cfg)
	w.Close() // sluice holds its own copy
	r.Close() // the pipe is broken from here on
	long := "/" + strings.Repeat("x", 1000)
	for i := range 200 {
		if m := getURI(t, s.Addr(), long); m.Status != 200 {
			t.Fatalf("request %d: status %d", i, m.Status)
		}
	}
	select {
	case <-s.exited:
		t.Fatalf("sluice exited: %v\nstderr:\n%s", s.exitErr(), s.log())
	default:
	}
}

// TestReloadedDrain: a SIGTERM after a reload drains for the reloaded
// timeouts.drain, as every setting but listeners, client timeouts and
// limits takes effect at a reload.
func TestReloadedDrain(t *testing.T) {
	dir := t.TempDir()
	const conf = "listen: ['127.0.0.1:0']\nadmin: {listen: 'off'}\ntimeouts: {drain: DRAIN}\n"
	cfg := writeConfig(t, dir, "drain.yaml", conf, "DRAIN", "1s")
	p := startSluice(t, cfg)
	writeConfig(t, dir, "drain.yaml", conf, "DRAIN", "7s")
	from := p.lineCount()
	p.signal(syscall.SIGHUP)
	p.waitMsg(from, "reloaded")
	from = p.lineCount()
	p.signal(syscall.SIGTERM)
	if got := p.waitMsg(from, "shutting down")["drain"]; got != "7s" {
		t.Errorf("drain %s after a reload to 7s", got)
	}
}
