package modrewrite

import (
	"bytes"
	"slices"
)

// Action is what the rules decided for a request.
type Action uint8

const (
	// Continue: serve the request by ProxyPass routing, on State.Path when
	// Rewritten is set.
	Continue Action = iota
	// Proxy: send the request to the rule's balancer or origin, with
	// State.Path (encoded) and State.Query.
	Proxy
	// Redirect: answer State.Status with Location State.Location.
	Redirect
	// Respond: answer State.Status (403 for F, 410 for G, a non-3xx R).
	Respond
)

// State is one request's run through the rules. Reset it, then call
// Apply for each rule list in order, then Finish.
type State struct {
	// Path is the current URL-path (decoded; or an absolute URL once a
	// rule produced one); Query the current raw query string.
	Path  []byte
	Query []byte
	// Rewritten is set once a rule substituted something.
	Rewritten bool
	Action    Action
	Status    int
	// Location is the redirect target.
	Location []byte
	// Rule is the [P] rule that decided, for its balancer or origin.
	Rule *Rule
	// Env are the [E=] flags of the rules that matched, in order; the
	// values are valid until the next Reset.
	Env []EnvAssign

	last     bool // [L]: no more rules in this phase
	end      bool // [END]: none in later phases either
	redirect int  // [R] without [L]: redirect once the rules are done
	noEscape bool
	origQ    []byte

	test, out, pathBuf, queryBuf, condBuf []byte
	ruleIdx, condIdx                      []int
	cond, rule                            captures
}

// Reset starts a request: the rules see path (decoded) and query.
func (st *State) Reset(path, query []byte) {
	st.pathBuf = append(st.pathBuf[:0], path...)
	st.queryBuf = append(st.queryBuf[:0], query...)
	st.Path, st.Query = st.pathBuf, st.queryBuf
	st.origQ = query
	st.Rewritten, st.Action, st.Status, st.Rule = false, Continue, 0, nil
	st.Location = st.Location[:0]
	st.last, st.end, st.redirect, st.noEscape = false, false, 0, false
	st.cond = captures{}
	st.Env = st.Env[:0]
}

// EnvAssign is one [E=] flag of a rule that matched: its rule's
// EnvNames()[I] set to Value, or unset.
type EnvAssign struct {
	Rule  *Rule
	I     int
	Unset bool
	Value []byte
}

// setEnv records rule's [E=] flags, each value in a buffer the State
// keeps from request to request.
func (st *State) setEnv(rule *Rule, r *Request, rc *captures) {
	for i := range rule.envs {
		e := &rule.envs[i]
		n := len(st.Env)
		// An element past len keeps its Value buffer from an earlier request.
		st.Env = slices.Grow(st.Env, 1)[:n+1]
		a := &st.Env[n]
		a.Rule, a.I, a.Unset = rule, i, e.unset
		a.Value = e.value.expand(a.Value[:0], r, rc, &st.cond, st.Env[:n])
	}
}

// NextPhase lets a later phase (the <Location> rules) run after an [L],
// not after an [END].
func (st *State) NextPhase() { st.last = st.end }

// Done reports whether the rules answered or proxied the request.
func (st *State) Done() bool { return st.Action != Continue }

// Rules is an ordered list of compiled rules (one context's RewriteRules).
type Rules struct {
	list []*Rule
}

// NewRules builds a list from compiled rules, in config order.
func NewRules(rules []*Rule) *Rules { return &Rules{list: rules} }

// Len is the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.list)
}

// UsesSSL reports whether a rule or condition reads a mod_ssl variable
// (%{SSL:NAME}): the Request must then carry the connection's TLS state.
func (rs *Rules) UsesSSL() bool { return rs.anyTemplate(template.usesSSL) }

// ReadsEnv reports whether a rule or condition reads %{ENV:NAME}: the
// Request should then carry the variables set before the rules (Env).
func (rs *Rules) ReadsEnv() bool {
	return rs.anyTemplate(func(t template) bool { return t.refers(segEnv) })
}

// anyTemplate reports whether f holds for a substitution, [E=] value or
// condition test string of the rules.
func (rs *Rules) anyTemplate(f func(template) bool) bool {
	if rs == nil {
		return false
	}
	for _, r := range rs.list {
		if f(r.subst) {
			return true
		}
		for _, e := range r.envs {
			if f(e.value) {
				return true
			}
		}
		for _, c := range r.conds {
			if f(c.test) {
				return true
			}
		}
	}
	return false
}

// Apply runs the rules on st until one ends the phase.
func (rs *Rules) Apply(st *State, r *Request) {
	if rs == nil {
		return
	}
	for _, rule := range rs.list {
		if st.last || st.Action != Continue {
			return
		}
		rule.apply(st, r)
	}
}

func (rule *Rule) apply(st *State, r *Request) {
	var idx []int
	if rule.noGroups {
		if (rule.always || rule.re.Match(st.Path)) == rule.negate {
			return
		}
	} else if idx = rule.re.FindSubmatchIndex(st.Path); (idx != nil) == rule.negate {
		return
	}
	var rc *captures
	if !rule.negate {
		st.ruleIdx = append(st.ruleIdx[:0], idx...)
		st.rule = captures{s: st.Path, idx: st.ruleIdx}
		rc = &st.rule
	}
	st.cond = captures{}
	if !rule.condsHold(st, r, rc) {
		return
	}
	if len(rule.envs) > 0 {
		// Apache sets them for a rule that matched, whatever it does next.
		st.setEnv(rule, r, rc)
	}
	f := &rule.flags
	switch {
	case f.Forbidden:
		st.Action, st.Status = Respond, 403
		return
	case f.Gone:
		st.Action, st.Status = Respond, 410
		return
	case f.Redirect >= 400:
		st.Action, st.Status = Respond, f.Redirect
		return
	}
	if rule.noSubst {
		st.last = st.last || f.Last || f.PassThrough
		st.end = st.end || f.End
		if f.Redirect != 0 {
			st.redirect, st.noEscape = f.Redirect, f.NoEscape
		}
		return
	}
	st.out = rule.subst.expand(st.out[:0], r, rc, &st.cond, st.Env)
	path, query, hasQuery := st.out, st.out[:0], false
	if i := bytes.IndexByte(st.out, '?'); i >= 0 {
		path, query, hasQuery = st.out[:i], st.out[i+1:], true
	}
	// Apache 2.4.60 (CVE-2024-38474): a %3F the client encoded in the path
	// must not become a query separator through a back-reference.
	if hasQuery && !f.Unsafe3F && hasEncodedQMark(r.RawPath) {
		st.Action, st.Status = Respond, 403
		return
	}
	st.setQuery(query, hasQuery, f)
	st.pathBuf = append(st.pathBuf[:0], path...)
	st.Path, st.Rewritten = st.pathBuf, true
	switch {
	case f.Proxy:
		n := rule.prefixLen()
		if n > len(st.Path) || n < len(st.Path) && st.Path[n] != '/' {
			// A back-reference ran into the authority: no such target.
			st.Action, st.Status = Respond, 503
			return
		}
		st.Path = st.Path[n:]
		st.Action, st.Rule, st.noEscape = Proxy, rule, f.NoEscape
		return
	case f.Redirect != 0:
		st.redirect, st.noEscape = f.Redirect, f.NoEscape
	case isAbsolute(st.Path):
		// An absolute URL without [P] is an external redirect.
		if st.redirect == 0 {
			st.redirect = 302
		}
		st.noEscape = st.noEscape || f.NoEscape
	}
	st.last = st.last || f.Last || f.PassThrough
	st.end = st.end || f.End
}

func (rule *Rule) condsHold(st *State, r *Request, rc *captures) bool {
	conds := rule.conds
	for i := 0; i < len(conds); i++ {
		c := conds[i]
		ok := c.match(st, r, rc)
		if c.or {
			if !ok {
				continue
			}
			// Skip the rest of this OR chain, its last member included.
			for i < len(conds) && conds[i].or {
				i++
			}
			continue
		}
		if !ok {
			return false
		}
	}
	return true
}

// setQuery applies the substitution's query and QSA / QSD.
func (st *State) setQuery(query []byte, hasQuery bool, f *Flags) {
	if f.QSDiscard {
		// First, as Apache: with QSA too, only the substitution's query
		// is left.
		st.Query = st.queryBuf[:0]
	}
	switch {
	case hasQuery && f.QSAppend && len(st.Query) > 0 && len(query) > 0:
		st.out2(query, st.Query)
	case hasQuery && f.QSAppend && len(query) == 0:
		// "?" with QSA keeps the current query.
	case hasQuery:
		st.queryBuf = append(st.queryBuf[:0], query...)
		st.Query = st.queryBuf
	}
}

// out2 sets the query to a&b without aliasing the buffers it reads.
func (st *State) out2(a, b []byte) {
	n := len(a) + 1 + len(b)
	buf := make([]byte, 0, n)
	buf = append(append(append(buf, a...), '&'), b...)
	st.queryBuf, st.Query = buf, buf
}

// Finish refuses a rewritten query a request line cannot carry, and turns
// a pending [R] (or an absolute URL) into a redirect; host is the
// request's Host, https its scheme.
func (st *State) Finish(host []byte, https bool) {
	if st.Rewritten && st.Action != Respond && splitsRequest(st.Query) {
		// A back-reference holds the decoded path: its spaces and CRLFs
		// would end the member's request line (CVE-2023-25690). Apache
		// 2.4.56+ answers 403 (AH10410), whatever the rule's action.
		st.Action, st.Status = Respond, 403
		return
	}
	if st.Action != Continue || st.redirect == 0 {
		return
	}
	loc := st.Location[:0]
	if !isAbsolute(st.Path) {
		if https {
			loc = append(loc, "https://"...)
		} else {
			loc = append(loc, "http://"...)
		}
		loc = append(loc, host...)
		if len(st.Path) == 0 || st.Path[0] != '/' {
			loc = append(loc, '/')
		}
	}
	loc = AppendPath(loc, st.Path, st.noEscape)
	if len(st.Query) > 0 {
		loc = append(loc, '?')
		if st.noEscape || bytes.Equal(st.Query, st.origQ) {
			loc = append(loc, st.Query...)
		} else {
			// Apache's ap_escape_uri, whose '%' too becomes %25: [NE]
			// is how a rule keeps an escape it wrote.
			loc = AppendPath(loc, st.Query, false)
		}
	}
	st.Location, st.Action, st.Status = loc, Redirect, st.redirect
}

// NoEscape reports whether the deciding rule had [NE].
func (st *State) NoEscape() bool { return st.noEscape }

func isAbsolute(p []byte) bool {
	i := bytes.Index(p, []byte("://"))
	if i <= 0 {
		return false
	}
	for _, c := range p[:i] {
		if !('a' <= c|0x20 && c|0x20 <= 'z') && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// splitsRequest reports whether q holds a control byte or a space: what
// Apache's ap_scan_vchar_obstext stops at.
func splitsRequest(q []byte) bool {
	for _, c := range q {
		if c <= ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

func hasEncodedQMark(raw []byte) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' && raw[i+1] == '3' && raw[i+2]|0x20 == 'f' {
			return true
		}
	}
	return false
}

// List returns the compiled rules in order.
func (rs *Rules) List() []*Rule {
	if rs == nil {
		return nil
	}
	return rs.list
}
