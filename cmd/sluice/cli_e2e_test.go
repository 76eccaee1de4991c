package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

func TestConfigTest(t *testing.T) {
	dir := t.TempDir()

	t.Run("good config", func(t *testing.T) {
		cfg := writeConfig(t, dir, "good.conf", "Listen 127.0.0.1:0\nProxyPass / http://127.0.0.1:9/\n")
		out, errOut, code := runSluice(t, "-t", "-config", cfg)
		if code != 0 || !strings.Contains(out, "Syntax OK") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0 and Syntax OK", code, out, errOut)
		}
	})

	bad := []struct{ name, text, where string }{
		{"bad.conf", "Listen 127.0.0.1:0\nProxyPass /ok http://127.0.0.1:9/\nProxyPass /x http://127.0.0.1:9/ bogusparam=1\n", "bad.conf:3"},
		{"bad.yaml", "listen: [\"127.0.0.1:0\"]\nserver:\n  routes:\n    - path: /\n      target: http://127.0.0.1:9/\n      bogus: 1\n", "bad.yaml:6"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			cfg := writeConfig(t, dir, b.name, b.text)
			out, errOut, code := runSluice(t, "-t", "-config", cfg)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(errOut, b.where) {
				t.Errorf("stderr %q does not name %s", errOut, b.where)
			}
			if strings.Contains(out, "Syntax OK") {
				t.Errorf("stdout %q says Syntax OK", out)
			}
		})
	}
}

// Directives of modules sluice does not replace are ignored with a warning
// naming file:line, so real httpd configs load (Apache itself would refuse an
// unknown directive).
func TestConfigTestUnknownDirective(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "other.conf", "Listen 127.0.0.1:0\n\nNoSuchDirective on\nProxyPass / http://127.0.0.1:9/\n")
	out, errOut, code := runSluice(t, "-t", "-config", cfg)
	if code != 0 || !strings.Contains(out, "Syntax OK") {
		t.Errorf("exit %d, stdout %q; want 0 and Syntax OK", code, out)
	}
	if !strings.Contains(errOut, "other.conf:3") || !strings.Contains(errOut, "NoSuchDirective") {
		t.Errorf("stderr %q does not warn about NoSuchDirective at other.conf:3", errOut)
	}
}

func TestVersion(t *testing.T) {
	out, errOut, code := runSluice(t, "-version")
	if code != 0 || strings.TrimSpace(out+errOut) == "" {
		t.Errorf("exit %d, output %q %q; want 0 and a version", code, out, errOut)
	}
}

// TestArguments: -h prints the usage and exits 0; a word among the flags
// is refused (exit 2), for the flags after it would not be read.
func TestArguments(t *testing.T) {
	if _, errOut, code := runSluice(t, "-h"); code != 0 || !strings.Contains(errOut, "-config") {
		t.Errorf("-h: exit %d, stderr %q; want 0 and the usage", code, errOut)
	}
	cfg := writeConfig(t, t.TempDir(), "a.conf", "Listen 127.0.0.1:0\nProxyPass / http://127.0.0.1:9/\n")
	if _, errOut, code := runSluice(t, "-config", cfg, "extra", "-t"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("a stray word: exit %d, stderr %q; want 2 and its name", code, errOut)
	}
}

// TestExamples checks every shipped example (the docs' AJP ones too): it
// passes -t, and its -dump-config YAML passes -t again and dumps to the
// same YAML.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".conf" && ext != ".yaml" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			f := testcert.LocalizeFile(t, f, "/etc/ssl/")
			out, errOut, code := runSluice(t, "-t", "-config", f)
			if code != 0 || !strings.Contains(out, "Syntax OK") {
				t.Fatalf("-t: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			dumped, errOut, code := runSluice(t, "-dump-config", "-config", f)
			if code != 0 || dumped == "" {
				t.Fatalf("-dump-config: exit %d, stderr %q", code, errOut)
			}
			again := filepath.Join(t.TempDir(), "dumped.yaml")
			if err := os.WriteFile(again, []byte(dumped), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, errOut, code := runSluice(t, "-t", "-config", again); code != 0 {
				t.Fatalf("-t on the dumped YAML: exit %d, stdout %q, stderr %q\n%s", code, out, errOut, dumped)
			}
			redumped, errOut, code := runSluice(t, "-dump-config", "-config", again)
			if code != 0 || redumped != dumped {
				t.Errorf("dumping the dumped YAML differs (exit %d, stderr %q):\nfirst:\n%s\nsecond:\n%s", code, errOut, dumped, redumped)
			}
		})
	}
	if n < 10 {
		t.Errorf("found %d example configs, want at least 10", n)
	}
}
