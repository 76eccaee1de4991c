// Package etcdtest runs a real etcd (Debian's etcd-server, installed by
// `make etcd`) for tests: one member on 127.0.0.1 with free ports below
// the ephemeral range and a data directory in t.TempDir(), which a test
// can kill and start again. It is stopped when the test ends.
package etcdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/lowport"
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
	e := &Etcd{t: t, tls: files}
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
	// A probed port is free only until someone else binds it; a start that
	// lost that race is tried again on other ports, with a data directory
	// that has not recorded the lost ones.
	for try := 1; ; try++ {
		e.dir, e.client, e.peer = t.TempDir(), freeAddr(t), freeAddr(t)
		err := e.run()
		if err == nil {
			return e
		}
		if !errors.Is(err, errPortTaken) || try == startTries {
			t.Fatal(err)
		}
		t.Logf("etcd lost its port, trying others: %v", err)
	}
}

const startTries = 3

var errPortTaken = errors.New("address already in use")

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
	if err := e.run(); err != nil {
		e.t.Fatal(err)
	}
}

// run starts etcd and waits until it is healthy.
func (e *Etcd) run() error {
	e.mu.Lock()
	logged := e.output.Len() // what earlier runs logged
	args := []string{
		"--name", "test",
		"--data-dir", e.dir,
		"--listen-client-urls", e.URL(),
		"--advertise-client-urls", e.URL(),
		"--listen-peer-urls", "http://" + e.peer,
		"--initial-advertise-peer-urls", "http://" + e.peer,
		"--initial-cluster", "test=http://" + e.peer,
		"--log-level", "warn",
		// A test needs no durability past a killed process (the page
		// cache keeps what was written), and a shared CI disk can take
		// seconds to fsync the log, longer than a call's timeout.
		"--unsafe-no-fsync",
	}
	if f := e.tls; f != nil {
		args = append(args, "--cert-file", f.ServerCert, "--key-file", f.ServerKey,
			"--client-cert-auth", "--trusted-ca-file", f.CA)
	}
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = &lockedWriter{e}, &lockedWriter{e}
	if err := cmd.Start(); err != nil {
		e.mu.Unlock()
		return fmt.Errorf("cannot start etcd: %w", err)
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
				return nil
			}
		}
		select {
		case <-exited:
			out := e.Output()
			if strings.Contains(out[logged:], errPortTaken.Error()) {
				return fmt.Errorf("etcd exited while starting: %w:\n%s", errPortTaken, out)
			}
			return fmt.Errorf("etcd exited while starting:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy within %v:\n%s", startTimeout, e.Output())
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

// ports hands out etcd's ports: below the ephemeral range, so that no
// outgoing connection takes one between two starts of the same etcd.
var ports lowport.Set

// freeAddr is a free 127.0.0.1 address.
func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
