package modheaders

import (
	"fmt"
	"strings"
)

// Var is an environment variable sluice sets: the ones mod_proxy_balancer
// exports after choosing a member (apache.md §4.7).
type Var uint8

// The balancer variables, by Apache's names.
const (
	BalancerName          Var = iota // balancer://name
	BalancerWorkerName               // the member URL
	BalancerWorkerRoute              // the member's route
	BalancerRouteChanged             // "1" when the request did not stick to its route
	BalancerSessionSticky            // the cookie or URL parameter the route came from
	BalancerSessionRoute             // the route the request asked for
	numVars
)

var varNames = [numVars]string{
	"BALANCER_NAME", "BALANCER_WORKER_NAME", "BALANCER_WORKER_ROUTE",
	"BALANCER_ROUTE_CHANGED", "BALANCER_SESSION_STICKY", "BALANCER_SESSION_ROUTE",
}

func lookupVar(name string) (Var, error) {
	for i, n := range varNames {
		if n == name {
			return Var(i), nil
		}
	}
	return 0, fmt.Errorf("environment variable %q is never set by sluice (it sets %s)", name, strings.Join(varNames[:], ", "))
}

// Env holds the variables of one request; the zero value has none set.
type Env struct {
	vals [numVars][]byte
	set  [numVars]bool
}

// Set sets v to val (which Env keeps, not copies).
func (e *Env) Set(v Var, val []byte) { e.vals[v], e.set[v] = val, true }

// SetString sets v to a string value without copying it.
func (e *Env) SetString(v Var, val string) { e.Set(v, []byte(val)) }

// Get returns v's value and whether it is set.
func (e *Env) Get(v Var) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	return e.vals[v], e.set[v]
}

// Reset unsets every variable.
func (e *Env) Reset() { *e = Env{} }
