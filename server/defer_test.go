package server

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRequestPathDefersInlined: the compiler inlines a function's defers
// only while defers × returns stays at 15 or under; past it every request
// pays the runtime's deferred-call machinery (about 200 instructions, the
// eleventh session measured, when handle gained one return). The compiler
// says which it chose for every defer of the request path's file.
func TestRequestPathDefersInlined(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(goTool, "build", "-o", "/dev/null", "-gcflags=github.com/sluiceproxy/sluice/server=-d=defer", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	seen := 0
	for l := range strings.Lines(string(out)) {
		if !strings.Contains(l, "proxy.go:") {
			continue
		}
		seen++
		if !strings.Contains(l, "open-coded defer") {
			t.Errorf("%s", strings.TrimSpace(l))
		}
	}
	if seen == 0 {
		t.Fatalf("the compiler reported no defer in proxy.go:\n%s", out)
	}
}
