package rewrite

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
