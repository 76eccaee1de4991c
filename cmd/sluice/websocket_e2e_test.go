package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// wsBackend echoes WebSocket messages under <prefix>echo and refuses the
// upgrade under <prefix>deny with a plain 403. It records the Upgrade header
// of each request.
type wsBackend struct {
	*httptest.Server
	mu       sync.Mutex
	upgrades []string
	paths    []string
}

func newWSBackend(t *testing.T, prefix string) *wsBackend {
	t.Helper()
	b := &wsBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc(prefix+"echo", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc(prefix+"deny", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		http.Error(w, "denied by backend", http.StatusForbidden)
	})
	b.Server = httptest.NewServer(mux) // listens on 127.0.0.1:0
	t.Cleanup(b.Close)
	return b
}

func (b *wsBackend) record(r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.upgrades = append(b.upgrades, r.Header.Get("Upgrade"))
	b.paths = append(b.paths, r.URL.RequestURI())
}

func (b *wsBackend) last() (path, upgrade string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.paths) == 0 {
		return "", ""
	}
	return b.paths[len(b.paths)-1], b.upgrades[len(b.upgrades)-1]
}

// hostPort strips the scheme from an httptest URL.
func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

func TestWebSocket(t *testing.T) {
	ws := newWSBackend(t, "/ws/")
	cfg := writeConfig(t, t.TempDir(), "ws.conf",
		"Listen 127.0.0.1:0\nProxyPass /ws/ http://{WS}/ws/ upgrade=websocket\n", "{WS}", hostPort(ws.URL))
	s := startSluice(t, cfg)

	t.Run("handshake and echo", func(t *testing.T) {
		wsEcho(t, "ws://"+s.Addr()+"/ws/echo")
		if path, up := ws.last(); path != "/ws/echo" || !strings.EqualFold(up, "websocket") {
			t.Errorf("backend received %q with Upgrade %q, want /ws/echo with Upgrade websocket", path, up)
		}
	})

	t.Run("non-101 answer is relayed as a normal response", func(t *testing.T) {
		m := rawDo(t, s.Addr(), "GET /ws/deny HTTP/1.1\r\nHost: front.example.com\r\n"+
			"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		wantStatus(t, m, 403)
		if !strings.Contains(string(m.Body), "denied by backend") {
			t.Errorf("client body %q, want the backend's", m.Body)
		}
		if path, _ := ws.last(); path != "/ws/deny" {
			t.Errorf("backend last request %q, want /ws/deny", path)
		}
	})
}

// wsEcho dials url through sluice and checks text, binary and large
// messages come back unchanged.
func wsEcho(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("cannot dial %s (status %d): %v", url, status, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{websocket.MessageBinary, bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}, // 1 MiB
	}
	for _, m := range msgs {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("write: %v", err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Errorf("echo of a %d-byte %v message: got %d bytes %v", len(m.data), m.typ, len(got), typ)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("close: %v", err)
	}
}
