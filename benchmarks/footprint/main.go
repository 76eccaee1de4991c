// Command footprint reads a callgrind file written with --dump-instr=yes
// (benchmarks/instructions.sh with FOOTPRINT=1) and prints the code a
// request runs: the 64-byte lines of code that ran in at least a given
// share of the requests, per package and per function, beside the
// instructions. A request's hot code does not fit a 32 KiB instruction
// cache, so each of those lines is fetched again per request and costs
// about as much as eight instructions (docs/benchmarks.md, "Code
// footprint: where the user time goes").
//
// callgrind's function names are call contexts, which Go's goroutine
// switches mislead (code that runs after a switch is charged to the
// function that was running before it), so with -bin the addresses are
// named from the binary's symbol table instead.
//
// Usage: go run ./benchmarks/footprint -n REQUESTS [-bin BINARY] [-share 0.5] [-top 40] CALLGRIND_FILE
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	n := flag.Int("n", 0, "requests the file's counts cover")
	share := flag.Float64("share", 0.5, "a line is hot when it ran in at least this share of the requests")
	top := flag.Int("top", 40, "functions to list")
	bin := flag.String("bin", "", "the profiled binary, to name addresses by its symbols")
	flag.Parse()
	if *n <= 0 || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: footprint -n REQUESTS [-bin BINARY] [-share 0.5] [-top 40] CALLGRIND_FILE")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	p, err := parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
	if *bin != "" {
		// A stripped binary (-ldflags=-s) has no symbols: its code keeps
		// callgrind's names, with a word that says so.
		if syms, err := readSymbols(*bin); err != nil {
			fmt.Fprintln(os.Stderr, "footprint: functions named by callgrind's contexts:", err)
		} else {
			p.name(syms)
		}
	}
	report(os.Stdout, hotCode(p, float64(*n), *share), *n, *top)
}

// profile is what footprint needs of a callgrind file: the instructions
// run at each address, and the function each address belongs to.
type profile struct {
	ir map[uint64]uint64 // self Ir by instruction address
	fn map[uint64]string // function by instruction address
}

// parse reads a callgrind file whose positions start with "instr". Costs
// on the line after "calls=" are a call's inclusive cost and are skipped.
func parse(r io.Reader) (*profile, error) {
	p := &profile{ir: map[uint64]uint64{}, fn: map[uint64]string{}}
	names := map[string]string{} // compressed function names
	var fn string
	var addr uint64
	irCol := -1 // Ir's column among the costs
	npos := 0   // position columns
	call := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "positions:"):
			pos := strings.Fields(line[len("positions:"):])
			if len(pos) == 0 || pos[0] != "instr" {
				return nil, errors.New("positions do not start with instr: record with --dump-instr=yes")
			}
			npos = len(pos)
		case strings.HasPrefix(line, "events:"):
			irCol = slices.Index(strings.Fields(line[len("events:"):]), "Ir")
		case strings.HasPrefix(line, "fn="):
			fn = recursion.ReplaceAllString(name(names, line[3:]), "")
		case strings.HasPrefix(line, "cfn="):
			name(names, line[4:]) // defines the name for later fn= lines
		case strings.HasPrefix(line, "calls="):
			call = true
		case line != "" && (line[0] >= '0' && line[0] <= '9' || line[0] == '+' || line[0] == '-' || line[0] == '*'):
			if npos == 0 || irCol < 0 {
				return nil, errors.New("a cost line comes before the positions and events lines")
			}
			fields := strings.Fields(line)
			a, err := position(fields[0], addr)
			if err != nil {
				return nil, err
			}
			addr = a
			if call {
				call = false
				continue
			}
			if len(fields) <= npos+irCol {
				continue // no Ir on this line: 0
			}
			ir, err := strconv.ParseUint(fields[npos+irCol], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cost %q: %w", line, err)
			}
			p.ir[addr] += ir
			p.fn[addr] = fn
		}
	}
	return p, sc.Err()
}

// recursion is callgrind's suffix for a function's recursion depth.
var recursion = regexp.MustCompile(`'\d+$`)

// name resolves callgrind's name compression: "(id) name" defines id,
// "(id)" refers to it.
func name(names map[string]string, s string) string {
	if !strings.HasPrefix(s, "(") {
		return s
	}
	id, rest, _ := strings.Cut(s[1:], ")")
	if rest = strings.TrimSpace(rest); rest != "" {
		names[id] = rest
	}
	return names[id]
}

// position reads an address: absolute ("0x4a0f00", "1234"), relative to
// the previous one ("+3", "-0x10") or the same ("*").
func position(s string, prev uint64) (uint64, error) {
	if s == "*" {
		return prev, nil
	}
	if s[0] == '+' || s[0] == '-' {
		d, err := strconv.ParseUint(s[1:], 0, 64)
		if err != nil {
			return 0, fmt.Errorf("position %q: %w", s, err)
		}
		if s[0] == '-' {
			return prev - d, nil
		}
		return prev + d, nil
	}
	return strconv.ParseUint(s, 0, 64)
}

// hot is one function's (or package's) share of the hot code.
type hot struct {
	name  string
	lines int     // 64-byte lines of code that ran in enough requests
	ir    float64 // instructions per request, all of the function's
}

// footprint is the hot code of a profile.
type footprint struct {
	lines     int
	hotBytes  uint64 // the hot instructions' own bytes (estimated)
	funcs     []hot  // most lines first
	packages  []hot
	irPerCall float64
}

// hotCode counts, per function and package, the 64-byte lines holding an
// instruction that ran at least share×n times.
func hotCode(p *profile, n, share float64) footprint {
	lines := map[string]map[uint64]bool{}
	all := map[uint64]bool{} // a line two functions share counts once here
	ir := map[string]float64{}
	var fp footprint
	for a, c := range p.ir {
		f := p.fn[a]
		ir[f] += float64(c) / n
		fp.irPerCall += float64(c) / n
		if float64(c) < share*n {
			continue
		}
		if lines[f] == nil {
			lines[f] = map[uint64]bool{}
		}
		lines[f][a/64] = true
		all[a/64] = true
	}
	fp.lines = len(all)
	fp.hotBytes = hotBytes(p, n, share)
	pkgs := map[string]*hot{}
	for f, ls := range lines {
		fp.funcs = append(fp.funcs, hot{name: f, lines: len(ls), ir: ir[f]})
		pk := pkgs[packageOf(f)]
		if pk == nil {
			pk = &hot{name: packageOf(f)}
			pkgs[pk.name] = pk
		}
		pk.lines += len(ls)
		pk.ir += ir[f]
	}
	for _, pk := range pkgs {
		fp.packages = append(fp.packages, *pk)
	}
	byLines := func(a, b hot) int { return cmp.Or(b.lines-a.lines, strings.Compare(a.name, b.name)) }
	slices.SortFunc(fp.funcs, byLines)
	slices.SortFunc(fp.packages, byLines)
	return fp
}

// hotBytes estimates the bytes of the hot instructions: an instruction
// runs to the next address that ran, unless that is further than the
// longest x86 instruction (15 bytes), where a typical 4 is assumed.
// Against the hot lines' 64 bytes each, it says how much of the hot
// code's lines is cold code between hot instructions.
func hotBytes(p *profile, n, share float64) uint64 {
	addrs := slices.Sorted(maps.Keys(p.ir))
	var b uint64
	for i, a := range addrs {
		if float64(p.ir[a]) < share*n {
			continue
		}
		size := uint64(4)
		if i+1 < len(addrs) && addrs[i+1]-a <= 15 {
			size = addrs[i+1] - a
		}
		b += size
	}
	return b
}

// packageOf is a Go function's package path ("github.com/a/b/c.(*T).M"
// → "github.com/a/b/c"), or the name itself for anything else.
func packageOf(f string) string {
	slash := strings.LastIndexByte(f, '/')
	if dot := strings.IndexByte(f[slash+1:], '.'); dot > 0 {
		return f[:slash+1+dot]
	}
	return f
}

func report(w io.Writer, fp footprint, n, top int) {
	fmt.Fprintf(w, "hot code: %d lines of 64 bytes (%d KiB) for %.0f instructions per request (%d requests)\n",
		fp.lines, fp.lines*64/1024, fp.irPerCall, n)
	if fp.lines > 0 {
		fmt.Fprintf(w, "hot instructions: about %d KiB, %.0f %% of those lines (the rest is cold code between them)\n",
			fp.hotBytes/1024, 100*float64(fp.hotBytes)/float64(fp.lines*64))
	}
	fmt.Fprintln(w, "  lines  instructions  package")
	for _, pk := range fp.packages[:min(12, len(fp.packages))] {
		fmt.Fprintf(w, "  %5d  %12.0f  %s\n", pk.lines, pk.ir, pk.name)
	}
	fmt.Fprintln(w, "  lines  instructions  function")
	for _, f := range fp.funcs[:min(top, len(fp.funcs))] {
		fmt.Fprintf(w, "  %5d  %12.0f  %s\n", f.lines, f.ir, strings.TrimPrefix(f.name, "github.com/"))
	}
}
