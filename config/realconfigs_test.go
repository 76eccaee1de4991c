package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realDir holds twenty published Apache configs (README.md there gives
// their sources), copied from the project's reference material.
const realDir = "../testdata/config/real"

// TestRealConfigs loads each real config the way its README validated it
// with Apache: included from a wrapper that supplies ServerRoot and Listen.
// Configs sluice cannot serve must fail with a positioned message.
func TestRealConfigs(t *testing.T) {
	refused := map[string]string{}
	files, err := filepath.Glob(filepath.Join(realDir, "*.conf"))
	if err != nil || len(files) != 20 {
		t.Fatalf("want 20 real configs in %s, found %d (%v)", realDir, len(files), err)
	}
	absDir, err := filepath.Abs(realDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			root := absDir
			if base == "13-include-sites.conf" {
				root = filepath.Join(absDir, "13-include-sites")
			}
			wrapper := "ServerRoot " + root + "\nListen 127.0.0.1:8080\nInclude " + filepath.Join(absDir, base) + "\n"
			cfg, err := ParseApache(filepath.Join(absDir, "wrapper.conf"), []byte(wrapper), os.DirFS("/"))
			if want, ok := refused[base]; ok {
				var ce *Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, want an error containing %q", err, want)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			routes := 0
			for _, h := range cfg.hosts() {
				routes += len(h.Routes) + len(h.Balancers) + len(h.Reverse)
			}
			if routes == 0 {
				t.Errorf("no routes, balancers or reverse rules were read")
			}
			t.Logf("loaded: %d vhosts, %d warnings", len(cfg.VHosts), len(cfg.Warnings))
			for _, w := range cfg.Warnings {
				t.Log("  ", w)
			}
			assertRoundTrip(t, cfg)
		})
	}
}
