package modheaders

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/modrewrite"
)

// EnvRule is one SetEnvIf or SetEnvIfNoCase line (mod_setenvif): when an
// attribute of the request matches a regular expression, variables are set
// (to a value with $0..$9, or "1") or unset (!VAR), for the Header and
// RequestHeader rules that read them.
type EnvRule struct {
	attr   envAttr
	header string // the request header, for attrHeader
	// v is the variable of header's name, read when the request has no
	// such header (hasVar).
	v       Var
	hasVar  bool
	re      *regexp.Regexp
	groups  bool // a value reads $N
	assigns []envAssign
}

type envAttr uint8

const (
	attrHeader envAttr = iota
	attrRemoteAddr
	attrRequestMethod
	attrRequestURI
)

// envAttrs are mod_setenvif's special attributes sluice knows; any other
// name is a request header, or a variable an earlier line set.
var envAttrs = map[string]envAttr{"remote_addr": attrRemoteAddr, "request_method": attrRequestMethod, "request_uri": attrRequestURI}

// envUnsupported are the special attributes sluice cannot read.
var envUnsupported = []string{"remote_host", "server_addr", "request_protocol"}

type envAssign struct {
	v     Var
	unset bool
	lit   []byte // the value when it reads no $N
	tmpl  []byte // else the value in regexp.Expand's syntax
}

// EnvSpec is one SetEnvIf line as written.
type EnvSpec struct {
	Attribute string
	Regex     string
	NoCase    bool
	// Assignments are "VAR", "VAR=value" or "!VAR".
	Assignments []string
	// Vars are the configuration's variables, each assignment's defined.
	Vars *Vars
}

// AssignedVar is the variable an assignment names.
func AssignedVar(a string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(a, "!"), "=")
	return name
}

// CompileEnv checks and compiles one SetEnvIf line.
func CompileEnv(s EnvSpec) (*EnvRule, error) {
	if len(s.Assignments) == 0 {
		return nil, errors.New("needs an attribute, a regular expression and at least one variable")
	}
	r := &EnvRule{}
	lower := strings.ToLower(s.Attribute)
	switch a, ok := envAttrs[lower]; {
	case ok:
		r.attr = a
	case strings.ContainsAny(s.Attribute, "^$*+?()[]{}|\\\\"):
		return nil, fmt.Errorf("attribute %q: a regular expression of header names is not supported", s.Attribute)
	default:
		for _, u := range envUnsupported {
			if lower == u {
				return nil, fmt.Errorf("attribute %q is not supported (allowed: a request header, Remote_Addr, Request_Method, Request_URI)", s.Attribute)
			}
		}
		r.attr, r.header = attrHeader, s.Attribute
		r.v, r.hasVar = findVar(s.Vars, s.Attribute)
	}
	src := s.Regex
	if s.NoCase {
		src = "(?i)" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("cannot compile regex %q: %w", s.Regex, err)
	}
	r.re = re
	for _, a := range s.Assignments {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "!"), "=")
		if name == "" {
			return nil, fmt.Errorf("assignment %q names no variable", a)
		}
		v, err := s.Vars.Lookup(name)
		if err != nil {
			return nil, err
		}
		as := envAssign{v: v, unset: strings.HasPrefix(a, "!")}
		switch {
		case as.unset && hasValue:
			return nil, fmt.Errorf("assignment %q: !VAR takes no value", a)
		case !hasValue:
			as.lit = []byte("1")
		case strings.Contains(value, "$"):
			as.tmpl, r.groups = AppendRegexTemplate(nil, []byte(value)), true
		default:
			as.lit = []byte(value)
		}
		r.assigns = append(r.assigns, as)
	}
	return r, nil
}

// Apply sets or unsets r's variables in env when req matches. Values with
// $N are built in sc, whose earlier bytes env may still hold: sc only
// grows until the caller starts a new request's variables (ResetEnv).
// Reading $N allocates the regex's groups once.
func (r *EnvRule) Apply(req *modrewrite.Request, env *Env, sc *Scratch) {
	var val []byte
	switch r.attr {
	case attrRemoteAddr:
		val = req.Addr()
	case attrRequestMethod:
		val = req.Method
	case attrRequestURI:
		val = req.Path
	default:
		val = anycase.Request(req.Header, r.header)
		if val == nil && r.hasVar {
			val, _ = env.Get(r.v)
		}
	}
	// Neither header nor variable: val matches as "", so ^$ tests for
	// a missing header, as in Apache.
	var loc []int
	if r.groups {
		if loc = r.re.FindSubmatchIndex(val); loc == nil {
			return
		}
	} else if !r.re.Match(val) {
		return
	}
	for _, a := range r.assigns {
		switch {
		case a.unset:
			env.Unset(a.v)
		case a.tmpl == nil:
			env.Set(a.v, a.lit)
		default:
			start := len(sc.env)
			sc.env = r.re.Expand(sc.env, a.tmpl, val, loc)
			env.Set(a.v, sc.env[start:len(sc.env):len(sc.env)])
		}
	}
}

// findVar is the variable called name in any case, as Apache's
// environment table finds it.
func findVar(vs *Vars, name string) (Var, bool) {
	for i := range vs.Len() {
		if strings.EqualFold(vs.Name(Var(i)), name) {
			return Var(i), true
		}
	}
	return 0, false
}

// ResetEnv starts a request's variables: env empty, the value buffer
// reused.
func (sc *Scratch) ResetEnv(env *Env) {
	env.Reset()
	sc.env = sc.env[:0]
}
