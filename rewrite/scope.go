package rewrite

import "regexp"

// ruleScope is where a rule applies: everywhere (server level), under a
// <Location> path, or (re set) where a <LocationMatch> expression matches
// the request path.
type ruleScope struct {
	path string
	re   *regexp.Regexp
}

// newRuleScope compiles scope; config validated the expression.
func newRuleScope(scope string, match bool) ruleScope {
	if match && scope != "" {
		return ruleScope{path: scope, re: regexp.MustCompile(scope)}
	}
	return ruleScope{path: scope}
}

// covers reports whether the rule applies to reqPath.
func (s *ruleScope) covers(reqPath []byte) bool {
	if s.re != nil {
		return s.re.Match(reqPath)
	}
	return inScope(s.path, reqPath)
}

// inScope reports whether a rule written in <Location scope> applies to
// reqPath (the path alone, without query). A server-level rule has an empty
// scope and always applies. Like ProxyPass, the last segment must match
// whole: /foo covers /foo, /foo/ and /foo/x but not /foobar.
func inScope(scope string, reqPath []byte) bool {
	if scope == "" {
		return true
	}
	if !hasPrefix(reqPath, scope) {
		return false
	}
	return len(reqPath) == len(scope) || scope[len(scope)-1] == '/' || reqPath[len(scope)] == '/'
}

// parentFirst returns rules with the server-level ones (empty scope) first
// and the <Location> ones after, each in config order: httpd merges the
// parent's per-directory list before the section's.
func parentFirst[R any](rules []R, scope func(R) string) []R {
	out := make([]R, 0, len(rules))
	for _, r := range rules {
		if scope(r) == "" {
			out = append(out, r)
		}
	}
	for _, r := range rules {
		if scope(r) != "" {
			out = append(out, r)
		}
	}
	return out
}
