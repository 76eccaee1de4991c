// Package etcdtest runs a real etcd (Debian's etcd-server, installed by
// `make etcd`) for tests: one member on 127.0.0.1 with kernel-chosen
// ports and a data directory in t.TempDir(), which a test can kill and
// start again. It is stopped when the test ends.
package etcdtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Binary is where Debian's etcd-server installs etcd.
const Binary = "/usr/bin/etcd"

const startTimeout = 15 * time.Second

// Etcd is one running (or killed) etcd member.
type Etcd struct {
	t      testing.TB
	dir    string
	client string // host:port
	peer   string // host:port
	tls    *TLSFiles
	http   *http.Client
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	output bytes.Buffer
}

// Start runs etcd and waits until it is healthy.
func Start(t testing.TB) *Etcd {
	t.Helper()
	return start(t, nil)
}

// StartTLS runs etcd with TLS on its client port, requiring a client
// certificate, and waits until it is healthy. TLS says where its files
// are.
func StartTLS(t testing.TB) *Etcd {
	t.Helper()
	return start(t, writeTLSFiles(t, t.TempDir()))
}

func start(t testing.TB, files *TLSFiles) *Etcd {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("%s is missing: run `make etcd` (installs Debian's etcd-server) (%v)", Binary, err)
	}
	e := &Etcd{t: t, dir: t.TempDir(), client: freeAddr(t), peer: freeAddr(t), tls: files}
	e.http = &http.Client{Timeout: 5 * time.Second}
	if files != nil {
		e.http.Transport = &http.Transport{TLSClientConfig: files.ClientConfig(t)}
	}
	t.Cleanup(func() {
		e.Kill()
		e.http.CloseIdleConnections()
		if t.Failed() {
			t.Logf("etcd output:\n%s", e.Output())
		}
	})
	e.Restart()
	return e
}

// Endpoint is the client address, host:port.
func (e *Etcd) Endpoint() string { return e.client }

// URL is the client address with its scheme: http://host:port, or
// https://host:port with TLS.
func (e *Etcd) URL() string {
	if e.tls != nil {
		return "https://" + e.client
	}
	return "http://" + e.client
}

// TLS are the files of a TLS etcd (StartTLS); nil without TLS.
func (e *Etcd) TLS() *TLSFiles { return e.tls }

// Restart starts etcd again on the same ports and data directory, after
// Kill.
func (e *Etcd) Restart() {
	e.t.Helper()
	e.mu.Lock()
	args := []string{
		"--name", "test",
		"--data-dir", e.dir,
		"--listen-client-urls", e.URL(),
		"--advertise-client-urls", e.URL(),
		"--listen-peer-urls", "http://" + e.peer,
		"--initial-advertise-peer-urls", "http://" + e.peer,
		"--initial-cluster", "test=http://" + e.peer,
		"--log-level", "warn",
	}
	if f := e.tls; f != nil {
		args = append(args, "--cert-file", f.ServerCert, "--key-file", f.ServerKey,
			"--client-cert-auth", "--trusted-ca-file", f.CA)
	}
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = &lockedWriter{e}, &lockedWriter{e}
	if err := cmd.Start(); err != nil {
		e.mu.Unlock()
		e.t.Fatalf("cannot start etcd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	e.cmd, e.exited = cmd, exited
	e.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := e.http.Get(e.URL() + "/health")
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Contains(b.Bytes(), []byte(`"health":"true"`)) {
				return
			}
		}
		select {
		case <-exited:
			e.t.Fatalf("etcd exited while starting:\n%s", e.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("etcd not healthy within %v:\n%s", startTimeout, e.Output())
		}
	}
}

// Kill stops etcd at once (SIGKILL) and waits for it to exit.
func (e *Etcd) Kill() {
	e.mu.Lock()
	cmd, exited := e.cmd, e.exited
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Output is what etcd logged.
func (e *Etcd) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.output.String()
}

type lockedWriter struct{ e *Etcd }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	return w.e.output.Write(p)
}

// freeAddr is a 127.0.0.1 port the kernel picked, free when returned.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
