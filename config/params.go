package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// param is one key=value parameter of a worker (T = WorkerParams,
// apache.md §2) or a balancer (T = Balancer, §3). set parses the Apache
// text into the target; check validates and normalizes the typed value and
// runs for both syntaxes, so YAML and Apache share ranges and messages.
type param[T any] struct {
	key   string
	set   func(t *T, v string) error
	check func(t *T) error
	// ignored is why sluice accepts the key but does nothing with it.
	ignored string
}

type (
	workerParam   = param[WorkerParams]
	balancerParam = param[Balancer]
)

// paramKeys lists a table's keys for "(allowed: …)".
func paramKeys[T any](table []param[T]) []string {
	keys := make([]string, len(table))
	for i, p := range table {
		keys[i] = p.key
	}
	return keys
}

// findParam returns the table entry for key, or nil.
func findParam[T any](table []param[T], key string) *param[T] {
	for i := range table {
		if table[i].key == key {
			return &table[i]
		}
	}
	return nil
}

// hcKeys are the worker keys ProxyHCTemplate accepts.
var hcKeys = []string{"hcmethod", "hcinterval", "hcpasses", "hcfails", "hcuri", "hcexpr"}

var workerParams = []workerParam{
	{key: "acquire", set: func(p *WorkerParams, v string) (err error) {
		p.Acquire, err = positiveTime(v, time.Millisecond)
		return
	}},
	{key: "addressttl", set: func(_ *WorkerParams, v string) error { return intAtLeast(v, -1) },
		ignored: "backend names are resolved at each connect"},
	{key: "connectiontimeout", set: func(p *WorkerParams, v string) (err error) {
		p.ConnectionTimeout, err = positiveTime(v, time.Second)
		return
	}},
	{key: "disablereuse", set: func(p *WorkerParams, v string) error {
		off, err := onOff(v)
		p.DisableReuse, p.EnableReuse = off, !off
		return err
	}},
	{key: "enablereuse", set: func(p *WorkerParams, v string) error {
		on, err := onOff(v)
		p.DisableReuse, p.EnableReuse = !on, on
		return err
	}},
	{key: "flushpackets", set: func(_ *WorkerParams, v string) error { return oneOf(v, "on", "off", "auto") },
		ignored: "AJP/FCGI only"},
	{key: "flushwait", set: func(_ *WorkerParams, v string) error { return intBetween(v, 0, 1000) }, ignored: "AJP/FCGI only"},
	{key: "flusher", set: func(_ *WorkerParams, _ string) error { return nil }, ignored: "mod_proxy_fdpass only"},
	{key: "hcexpr", set: func(p *WorkerParams, v string) error { p.HCExpr = v; return nil }, check: checkHCExprName},
	{key: "hcfails", set: func(p *WorkerParams, v string) (err error) { p.HCFails, err = atLeast(v, 0); return }, check: func(p *WorkerParams) error { return nonNegative(p.HCFails) }},
	{key: "hcinterval", set: func(p *WorkerParams, v string) (err error) {
		// Written out, 0 is refused as in Apache; only YAML's absent 0 is unset.
		if p.HCInterval, err = apacheTime(v, time.Second); err == nil && p.HCInterval == 0 {
			err = errHCInterval
		}
		return
	}, check: checkHCInterval},
	{key: "hcmethod", set: func(p *WorkerParams, v string) error { p.HCMethod = v; return nil }, check: checkHCMethod},
	{key: "hcpasses", set: func(p *WorkerParams, v string) (err error) { p.HCPasses, err = atLeast(v, 0); return }, check: func(p *WorkerParams) error { return nonNegative(p.HCPasses) }},
	{key: "hctemplate", set: func(p *WorkerParams, v string) error { p.HCTemplate = v; return nil }},
	{key: "hcuri", set: func(p *WorkerParams, v string) error { p.HCURI = v; return nil }, check: func(p *WorkerParams) error { return shorterThan(p.HCURI, 64) }},
	{key: "iobuffersize", set: func(_ *WorkerParams, v string) error { return bufferSize(v) }, ignored: "sluice sizes its buffers itself"},
	{key: "keepalive", set: func(p *WorkerParams, v string) (err error) { p.KeepAlive, err = onOff(v); return }},
	{key: "lbset", set: func(p *WorkerParams, v string) (err error) { p.LBSet, err = strconv.Atoi(v); return intErr(err) }, check: func(p *WorkerParams) error {
		if p.LBSet < 0 || p.LBSet > 99 {
			return errors.New("must be between 0 and 99")
		}
		return nil
	}},
	{key: "loadfactor", set: func(p *WorkerParams, v string) (err error) {
		p.LoadFactor, err = strconv.ParseFloat(v, 64)
		if err != nil || !(p.LoadFactor >= 1 && p.LoadFactor <= 100) {
			return errors.New("must be a number between 1 and 100")
		}
		return nil
	}, check: func(p *WorkerParams) error {
		// 0 is unset: a route worker has no weight, a member gets 1.
		if p.LoadFactor != 0 && !(p.LoadFactor >= 1 && p.LoadFactor <= 100) {
			return errors.New("must be a number between 1 and 100")
		}
		return nil
	}},
	{key: "mapping", set: func(_ *WorkerParams, v string) error { return oneOf(v, "encoded", "servlet") },
		ignored: "sluice matches the normalized path only"},
	{key: "max", set: func(p *WorkerParams, v string) (err error) { p.Max, err = atLeast(v, 0); return }, check: func(p *WorkerParams) error { return nonNegative(p.Max) }},
	{key: "min", set: func(p *WorkerParams, v string) (err error) { p.Min, err = atLeast(v, 0); return }, check: func(p *WorkerParams) error { return nonNegative(p.Min) }},
	{key: "ping", set: func(p *WorkerParams, v string) (err error) { p.Ping, err = apacheTime(v, time.Second); return }},
	{key: "receivebuffersize", set: func(_ *WorkerParams, v string) error { return bufferSize(v) }, ignored: "sluice sizes its buffers itself"},
	{key: "redirect", set: func(p *WorkerParams, v string) error { p.Redirect = v; return nil }, check: func(p *WorkerParams) error { return routeText(p.Redirect) }},
	{key: "responsefieldsize", set: func(_ *WorkerParams, v string) error { return intAtLeast(v, 0) }, ignored: "use limits.max_response_header_bytes"},
	{key: "retry", set: func(p *WorkerParams, v string) (err error) {
		p.Retry, err = apacheTime(v, time.Second)
		p.RetrySet = true
		return
	}},
	{key: "route", set: func(p *WorkerParams, v string) error { p.Route = v; return nil }, check: func(p *WorkerParams) error { return routeText(p.Route) }},
	{key: secretKey, set: func(p *WorkerParams, v string) error { p.Secret = v; return nil }, check: func(p *WorkerParams) error { return shorterThan(p.Secret, 64) }},
	{key: "smax", set: func(p *WorkerParams, v string) (err error) { p.SMax, err = atLeast(v, 0); return }, check: func(p *WorkerParams) error { return nonNegative(p.SMax) }},
	{key: "status", set: func(p *WorkerParams, v string) error { p.Status = v; return nil }, check: func(p *WorkerParams) error {
		s, err := normalizeStatus(p.Status)
		if err == nil {
			p.Status = s
		}
		return err
	}},
	{key: "timeout", set: func(p *WorkerParams, v string) (err error) { p.Timeout, err = positiveTime(v, time.Second); return }},
	{key: "ttl", set: func(p *WorkerParams, v string) (err error) { p.TTL, err = positiveTime(v, time.Second); return }},
	{key: "upgrade", set: func(p *WorkerParams, v string) error { p.Upgrade = v; return nil }, check: checkUpgrade},
}

// workerParamKeys lists the keys for "(allowed: …)".
var workerParamKeys = paramKeys(workerParams)

var lbMethods = []string{"byrequests", "bytraffic", "bybusyness"}

var balancerParams = []balancerParam{
	{key: "failonstatus", set: setFailOnStatus, check: func(b *Balancer) error {
		for _, c := range b.FailOnStatus {
			if c < 100 || c > 599 {
				return fmt.Errorf("must be one or more HTTP response codes between 100 and 599, not %d", c)
			}
		}
		return nil
	}},
	{key: "failontimeout", set: func(b *Balancer, v string) (err error) { b.FailOnTimeout, err = onOff(v); return }},
	{key: "forcerecovery", set: func(b *Balancer, v string) (err error) { b.ForceRecovery, err = onOff(v); return }},
	{key: "growth", set: func(b *Balancer, v string) (err error) {
		b.Growth, err = strconv.Atoi(v)
		if err != nil || b.Growth < 1 || b.Growth > 100 {
			return errors.New("must be between 1 and 100")
		}
		return nil
	}, check: func(b *Balancer) error {
		if b.Growth < 0 || b.Growth > 100 {
			return errors.New("must be between 1 and 100")
		}
		return nil
	}},
	{key: "lbmethod", set: func(b *Balancer, v string) error { b.LBMethod = v; return nil }, check: func(b *Balancer) error {
		b.LBMethod = strings.ToLower(b.LBMethod)
		if b.LBMethod == "heartbeat" {
			return errors.New("lbmethod heartbeat is not supported (it needs mod_heartmonitor); use " + strings.Join(lbMethods, ", "))
		}
		if b.LBMethod != "" && !slices.Contains(lbMethods, b.LBMethod) {
			return errors.New("unknown lbmethod " + allowed(lbMethods))
		}
		return nil
	}},
	{key: "maxattempts", set: func(b *Balancer, v string) error {
		n, err := atLeast(v, 0)
		b.MaxAttempts = &n
		return err
	}, check: func(b *Balancer) error {
		if b.MaxAttempts != nil {
			return nonNegative(*b.MaxAttempts)
		}
		return nil
	}},
	{key: "nofailover", set: func(b *Balancer, v string) (err error) { b.NoFailover, err = onOff(v); return }},
	{key: "nonce", set: func(b *Balancer, v string) error { b.Nonce = v; return nil }, check: func(b *Balancer) error {
		if strings.EqualFold(b.Nonce, "None") {
			b.Nonce = "None" // what the manager compares with: no changes allowed
		}
		return shorterThan(b.Nonce, 37)
	}},
	{key: "scolonpathdelim", set: func(b *Balancer, v string) (err error) { b.SColonPathDelim, err = onOff(v); return }},
	{key: "stickysession", set: func(b *Balancer, v string) error {
		c, u, found := strings.Cut(v, "|")
		if !found {
			u = c
		}
		b.StickyCookie, b.StickyURLParam = c, u
		return nil
	}, check: checkSticky},
	{key: "stickysessionsep", set: func(b *Balancer, v string) error {
		if strings.EqualFold(v, "off") {
			b.StickySep, b.StickySepOff = "", true
			return nil
		}
		if len(v) != 1 {
			return errors.New("must be a single character or Off")
		}
		b.StickySep, b.StickySepOff = v, false
		return nil
	}, check: func(b *Balancer) error {
		if b.StickySepOff && b.StickySep != "" || !b.StickySepOff && len(b.StickySep) > 1 {
			return errors.New("must be a single character or Off")
		}
		return nil
	}},
	{key: "timeout", set: func(b *Balancer, v string) (err error) { b.Timeout, err = apacheTime(v, time.Second); return }},
}

var balancerParamKeys = paramKeys(balancerParams)

// setFailOnStatus appends codes: Apache accepts a comma or space separated
// list, and repeated settings append.
func setFailOnStatus(b *Balancer, v string) error {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return errors.New("must be one or more HTTP response codes")
	}
	for _, f := range fields {
		c, err := strconv.Atoi(f)
		if err != nil {
			return errors.New("must be one or more HTTP response codes")
		}
		if !slices.Contains(b.FailOnStatus, c) {
			b.FailOnStatus = append(b.FailOnStatus, c)
		}
	}
	return nil
}

func checkSticky(b *Balancer) error {
	for _, s := range []string{b.StickyCookie, b.StickyURLParam} {
		if err := shorterThan(s, 64); err != nil {
			return err
		}
		if strings.ContainsAny(s, " \t;,=|") {
			return fmt.Errorf("name %q has a character not allowed in a cookie or parameter name", s)
		}
	}
	if (b.StickyCookie == "") != (b.StickyURLParam == "") {
		return errors.New("needs both a cookie and a URL parameter name: stickysession=COOKIE|param")
	}
	return nil
}

var hcMethods = []string{"NONE", "TCP", "OPTIONS", "HEAD", "GET", "OPTIONS11", "HEAD11", "GET11", "CPING"}

func checkHCMethod(p *WorkerParams) error {
	if p.HCMethod == "" {
		return nil
	}
	p.HCMethod = strings.ToUpper(p.HCMethod)
	if !slices.Contains(hcMethods, p.HCMethod) {
		return errors.New("unknown health check method " + allowed(hcMethods))
	}
	return nil
}

var errHCInterval = errors.New("must be at least 100ms")

// positiveTime is apacheTime for a worker's timeouts, which Apache refuses
// at 0: written out, 0 would read as unset (the default), not as "none".
func positiveTime(v string, unit time.Duration) (Duration, error) {
	d, err := apacheTime(v, unit)
	if err == nil && d == 0 {
		err = errors.New("must be more than 0, as in Apache (leave it out for the default)")
	}
	return d, err
}

func checkHCInterval(p *WorkerParams) error {
	if p.HCInterval != 0 && p.HCInterval.D() < 100*time.Millisecond {
		return errHCInterval
	}
	return nil
}

func checkHCExprName(p *WorkerParams) error { return shorterThan(p.HCExpr, 16) }

func checkUpgrade(p *WorkerParams) error {
	if strings.EqualFold(p.Upgrade, "any") {
		p.Upgrade = "*"
	}
	if p.Upgrade == "*" {
		return nil
	}
	p.Upgrade = strings.ToLower(p.Upgrade)
	for _, c := range p.Upgrade {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~/", c)) {
			return errors.New("must be a protocol name such as websocket, or ANY")
		}
	}
	return nil
}

// statusLetters are the flags status= may set or clear (apache.md §5).
const statusLetters = "DSIHRENCOGUF"

// normalizeStatus checks a status= value and writes it as explicit +X/-X
// pairs ("S-E" becomes "+S-E", "-DE" becomes "-D-E").
func normalizeStatus(s string) (string, error) {
	var b strings.Builder
	sign := byte('+')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' || c == '-':
			sign = c
		case strings.IndexByte(statusLetters, c&^0x20) >= 0 && c&^0x20 >= 'A':
			b.WriteByte(sign)
			b.WriteByte(c &^ 0x20)
		default:
			return "", fmt.Errorf("unknown status letter %q (allowed: D S I H R E N C, also O G U F)", c)
		}
	}
	return b.String(), nil
}

func onOff(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New("must be On or Off")
}

func oneOf(v string, choices ...string) error {
	if !slices.Contains(choices, strings.ToLower(v)) {
		return errors.New("must be one of " + strings.Join(choices, ", "))
	}
	return nil
}

func intErr(err error) error {
	if err != nil {
		return errors.New("must be a whole number")
	}
	return nil
}

func atLeast(v string, lo int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return n, fmt.Errorf("must be a whole number >= %d", lo)
	}
	return n, nil
}

func intAtLeast(v string, lo int) error {
	_, err := atLeast(v, lo)
	return err
}

func intBetween(v string, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	return nil
}

func bufferSize(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n != 0 && n < 512 || n > math.MaxInt32 {
		return errors.New("must be 0 or at least 512")
	}
	return nil
}

func nonNegative(n int) error {
	if n < 0 {
		return errors.New("must be >= 0")
	}
	return nil
}

// routeText checks a route or redirect: it travels in cookies, URLs and the
// manager page, so control characters and spaces are refused.
func routeText(s string) error {
	if err := shorterThan(s, 64); err != nil {
		return err
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == 0x7f {
			return errors.New("must not contain spaces or control characters")
		}
	}
	return nil
}

// secretKey is the AJP shared secret's key, whose value an error never
// shows (hiddenValue in its place).
const (
	secretKey   = "secret"
	hiddenValue = "(hidden)"
)

func shorterThan(s string, n int) error {
	if len(s) >= n {
		return fmt.Errorf("must be shorter than %d characters", n)
	}
	return nil
}
