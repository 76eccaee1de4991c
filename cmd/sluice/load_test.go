package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/server"
)

// TestParserPanic: a panic in the configuration parser fails -t with a
// message and fails a reload, which keeps the running configuration,
// instead of ending the process.
func TestParserPanic(t *testing.T) {
	saved := loadConfig
	t.Cleanup(func() { loadConfig = saved })
	loadConfig = func(string) (*config.Config, error) { panic("parser bug") }

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-config", "site.yaml", "-t"}, &stdout, &stderr); code != 1 {
		t.Fatalf("-t exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "site.yaml: the configuration parser failed") ||
		!strings.Contains(stderr.String(), "parser bug") {
		t.Errorf("-t stderr:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("-t stdout: %q", stdout.String())
	}

	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	cfg, err := config.ParseYAML("t.yaml", []byte("listen: ['127.0.0.1:0']\nadmin: {listen: 'off'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	reload(srv, "site.yaml", log)
	if !strings.Contains(logged.String(), `msg="reload failed"`) || !strings.Contains(logged.String(), "parser bug") {
		t.Errorf("reload logged:\n%s", logged.String())
	}
}
