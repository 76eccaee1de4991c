package main

import (
	"cmp"
	"debug/elf"
	"errors"
	"slices"
	"sort"
)

// symbols are a binary's functions by start address, to name an address
// by the function whose code holds it.
type symbols []symbol

type symbol struct {
	start, end uint64
	name       string
}

// readSymbols reads the function symbols of an ELF binary.
func readSymbols(path string) (symbols, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil, err // a stripped binary has none (go build -ldflags=-s)
	}
	var syms symbols
	for _, s := range all {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Size > 0 {
			syms = append(syms, symbol{start: s.Value, end: s.Value + s.Size, name: s.Name})
		}
	}
	if len(syms) == 0 {
		return nil, errors.New(path + ": no function symbols")
	}
	slices.SortFunc(syms, func(a, b symbol) int { return cmp.Compare(a.start, b.start) })
	return syms, nil
}

// at names the function that holds address a, or "" for none.
func (s symbols) at(a uint64) string {
	i := sort.Search(len(s), func(i int) bool { return s[i].start > a }) - 1
	if i < 0 || a >= s[i].end {
		return ""
	}
	return s[i].name
}

// name replaces each address's callgrind context with the function whose
// code it is, where the symbols know one.
func (p *profile) name(syms symbols) {
	for a := range p.ir {
		if f := syms.at(a); f != "" {
			p.fn[a] = f
		}
	}
}
