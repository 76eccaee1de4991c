package hcexpr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Expr is a parsed expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root *node
}

// String returns the source the expression was parsed from.
func (e *Expr) String() string { return e.src }

// SyntaxError is a parse error at a byte offset of the source.
type SyntaxError struct {
	Offset int // byte offset into the source, 0-based
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Offset+1, e.Msg) }

type kind uint8

const (
	kindOr kind = iota
	kindAnd
	kindNot
	kindConst   // true, false
	kindString  // == != < <= > >=
	kindNumeric // -eq -ne -lt -le -gt -ge
	kindMatch   // =~ !~
	kindIn      // -in {…}
)

type node struct {
	kind kind
	src  string // this node's source text, for explanations
	op   string
	x, y *node // operands of || && ! (x only for !)
	val  bool  // kindConst

	left, right word
	list        []word
	re          *regexp.Regexp
}

// from is where a word part's value comes from.
type from uint8

const (
	fromLiteral from = iota
	fromStatus
	fromContentType
	fromBody
	fromHeader
)

type part struct {
	from from
	text string // the literal, or the header name for fromHeader
}

// word is a value: a literal, a variable, a function call, or a quoted
// string mixing literals and variables.
type word struct {
	src   string
	parts []part
}

// literal reports whether w's value is known without a response.
func (w word) literal() bool {
	for _, p := range w.parts {
		if p.from != fromLiteral {
			return false
		}
	}
	return true
}

// Parse parses a ProxyHCExpr condition (the text inside its braces).
// Errors are *SyntaxError.
func Parse(src string) (*Expr, error) {
	p := &parser{src: src}
	p.space()
	if p.eof() {
		return nil, p.fail(p.pos, "empty expression")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if !p.eof() {
		return nil, p.fail(p.pos, "unexpected %s after the expression", p.near())
	}
	return &Expr{src: src, root: n}, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) fail(at int, format string, args ...any) error {
	return &SyntaxError{Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// near quotes the text at pos for an error message.
func (p *parser) near() string {
	if p.eof() {
		return "end of expression"
	}
	rest := p.src[p.pos:]
	if len(rest) > 12 {
		rest = rest[:12] + "…"
	}
	return strconv.Quote(rest)
}

func (p *parser) space() {
	for !p.eof() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) eat(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *parser) span(start int) string { return strings.TrimSpace(p.src[start:p.pos]) }

func (p *parser) or() (*node, error) {
	p.space()
	start := p.pos
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if !p.eat("||") {
			return x, nil
		}
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		x = &node{kind: kindOr, x: x, y: y, src: p.span(start)}
	}
}

func (p *parser) and() (*node, error) {
	p.space()
	start := p.pos
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if !p.eat("&&") {
			return x, nil
		}
		y, err := p.unary()
		if err != nil {
			return nil, err
		}
		x = &node{kind: kindAnd, x: x, y: y, src: p.span(start)}
	}
}

func (p *parser) unary() (*node, error) {
	p.space()
	start := p.pos
	switch {
	case p.eof():
		return nil, p.fail(p.pos, "expected a condition, found end of expression")
	case p.src[p.pos] == '!' && !strings.HasPrefix(p.src[p.pos:], "!=") && !strings.HasPrefix(p.src[p.pos:], "!~"):
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{kind: kindNot, x: x, src: p.span(start)}, nil
	case p.src[p.pos] == '(':
		p.pos++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(")") {
			return nil, p.fail(p.pos, "expected ) to close the ( at column %d, found %s", start+1, p.near())
		}
		return x, nil
	}
	if name := p.ident(); name == "true" || name == "false" {
		p.pos += len(name)
		return &node{kind: kindConst, val: name == "true", src: name}, nil
	}
	return p.compare()
}

// ident returns the identifier at pos without consuming it.
func (p *parser) ident() string {
	end := p.pos
	for end < len(p.src) && isIdent(p.src[end]) {
		end++
	}
	return p.src[p.pos:end]
}

func isIdent(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// operators in matching order: longer tokens before their prefixes.
var operators = []struct {
	tok  string
	kind kind
}{
	{"==", kindString}, {"=~", kindMatch}, {"!=", kindString}, {"!~", kindMatch},
	{"<=", kindString}, {">=", kindString}, {"<", kindString}, {">", kindString}, {"=", kindString},
	{"-eq", kindNumeric}, {"-ne", kindNumeric}, {"-lt", kindNumeric}, {"-le", kindNumeric},
	{"-gt", kindNumeric}, {"-ge", kindNumeric}, {"-in", kindIn},
}

const operatorList = "== != < <= > >= -eq -ne -lt -le -gt -ge =~ !~ -in"

func (p *parser) compare() (*node, error) {
	start := p.pos
	left, err := p.word()
	if err != nil {
		return nil, err
	}
	p.space()
	opAt := p.pos
	n := &node{left: left}
	for _, o := range operators {
		if strings.HasPrefix(p.src[p.pos:], o.tok) && (o.tok[0] != '-' || !p.identAfter(len(o.tok))) {
			n.op, n.kind = o.tok, o.kind
			p.pos += len(o.tok)
			break
		}
	}
	if n.op == "" {
		if !p.eof() && p.src[p.pos] == '-' {
			p.pos++
			name := p.ident()
			p.pos = opAt
			return nil, p.fail(opAt, "unknown operator -%s (allowed: %s)", name, operatorList)
		}
		return nil, p.fail(opAt, "expected an operator after %s, found %s (allowed: %s)", left.src, p.near(), operatorList)
	}
	if n.op == "=" {
		n.op = "=="
	}
	switch n.kind {
	case kindMatch:
		n.re, err = p.regex(n.op)
	case kindIn:
		n.list, err = p.list()
	default:
		n.right, err = p.word()
	}
	if err != nil {
		return nil, err
	}
	n.src = p.span(start)
	return n, nil
}

// identAfter reports whether an identifier character follows pos+k, which
// makes "-in" in "-inx" part of an unknown operator.
func (p *parser) identAfter(k int) bool {
	return p.pos+k < len(p.src) && isIdent(p.src[p.pos+k])
}

func (p *parser) word() (word, error) {
	p.space()
	start := p.pos
	if p.eof() {
		return word{}, p.fail(p.pos, "expected a value, found end of expression")
	}
	var parts []part
	var err error
	switch c := p.src[p.pos]; {
	case c == '\'' || c == '"':
		parts, err = p.quoted(c)
	case c == '%':
		var v part
		v, err = p.variable()
		parts = []part{v}
	case '0' <= c && c <= '9':
		for !p.eof() && '0' <= p.src[p.pos] && p.src[p.pos] <= '9' {
			p.pos++
		}
		parts = []part{{text: p.src[start:p.pos]}}
	case isIdent(c):
		var v part
		v, err = p.call()
		parts = []part{v}
	default:
		return word{}, p.fail(p.pos, "expected a value ('string', number, %%{VAR} or function call), found %s", p.near())
	}
	if err != nil {
		return word{}, err
	}
	return word{src: p.src[start:p.pos], parts: parts}, nil
}

// quoted reads a '…' or "…" string: backslash escapes the next character,
// and %{VAR} is replaced by the variable's value.
func (p *parser) quoted(q byte) ([]part, error) {
	start := p.pos
	p.pos++
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{text: lit.String()})
			lit.Reset()
		}
	}
	for {
		if p.eof() {
			return nil, p.fail(start, "unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			flush()
			if parts == nil {
				parts = []part{{}}
			}
			return parts, nil
		case c == '\\' && p.pos+1 < len(p.src):
			lit.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case c == '%' && strings.HasPrefix(p.src[p.pos:], "%{"):
			flush()
			v, err := p.variable()
			if err != nil {
				return nil, err
			}
			parts = append(parts, v)
		default:
			lit.WriteByte(c)
			p.pos++
		}
	}
}

var variables = map[string]from{
	"REQUEST_STATUS": fromStatus,
	"CONTENT_TYPE":   fromContentType,
	"HC_BODY":        fromBody,
}

func (p *parser) variable() (part, error) {
	start := p.pos
	if !p.eat("%{") {
		return part{}, p.fail(start, "expected %%{ to start a variable")
	}
	end := strings.IndexByte(p.src[p.pos:], '}')
	if end < 0 {
		return part{}, p.fail(start, "unclosed %%{")
	}
	name := p.src[p.pos : p.pos+end]
	v, ok := variables[strings.ToUpper(name)]
	if !ok {
		return part{}, p.fail(start, "unknown variable %%{%s} (allowed: REQUEST_STATUS, CONTENT_TYPE, HC_BODY)", name)
	}
	p.pos += end + 1
	return part{from: v}, nil
}

// call reads hc('body') or resp('Header-Name').
func (p *parser) call() (part, error) {
	start := p.pos
	name := p.ident()
	p.pos += len(name)
	p.space()
	if !p.eat("(") {
		return part{}, p.fail(start, "unknown word %q (quote strings: '%s')", name, name)
	}
	argAt := p.pos
	arg, err := p.word()
	if err != nil {
		return part{}, err
	}
	p.space()
	if !p.eat(")") {
		return part{}, p.fail(p.pos, "expected ) to close %s(, found %s", name, p.near())
	}
	if !arg.literal() {
		return part{}, p.fail(argAt, "the argument of %s() must be a constant string", name)
	}
	var text strings.Builder
	for _, a := range arg.parts {
		text.WriteString(a.text)
	}
	switch strings.ToLower(name) {
	case "hc":
		if !strings.EqualFold(text.String(), "body") {
			return part{}, p.fail(argAt, "hc() takes only 'body', not %q", text.String())
		}
		return part{from: fromBody}, nil
	case "resp":
		if text.Len() == 0 {
			return part{}, p.fail(argAt, "resp() needs a header name")
		}
		return part{from: fromHeader, text: text.String()}, nil
	}
	return part{}, p.fail(start, "unknown function %s() (allowed: hc, resp)", name)
}

// regex reads /re/ or m<delim>re<delim>, then an optional i flag.
func (p *parser) regex(op string) (*regexp.Regexp, error) {
	p.space()
	start := p.pos
	var delim byte
	switch {
	case p.eof():
	case p.src[p.pos] == '/':
		delim = '/'
		p.pos++
	case p.src[p.pos] == 'm' && p.pos+1 < len(p.src) && isDelim(p.src[p.pos+1]):
		delim = p.src[p.pos+1]
		p.pos += 2
	}
	if delim == 0 {
		return nil, p.fail(start, "expected a /regex/ after %s, found %s", op, p.near())
	}
	var pat strings.Builder
	for {
		if p.eof() {
			return nil, p.fail(start, "unterminated regex")
		}
		c := p.src[p.pos]
		if c == delim {
			p.pos++
			break
		}
		if c == '\\' && p.pos+1 < len(p.src) {
			if p.src[p.pos+1] != delim {
				pat.WriteByte(c)
			}
			pat.WriteByte(p.src[p.pos+1])
			p.pos += 2
			continue
		}
		pat.WriteByte(c)
		p.pos++
	}
	prefix := ""
	for !p.eof() && isIdent(p.src[p.pos]) {
		if p.src[p.pos] != 'i' {
			return nil, p.fail(p.pos, "unknown regex flag %q (allowed: i)", p.src[p.pos:p.pos+1])
		}
		prefix = "(?i)"
		p.pos++
	}
	re, err := regexp.Compile(prefix + pat.String())
	if err != nil {
		return nil, p.fail(start, "cannot compile regex %s: %v", p.src[start:p.pos], err)
	}
	return re, nil
}

func isDelim(c byte) bool {
	return c > ' ' && c < 0x7f && !isIdent(c) && c != '\\'
}

// list reads { word, word, … }.
func (p *parser) list() ([]word, error) {
	p.space()
	start := p.pos
	if !p.eat("{") {
		return nil, p.fail(p.pos, "expected { after -in, found %s", p.near())
	}
	var ws []word
	for {
		w, err := p.word()
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
		p.space()
		if p.eat("}") {
			return ws, nil
		}
		if !p.eat(",") {
			if p.eof() {
				return nil, p.fail(start, "unclosed { in the -in list")
			}
			return nil, p.fail(p.pos, "expected , or } in the -in list, found %s", p.near())
		}
	}
}
