package modrewrite

import (
	"regexp"
	"testing"
)

// TestMatchesAll: only patterns that find a match in every path skip the
// regex, and each of them does match every path tried.
func TestMatchesAll(t *testing.T) {
	paths := []string{"", "/", "/a/b?c", "/x\ny", "\n", "/é"}
	for _, tc := range []struct {
		pattern string
		all     bool
	}{
		{".*", true}, {"^.*", true}, {"^", true}, {"(.*)", true}, {"^(.*)", true}, {"(?i).*", true},
		{".*?", true}, {"x?", true}, {"(?m)^", true}, {"", true}, {"a{0,3}", true},
		{"^(.*)$", false}, {"^$", false}, {".+", false}, {"^/", false}, {"/(.*)", false},
		{"a*b", false}, {"(a|)", false}, {".*$", false}, {"\\b", false}, {"$", false},
	} {
		re := regexp.MustCompile(tc.pattern)
		if got := matchesAll(re); got != tc.all {
			t.Errorf("%q: matchesAll %v, want %v", tc.pattern, got, tc.all)
		}
		if tc.all {
			for _, p := range paths {
				if !re.MatchString(p) {
					t.Errorf("%q said to match all, but not %q", tc.pattern, p)
				}
			}
		}
	}
}
