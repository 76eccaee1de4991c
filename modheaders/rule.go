// Package modheaders is the subset of Apache's mod_headers that proxy
// configs use: Header and RequestHeader with set, add, append, merge,
// setifempty, unset, edit and edit*, the always condition, env=[!]VAR
// conditions, %{VAR}e values and expr=%{NAME} strings; and mod_setenvif's
// SetEnvIf, which sets the variables they read. Anything else fails to
// compile with a message saying what is missing.
package modheaders

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/modrewrite"
)

// Action is a header operation.
type Action uint8

// The supported operations.
const (
	Set Action = iota
	Add
	Append
	Unset
	Merge      // append unless the value is already one of the list's
	SetIfEmpty // set unless a field of the name is there
	Edit       // replace the first match of a regex in each field
	EditAll    // edit*: replace every match
)

var actionNames = map[string]Action{"set": Set, "add": Add, "append": Append, "unset": Unset,
	"merge": Merge, "setifempty": SetIfEmpty, "edit": Edit, "edit*": EditAll}

// Rule is one compiled Header or RequestHeader directive.
type Rule struct {
	action    Action
	name      string
	nameBytes []byte // name, for fasthttp's []byte setters
	// apart: fasthttp keeps a field of this name apart from its list
	// (Content-Type, Server, Cookie, ...), where only its own methods
	// reach it.
	apart bool
	value format
	// literal is value where it is text alone (no %{VAR}e or %{VAR}s),
	// used as it is; nil otherwise.
	literal []byte
	expr    *modrewrite.Expr
	always  bool
	// re and template are edit's regular expression and its replacement
	// in regexp.Expand's syntax.
	re       *regexp.Regexp
	template []byte
	// condVar is the env= condition; hasCond is false without one.
	hasCond bool
	condVar Var
	negate  bool
}

// Spec is one directive as written: Header [always] action name [value]
// [env=[!]VAR], or Header [always] edit|edit* name regex replacement
// [env=[!]VAR], Regex then holding the regex and Value the replacement.
type Spec struct {
	Always bool
	Action string
	Name   string
	Regex  string
	Value  string
	Cond   string
	// Request marks RequestHeader, which has no always.
	Request bool
	// Vars are the configuration's variables; nil: the balancer ones.
	Vars *Vars
}

// Compile checks and compiles one directive.
func Compile(s Spec) (*Rule, error) {
	a, ok := actionNames[strings.ToLower(s.Action)]
	if !ok {
		return nil, fmt.Errorf("action %q is not supported (allowed: set, add, append, merge, setifempty, unset, edit, edit*)", s.Action)
	}
	if s.Name == "" {
		return nil, errors.New("needs a header name")
	}
	for i := 0; i < len(s.Name); i++ {
		if !tokenChar(s.Name[i]) {
			return nil, fmt.Errorf("header name %q is not a token", s.Name)
		}
	}
	if s.Request && s.Always {
		return nil, errors.New("RequestHeader takes no always condition")
	}
	r := &Rule{action: a, name: s.Name, nameBytes: []byte(s.Name), apart: anycase.Apart(s.Name) != "", always: s.Always}
	switch edits := a == Edit || a == EditAll; {
	case edits && s.Regex == "":
		return nil, errors.New("edit needs a regular expression and a replacement")
	case edits:
		re, err := regexp.Compile(s.Regex)
		if err != nil {
			return nil, fmt.Errorf("cannot compile regex %q: %w", s.Regex, err)
		}
		if strings.HasPrefix(s.Value, "expr=") {
			return nil, errors.New("an edit replacement is text, $1..$9 and %{VAR}e, not expr=")
		}
		r.re = re
		if !strings.Contains(s.Value, "%") {
			r.template = AppendRegexTemplate([]byte{}, []byte(s.Value))
		}
	case s.Regex != "":
		return nil, fmt.Errorf("only edit and edit* take a regular expression (got %q)", s.Regex)
	}
	switch {
	case a == Unset && s.Value != "":
		return nil, fmt.Errorf("unset takes no value (got %q)", s.Value)
	case a != Unset && strings.HasPrefix(s.Value, "expr="):
		e, err := modrewrite.CompileExpr(s.Value[len("expr="):])
		if err != nil {
			return nil, err
		}
		r.expr = e
	case a != Unset:
		f, err := parseFormat(s.Value, s.Vars)
		if err != nil {
			return nil, err
		}
		r.value = f
		if lit, ok := f.literal(); ok {
			r.literal = []byte(lit)
		}
	}
	if s.Cond != "" {
		name, ok := strings.CutPrefix(s.Cond, "env=")
		if !ok {
			return nil, fmt.Errorf("condition %q is not supported (allowed: env=VAR, env=!VAR)", s.Cond)
		}
		name, r.negate = strings.CutPrefix(name, "!")
		v, err := s.Vars.Lookup(name)
		if err != nil {
			return nil, err
		}
		r.hasCond, r.condVar = true, v
	}
	return r, nil
}

// Header is the field set a rule edits: *fasthttp.RequestHeader,
// *fasthttp.ResponseHeader or *Lines, no other.
type Header interface {
	AddBytesKV(key, value []byte)
	DelBytes(key []byte)
}

// eachNamed calls fn with each field of h named name, in any case. It
// ranges over fasthttp's concrete types: through an interface the loop's
// body would escape, an allocation for every rule applied to a request.
func eachNamed(h Header, name string, fn func(k, v []byte)) {
	switch hh := h.(type) {
	case *fasthttp.RequestHeader:
		for k, v := range hh.All() {
			if anycase.SameName(k, name) {
				fn(k, v)
			}
		}
	case *fasthttp.ResponseHeader:
		for k, v := range hh.All() {
			if anycase.SameName(k, name) {
				fn(k, v)
			}
		}
	case *Lines:
		for k, v := range hh.All() {
			if anycase.SameName(k, name) {
				fn(k, v)
			}
		}
	default:
		panic(fmt.Sprintf("modheaders: %T is not a fasthttp header", h))
	}
}

// Scratch is reusable memory for Apply.
type Scratch struct {
	val, old []byte
	names    [][]byte
	lens     []int  // edit: the length of each field's new value in old
	tmpl     []byte // edit: a replacement with %{VAR}e parts, expanded
	env      []byte // SetEnvIf: values with $N, which an Env holds
}

// Name is the field the rule edits, as written.
func (r *Rule) Name() string { return r.name }

// ReadsVars reports whether r reads the request or its variables: an env=
// condition, expr=, or %{VAR}e or %{VAR}s in its value or replacement.
// Apply takes a nil request and nil variables for a rule that does not.
func (r *Rule) ReadsVars() bool {
	return r.hasCond || r.expr != nil || r.action != Unset && r.literal == nil
}

// UsesSSL reports whether r's value reads a mod_ssl variable (%{VAR}s):
// the request must then carry its TLS state.
func (r *Rule) UsesSSL() bool { return r.value.usesSSL() || r.expr != nil && r.expr.UsesSSL() }

// Apply runs the rule on h. errorPage marks a response sluice generated
// itself, where only always rules apply.
func (r *Rule) Apply(h Header, req *modrewrite.Request, env *Env, errorPage bool, sc *Scratch) {
	if errorPage && !r.always {
		return
	}
	if r.hasCond {
		_, set := env.Get(r.condVar)
		if set == r.negate {
			return
		}
	}
	var val []byte // the value, read only: it may be r.literal
	switch {
	case r.action == Unset:
	case r.expr != nil:
		sc.val = r.expr.Append(sc.val[:0], req)
		val = sc.val
	case r.literal != nil:
		val = r.literal
	default:
		sc.val = r.value.expand(sc.val[:0], env, req)
		val = sc.val
	}
	switch r.action {
	case Set:
		r.del(h, sc)
		r.add(h, val)
	case Add:
		h.AddBytesKV(r.nameBytes, val)
	case SetIfEmpty:
		found := false
		eachNamed(h, r.name, func(_, _ []byte) { found = true })
		if !found {
			h.AddBytesKV(r.nameBytes, val)
		}
	case Append, Merge:
		sc.old = sc.old[:0]
		eachNamed(h, r.name, func(_, v []byte) {
			if len(sc.old) > 0 {
				sc.old = append(sc.old, ", "...)
			}
			sc.old = append(sc.old, v...)
		})
		if r.action == Merge && hasListToken(sc.old, val) {
			return
		}
		if len(sc.old) > 0 {
			sc.old = append(append(sc.old, ", "...), val...)
			val = sc.old
		}
		r.del(h, sc)
		r.add(h, val)
	case Unset:
		r.del(h, sc)
	case Edit, EditAll:
		r.edit(h, val, sc)
	}
}

// edit replaces, in every field named r.name, the first match of r.re
// (every match for edit*) with the replacement, keeping the fields'
// order; a field it does not match is kept as it was. The regexp package
// returns new slices, so an edit that matches allocates.
func (r *Rule) edit(h Header, val []byte, sc *Scratch) {
	tmpl := r.template
	if tmpl == nil { // the replacement has %{VAR}e parts: Apply expanded them into val
		sc.tmpl = AppendRegexTemplate(sc.tmpl[:0], val)
		tmpl = sc.tmpl
	}
	sc.old, sc.lens = sc.old[:0], sc.lens[:0]
	changed := false
	eachNamed(h, r.name, func(_, v []byte) {
		n := len(sc.old)
		switch loc := r.re.FindSubmatchIndex(v); {
		case loc == nil:
			sc.old = append(sc.old, v...)
		case r.action == EditAll:
			sc.old = append(sc.old, r.re.ReplaceAll(v, tmpl)...)
			changed = true
		default:
			sc.old = append(sc.old, v[:loc[0]]...)
			sc.old = r.re.Expand(sc.old, tmpl, v, loc)
			sc.old = append(sc.old, v[loc[1]:]...)
			changed = true
		}
		sc.lens = append(sc.lens, len(sc.old)-n)
	})
	if !changed {
		return
	}
	r.del(h, sc)
	rest := sc.old
	for _, n := range sc.lens {
		h.AddBytesKV(r.nameBytes, rest[:n])
		rest = rest[n:]
	}
}

// hasListToken reports whether tok is one of the comma-separated items of
// list, as Apache's merge looks: spaces before an item skipped, quoted
// strings kept whole, bytes compared exactly.
func hasListToken(list, tok []byte) bool {
	for len(list) > 0 {
		for len(list) > 0 && (list[0] == ' ' || list[0] == '\t') {
			list = list[1:]
		}
		i, quoted := 0, false
		for ; i < len(list) && (quoted || list[i] != ','); i++ {
			if list[i] == '"' {
				quoted = !quoted
			}
		}
		if string(list[:i]) == string(tok) {
			return true
		}
		if i < len(list) {
			i++
		}
		list = list[i:]
	}
	return false
}

// AppendRegexTemplate appends an Apache replacement (mod_headers' edit,
// mod_alias' RedirectMatch) in regexp.Expand's syntax: $N (one digit, as
// ap_pregsub reads it) becomes ${N}, a backslash takes the next byte
// literally, and any other $ is literal.
func AppendRegexTemplate(t, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				t = append(t, '$', '$')
			} else {
				t = append(t, s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			t = append(t, '$', '{', s[i+1], '}')
			i++
		case c == '$':
			t = append(t, '$', '$')
		default:
			t = append(t, c)
		}
	}
	return t
}

// del removes every field named r.name, whatever its case, and then the
// name itself, for a field fasthttp keeps apart from the list it ranges
// over. The names collected point into h's keys, which deleting does not
// rewrite.
func (r *Rule) del(h Header, sc *Scratch) {
	if l, ok := h.(*Lines); ok {
		// Deleting moves the lines after: collected names would move.
		l.delFold(r.name)
		return
	}
	sc.names = sc.names[:0]
	eachNamed(h, r.name, func(k, _ []byte) { sc.names = append(sc.names, k) })
	for _, n := range sc.names {
		h.DelBytes(n)
	}
	clear(sc.names) // hold no key of h past the request
	if r.apart {
		h.DelBytes(r.nameBytes)
	}
}

// add adds the field once del has removed every field of its name. A
// field in fasthttp's list goes in by SetCanonical, which takes the name
// as it is (a token, checked when the rule was compiled) where AddBytesKV
// copies and checks it again, about 400 instructions a rule; both blank a
// CR or LF in the value.
func (r *Rule) add(h Header, v []byte) {
	if c, ok := h.(canonicalSetter); ok && !r.apart {
		c.SetCanonical(r.nameBytes, v)
		return
	}
	h.AddBytesKV(r.nameBytes, v)
}

// canonicalSetter is fasthttp's headers' SetCanonical.
type canonicalSetter interface{ SetCanonical(key, value []byte) }

func tokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
