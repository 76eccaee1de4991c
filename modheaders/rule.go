// Package modheaders is the subset of Apache's mod_headers that proxy
// configs use: Header and RequestHeader with set, add, append and unset,
// the always condition, env=[!]VAR conditions, %{VAR}e values and
// expr=%{NAME} strings. Anything else fails to compile with a message
// saying what is missing.
package modheaders

import (
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

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
)

var actionNames = map[string]Action{"set": Set, "add": Add, "append": Append, "unset": Unset}

// Rule is one compiled Header or RequestHeader directive.
type Rule struct {
	action    Action
	name      string
	nameBytes []byte // name, for fasthttp's []byte setters
	value     format
	expr      *modrewrite.Expr
	always    bool
	// condVar is the env= condition; hasCond is false without one.
	hasCond bool
	condVar Var
	negate  bool
}

// Spec is one directive as written: Header [always] action name [value]
// [env=[!]VAR].
type Spec struct {
	Always bool
	Action string
	Name   string
	Value  string
	Cond   string
	// Request marks RequestHeader, which has no always.
	Request bool
}

// Compile checks and compiles one directive.
func Compile(s Spec) (*Rule, error) {
	a, ok := actionNames[strings.ToLower(s.Action)]
	if !ok {
		return nil, fmt.Errorf("action %q is not supported (allowed: set, add, append, unset)", s.Action)
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
	r := &Rule{action: a, name: s.Name, nameBytes: []byte(s.Name), always: s.Always}
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
		f, err := parseFormat(s.Value)
		if err != nil {
			return nil, err
		}
		r.value = f
	}
	if s.Cond != "" {
		name, ok := strings.CutPrefix(s.Cond, "env=")
		if !ok {
			return nil, fmt.Errorf("condition %q is not supported (allowed: env=VAR, env=!VAR)", s.Cond)
		}
		name, r.negate = strings.CutPrefix(name, "!")
		v, err := lookupVar(name)
		if err != nil {
			return nil, err
		}
		r.hasCond, r.condVar = true, v
	}
	return r, nil
}

// Header is the field set a rule edits: *fasthttp.RequestHeader or
// *fasthttp.ResponseHeader, no other.
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
			if strings.EqualFold(string(k), name) {
				fn(k, v)
			}
		}
	case *fasthttp.ResponseHeader:
		for k, v := range hh.All() {
			if strings.EqualFold(string(k), name) {
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
}

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
	if r.action != Unset {
		if r.expr != nil {
			sc.val = r.expr.Append(sc.val[:0], req)
		} else {
			sc.val = r.value.expand(sc.val[:0], env)
		}
	}
	switch r.action {
	case Set:
		r.del(h, sc)
		h.AddBytesKV(r.nameBytes, sc.val)
	case Add:
		h.AddBytesKV(r.nameBytes, sc.val)
	case Append:
		sc.old = sc.old[:0]
		eachNamed(h, r.name, func(_, v []byte) {
			if len(sc.old) > 0 {
				sc.old = append(sc.old, ", "...)
			}
			sc.old = append(sc.old, v...)
		})
		if len(sc.old) > 0 {
			sc.old = append(append(sc.old, ", "...), sc.val...)
			sc.val = append(sc.val[:0], sc.old...)
		}
		r.del(h, sc)
		h.AddBytesKV(r.nameBytes, sc.val)
	case Unset:
		r.del(h, sc)
	}
}

// del removes every field named r.name, whatever its case, and then the
// name itself, for a field fasthttp keeps apart from the list it ranges
// over. The names collected point into h's keys, which deleting does not
// rewrite.
func (r *Rule) del(h Header, sc *Scratch) {
	sc.names = sc.names[:0]
	eachNamed(h, r.name, func(k, _ []byte) { sc.names = append(sc.names, k) })
	for _, n := range sc.names {
		h.DelBytes(n)
	}
	clear(sc.names) // hold no key of h past the request
	h.DelBytes(r.nameBytes)
}

func tokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
