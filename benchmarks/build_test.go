//go:build linux

package main

import (
	"debug/elf"
	"path/filepath"
	"testing"
)

// The harness builds its binaries as make build does: static, so that the
// sluice it measures maps no C library (1.3–1.8 MiB of peak RSS,
// docs/benchmarks.md "A static binary").
func TestGoBuildStatic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "backend")
	if err := goBuild(t.Context(), out, "./backend"); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s names a dynamic loader: built with cgo", out)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("%s needs %v (%v)", out, libs, err)
	}
}
