package config

import (
	"os"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// TestYAMLReferenceParses keeps docs/config.md's YAML reference a config
// that loads: every key it shows exists and every value it shows is valid.
func TestYAMLReferenceParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("docs/config.md has no ```yaml block")
	}
	// The reference's certificate files, made for the test.
	dir := t.TempDir()
	testcert.NewFor(t, "www.example.com").WriteFiles(t, dir, "www")
	block = strings.ReplaceAll(block, "/etc/ssl/", dir+"/")
	cfg, err := ParseYAML("docs/config.md", []byte(block))
	if err != nil {
		t.Fatalf("the YAML reference does not load: %v", err)
	}
	if cfg.Main.Rewrite == nil || len(cfg.Main.ErrorDocuments) == 0 || len(cfg.Main.Balancers) == 0 || len(cfg.VHosts) == 0 || cfg.VHosts[0].TLS == nil {
		t.Errorf("the YAML reference lost a section: %+v", cfg.Main)
	}
}
