package modrewrite

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
)

type condOp uint8

const (
	opRegex     condOp = iota
	opEqual            // =string
	opLess             // <string
	opGreater          // >string
	opLessEq           // <=string
	opGreaterEq        // >=string
	opFile             // -f: a regular file
	opDir              // -d: a directory
	opSize             // -s: a regular file with content
)

// Cond is one compiled RewriteCond.
type Cond struct {
	test   template
	op     condOp
	re     *regexp.Regexp
	str    string
	negate bool
	nocase bool
	or     bool
	// noGroups is set when nothing reads %N: the regex is only tested,
	// sparing the allocation of its groups (regexp has no API to reuse
	// them).
	noGroups bool
}

// CompileCond compiles RewriteCond TestString CondPattern [flags].
func CompileCond(test, pattern, flags string) (*Cond, error) {
	c := &Cond{}
	t, err := parseTemplate(test)
	if err != nil {
		return nil, err
	}
	c.test = t
	for _, f := range splitFlags(flags) {
		switch strings.ToLower(f) {
		case "nc", "nocase":
			c.nocase = true
		case "or", "ornext":
			c.or = true
		case "nv", "novary":
		default:
			return nil, fmt.Errorf("RewriteCond flag %q is not supported (allowed: NC, OR, NV)", f)
		}
	}
	if p, ok := strings.CutPrefix(pattern, "!"); ok {
		c.negate, pattern = true, p
	}
	switch {
	case strings.HasPrefix(pattern, "="):
		c.op, c.str = opEqual, unquoteEmpty(pattern[1:])
	case strings.HasPrefix(pattern, "<="):
		c.op, c.str = opLessEq, pattern[2:]
	case strings.HasPrefix(pattern, ">="):
		c.op, c.str = opGreaterEq, pattern[2:]
	case strings.HasPrefix(pattern, "<"):
		c.op, c.str = opLess, pattern[1:]
	case strings.HasPrefix(pattern, ">"):
		c.op, c.str = opGreater, pattern[1:]
	case pattern == "-f" || pattern == "-F":
		c.op = opFile
	case pattern == "-d":
		c.op = opDir
	case pattern == "-s":
		c.op = opSize
	case len(pattern) >= 2 && pattern[0] == '-' && isTestLetter(pattern[1:]):
		return nil, fmt.Errorf("CondPattern %q is not supported (allowed: a regular expression, =, <, >, <=, >=, -f, -d, -s)", pattern)
	default:
		src := pattern
		if c.nocase {
			src = "(?i)" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("cannot compile regex %q: %w", pattern, err)
		}
		c.op, c.re = opRegex, re
	}
	return c, nil
}

// isTestLetter spots the remaining file and integer tests (-l, -x, -eq…).
func isTestLetter(s string) bool {
	switch s {
	case "l", "L", "h", "x", "U", "eq", "ge", "gt", "le", "lt", "ne", "s", "d", "f", "F":
		return true
	}
	return false
}

// unquoteEmpty reads ="" as the empty string, as Apache documents.
func unquoteEmpty(s string) string {
	if s == `""` {
		return ""
	}
	return s
}

// match evaluates the condition. A regex match that is not negated
// replaces last, whose groups %N read.
func (c *Cond) match(st *State, r *Request, rule *captures) bool {
	st.test = c.test.expand(st.test[:0], r, rule, &st.cond)
	v := st.test
	var ok bool
	switch c.op {
	case opRegex:
		if c.noGroups {
			ok = c.re.Match(v)
			break
		}
		idx := c.re.FindSubmatchIndex(v)
		ok = idx != nil
		if ok && !c.negate {
			st.condBuf = append(st.condBuf[:0], v...)
			st.cond = captures{s: st.condBuf, idx: append(st.condIdx[:0], idx...)}
			st.condIdx = st.cond.idx
		}
	case opEqual:
		if c.nocase {
			ok = bytes.EqualFold(v, []byte(c.str))
		} else {
			ok = string(v) == c.str
		}
	case opLess:
		ok = compare(v, c.str, c.nocase) < 0
	case opGreater:
		ok = compare(v, c.str, c.nocase) > 0
	case opLessEq:
		ok = compare(v, c.str, c.nocase) <= 0
	case opGreaterEq:
		ok = compare(v, c.str, c.nocase) >= 0
	case opFile, opDir, opSize:
		ok = statTest(c.op, string(v))
	}
	return ok != c.negate
}

func compare(v []byte, s string, nocase bool) int {
	if nocase {
		return strings.Compare(strings.ToLower(string(v)), strings.ToLower(s))
	}
	return bytes.Compare(v, []byte(s))
}

// statTest runs a file test on the local filesystem, as mod_rewrite does.
func statTest(op condOp, name string) bool {
	fi, err := os.Stat(name)
	if err != nil {
		return false
	}
	switch op {
	case opFile:
		return fi.Mode().IsRegular()
	case opDir:
		return fi.IsDir()
	}
	return fi.Mode().IsRegular() && fi.Size() > 0
}
