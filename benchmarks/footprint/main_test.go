package main

import (
	"strings"
	"testing"
)

// sample is a callgrind file as --dump-instr=yes writes it: compressed
// names, relative positions, a call's inclusive cost (not counted) and a
// recursion suffix.
const sample = `# callgrind format
version: 1
positions: instr line
events: Ir Dr I1mr
summary: 1000

ob=(1) /bin/sluice
fl=(1) server/proxy.go
fn=(1) github.com/sluiceproxy/sluice/server.(*Server).handle
0x1000 10 100 5
+4 * 100
+60 11 100
cfn=(2) runtime.memmove
calls=100 0x2000 20
+4 * 900
+4 * 1
fn=(2)
0x2000 20 400
+64 21 300
fn=(3) github.com/sluiceproxy/sluice/server.(*Server).handle'2
0x1080 12 50
`

func TestFootprint(t *testing.T) {
	p, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ir[0x1004]; got != 100 {
		t.Errorf("Ir at 0x1004 = %d, want 100", got)
	}
	if got := p.ir[0x1044]; got != 0 {
		t.Errorf("a call's inclusive cost counted as self: Ir at 0x1044 = %d", got)
	}
	fp := hotCode(p, 100, 0.5)
	// handle: lines 0x1000/64 and 0x1040/64 ran 100 times, 0x1048 once
	// (not hot), and handle'2's 0x1080 50 times; memmove two lines.
	want := map[string]int{
		"github.com/sluiceproxy/sluice/server.(*Server).handle": 3,
		"runtime.memmove": 2,
	}
	if len(fp.funcs) != len(want) || fp.lines != 5 {
		t.Fatalf("got %+v, want %v and 5 lines", fp.funcs, want)
	}
	for _, f := range fp.funcs {
		if want[f.name] != f.lines {
			t.Errorf("%s: %d lines, want %d", f.name, f.lines, want[f.name])
		}
	}
	if fp.packages[0].name != "github.com/sluiceproxy/sluice/server" || fp.packages[1].name != "runtime" {
		t.Errorf("packages %+v", fp.packages)
	}
	if fp.irPerCall != (100+100+100+1+400+300+50)/100.0 {
		t.Errorf("instructions per request %v", fp.irPerCall)
	}
}

func TestParseNeedsInstructions(t *testing.T) {
	if _, err := parse(strings.NewReader("positions: line\nevents: Ir\n")); err == nil {
		t.Fatal("a file without instruction positions was accepted")
	}
}

// TestNamedBySymbols: an address is named by the function whose code
// holds it, whatever callgrind's context said (handle'2's 0x1080 is
// memmove's code here); an address no symbol holds keeps its context.
func TestNamedBySymbols(t *testing.T) {
	p, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	p.name(symbols{
		{start: 0x1000, end: 0x1080, name: "github.com/sluiceproxy/sluice/server.(*Server).handle"},
		{start: 0x1080, end: 0x1100, name: "runtime.memmove"},
	})
	if got := p.fn[0x1080]; got != "runtime.memmove" {
		t.Errorf("0x1080 named %q", got)
	}
	if got := p.fn[0x2040]; got != "runtime.memmove" {
		t.Errorf("0x2040, outside the symbols, named %q: want its context", got)
	}
	fp := hotCode(p, 100, 0.5)
	want := map[string]int{
		"github.com/sluiceproxy/sluice/server.(*Server).handle": 2,
		"runtime.memmove": 3,
	}
	for _, f := range fp.funcs {
		if want[f.name] != f.lines {
			t.Errorf("%s: %d lines, want %d", f.name, f.lines, want[f.name])
		}
	}
	// Hot: 0x1000 (4 bytes, to 0x1004), 0x1004 (0x1040 is too far: 4),
	// 0x1040 (8, to 0x1048, which ran once), 0x1080, 0x2000 and 0x2040
	// (the last before gaps: 4 each).
	if fp.hotBytes != 28 {
		t.Errorf("hot bytes %d, want 28", fp.hotBytes)
	}
}

func TestSymbolsAt(t *testing.T) {
	s := symbols{{start: 0x10, end: 0x20, name: "a"}, {start: 0x30, end: 0x40, name: "b"}}
	for a, want := range map[uint64]string{0x0f: "", 0x10: "a", 0x1f: "a", 0x20: "", 0x35: "b", 0x40: ""} {
		if got := s.at(a); got != want {
			t.Errorf("at(%#x) = %q, want %q", a, got, want)
		}
	}
}

// TestSharedLineCountsOnce: a line holding the end of one function and the
// start of the next is one line of code to fetch, though each function
// lists it.
func TestSharedLineCountsOnce(t *testing.T) {
	p := &profile{
		ir: map[uint64]uint64{0x1000: 100, 0x1020: 100},
		fn: map[uint64]string{0x1000: "a", 0x1020: "b"},
	}
	fp := hotCode(p, 100, 0.5)
	if fp.lines != 1 || len(fp.funcs) != 2 || fp.funcs[0].lines != 1 || fp.funcs[1].lines != 1 {
		t.Errorf("lines %d, functions %+v: want 1 line in all, 1 each", fp.lines, fp.funcs)
	}
}
