package modheaders

import (
	"fmt"
	"math/bits"
	"strings"
	"unsafe"
)

// Var is an environment variable sluice sets: the ones mod_proxy_balancer
// exports after choosing a member (apache.md §4.7), mod_ssl's HTTPS, then
// those a configuration's SetEnvIf lines set (Vars).
type Var uint8

// The variables sluice always knows, by Apache's names.
const (
	BalancerName          Var = iota // balancer://name
	BalancerWorkerName               // the member URL
	BalancerWorkerRoute              // the member's route
	BalancerRouteChanged             // "1" when the request did not stick to its route
	BalancerSessionSticky            // the cookie or URL parameter the route came from
	BalancerSessionRoute             // the route the request asked for
	// HTTPS is "on" for a request that came over TLS, unset otherwise:
	// mod_ssl sets it on every such request ("env=HTTPS" conditions).
	HTTPS
	numBuiltinVars
)

// MaxVars bounds the variables of one configuration, the balancer ones
// included: an Env holds them all in arrays, so a request allocates none.
const MaxVars = 64

var varNames = [numBuiltinVars]string{
	"BALANCER_NAME", "BALANCER_WORKER_NAME", "BALANCER_WORKER_ROUTE",
	"BALANCER_ROUTE_CHANGED", "BALANCER_SESSION_STICKY", "BALANCER_SESSION_ROUTE",
	"HTTPS",
}

// Vars names the variables of one configuration: the built-in ones, then
// those its SetEnvIf lines set, in the order they were defined. A nil
// *Vars has the built-in ones only.
type Vars struct {
	names []string
}

// NewVars returns the built-in variables alone.
func NewVars() *Vars { return &Vars{names: append([]string(nil), varNames[:]...)} }

// Define returns the variable called name, adding it when it is new.
func (vs *Vars) Define(name string) (Var, error) {
	if v, err := vs.Lookup(name); err == nil {
		return v, nil
	}
	if len(vs.names) == MaxVars {
		return 0, fmt.Errorf("more than %d environment variables", MaxVars)
	}
	vs.names = append(vs.names, name)
	return Var(len(vs.names) - 1), nil
}

// Lookup returns the variable called name, or an error naming the
// variables sluice sets.
func (vs *Vars) Lookup(name string) (Var, error) {
	if v, ok := vs.Find(name); ok {
		return v, nil
	}
	return 0, fmt.Errorf("environment variable %q is never set by sluice (it sets %s, and what SetEnvIf lines and RewriteRule [E=] flags set)", name, strings.Join(varNames[:], ", "))
}

// Len is the number of variables: Var(0) to Var(Len()-1).
func (vs *Vars) Len() int {
	if vs == nil {
		return len(varNames)
	}
	return len(vs.names)
}

// Name is v's name.
func (vs *Vars) Name(v Var) string {
	if vs == nil {
		return varNames[v]
	}
	return vs.names[v]
}

// Find is Lookup on the request path: it reports a name sluice never sets
// without building an error.
func (vs *Vars) Find(name string) (Var, bool) {
	names := varNames[:]
	if vs != nil {
		names = vs.names
	}
	for i, n := range names {
		if n == name {
			return Var(i), true
		}
	}
	return 0, false
}

// Env holds the variables of one request; the zero value has none set.
type Env struct {
	vals [MaxVars][]byte
	set  uint64 // bit v: v is set (MaxVars is 64)
}

// Set sets v to val (which Env keeps, not copies).
func (e *Env) Set(v Var, val []byte) { e.vals[v], e.set = val, e.set|1<<v }

// SetString sets v to a string value without copying it: Env's values
// are only ever read.
func (e *Env) SetString(v Var, val string) { e.Set(v, unsafe.Slice(unsafe.StringData(val), len(val))) }

// Unset removes v.
func (e *Env) Unset(v Var) { e.vals[v], e.set = nil, e.set&^(1<<v) }

// Get returns v's value and whether it is set.
func (e *Env) Get(v Var) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	return e.vals[v], e.set&(1<<v) != 0
}

// Reset unsets every variable, clearing only the values that were set:
// an Env is reset for every request its host's rules see, and most set
// few of its 64 variables.
func (e *Env) Reset() {
	for s := e.set; s != 0; s &= s - 1 {
		e.vals[bits.TrailingZeros64(s)] = nil
	}
	e.set = 0
}
