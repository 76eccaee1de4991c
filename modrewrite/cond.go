package modrewrite

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
)

type condOp uint8

const (
	opRegex        condOp = iota
	opEqual               // =string
	opLess                // <string
	opGreater             // >string
	opLessEq              // <=string
	opGreaterEq           // >=string
	opFile                // -f: a regular file
	opDir                 // -d: a directory
	opSize                // -s: a regular file with content
	opLink                // -l, -L, -h: a symbolic link
	opExec                // -x: anything with an execute permission bit
	opIntLess             // -lt
	opIntLessEq           // -le
	opIntEqual            // -eq (and !-ne)
	opIntGreater          // -gt
	opIntGreaterEq        // -ge
)

// Cond is one compiled RewriteCond.
type Cond struct {
	test   template
	op     condOp
	re     *regexp.Regexp
	str    string
	num    int32 // the integer of -lt, -le, -eq, -gt, -ge
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
	case pattern == "-l" || pattern == "-L" || pattern == "-h":
		c.op = opLink
	case pattern == "-x":
		c.op = opExec
	case len(pattern) > 3 && intOps[pattern[:3]] != 0:
		c.op, c.num = intOps[pattern[:3]], atoi(pattern[3:])
		if pattern[:3] == "-ne" {
			c.negate = !c.negate // Apache reads -ne as a negated -eq
		}
	case len(pattern) >= 2 && pattern[0] == '-' && isTestLetter(pattern[1:]):
		return nil, fmt.Errorf("CondPattern %q is not supported (allowed: a regular expression, =, <, >, <=, >=, -lt, -le, -eq, -ne, -gt, -ge, -f, -d, -s, -l, -x)", pattern)
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

// intOps are the integer CondPatterns, which compare the TestString and
// the number after the operator as C's atoi reads them.
var intOps = map[string]condOp{
	"-lt": opIntLess, "-le": opIntLessEq, "-eq": opIntEqual, "-ne": opIntEqual,
	"-gt": opIntGreater, "-ge": opIntGreaterEq,
}

// isTestLetter spots the tests sluice does not run (-U, and the integer
// tests with no number), so they are refused rather than read as regexes.
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
	st.test = c.test.expand(st.test[:0], r, rule, &st.cond, st.Env)
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
			ok = len(v) == len(c.str) && compareFold(v, c.str) == 0
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
	case opIntLess:
		ok = atoi(v) < c.num
	case opIntLessEq:
		ok = atoi(v) <= c.num
	case opIntEqual:
		ok = atoi(v) == c.num
	case opIntGreater:
		ok = atoi(v) > c.num
	case opIntGreaterEq:
		ok = atoi(v) >= c.num
	case opFile, opDir, opSize, opLink, opExec:
		ok = statTest(c.op, string(v))
	}
	return ok != c.negate
}

// compare orders v against s as mod_rewrite's <, >, <= and >= do. With NC
// it is strcasecmp: byte by byte, ASCII letters folded. Without, it is
// mod_rewrite's compare_lexicography, which its docs call lexicographic but
// which puts the shorter string first and compares bytes only at equal
// lengths: so ">1000" holds for "20000" and not for "999", which configs
// written for Apache count on.
func compare(v []byte, s string, nocase bool) int {
	if nocase {
		return compareFold(v, s)
	}
	if len(v) != len(s) {
		if len(v) < len(s) {
			return -1
		}
		return 1
	}
	return bytes.Compare(v, []byte(s))
}

// compareFold is C's strcasecmp in the C locale, without allocating.
func compareFold(v []byte, s string) int {
	for i := 0; i < len(v) && i < len(s); i++ {
		a, b := lowerASCII(v[i]), lowerASCII(s[i])
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v) < len(s):
		return -1
	case len(v) > len(s):
		return 1
	}
	return 0
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// atoi reads a number as glibc's atoi does: leading white space, a sign,
// then digits up to the first other byte (none: 0). strtol saturates at
// the 64-bit limits, and atoi keeps the low 32 bits of that.
func atoi[T string | []byte](s T) int32 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n uint64 // magnitude, saturated just past int64's range
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n <= 1<<63 {
			n = n*10 + uint64(s[i]-'0')
		}
	}
	var v int64
	switch {
	case neg && n >= 1<<63:
		v = math.MinInt64
	case neg:
		v = -int64(n)
	case n > math.MaxInt64:
		v = math.MaxInt64
	default:
		v = int64(n)
	}
	return int32(v)
}

// statTest runs a file test on the local filesystem, as mod_rewrite does.
func statTest(op condOp, name string) bool {
	if op == opLink {
		fi, err := os.Lstat(name)
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	fi, err := os.Stat(name)
	if err != nil {
		return false
	}
	switch op {
	case opFile:
		return fi.Mode().IsRegular()
	case opDir:
		return fi.IsDir()
	case opExec:
		return fi.Mode().Perm()&0o111 != 0
	}
	return fi.Mode().IsRegular() && fi.Size() > 0
}
