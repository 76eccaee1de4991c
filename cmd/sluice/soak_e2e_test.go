package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/lowport"
	"github.com/sluiceproxy/sluice/internal/testcert"
)

// soakDuration is how long TestSoak loads sluice: 30 s in `make test`,
// SOAK_DURATION (e.g. 5m, from `make soak`) otherwise.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION %q: %v", v, err)
		}
		return d
	}
	return 30 * time.Second
}

// flappingMember is a backend that can be killed (listener and every
// connection closed at once) and brought back on the same address.
type flappingMember struct {
	name, addr string
	mu         sync.Mutex
	srv        *http.Server
}

// memberPorts are below the ephemeral range, so that while a member is
// down no outgoing connection takes its port as a source port.
var memberPorts lowport.Set

func (m *flappingMember) start(t *testing.T) {
	addr := m.addr
	if addr == "" {
		port, err := memberPorts.Free()
		if err != nil {
			t.Fatal(err)
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger a moment after a kill
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("cannot restart %s on %s: %v", m.name, addr, err)
		return
	}
	m.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Member", m.name)
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(soakBig)))
			_, _ = w.Write(soakBig)
			return
		}
		fmt.Fprintf(w, "%s %s %d", m.name, r.Method, len(body))
	})}
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (m *flappingMember) kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		_ = m.srv.Close()
		m.srv = nil
	}
}

// soakBig is the body of /big: large enough that sluice splices it from
// the member's socket to the client's.
var soakBig = bytes.Repeat([]byte("soak "), 50_000)

// soakConfig serves plain HTTP on a kernel-picked port and TLS on
// {TLSPORT}, whose vhost inherits the main server's balancer.
const soakConfig = `listen: ["127.0.0.1:0", "127.0.0.1:{TLSPORT}"]
vhosts:
  - addrs: ["*:{TLSPORT}"]
    server_name: soak.example
    tls: {certs: [{cert_file: soak.crt, key_file: soak.key}]}
    access_logs: [{path: "{DIR}/tls.log", format: '%h %t "%r" %>s %D %{HTTPS}e'}]
server:
  server_name: soak.example
  routes:
    - {path: /, target: "balancer://soak/"}
  balancers:
    - name: soak
      retry_idempotent: true
      members:
        - {url: "http://{M0}", retry: 1s}
        - {url: "http://{M1}", retry: 1s}
        - {url: "http://{M2}", retry: 1s}
timeouts: {drain: 5s}
admin: {listen: "127.0.0.1:0"}
access_log: {path: "{DIR}/access.log", format: combined}
# generation {GEN}
`

// TestSoak runs mixed load through three members while one member is
// killed and restarted in turn and the configuration is reloaded, then
// checks that no idempotent request failed and that sluice's open files,
// goroutines and memory came back to where they were.
func TestSoak(t *testing.T) {
	d := soakDuration(t)
	members := []*flappingMember{{name: "m0"}, {name: "m1"}, {name: "m2"}}
	for _, m := range members {
		m.start(t)
		defer m.kill()
	}
	dir := t.TempDir()
	cert := testcert.NewFor(t, "soak.example")
	cert.WriteFiles(t, dir, "soak")
	tlsPort, err := memberPorts.Free()
	if err != nil {
		t.Fatal(err)
	}
	vars := func(gen int) []string {
		return []string{"{M0}", members[0].addr, "{M1}", members[1].addr, "{M2}", members[2].addr, "{GEN}", strconv.Itoa(gen),
			"{TLSPORT}", strconv.Itoa(tlsPort), "{DIR}", dir}
	}
	cfg := writeConfig(t, dir, "soak.yaml", soakConfig, vars(0)...)
	s := startSluice(t, cfg)
	pid := s.cmd.Process.Pid
	url := "http://" + s.Addr() + "/"
	tlsURL := "https://127.0.0.1:" + strconv.Itoa(tlsPort) + "/"

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16,
		TLSClientConfig: &tls.Config{ServerName: "soak.example", RootCAs: cert.Roots}}}
	defer client.CloseIdleConnections()
	warm := func() {
		for range 50 {
			if resp, err := client.Get(url); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	warm()
	client.CloseIdleConnections()
	time.Sleep(5 * time.Second) // pooled backend connections idle out (4 s)
	admin := "http://" + s.adminAddr()
	fdsBefore, rssBefore, gBefore := openFiles(t, pid), residentBytes(t, pid), goroutines(t, admin)

	var (
		gets, posts, getFailed, postFailed atomic.Int64
		bigs, bigFailed                    atomic.Int64
		tlsGets, tlsFailed                 atomic.Int64
		firstErr                           atomic.Value
		stop                               = make(chan struct{})
		wg                                 sync.WaitGroup
	)
	// One client over TLS: a new connection every tenth request.
	wg.Go(func() {
		tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: "soak.example", RootCAs: cert.Roots}}}
		defer tlsClient.CloseIdleConnections()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%10 == 0 {
				tlsClient.CloseIdleConnections()
			}
			tlsGets.Add(1)
			resp, err := tlsClient.Get(tlsURL)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				tlsFailed.Add(1)
				firstErr.CompareAndSwap(nil, "TLS: "+err.Error())
			}
		}
	})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				post, big := (g+i)%4 == 0, (g+i)%8 == 1
				var resp *http.Response
				var err error
				switch {
				case post:
					posts.Add(1)
					resp, err = client.Post(url, "text/plain", strings.NewReader("payload"))
				case big:
					// Not retried once its head is out: a kill in the
					// middle of the body fails it, as it would in Apache.
					bigs.Add(1)
					resp, err = client.Get(url + "big")
				default:
					gets.Add(1)
					resp, err = client.Get(url)
				}
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if err == nil && big && n != int64(len(soakBig)) {
						err = fmt.Errorf("%d of %d bytes", n, len(soakBig))
					}
				}
				if err != nil {
					switch {
					case post:
						postFailed.Add(1)
					case big:
						bigFailed.Add(1)
					default:
						getFailed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
			}
		})
	}

	// Chaos: kill a member every d/15 (20 s in a 5-minute soak) and bring it
	// back after a second; reload every d/30 (10 s).
	killEvery, reloadEvery := d/15, d/30
	kills, reloads := 0, 0
	end := time.Now().Add(d)
	nextKill, nextReload := time.Now().Add(killEvery), time.Now().Add(reloadEvery)
	for time.Now().Before(end) {
		now := time.Now()
		if now.After(nextKill) {
			m := members[kills%len(members)]
			m.kill()
			kills++
			time.Sleep(time.Second)
			m.start(t)
			nextKill = nextKill.Add(killEvery)
		}
		if now.After(nextReload) {
			reloads++
			writeConfig(t, dir, "soak.yaml", soakConfig, vars(reloads)...)
			from := s.lineCount()
			s.signal(syscall.SIGHUP)
			s.waitMsg(from, "reloaded")
			nextReload = nextReload.Add(reloadEvery)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	time.Sleep(5 * time.Second)
	collectPipes(t, admin)
	fdsAfter, rssAfter := openFiles(t, pid), residentBytes(t, pid)
	// fasthttp keeps idle workers for up to 10 s after a burst: wait for
	// them, bounded, before comparing.
	gAfter := goroutines(t, admin)
	for wait := time.Now().Add(30 * time.Second); gAfter > gBefore+2 && time.Now().Before(wait); gAfter = goroutines(t, admin) {
		time.Sleep(500 * time.Millisecond)
	}

	t.Logf("soak %v: %d GET (%d failed), %d POST (%d failed), %d spliced 250 kB GET (%d failed), %d GET over TLS (%d failed), %d kills, %d reloads; open files %d → %d; goroutines %d → %d; RSS %d → %d MiB",
		d, gets.Load(), getFailed.Load(), posts.Load(), postFailed.Load(), bigs.Load(), bigFailed.Load(), tlsGets.Load(), tlsFailed.Load(),
		kills, reloads, fdsBefore, fdsAfter, gBefore, gAfter, rssBefore>>20, rssAfter>>20)
	if gets.Load() == 0 || bigs.Load() == 0 || tlsGets.Load() == 0 || kills == 0 || reloads == 0 {
		t.Fatalf("the soak did not run: %d GET, %d large GET, %d TLS GET, %d kills, %d reloads", gets.Load(), bigs.Load(), tlsGets.Load(), kills, reloads)
	}
	if n := tlsFailed.Load(); n > 0 {
		t.Errorf("%d GETs over TLS failed; first: %v", n, firstErr.Load())
	}
	if n := bigFailed.Load(); n*10 > bigs.Load() {
		t.Errorf("%d of %d large GETs failed: more than members killed mid-body explain", n, bigs.Load())
	}
	if n := getFailed.Load(); n > 0 {
		t.Errorf("%d idempotent requests failed; first: %v", n, firstErr.Load())
	}
	if fdsAfter > fdsBefore+2 {
		t.Errorf("open files grew from %d to %d", fdsBefore, fdsAfter)
	}
	if gAfter > gBefore+2 {
		t.Errorf("goroutines grew from %d to %d", gBefore, gAfter)
	}
	if rssAfter > rssBefore*2+16<<20 {
		t.Errorf("resident memory grew from %d to %d MiB", rssBefore>>20, rssAfter>>20)
	}
	// Every answered request has its line, across the reloads (the log
	// files stay open): all of them in access.log, those over TLS in the
	// TLS vhost's tls.log too.
	answered := gets.Load() - getFailed.Load() + posts.Load() - postFailed.Load() + bigs.Load() - bigFailed.Load()
	if all, overTLS := lineCount(t, dir, "access.log"), lineCount(t, dir, "tls.log"); all < answered+tlsGets.Load()-tlsFailed.Load() || overTLS < tlsGets.Load()-tlsFailed.Load() {
		t.Errorf("access.log has %d lines, tls.log %d, for %d answered plain and %d TLS requests", all, overTLS, answered, tlsGets.Load()-tlsFailed.Load())
	}
}

// lineCount counts the lines of dir/name.
func lineCount(t *testing.T, dir, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return int64(bytes.Count(b, []byte("\n")))
}

// collectPipes has sluice collect garbage twice (the heap profile's gc=1)
// and waits for finalizers: the pipes Go's splice keeps in a sync.Pool,
// two descriptors each, are closed only once the pool is dropped.
func collectPipes(t *testing.T, admin string) {
	t.Helper()
	for range 2 {
		resp, err := http.Get(admin + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(200 * time.Millisecond)
}

// goroutines reads sluice's goroutine count from its admin listener's
// /debug/pprof/goroutine ("goroutine profile: total N").
func goroutines(t *testing.T, admin string) int {
	t.Helper()
	resp, err := http.Get(admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int
	if _, err := fmt.Fscanf(resp.Body, "goroutine profile: total %d\n", &n); err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	return n
}

func openFiles(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
