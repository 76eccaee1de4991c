package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

var update = flag.Bool("update", false, "rewrite testdata/config/*.golden.yaml")

const goldenDir = "../testdata/config"

// goldenInputs are the example configs: every .conf and .yaml in
// testdata/config that is not itself a golden file.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	var in []string
	for _, pat := range []string{"*.conf", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(goldenDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".golden.yaml") {
				in = append(in, f)
			}
		}
	}
	if len(in) < 15 {
		t.Fatalf("found only %d example configs in %s", len(in), goldenDir)
	}
	return in
}

func goldenPath(in string) string {
	return strings.TrimSuffix(in, filepath.Ext(in)) + ".golden.yaml"
}

// TestGolden loads each example and compares its normalized dump with the
// .golden.yaml beside it; -update rewrites them.
func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			cfg, err := Load(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Dump(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(goldenPath(in), got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath(in))
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("dump differs from %s (go test ./config -update rewrites it):\n%s", goldenPath(in), got)
			}
		})
	}
}

// TestRoundTrip checks conf → dump → load → dump is identical and gives an
// equal model, for every example, every golden file and examples/*.conf.
func TestRoundTrip(t *testing.T) {
	files := goldenInputs(t)
	goldens, _ := filepath.Glob(filepath.Join(goldenDir, "*.golden.yaml"))
	for _, f := range append(files, goldens...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(testcert.LocalizeFile(t, f, "/etc/ssl/"))
			if err != nil {
				t.Fatal(err)
			}
			assertRoundTrip(t, cfg)
		})
	}
}

// TestExamples round-trips the shipped examples. Some show Apache configs
// sluice refuses (ajp:// members); those must fail with a positioned
// "not supported" error.
func TestExamples(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.conf", "*.yaml"} {
		m, _ := filepath.Glob(filepath.Join("../examples", pat))
		files = append(files, m...)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(testcert.LocalizeFile(t, f, "/etc/ssl/"))
			var ce *Error
			switch {
			case err == nil:
				assertRoundTrip(t, cfg)
			case errors.As(err, &ce) && ce.Pos.Line > 0 && strings.Contains(ce.Msg, "not supported"):
				t.Logf("refused as expected: %v", err)
			default:
				t.Fatal(err)
			}
		})
	}
}

func assertRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	d1, err := Dump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseYAML("dump.yaml", d1)
	if err != nil {
		t.Fatalf("reloading the dump: %v\n%s", err, d1)
	}
	d2, err := Dump(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d1, d2) {
		t.Errorf("second dump differs:\n--- first\n%s\n--- second\n%s", d1, d2)
	}
	if d := modelDiff(cfg, back); d != "" {
		t.Errorf("reloaded model differs at %s", d)
	}
}
